package tasks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

// OpenAI generation endpoints a payload's Endpoint may name, as the OpenAI
// Batch API writes them in a request line's "url".
const (
	EndpointChat        = "/v1/chat/completions"
	EndpointCompletions = "/v1/completions"
)

// GeneratePayload is the JSON payload of a TypeGenerate task: a prompt, a
// chat (Messages), or an OpenAI request body forwarded as it is (Body).
//
//	{"provider": "ollama", "model": "llama3.2", "prompt": "Why is the sky blue?",
//	 "options": {"temperature": 0}, "stream": true, "id": "q-17"}
//	{"messages": [{"role": "user", "content": "Hello"}]}
//	{"provider": "openai", "endpoint": "/v1/chat/completions",
//	 "body": {"model": "gpt-4o-mini", "messages": [...], "temperature": 0, "response_format": {...}}}
type GeneratePayload struct {
	// Provider is "openai" (any OpenAI-compatible endpoint) or "ollama";
	// empty means the worker's default (GENERATION_PROVIDER).
	Provider string `json:"provider,omitempty"`
	// Model overrides the worker's default generation model.
	Model string `json:"model,omitempty"`
	// Prompt is completed when Messages is empty; System is its system
	// prompt. Toward OpenAI a prompt is a chat of one user message (after
	// a system message when System is set).
	Prompt string `json:"prompt,omitempty"`
	System string `json:"system,omitempty"`
	// Messages makes the task a chat.
	Messages []clients.Message `json:"messages,omitempty"`
	// Options are passed to the model unchanged: Ollama's options, or for
	// OpenAI fields of the request body (temperature, max_tokens, seed, ...).
	Options map[string]any `json:"options,omitempty"`
	// Stream has the provider stream its answer, which the worker assembles;
	// it keeps long generations from idling on the connection.
	Stream bool `json:"stream,omitempty"`
	// ID is the caller's id of the prompt.
	ID string `json:"id,omitempty"`
	// Endpoint and Body are an OpenAI request sent as it is: Body, a JSON
	// object, goes to Endpoint (EndpointChat or EndpointCompletions) with
	// every field and value unchanged (the payload's JSON encoding drops
	// insignificant whitespace), except that a missing model is filled in
	// (see clients.CompletionRequest). With Body, Model, Prompt, System,
	// Messages and Options stay empty, and the provider is OpenAI.
	Endpoint string          `json:"endpoint,omitempty"`
	Body     json.RawMessage `json:"body,omitempty"`
	// Job ties the task to the bulk job it is item Job.Batch of (package
	// job); nil for a task of its own.
	Job *JobRef `json:"job,omitempty"`
}

