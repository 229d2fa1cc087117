package tasks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/clients"
)

// TypeEmbed is the task type of an embedding task.
const TypeEmbed = "embedding:create"

// Queue names used when the producer names none.
const (
	QueueEmbeddings = "embeddings"
	QueueGeneration = "generation"
)

// Provider names accepted in payloads.
const (
	ProviderOpenAI = "openai"
	ProviderOllama = "ollama"
)

// Limits and defaults of embedding tasks.
const (
	// MaxEmbedInputs is the most texts one task may carry: OpenAI's limit
	// per embeddings request.
	MaxEmbedInputs = 2048
	// EmbedTimeout bounds one run of an embedding task.
	EmbedTimeout = 2 * time.Minute
	// EmbedMaxRetry is how often a failed embedding task is retried before
	// it is archived. Rate-limited attempts do not count (see IsFailure).
	EmbedMaxRetry = 10
	// DefaultRetention is how long a finished task and its result stay in
	// Redis when the producer sets no asynq.Retention.
	DefaultRetention = 24 * time.Hour
)

// EmbedPayload is the JSON payload of a TypeEmbed task.
//
//	{"provider": "openai", "model": "text-embedding-3-small", "dimensions": 256,
//	 "texts": ["first text", "second text"], "ids": ["doc-1", "doc-2"]}
type EmbedPayload struct {
	// Provider is "openai" (any OpenAI-compatible endpoint; the default) or
	// "ollama" (Ollama's native /api/embed).
	Provider string `json:"provider,omitempty"`
	// Model overrides the worker's default model for the provider.
	Model string `json:"model,omitempty"`
	// Dimensions, when positive, asks for shortened vectors.
	Dimensions int `json:"dimensions,omitempty"`
	// Texts are embedded in one provider request, 1 to MaxEmbedInputs of
	// them, none empty.
	Texts []string `json:"texts"`
	// IDs are the caller's ids of the texts: empty, or one per text.
	IDs []string `json:"ids,omitempty"`
	// Job, when set, makes the task one batch of a bulk job (package job):
	// the handler reports the batch's progress to the JobRecorder and keeps
	// the result, including texts the provider rejected, in the task.
	Job *JobRef `json:"job,omitempty"`
	// Items, when set, holds one item ID per text (see ItemID): the task
	// was aggregated from TypeEmbedItem tasks, and the result of each text
	// is stored under ItemResultKey of its ID for ItemRetention seconds
	// instead of in the task.
	Items         []string `json:"items,omitempty"`
	ItemRetention int64    `json:"item_retention,omitempty"`
}

// JobRef ties an embedding task to the bulk job it is a batch of.
type JobRef struct {
	// ID is the job's ID.
	ID string `json:"id"`
	// Batch is the task's number in the job, from 0.
	Batch int `json:"batch"`
	// Counts holds the number of texts of each of the batch's items, in
	// order, when some item has more than one (an OpenAI Batch API line
	// whose input is an array); empty means one text per item.
	Counts []int `json:"counts,omitempty"`
}

// Len returns the number of items of the batch, given its number of texts.
func (j *JobRef) Len(texts int) int {
	if len(j.Counts) == 0 {
		return texts
	}
	return len(j.Counts)
}

