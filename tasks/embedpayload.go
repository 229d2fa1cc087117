package tasks

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/clients"
)

// TypeEmbed is the task type of an embedding task.
const TypeEmbed = "embedding:create"

// Queue names used when the producer names none.
const (
	QueueEmbeddings = "embeddings"
	QueueGeneration = "generation"
)

// QueueFor returns the queue the task constructors put a task of taskType
// in unless an asynq.Queue option names another.
func QueueFor(taskType string) string {
	if taskType == TypeGenerate {
		return QueueGeneration
	}
	return QueueEmbeddings
}

// Provider names accepted in payloads.
const (
	ProviderOpenAI = "openai"
	ProviderOllama = "ollama"
)

// Limits and defaults of embedding tasks.
const (
	// MaxEmbedInputs is the most texts one task may carry: OpenAI's limit
	// per embeddings request.
	MaxEmbedInputs = clients.MaxEmbedInputs
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
	// Redo, when set, lists the texts (by index, increasing) that run
	// again: the batch ran before, and the others keep the vectors or
	// failures of that run, which the JobRecorder kept (JobResultKeeper).
	Redo []int `json:"redo,omitempty"`
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
		if err := checkRedo(j.Redo, len(p.Texts)); err != nil {
			return err
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
