package tasks

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/clients"
)

// TypeGenerate is the task type of a generation task.
const TypeGenerate = "generation:create"

// Limits and defaults of generation tasks.
const (
	// GenerateTimeout bounds one run of a generation task.
	GenerateTimeout = 10 * time.Minute
	// GenerateMaxRetry is how often a failed generation task is retried.
	GenerateMaxRetry = 5
)

// GeneratePayload is the JSON payload of a TypeGenerate task: a prompt, or
// a chat when Messages is set.
//
//	{"provider": "ollama", "model": "llama3.2", "prompt": "Why is the sky blue?",
//	 "options": {"temperature": 0}, "stream": true, "id": "q-17"}
//	{"messages": [{"role": "user", "content": "Hello"}]}
type GeneratePayload struct {
	// Provider is "ollama" (the default and, for now, the only one).
	Provider string `json:"provider,omitempty"`
	// Model overrides the worker's default generation model.
	Model string `json:"model,omitempty"`
	// Prompt is completed when Messages is empty; System is its system
	// prompt.
	Prompt string `json:"prompt,omitempty"`
	System string `json:"system,omitempty"`
	// Messages makes the task a chat.
	Messages []clients.Message `json:"messages,omitempty"`
	// Options are passed to the model unchanged.
	Options map[string]any `json:"options,omitempty"`
	// Stream has the provider stream its answer, which the worker assembles;
	// it keeps long generations from idling on the connection.
	Stream bool `json:"stream,omitempty"`
	// ID is the caller's id of the prompt.
	ID string `json:"id,omitempty"`
}

// Validate reports why p cannot be run, wrapping ErrInvalidPayload.
func (p GeneratePayload) Validate() error {
	switch {
	case p.Provider != "" && p.Provider != ProviderOllama:
		return fmt.Errorf("%w: provider %q cannot generate (want %q)", ErrInvalidPayload, p.Provider, ProviderOllama)
	case p.Prompt == "" && len(p.Messages) == 0:
		return fmt.Errorf("%w: neither prompt nor messages", ErrInvalidPayload)
	case p.Prompt != "" && len(p.Messages) != 0:
		return fmt.Errorf("%w: both prompt and messages", ErrInvalidPayload)
	}
	for i, m := range p.Messages {
		if m.Role == "" || m.Content == "" {
			return fmt.Errorf("%w: message %d needs a role and content", ErrInvalidPayload, i)
		}
	}
	return nil
}

func (p GeneratePayload) provider() string {
	if p.Provider == "" {
		return ProviderOllama
	}
	return p.Provider
}

// NewGenerateTask validates p and returns a task to enqueue, in
// QueueGeneration with GenerateTimeout, GenerateMaxRetry, DefaultRetention
// and an ID derived from the payload (see NewEmbedTask). Options in opts
// override these.
func NewGenerateTask(p GeneratePayload, opts ...asynq.Option) (*asynq.Task, error) {
	return NewGenerateTaskWithHeaders(p, nil, opts...)
}

// NewGenerateTaskWithHeaders is NewGenerateTask for a task that also
// carries headers beside its payload (see NewEmbedTaskWithHeaders).
func NewGenerateTaskWithHeaders(p GeneratePayload, headers map[string]string, opts ...asynq.Option) (*asynq.Task, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode generate payload: %w", err)
	}
	defaults := []asynq.Option{
		asynq.Queue(QueueGeneration),
		asynq.Timeout(GenerateTimeout),
		asynq.MaxRetry(GenerateMaxRetry),
		asynq.Retention(DefaultRetention),
		asynq.TaskID(contentID(TypeGenerate, b)),
	}
	return asynq.NewTaskWithHeaders(TypeGenerate, b, headers, append(defaults, opts...)...), nil
}

// Generator completes prompts and chats. clients/ollama.Client implements
// it.
type Generator interface {
	Generate(ctx context.Context, req clients.GenerateRequest) (*clients.Generation, error)
}

// GenerateHandler runs TypeGenerate tasks.
type GenerateHandler struct {
	generators map[string]Generator
	logger     *slog.Logger
}

// NewGenerateHandler returns a handler that sends each task to the
// Generator registered under its payload's provider name.
func NewGenerateHandler(generators map[string]Generator, logger *slog.Logger) *GenerateHandler {
	return &GenerateHandler{generators: generators, logger: logger}
}

// ProcessTask runs the generation and writes the clients.Generation as JSON
// as the task's result.
func (h *GenerateHandler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var p GeneratePayload
	if err := decodePayload(t.Payload(), &p); err != nil {
		return permanent(err)
	}
	if err := p.Validate(); err != nil {
		return permanent(err)
	}
	gen, ok := h.generators[p.provider()]
	if !ok {
		return permanent(fmt.Errorf("%w: provider %q is not configured on this worker", ErrInvalidPayload, p.provider()))
	}
	res, err := gen.Generate(ctx, clients.GenerateRequest{
		Model: p.Model, Prompt: p.Prompt, System: p.System,
		Messages: p.Messages, Options: p.Options, Stream: p.Stream,
	})
	if err != nil {
		return classify(fmt.Errorf("generate: %w", err))
	}
	out, err := json.Marshal(res)
	if err != nil {
		return permanent(fmt.Errorf("encode generation: %w", err))
	}
	if _, err := t.ResultWriter().Write(out); err != nil {
		return fmt.Errorf("write generation result: %w", err)
	}
	h.logger.DebugContext(ctx, "generated", slog.String("task_id", t.ResultWriter().TaskID()),
		slog.String("model", res.Model), slog.Int("output_tokens", res.OutputTokens))
	return nil
}

// DecodeGenerateResult decodes a TypeGenerate task's result.
func DecodeGenerateResult(b []byte) (*clients.Generation, error) {
	var g clients.Generation
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf("decode generation result: %w", err)
	}
	return &g, nil
}
