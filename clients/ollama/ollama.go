package ollama

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/internal/genai"
	"github.com/llmq/llmq/clients/internal/redact"
)

// Defaults used by New for zero Config fields.
const (
	DefaultHost           = "http://127.0.0.1:11434"
	DefaultModel          = "llama3.2"
	DefaultEmbeddingModel = "nomic-embed-text"
)

// Provider is the name this package gives its provider in errors.
const Provider = "ollama"

// ErrInvalidRequest is wrapped by the errors of requests that are refused
// before sending because they cannot be valid (no inputs, an empty input,
// nothing to generate from). It is clients.ErrInvalidRequest.
var ErrInvalidRequest = clients.ErrInvalidRequest

// Config configures a Client. Zero fields take the documented defaults.
type Config struct {
	// Host is the server's root URL, http or https; a bare "host:port"
	// means http. Default DefaultHost.
	Host string
	// Model is the generation model used when a request names none.
	// Default DefaultModel.
	Model string
	// EmbeddingModel is the embedding model used when a request names
	// none. Default DefaultEmbeddingModel.
	EmbeddingModel string
	// TracerProvider and MeterProvider receive a CLIENT span and the
	// gen_ai.client.* metrics for every call (OpenTelemetry GenAI
	// conventions). Default: the global ones.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
}

// Client calls one Ollama server. It is safe for concurrent use.
type Client struct {
	hc         *http.Client
	host       string
	model      string
	embedModel string
	obs        *genai.Instruments
}

// New returns a Client that sends its requests through hc, the process's
// pooled client for this provider (clients.NewHTTPClient). It fails if hc
// is nil or Host is not an http or https URL.
func New(hc *http.Client, cfg Config) (*Client, error) {
	if hc == nil {
		return nil, errors.New("ollama: nil *http.Client")
	}
	if cfg.Host == "" {
		cfg.Host = DefaultHost
	}
	if cfg.Model == "" {
		cfg.Model = DefaultModel
	}
	if cfg.EmbeddingModel == "" {
		cfg.EmbeddingModel = DefaultEmbeddingModel
	}
	host := cfg.Host
	if !strings.Contains(host, "://") {
		host = "http://" + host
	}
	host, err := clients.ParseBaseURL(host)
	if err != nil {
		return nil, fmt.Errorf("ollama: Host %w (or host:port)", err)
	}
	obs, err := genai.New(Provider, host, cfg.TracerProvider, cfg.MeterProvider)
	if err != nil {
		return nil, fmt.Errorf("ollama: %w", err)
	}
	return &Client{
		hc:         hc,
		host:       host,
		model:      cfg.Model,
		embedModel: cfg.EmbeddingModel,
		obs:        obs,
	}, nil
}

// WarmURL returns the URL of a cheap GET (the server version) that opens
// the first connection to the server; see clients.Warm.
func (c *Client) WarmURL() string { return c.host + "/api/version" }

type embedRequest struct {
	Model      string   `json:"model"`
	Input      []string `json:"input"`
	Dimensions int      `json:"dimensions,omitempty"`
}

type embedResponse struct {
	Model           string      `json:"model"`
	Embeddings      [][]float32 `json:"embeddings"`
	PromptEvalCount int         `json:"prompt_eval_count"`
}

// Embed sends req to POST /api/embed in one request and returns one vector
// per input, in input order. The model is req.Model, or the client's
// EmbeddingModel; Dimensions is sent only when positive.
//
// A request with no inputs or an empty input is refused with an error
// wrapping ErrInvalidRequest. A non-2xx answer is returned as a
// *clients.APIError. An answer that is not one vector per input of one
// length (req.Dimensions, when set) is an error. Errors caused by ctx wrap
// ctx.Err(). Every request sent is reported as a span and in the
// gen_ai.client.* metrics (see Config).
func (c *Client) Embed(ctx context.Context, req clients.EmbedRequest) (*clients.Embeddings, error) {
	const op = "ollama embed"
	if err := req.Validate(0); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	model := req.Model
	if model == "" {
		model = c.embedModel
	}
	ctx, call := c.obs.Start(ctx, genai.Embeddings, model)
	res, err := c.embed(ctx, call, req, model)
	if res != nil {
		call.Usage(res.Model, res.InputTokens, 0)
	}
	call.End(err)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return res, nil
}

