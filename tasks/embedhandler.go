package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/semaphore"

	"github.com/llmq/llmq/clients"
)

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

	budget     *semaphore.Weighted
	budgetSize int64
	// dims is the length of the last vectors received, to size a task's
	// share of the budget before its answer tells.
	dims atomic.Int64
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

// WithVectorBudget bounds the vectors the handler's tasks receive at once
// to bytes (4 per dimension and text): a task waits before sending its
// texts until its share is free, and holds it until its result is stored.
// The answer, the vectors and the stored result each take about that
// much, so memory follows the budget rather than the concurrency. A task
// larger than the budget runs alone. The share of a task whose payload
// asks for no dimensions is reckoned at the length of the last vectors
// received (1536 at first). 0 or less: no bound.
func WithVectorBudget(bytes int64) EmbedOption {
	return func(h *EmbedHandler) {
		if bytes > 0 {
			h.budget, h.budgetSize = semaphore.NewWeighted(bytes), bytes
		}
	}
}

// DefaultVectorBudget is the budget cmd/worker gives WithVectorBudget
// unless configured: ten tasks of 128 texts at 1536 dimensions.
const DefaultVectorBudget = 8 << 20

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
// text among n costs about 2·log2(n) extra requests. A 200 whose body
// cannot be the answer (clients.ErrMalformedAnswer: truncated JSON, not
// one vector per text, a value outside float32's range) is sent once
// more, and if the second answer is no better, each of its texts fails
// with that reason. A task whose every text failed this way is archived
// with the reason, unless it is a job batch or an aggregate of items:
// those complete, with a reason per text. A deferral (clients.ErrDeferred:
// no budget, the provider's block, an open breaker, a request the guard
// saw fail the provider's way) returns at once, unsplit, and the whole
// task comes back later without using a retry.
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
	out, err := h.sink(t, p)
	if err != nil {
		return permanent(err)
	}
	emb, ok := h.embedders[p.provider()]
	if !ok {
		return permanent(fmt.Errorf("%w: provider %q is not configured on this worker", ErrInvalidPayload, p.provider()))
	}
	release, err := h.reserve(ctx, p)
	if err != nil {
		return err
	}
	defer release()
	if err := out.begin(ctx); err != nil {
		return err
	}
	res, err := embedAll(ctx, emb, p.toRun())
	if err == nil {
		for _, v := range res.vectors {
			if v != nil {
				h.dims.Store(int64(len(v)))
				break
			}
		}
	}
	if err == nil {
		// What is stored is a copy: the vectors' pooled buffers go back
		// when the task is done with.
		defer res.release()
		err = out.store(ctx, res)
	}
	if err != nil {
		// The bookkeeping must land even when the task's context is over (a
		// timeout, or a shutdown handing the task back), so it gets its own.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if ferr := out.fail(fctx, err, Outcome(ctx, err) == OutcomeArchived); ferr != nil {
			h.logger.WarnContext(ctx, "could not record a failed attempt", slog.String("error", ferr.Error()))
		}
		return err
	}
	id, _ := asynq.GetTaskID(ctx)
	h.logger.DebugContext(ctx, "embedded", slog.String("task_id", id), slog.Int("texts", len(p.Texts)),
		slog.Int("failed", len(res.errs)), slog.Int("requests", res.requests),
		slog.String("model", res.model), slog.Int("input_tokens", res.tokens))
	return nil
}

// reserve waits for p's share of the vector budget; release gives it back.
func (h *EmbedHandler) reserve(ctx context.Context, p EmbedPayload) (release func(), err error) {
	if h.budget == nil {
		return func() {}, nil
	}
	d := int64(p.Dimensions)
	if d <= 0 {
		if d = h.dims.Load(); d <= 0 {
			d = 1536
		}
	}
	n := min(int64(len(p.Texts))*d*4, h.budgetSize)
	if err := h.budget.Acquire(ctx, n); err != nil {
		return nil, fmt.Errorf("wait for the vector budget: %w", err)
	}
	return func() { h.budget.Release(n) }, nil
}

// sink chooses where the results of p go: merged items' own keys, a job
// batch's task result and counters, or the task's result.
func (h *EmbedHandler) sink(t *asynq.Task, p EmbedPayload) (embedSink, error) {
	switch {
	case len(p.Items) > 0:
		if h.items == nil {
			return nil, fmt.Errorf("%w: item results are not configured on this worker", ErrInvalidPayload)
		}
		return itemSink{rdb: h.items, p: p}, nil
	case p.Job != nil && h.jobs != nil:
		return jobSink{result: resultSink{t: t}, jobs: h.jobs, ref: *p.Job, items: p.Job.Len(len(p.Texts)), texts: len(p.Texts)}, nil
	case p.Job != nil && len(p.Job.Redo) > 0:
		return nil, fmt.Errorf("%w: a job batch run again in part needs the job's records on this worker", ErrInvalidPayload)
	case p.Job != nil:
		// A job batch on a worker that keeps no job counters still keeps
		// its result, failed texts included.
		return resultSink{t: t}, nil
	}
	return resultSink{t: t, archiveAllFailed: true}, nil
}