// Validate reports why p cannot be run, wrapping ErrInvalidPayload.
func (p EmbedPayload) Validate() error {
	switch {
	case p.Provider != "" && p.Provider != ProviderOpenAI && p.Provider != ProviderOllama:
		return fmt.Errorf("%w: unknown provider %q (want %q or %q)", ErrInvalidPayload, p.Provider, ProviderOpenAI, ProviderOllama)
	case len(p.Texts) == 0:
		return fmt.Errorf("%w: no texts", ErrInvalidPayload)
	case len(p.Texts) > MaxEmbedInputs:
		return fmt.Errorf("%w: %d texts, at most %d per task", ErrInvalidPayload, len(p.Texts), MaxEmbedInputs)
	case len(p.IDs) != 0 && len(p.IDs) != len(p.Texts):
		return fmt.Errorf("%w: %d ids for %d texts", ErrInvalidPayload, len(p.IDs), len(p.Texts))
	case p.Dimensions < 0:
		return fmt.Errorf("%w: negative dimensions %d", ErrInvalidPayload, p.Dimensions)
	case len(p.Items) != 0 && len(p.Items) != len(p.Texts):
		return fmt.Errorf("%w: %d items for %d texts", ErrInvalidPayload, len(p.Items), len(p.Texts))
	case len(p.Items) != 0 && p.Job != nil:
		return fmt.Errorf("%w: both items and job", ErrInvalidPayload)
	}
	if j := p.Job; j != nil {
		if j.ID == "" || j.Batch < 0 {
			return fmt.Errorf("%w: job needs an id and a batch number from 0", ErrInvalidPayload)
		}
		if len(j.Counts) > 0 {
			sum := 0
			for _, c := range j.Counts {
				if c < 1 {
					return fmt.Errorf("%w: job item of %d texts", ErrInvalidPayload, c)
				}
				sum += c
			}
			if sum != len(p.Texts) {
				return fmt.Errorf("%w: job counts add up to %d for %d texts", ErrInvalidPayload, sum, len(p.Texts))
			}
		}
	}
	for i, t := range p.Texts {
		if t == "" {
			return fmt.Errorf("%w: text %d is empty", ErrInvalidPayload, i)
		}
	}
	return nil
}

func (p EmbedPayload) provider() string {
	if p.Provider == "" {
		return ProviderOpenAI
	}
	return p.Provider
}

// NewEmbedTask validates p and returns a task to enqueue. It goes to
// QueueEmbeddings with EmbedTimeout, EmbedMaxRetry and DefaultRetention,
// and its ID is derived from the payload, so enqueueing the same payload
// again while the first task is still known fails with
// asynq.ErrTaskIDConflict instead of doing the work twice. Options in opts
// override these.
func NewEmbedTask(p EmbedPayload, opts ...asynq.Option) (*asynq.Task, error) {
	return NewEmbedTaskWithHeaders(p, nil, opts...)
}

// NewEmbedTaskWithHeaders is NewEmbedTask for a task that also carries
// headers beside its payload, such as the trace context of the producer
// that sends it (telemetry.Send.Headers). Headers are not part of the
// task's ID.
func NewEmbedTaskWithHeaders(p EmbedPayload, headers map[string]string, opts ...asynq.Option) (*asynq.Task, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode embed payload: %w", err)
	}
	defaults := []asynq.Option{
		asynq.Queue(QueueEmbeddings),
		asynq.Timeout(EmbedTimeout),
		asynq.MaxRetry(EmbedMaxRetry),
		asynq.Retention(DefaultRetention),
		asynq.TaskID(contentID(TypeEmbed, b)),
	}
	return asynq.NewTaskWithHeaders(TypeEmbed, b, headers, append(defaults, opts...)...), nil
}

// ID returns the ID that NewEmbedTask and NewGenerateTask give t unless an
// asynq.TaskID option overrides it: a hash of its type and payload.
func ID(t *asynq.Task) string { return contentID(t.Type(), t.Payload()) }