// Validate reports why p cannot be run, wrapping ErrInvalidPayload.
func (p GeneratePayload) Validate() error {
	switch p.Provider {
	case "", ProviderOpenAI, ProviderOllama:
	default:
		return fmt.Errorf("%w: unknown provider %q (want %q or %q)", ErrInvalidPayload, p.Provider, ProviderOpenAI, ProviderOllama)
	}
	if len(p.Body) > 0 || p.Endpoint != "" {
		return p.validateBody()
	}
	switch {
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

func (p GeneratePayload) validateBody() error {
	switch {
	case p.Provider == ProviderOllama:
		return fmt.Errorf("%w: an OpenAI request body needs provider %q", ErrInvalidPayload, ProviderOpenAI)
	case p.Endpoint != EndpointChat && p.Endpoint != EndpointCompletions:
		return fmt.Errorf("%w: endpoint %q: want %s or %s", ErrInvalidPayload, p.Endpoint, EndpointChat, EndpointCompletions)
	case p.Model != "" || p.Prompt != "" || p.System != "" || len(p.Messages) > 0 || len(p.Options) > 0:
		return fmt.Errorf("%w: a body comes alone (no model, prompt, system, messages or options beside it)", ErrInvalidPayload)
	}
	b := bytes.TrimSpace(p.Body)
	if len(b) == 0 || b[0] != '{' || !json.Valid(b) {
		return fmt.Errorf("%w: body is not a JSON object", ErrInvalidPayload)
	}
	return nil
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

// Completer sends OpenAI-shaped chat and text completion requests.
// clients/openai.Client implements it.
type Completer interface {
	Chat(ctx context.Context, req clients.CompletionRequest) (*clients.Completion, error)
	Complete(ctx context.Context, req clients.CompletionRequest) (*clients.Completion, error)
}

// GenerateHandler runs TypeGenerate tasks.
type GenerateHandler struct {
	generators map[string]Generator
	openai     Completer
	provider   string
	jobs       JobRecorder
	logger     *slog.Logger
}

// GenerateOption configures a GenerateHandler.
type GenerateOption func(*GenerateHandler)

// WithCompleter sends the tasks for ProviderOpenAI to c.
func WithCompleter(c Completer) GenerateOption { return func(h *GenerateHandler) { h.openai = c } }

// WithDefaultProvider names the provider of tasks whose payload names
// none. Default ProviderOllama.
func WithDefaultProvider(name string) GenerateOption {
	return func(h *GenerateHandler) {
		if name != "" {
			h.provider = name
		}
	}
}

// WithGenerateJobs has the handler report the items of bulk jobs to r.
func WithGenerateJobs(r JobRecorder) GenerateOption { return func(h *GenerateHandler) { h.jobs = r } }

// NewGenerateHandler returns a handler that sends each task to the
// Generator registered under its payload's provider name, or for
// ProviderOpenAI to the Completer of WithCompleter. A task naming a
// provider that is not configured is archived.
func NewGenerateHandler(generators map[string]Generator, logger *slog.Logger, opts ...GenerateOption) *GenerateHandler {
	h := &GenerateHandler{generators: generators, provider: ProviderOllama, logger: logger}
	for _, o := range opts {
		o(h)
	}
	return h
}

// ProcessTask runs the generation and writes a GenerateResult (JSON) as
// the task's result.
//
// A job's item (GeneratePayload.Job) whose request the provider refuses
// for good (a 4xx other than 408, 409 and 429, an exhausted quota) is
// stored as a failed result, with the provider's status and error, and
// the task completes: the job's export reports it. Any other task with
// such an error is archived.
func (h *GenerateHandler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var p GeneratePayload
	if err := decodePayload(t.Payload(), &p); err != nil {
		return permanent(err)
	}
	if err := p.Validate(); err != nil {
		return permanent(err)
	}
	provider := p.Provider
	if provider == "" {
		provider = h.provider
	}
	run, err := h.runner(provider, p)
	if err != nil {
		return permanent(err)
	}
	var job *JobRef
	if h.jobs != nil && p.Job != nil {
		job = p.Job
		if err := h.jobs.BatchStarted(ctx, *job, 1); err != nil {
			return fmt.Errorf("record job progress: %w", err)
		}
	}
	res, err := run(ctx)
	if err != nil {
		err = classify(fmt.Errorf("generate: %w", err))
		if p.Job != nil && errors.Is(err, asynq.SkipRetry) {
			// A job item the provider refused: its refusal is its result.
			res, err = refusal(provider, err), nil
		}
	}
	if err == nil {
		err = h.store(ctx, t, job, res)
	}
	if err != nil {
		if job != nil {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			var ferr error
			if Outcome(ctx, err) == OutcomeArchived {
				ferr = h.jobs.BatchFinished(fctx, *job, 1, 1)
			} else {
				ferr = h.jobs.BatchReleased(fctx, *job, 1)
			}
			if ferr != nil {
				h.logger.WarnContext(ctx, "could not record a failed attempt", slog.String("error", ferr.Error()))
			}
		}
		return err
	}
	id, _ := asynq.GetTaskID(ctx)
	h.logger.DebugContext(ctx, "generated", slog.String("task_id", id), slog.String("provider", provider),
		slog.String("model", res.Model), slog.Int("output_tokens", res.OutputTokens))
	return nil
}

// store writes res as the task's result and counts a job's item as
// finished.
func (h *GenerateHandler) store(ctx context.Context, t *asynq.Task, job *JobRef, res *GenerateResult) error {
	out, err := json.Marshal(res)
	if err != nil {
		return permanent(fmt.Errorf("encode generation: %w", err))
	}
	if _, err := t.ResultWriter().Write(out); err != nil {
		return fmt.Errorf("write generation result: %w", err)
	}
	if job != nil {
		failed := 0
		if res.Error != nil {
			failed = 1
		}
		if err := h.jobs.BatchFinished(ctx, *job, 1, failed); err != nil {
			return fmt.Errorf("record job progress: %w", err)
		}
	}
	return nil
}

// runner returns the call that runs p on the named provider.
func (h *GenerateHandler) runner(provider string, p GeneratePayload) (func(context.Context) (*GenerateResult, error), error) {
	if provider == ProviderOpenAI {
		if h.openai == nil {
			return nil, fmt.Errorf("%w: provider %q is not configured on this worker", ErrInvalidPayload, provider)
		}
		endpoint, body, err := p.openAIRequest()
		if err != nil {
			return nil, err
		}
		send := h.openai.Chat
		if endpoint == EndpointCompletions {
			send = h.openai.Complete
		}
		return func(ctx context.Context) (*GenerateResult, error) {
			c, err := send(ctx, clients.CompletionRequest{Body: body, Stream: p.Stream})
			if err != nil {
				return nil, err
			}
			return &GenerateResult{
				Provider: ProviderOpenAI, Model: c.Model, Text: c.Text, FinishReason: c.FinishReason,
				InputTokens: c.InputTokens, OutputTokens: c.OutputTokens, ResponseID: c.ID, Body: c.Body,
			}, nil
		}, nil
	}
	gen, ok := h.generators[provider]
	if !ok {
		return nil, fmt.Errorf("%w: provider %q is not configured on this worker", ErrInvalidPayload, provider)
	}
	if len(p.Body) > 0 {
		return nil, fmt.Errorf("%w: an OpenAI request body needs provider %q, not %q", ErrInvalidPayload, ProviderOpenAI, provider)
	}
	return func(ctx context.Context) (*GenerateResult, error) {
		g, err := gen.Generate(ctx, clients.GenerateRequest{
			Model: p.Model, Prompt: p.Prompt, System: p.System,
			Messages: p.Messages, Options: p.Options, Stream: p.Stream,
		})
		if err != nil {
			return nil, err
		}
		return &GenerateResult{
			Provider: provider, Model: g.Model, Text: g.Text, FinishReason: g.DoneReason,
			InputTokens: g.InputTokens, OutputTokens: g.OutputTokens,
		}, nil
	}, nil
}

// openAIRequest returns the endpoint and body of p toward OpenAI: Body as
// it is, or a chat built from Prompt (and System) or Messages, with
// Options as further fields of the body and Model as its model.
func (p GeneratePayload) openAIRequest() (string, json.RawMessage, error) {
	if len(p.Body) > 0 {
		return p.Endpoint, p.Body, nil
	}
	body := make(map[string]any, len(p.Options)+2)
	for k, v := range p.Options {
		body[k] = v
	}
	msgs := p.Messages
	if p.Prompt != "" {
		if p.System != "" {
			msgs = append(msgs, clients.Message{Role: "system", Content: p.System})
		}
		msgs = append(msgs, clients.Message{Role: "user", Content: p.Prompt})
	}
	body["messages"] = msgs
	if p.Model != "" {
		body["model"] = p.Model
	}
	b, err := json.Marshal(body)
	if err != nil {
		return "", nil, fmt.Errorf("%w: options: %v", ErrInvalidPayload, err)
	}
	return EndpointChat, b, nil
}

// GenerateResult is the result of a TypeGenerate task, stored as JSON.
type GenerateResult struct {
	// Provider is the provider that answered ("openai", "ollama").
	Provider string `json:"provider,omitempty"`
	// Model is the model that answered, as the provider names it.
	Model string `json:"model"`
	// Text is the answer: the first choice's message content or text.
	Text string `json:"text"`
	// FinishReason says why generation stopped ("stop", "length", ...).
	FinishReason string `json:"finish_reason,omitempty"`
	// InputTokens and OutputTokens are the provider's usage counts.
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
	// ResponseID is the provider's id of the answer (OpenAI:
	// "chatcmpl-...", "cmpl-...").
	ResponseID string `json:"response_id,omitempty"`
	// Body is the provider's answer body as it came (OpenAI, not
	// streamed), or assembled in the same shape from a stream; empty for
	// Ollama.
	Body json.RawMessage `json:"body,omitempty"`
	// Error is set instead of the fields above when the provider refused
	// a job's item for good.
	Error *GenerateError `json:"error,omitempty"`
}

// GenerateError is a provider's refusal of a job's item.
type GenerateError struct {
	// Status is the provider's HTTP status; 0 for an error event in a
	// stream, or a request refused before sending.
	Status int `json:"status"`
	// Type, Code and Message come from the provider's error object.
	Type    string `json:"type,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
}

// refusal is the result of a job's item whose request failed for good.
func refusal(provider string, err error) *GenerateResult {
	e := &GenerateError{Message: err.Error()}
	var apiErr *clients.APIError
	var streamErr *clients.StreamError
	switch {
	case errors.As(err, &apiErr):
		e.Status, e.Type, e.Code = apiErr.StatusCode, apiErr.Type, apiErr.Code
		if apiErr.Message != "" {
			e.Message = apiErr.Message
		}
	case errors.As(err, &streamErr):
		e.Type, e.Code = streamErr.Type, streamErr.Code
		if streamErr.Message != "" {
			e.Message = streamErr.Message
		}
	}
	return &GenerateResult{Provider: provider, Error: e}
}

// DecodeGenerateResult decodes a TypeGenerate task's result. It also
// reads the results of earlier versions, whose finish reason was stored
// as "done_reason".
func DecodeGenerateResult(b []byte) (*GenerateResult, error) {
	var g struct {
		GenerateResult
		DoneReason string `json:"done_reason"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf("decode generation result: %w", err)
	}
	if g.FinishReason == "" {
		g.FinishReason = g.DoneReason
	}
	return &g.GenerateResult, nil
}