// An embedSink keeps the outcome of one run of an embedding task.
type embedSink interface {
	// begin is called before the texts are sent; an error fails the run.
	begin(ctx context.Context) error
	// store keeps the result of a run in which every request was answered,
	// some texts possibly rejected one by one.
	store(ctx context.Context, res *embedded) error
	// fail records a failed run; final is true when asynq archives the
	// task, false when it runs it again.
	fail(ctx context.Context, err error, final bool) error
}

// resultSink stores the result in the task (EncodeEmbedResult).
type resultSink struct {
	t *asynq.Task
	// archiveAllFailed archives a task whose every text failed, with the
	// provider's reason, instead of storing a result without vectors.
	archiveAllFailed bool
}

func (s resultSink) begin(context.Context) error { return nil }

func (s resultSink) store(_ context.Context, res *embedded) error {
	if s.archiveAllFailed && len(res.errs) == len(res.vectors) {
		return permanent(fmt.Errorf("embed %d texts: %w", len(res.vectors), res.errs[0].err))
	}
	out, err := encodeEmbedResult(res.model, res.tokens, res.vectors, res.textErrors())
	if err != nil {
		return permanent(err)
	}
	_, err = s.t.ResultWriter().Write(out)
	releaseResult(out)
	if err != nil {
		return fmt.Errorf("write embed result: %w", err)
	}
	return nil
}

func (s resultSink) fail(context.Context, error, bool) error { return nil }

// jobSink stores a job batch's result in its task and reports the batch's
// progress to the job's counters.
type jobSink struct {
	result resultSink
	jobs   JobRecorder
	ref    JobRef
	items  int
	texts  int
}

func (s jobSink) begin(ctx context.Context) error {
	if err := s.jobs.BatchStarted(ctx, s.ref, s.items); err != nil {
		return fmt.Errorf("record job progress: %w", err)
	}
	return nil
}

func (s jobSink) store(ctx context.Context, res *embedded) error {
	if len(s.ref.Redo) > 0 {
		keeper, ok := s.jobs.(JobResultKeeper)
		if !ok {
			return permanent(fmt.Errorf("%w: a job batch run again in part needs the batch's kept result", ErrInvalidPayload))
		}
		kept, err := keeper.KeptResult(ctx, s.ref)
		if err != nil {
			err = fmt.Errorf("job %s batch %d: %w", s.ref.ID, s.ref.Batch, err)
			if errors.Is(err, ErrInvalidPayload) {
				return permanent(err)
			}
			return err
		}
		if res, err = mergeRedo(kept, s.texts, s.ref.Redo, res); err != nil {
			return permanent(fmt.Errorf("job %s batch %d: %w", s.ref.ID, s.ref.Batch, err))
		}
	}
	if err := s.result.store(ctx, res); err != nil {
		return err
	}
	if err := s.jobs.BatchFinished(ctx, s.ref, s.items, res.failedItems(&s.ref)); err != nil {
		return fmt.Errorf("record job progress: %w", err)
	}
	return nil
}

// fail releases the batch for its retry, or counts it as failed when this
// was its last attempt.
func (s jobSink) fail(ctx context.Context, _ error, final bool) error {
	if final {
		return s.jobs.BatchFinished(ctx, s.ref, s.items, s.items)
	}
	return s.jobs.BatchReleased(ctx, s.ref, s.items)
}

// itemSink stores one result per item of an aggregated task, under
// ItemResultKey.
type itemSink struct {
	rdb redis.Cmdable
	p   EmbedPayload
}

func (s itemSink) begin(context.Context) error { return nil }

func (s itemSink) store(ctx context.Context, res *embedded) error {
	p := s.p
	ttl := time.Duration(p.ItemRetention) * time.Second
	if ttl <= 0 {
		ttl = DefaultRetention
	}
	errs := res.textErrors()
	// Each item gets its share of the request's tokens, by text length.
	weights := make([]int, len(p.Texts))
	for i, v := range res.vectors {
		if v != nil {
			weights[i] = len(p.Texts[i])
		}
	}
	shares := ShareTokens(res.tokens, weights)
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
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
				b, err = encodeEmbedResult(res.model, shares[i], [][]float32{res.vectors[i]}, nil)
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

// fail stores a last failure as each item's result, so that nobody waits
// for it.
func (s itemSink) fail(ctx context.Context, err error, final bool) error {
	if !final {
		return nil
	}
	res := &embedded{vectors: make([][]float32, len(s.p.Texts))}
	status := 0
	var apiErr *clients.APIError
	if errors.As(err, &apiErr) {
		status = apiErr.StatusCode
	}
	for i := range s.p.Texts {
		res.errs = append(res.errs, textFailure{index: i, status: status, err: err})
	}
	return s.store(ctx, res)
}