func contentID(typ string, payload []byte) string {
	h := sha256.New()
	h.Write([]byte(typ))
	h.Write([]byte{0})
	h.Write(payload)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Embedder turns texts into vectors. clients/openai.Client and
// clients/ollama.Client implement it.
type Embedder interface {
	Embed(ctx context.Context, req clients.EmbedRequest) (*clients.Embeddings, error)
}

// JobRecorder keeps the progress counts of bulk jobs. Package job
// implements it on Redis. Delivery is at least once, so a batch may be
// reported more than once: implementations count each batch once.
type JobRecorder interface {
	// BatchStarted is called before a batch's texts are sent.
	BatchStarted(ctx context.Context, job JobRef, items int) error
	// BatchFinished is called once the batch's result is stored, or when
	// it has failed for good (then failed == items).
	BatchFinished(ctx context.Context, job JobRef, items, failed int) error
	// BatchReleased is called when an attempt failed and will be retried.
	BatchReleased(ctx context.Context, job JobRef, items int) error
}

// EmbedHandler runs TypeEmbed and TypeEmbedItem tasks.
type EmbedHandler struct {
	embedders map[string]Embedder
	logger    *slog.Logger
	jobs      JobRecorder
	items     redis.Cmdable
}

// EmbedOption configures an EmbedHandler.
type EmbedOption func(*EmbedHandler)

// WithJobs has the handler report the batches of bulk jobs to r.
func WithJobs(r JobRecorder) EmbedOption { return func(h *EmbedHandler) { h.jobs = r } }

// WithItemResults has the handler store the results of aggregated
// TypeEmbedItem tasks in rdb, under ItemResultKey. Without it such tasks
// fail.
func WithItemResults(rdb redis.Cmdable) EmbedOption {
	return func(h *EmbedHandler) { h.items = rdb }
}

// NewEmbedHandler returns a handler that sends each task to the Embedder
// registered under its payload's provider name (ProviderOpenAI,
// ProviderOllama). A task naming a provider that is not registered is
// archived.
func NewEmbedHandler(embedders map[string]Embedder, logger *slog.Logger, opts ...EmbedOption) *EmbedHandler {
	h := &EmbedHandler{embedders: embedders, logger: logger}
	for _, o := range opts {
		o(h)
	}
	return h
}

// ProcessTask embeds the task's texts and stores the vectors: as the
// task's result (EncodeEmbedResult) or, for a task aggregated from
// TypeEmbedItem tasks, one result per item (ItemResultKey).
//
// Texts go to the provider in as few requests as its limits allow
// (MaxEmbedInputs, MaxRequestTokens by EstimateTokens): normally one. When
// the provider rejects a request of several texts as invalid (400, 413,
// 422), the handler splits it in halves and sends each again, until the
// texts it still rejects stand alone; those are stored as failed, with the
// provider's reason, and the others get their vectors. Isolating one bad
// text among n costs about 2·log2(n) extra requests. A task whose every
// text failed this way is archived with the reason, unless it is a job
// batch or an aggregate of items: those complete, with a reason per text.
func (h *EmbedHandler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var p EmbedPayload
	if t.Type() == TypeEmbedItem {
		var ip EmbedItemPayload
		if err := decodePayload(t.Payload(), &ip); err != nil {
			return permanent(err)
		}
		p = ip.aggregate([]string{ItemID(ip)})
	} else if err := decodePayload(t.Payload(), &p); err != nil {
		return permanent(err)
	}
	if err := p.Validate(); err != nil {
		return permanent(err)
	}
	if len(p.Items) > 0 && h.items == nil {
		return permanent(fmt.Errorf("%w: item results are not configured on this worker", ErrInvalidPayload))
	}
	emb, ok := h.embedders[p.provider()]
	if !ok {
		return permanent(fmt.Errorf("%w: provider %q is not configured on this worker", ErrInvalidPayload, p.provider()))
	}
	if p.Job != nil && h.jobs != nil {
		if err := h.jobs.BatchStarted(ctx, *p.Job, p.Job.Len(len(p.Texts))); err != nil {
			return fmt.Errorf("record job progress: %w", err)
		}
	}
	err := h.run(ctx, t, emb, p)
	if err != nil {
		h.settle(ctx, p, err)
	}
	return err
}

// run embeds p's texts and stores the results.
func (h *EmbedHandler) run(ctx context.Context, t *asynq.Task, emb Embedder, p EmbedPayload) error {
	res, err := embedAll(ctx, emb, p)
	if err != nil {
		return err
	}
	if len(res.errs) == len(p.Texts) && p.Job == nil && len(p.Items) == 0 {
		e := res.errs[0]
		return permanent(fmt.Errorf("embed %d texts: %w", len(p.Texts), e.err))
	}
	if len(p.Items) > 0 {
		if err := h.putItems(ctx, p, res); err != nil {
			return err
		}
	} else {
		out, err := encodeEmbedResult(res.model, res.tokens, res.vectors, res.textErrors())
		if err != nil {
			return permanent(err)
		}
		if _, err := t.ResultWriter().Write(out); err != nil {
			return fmt.Errorf("write embed result: %w", err)
		}
	}
	if p.Job != nil && h.jobs != nil {
		if err := h.jobs.BatchFinished(ctx, *p.Job, p.Job.Len(len(p.Texts)), res.failedItems(p.Job)); err != nil {
			return fmt.Errorf("record job progress: %w", err)
		}
	}
	id, _ := asynq.GetTaskID(ctx)
	h.logger.DebugContext(ctx, "embedded", slog.String("task_id", id), slog.Int("texts", len(p.Texts)),
		slog.Int("failed", len(res.errs)), slog.Int("requests", res.requests),
		slog.String("model", res.model), slog.Int("input_tokens", res.tokens))
	return nil
}

// settle records a failed attempt: for a job, the batch is released for
// its retry, or counted as failed when this was its last attempt; for
// items, a last failure is stored as each item's result, so that nobody
// waits for it.
func (h *EmbedHandler) settle(ctx context.Context, p EmbedPayload, err error) {
	final := Outcome(ctx, err) == OutcomeArchived
	// The bookkeeping must land even when the task's context is over (a
	// timeout, or a shutdown handing the task back), so it gets its own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var rerr error
	switch {
	case p.Job != nil && h.jobs != nil && final:
		n := p.Job.Len(len(p.Texts))
		rerr = h.jobs.BatchFinished(ctx, *p.Job, n, n)
	case p.Job != nil && h.jobs != nil:
		rerr = h.jobs.BatchReleased(ctx, *p.Job, p.Job.Len(len(p.Texts)))
	case len(p.Items) > 0 && h.items != nil && final:
		res := &embedded{vectors: make([][]float32, len(p.Texts))}
		status := 0
		var apiErr *clients.APIError
		if errors.As(err, &apiErr) {
			status = apiErr.StatusCode
		}
		for i := range p.Texts {
			res.errs = append(res.errs, textFailure{index: i, status: status, err: err})
		}
		rerr = h.putItems(ctx, p, res)
	}
	if rerr != nil {
		h.logger.WarnContext(ctx, "could not record a failed attempt", slog.String("error", rerr.Error()))
	}
}

// putItems stores one result per item of an aggregated task.
func (h *EmbedHandler) putItems(ctx context.Context, p EmbedPayload, res *embedded) error {
	ttl := time.Duration(p.ItemRetention) * time.Second
	if ttl <= 0 {
		ttl = DefaultRetention
	}
	errs := res.textErrors()
	// Each item gets its share of the request's tokens, by text length.
	okBytes := 0
	for i, v := range res.vectors {
		if v != nil {
			okBytes += len(p.Texts[i])
		}
	}
	_, err := h.items.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		k := 0
		for i, id := range p.Items {
			var (
				b   []byte
				err error
			)
			if k < len(errs) && errs[k].Index == i {
				e := errs[k]
				e.Index = 0
				b, err = encodeEmbedResult(res.model, 0, [][]float32{nil}, []TextError{e})
				k++
			} else {
				b, err = encodeEmbedResult(res.model, res.tokens*len(p.Texts[i])/max(okBytes, 1), [][]float32{res.vectors[i]}, nil)
			}
			if err != nil {
				return err
			}
			pipe.Set(ctx, ItemResultKey(id), b, ttl)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write item results: %w", err)
	}
	return nil
}

// embedded is what embedAll got from the provider.
type embedded struct {
	model    string
	tokens   int
	vectors  [][]float32 // one per text; nil for a failed text
	errs     []textFailure
	requests int
}

type textFailure struct {
	index  int
	status int
	err    error
}

// textErrors returns the failures in index order, as stored.
func (e *embedded) textErrors() []TextError {
	if len(e.errs) == 0 {
		return nil
	}
	out := make([]TextError, len(e.errs))
	for i, f := range e.errs {
		out[i] = TextError{Index: f.index, Status: f.status, Reason: f.err.Error()}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// failedItems counts the job items with at least one failed text.
func (e *embedded) failedItems(j *JobRef) int {
	if len(j.Counts) == 0 {
		return len(e.errs)
	}
	failed := make(map[int]bool, len(e.errs))
	for _, f := range e.errs {
		failed[f.index] = true
	}
	n, start := 0, 0
	for _, c := range j.Counts {
		for i := start; i < start+c; i++ {
			if failed[i] {
				n++
				break
			}
		}
		start += c
	}
	return n
}

// embedAll embeds p's texts in requests within the provider's limits,
// isolating the texts the provider rejects. An error it returns fails the
// whole attempt.
func embedAll(ctx context.Context, emb Embedder, p EmbedPayload) (*embedded, error) {
	res := &embedded{vectors: make([][]float32, len(p.Texts))}
	start, tokens := 0, 0
	for i, text := range p.Texts {
		n := EstimateTokens(text)
		if i > start && (i-start == MaxEmbedInputs || tokens+n > MaxRequestTokens) {
			if err := res.embed(ctx, emb, p, start, i); err != nil {
				return nil, err
			}
			start, tokens = i, 0
		}
		tokens += n
	}
	if err := res.embed(ctx, emb, p, start, len(p.Texts)); err != nil {
		return nil, err
	}
	return res, nil
}

// embed sends texts [from, to) of p in one request, splitting it on an
// invalid-request rejection.
func (e *embedded) embed(ctx context.Context, emb Embedder, p EmbedPayload, from, to int) error {
	e.requests++
	got, err := emb.Embed(ctx, clients.EmbedRequest{Model: p.Model, Input: p.Texts[from:to], Dimensions: p.Dimensions})
	if err == nil {
		if len(got.Vectors) != to-from {
			return fmt.Errorf("embed: provider returned %d vectors for %d texts", len(got.Vectors), to-from)
		}
		copy(e.vectors[from:to], got.Vectors)
		e.tokens += got.InputTokens
		if e.model == "" {
			e.model = got.Model
		}
		return nil
	}
	var apiErr *clients.APIError
	if !errors.As(err, &apiErr) || !splittable(apiErr) {
		return classify(fmt.Errorf("embed %d texts: %w", to-from, err))
	}
	if to-from == 1 {
		e.errs = append(e.errs, textFailure{index: from, status: apiErr.StatusCode, err: err})
		return nil
	}
	mid := from + (to-from)/2
	if err := e.embed(ctx, emb, p, from, mid); err != nil {
		return err
	}
	return e.embed(ctx, emb, p, mid, to)
}

// splittable reports whether a rejection may be caused by some of the
// request's texts only, so that sending them apart can succeed: an invalid
// request (400), too large (413) or unprocessable (422). Authentication,
// missing models and exhausted quotas fail every request alike.
func splittable(e *clients.APIError) bool {
	if e.Code == "insufficient_quota" || e.Type == "insufficient_quota" {
		return false
	}
	switch e.StatusCode {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

// decodePayload decodes a JSON payload, wrapping ErrInvalidPayload.
func decodePayload(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("%w: not JSON at byte %d", ErrInvalidPayload, se.Offset)
		case errors.As(err, &te):
			return fmt.Errorf("%w: field %q: want %s, got JSON %s", ErrInvalidPayload, te.Field, te.Type, te.Value)
		}
		return fmt.Errorf("%w: %w", ErrInvalidPayload, err)
	}
	return nil
}