// embed sends one /api/embed request and decodes its answer; the response
// body has been read and closed when it returns.
func (c *Client) embed(ctx context.Context, call *genai.Call, req clients.EmbedRequest, model string) (*clients.Embeddings, error) {
	resp, err := c.post(ctx, "/api/embed", embedRequest{Model: model, Input: req.Input, Dimensions: max(req.Dimensions, 0)})
	if err != nil {
		return nil, err
	}
	defer clients.DrainClose(resp.Body)
	call.Response(resp)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, apiError(resp, req.Input)
	}
	var er embedResponse
	if err := json.NewDecoder(resp.Body).Decode(&er); err != nil {
		return nil, fmt.Errorf("decode response: %w", clients.Malformed(ctx, err))
	}
	if err := clients.CheckVectors(er.Embeddings, len(req.Input), req.Dimensions); err != nil {
		return nil, clients.MalformedVectors(err)
	}
	if er.Model == "" {
		er.Model = model
	}
	return &clients.Embeddings{Model: er.Model, Vectors: er.Embeddings, InputTokens: er.PromptEvalCount}, nil
}

type generateRequest struct {
	Model    string            `json:"model"`
	Prompt   string            `json:"prompt,omitempty"`
	System   string            `json:"system,omitempty"`
	Messages []clients.Message `json:"messages,omitempty"`
	Stream   bool              `json:"stream"`
	Options  map[string]any    `json:"options,omitempty"`
}

// chunk is a non-streamed answer, or one line of a streamed one, of
// /api/generate (Response) or /api/chat (Message).
type chunk struct {
	Model    string `json:"model"`
	Response string `json:"response"`
	Message  *struct {
		Content string `json:"content"`
	} `json:"message"`
	Done            bool   `json:"done"`
	DoneReason      string `json:"done_reason"`
	PromptEvalCount int    `json:"prompt_eval_count"`
	EvalCount       int    `json:"eval_count"`
	Error           string `json:"error"`
}

func (ch *chunk) text() string {
	if ch.Message != nil {
		return ch.Message.Content
	}
	return ch.Response
}

// maxLine bounds one line of a streamed answer.
const maxLine = 8 << 20

// Generate completes req.Prompt (with req.System) through POST
// /api/generate, or, when req.Messages is not empty, the conversation
// through POST /api/chat (req.System, if set, goes first as a system
// message). The model is req.Model, or the client's Model; req.Options
// are sent as they are.
//
// "stream" is always sent as req.Stream (Ollama streams when it is
// absent). A streamed answer is read line by line and assembled, so the
// result is the same either way; cancelling ctx stops the stream at once,
// and the error then wraps ctx.Err(). A stream that reports an error, or
// ends before its final line (the error wraps io.ErrUnexpectedEOF), fails
// with a plain error; a non-2xx answer is a *clients.APIError. A request
// with neither a prompt nor messages is refused with an error wrapping
// ErrInvalidRequest. Every request sent is reported as a span (operation
// text_completion or chat) and in the gen_ai.client.* metrics.
func (c *Client) Generate(ctx context.Context, req clients.GenerateRequest) (*clients.Generation, error) {
	op, path := "ollama generate", "/api/generate"
	body := generateRequest{Model: req.Model, Stream: req.Stream, Options: req.Options}
	texts := []string{req.Prompt, req.System}
	if len(req.Messages) > 0 {
		op, path = "ollama chat", "/api/chat"
		if req.System != "" {
			body.Messages = append(body.Messages, clients.Message{Role: "system", Content: req.System})
		}
		body.Messages = append(body.Messages, req.Messages...)
		for _, m := range req.Messages {
			texts = append(texts, m.Content)
		}
	} else {
		if req.Prompt == "" {
			return nil, fmt.Errorf("%s: %w: no prompt and no messages", op, ErrInvalidRequest)
		}
		body.Prompt, body.System = req.Prompt, req.System
	}
	if body.Model == "" {
		body.Model = c.model
	}
	if len(body.Options) == 0 {
		body.Options = nil
	}
	operation := genai.TextCompletion
	if len(body.Messages) > 0 {
		operation = genai.Chat
	}
	ctx, call := c.obs.Start(ctx, operation, body.Model)
	g, err := c.generate(ctx, call, path, body, texts)
	if g != nil {
		call.Usage(g.Model, g.InputTokens, g.OutputTokens)
	}
	call.End(err)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return g, nil
}

// generate sends one /api/generate or /api/chat request and reads its
// answer, streamed or not; the response body has been read and closed when
// it returns.
func (c *Client) generate(ctx context.Context, call *genai.Call, path string, body generateRequest, texts []string) (*clients.Generation, error) {
	resp, err := c.post(ctx, path, body)
	if err != nil {
		return nil, err
	}
	defer clients.DrainClose(resp.Body)
	call.Response(resp)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, apiError(resp, texts)
	}
	var g *clients.Generation
	if body.Stream {
		g, err = readStream(ctx, resp.Body, texts)
	} else {
		g, err = readOne(ctx, resp.Body, texts)
	}
	if err != nil {
		return nil, err
	}
	if g.Model == "" {
		g.Model = body.Model
	}
	return g, nil
}

func readOne(ctx context.Context, r io.Reader, texts []string) (*clients.Generation, error) {
	var ch chunk
	if err := json.NewDecoder(r).Decode(&ch); err != nil {
		return nil, fmt.Errorf("decode response: %w", clients.ContextError(ctx, err))
	}
	if ch.Error != "" {
		return nil, fmt.Errorf("server error: %s", redact.Snippet(ch.Error, maxMessage, nil, texts))
	}
	return &clients.Generation{
		Model:        ch.Model,
		Text:         ch.text(),
		DoneReason:   ch.DoneReason,
		InputTokens:  ch.PromptEvalCount,
		OutputTokens: ch.EvalCount,
	}, nil
}

func readStream(ctx context.Context, r io.Reader, texts []string) (*clients.Generation, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var text strings.Builder
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var ch chunk
		if err := json.Unmarshal(line, &ch); err != nil {
			return nil, fmt.Errorf("decode stream line %d: %w", n, err)
		}
		if ch.Error != "" {
			return nil, fmt.Errorf("server error in stream: %s", redact.Snippet(ch.Error, maxMessage, nil, texts))
		}
		text.WriteString(ch.text())
		if ch.Done {
			return &clients.Generation{
				Model:        ch.Model,
				Text:         text.String(),
				DoneReason:   ch.DoneReason,
				InputTokens:  ch.PromptEvalCount,
				OutputTokens: ch.EvalCount,
			}, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read stream: %w", clients.ContextError(ctx, err))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read stream: %w", err)
	}
	return nil, fmt.Errorf("stream ended before its final line: %w", io.ErrUnexpectedEOF)
}

// post sends v as JSON to path.
func (c *Client) post(ctx context.Context, path string, v any) (*http.Response, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.host+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, application/x-ndjson")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, clients.ContextError(ctx, err)
	}
	return resp, nil
}

// Limits on what an error keeps of an error body.
const (
	maxErrorBody    = 64 << 10
	maxMessage      = 512
	maxGarbageBytes = 200
)

// apiError turns a non-2xx response into a *clients.APIError with the
// message of Ollama's {"error": "..."} body, or a short cleaned snippet of
// any other body.
func apiError(resp *http.Response, texts []string) *clients.APIError {
	e := clients.NewAPIError(Provider, resp)
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var eb struct {
		Error string `json:"error"`
	}
	limit := maxGarbageBytes
	msg := string(body)
	if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
		limit, msg = maxMessage, eb.Error
	}
	if m := redact.Snippet(msg, limit, nil, texts); m != "" {
		e.Message = m
	}
	return e
}
