package openai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"unsafe"

	simdbase64 "github.com/segmentio/asm/base64"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/internal/genai"
	"github.com/llmq/llmq/clients/internal/redact"
)

// Defaults used by New for zero Config fields.
const (
	DefaultBaseURL = "https://api.openai.com/v1"
	DefaultModel   = "text-embedding-3-small"
)

// MaxInputs is the most inputs one embeddings request may carry.
const MaxInputs = clients.MaxEmbedInputs

// Provider is the name this package gives its provider in errors.
const Provider = "openai"

// ErrInvalidRequest is wrapped by the errors of requests that are refused
// before sending because no server could accept them (no inputs, more than
// MaxInputs, an empty input). It is clients.ErrInvalidRequest.
var ErrInvalidRequest = clients.ErrInvalidRequest

// Config configures a Client. Zero fields take the documented defaults.
type Config struct {
	// BaseURL is the API root that "/embeddings" is appended to, http or
	// https. Default DefaultBaseURL; any OpenAI-compatible ".../v1" works.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <key>"; no header is sent
	// when it is empty.
	APIKey string
	// Model is the embedding model used when a request names none.
	// Default DefaultModel.
	Model string
	// ChatModel is the generation model (Chat and Complete) used when a
	// request body names none. Default DefaultChatModel.
	ChatModel string
	// MaxAnswerBytes bounds a generation answer: the body of a non-streamed
	// one, and for a streamed one each event and the assembled answer. A
	// larger answer is an error wrapping clients.ErrAnswerTooLarge.
	// Default DefaultMaxAnswerBytes.
	MaxAnswerBytes int
	// TracerProvider and MeterProvider receive a CLIENT span and the
	// gen_ai.client.* metrics for every call (OpenTelemetry GenAI
	// conventions). Default: the global ones.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
}

// Client calls one OpenAI-compatible server. It is safe for concurrent use.
type Client struct {
	hc       *http.Client
	base     string
	embedURL string
	auth     string
	key      string
	model    string
	obs      *genai.Instruments

	chatModel string
	maxAnswer int
}

// New returns a Client that sends its requests through hc, the process's
// pooled client for this provider (clients.NewHTTPClient). It fails if hc
// is nil or BaseURL is not an absolute http or https URL.
func New(hc *http.Client, cfg Config) (*Client, error) {
	if hc == nil {
		return nil, errors.New("openai: nil *http.Client")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.Model == "" {
		cfg.Model = DefaultModel
	}
	if cfg.ChatModel == "" {
		cfg.ChatModel = DefaultChatModel
	}
	if cfg.MaxAnswerBytes <= 0 {
		cfg.MaxAnswerBytes = DefaultMaxAnswerBytes
	}
	base, err := clients.ParseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("openai: BaseURL %w", err)
	}
	obs, err := genai.New(Provider, base, cfg.TracerProvider, cfg.MeterProvider)
	if err != nil {
		return nil, fmt.Errorf("openai: %w", err)
	}
	c := &Client{
		hc:       hc,
		base:     base,
		embedURL: base + "/embeddings",
		key:      cfg.APIKey,
		model:    cfg.Model,
		obs:      obs,

		chatModel: cfg.ChatModel,
		maxAnswer: cfg.MaxAnswerBytes,
	}
	if cfg.APIKey != "" {
		c.auth = "Bearer " + cfg.APIKey
	}
	return c, nil
}

// WarmURL returns the URL of a cheap GET (the model list) that opens the
// first connection to the server; see clients.Warm.
func (c *Client) WarmURL() string { return c.base + "/models" }

type embedRequest struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	Dimensions     int      `json:"dimensions,omitempty"`
	EncodingFormat string   `json:"encoding_format"`
}

type embedResponse struct {
	Data  []embedData `json:"data"`
	Model string      `json:"model"`
	Usage struct {
		PromptTokens int `json:"prompt_tokens"`
	} `json:"usage"`
}

type embedData struct {
	Index     int             `json:"index"`
	Embedding json.RawMessage `json:"embedding"`
}

// Embed sends req to POST {BaseURL}/embeddings in one request and returns
// one vector per input, in input order. The model is req.Model, or the
// client's default; Dimensions is sent only when positive.
//
// A request with no inputs, more than MaxInputs, or an empty input is
// refused with an error wrapping ErrInvalidRequest. A non-2xx answer is
// returned as a *clients.APIError. An answer that is not one vector per
// input of one length (req.Dimensions, when set) is an error. Errors caused
// by ctx wrap ctx.Err(). Every request sent is reported as a span and in
// the gen_ai.client.* metrics (see Config).
func (c *Client) Embed(ctx context.Context, req clients.EmbedRequest) (*clients.Embeddings, error) {
	if err := req.Validate(MaxInputs); err != nil {
		return nil, fmt.Errorf("openai embeddings: %w", err)
	}
	model := req.Model
	if model == "" {
		model = c.model
	}
	ctx, call := c.obs.Start(ctx, genai.Embeddings, model)
	res, err := c.embed(ctx, call, req, model)
	if res != nil {
		call.Usage(res.Model, res.InputTokens, 0)
	}
	call.End(err)
	return res, err
}

// embed sends one embeddings request and decodes its answer; the response
// body has been read and closed when it returns.
func (c *Client) embed(ctx context.Context, call *genai.Call, req clients.EmbedRequest, model string) (*clients.Embeddings, error) {
	body, err := json.Marshal(embedRequest{
		Model:          model,
		Input:          req.Input,
		Dimensions:     max(req.Dimensions, 0),
		EncodingFormat: "base64",
	})
	if err != nil {
		return nil, fmt.Errorf("openai embeddings: encode request: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.embedURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("openai embeddings: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if c.auth != "" {
		hreq.Header.Set("Authorization", c.auth)
	}
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("openai embeddings: %w", clients.ContextError(ctx, err))
	}
	defer clients.DrainClose(resp.Body)
	call.Response(resp)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("openai embeddings: %w", c.apiError(resp, req.Input))
	}
	var er embedResponse
	release, err := decodeEmbedResponse(resp, &er)
	if err != nil {
		return nil, fmt.Errorf("openai embeddings: decode response: %w", clients.Malformed(ctx, err))
	}
	vecs, err := vectors(&er, len(req.Input), req.Dimensions, req.Alloc)
	release() // the vectors are decoded: nothing refers to the body
	if err != nil {
		if m := clients.Malformed(ctx, err); errors.Is(m, clients.ErrMalformedAnswer) {
			return nil, fmt.Errorf("openai embeddings: %w", m)
		}
		return nil, fmt.Errorf("openai embeddings: %w", clients.MalformedVectors(err))
	}
	m := er.Model
	if m == "" {
		m = model
	}
	return &clients.Embeddings{Model: m, Vectors: vecs, InputTokens: er.Usage.PromptTokens}, nil
}

// vectors puts the answer's vectors in input order and checks that there
// is exactly one per input, all of one length, of finite values. Vectors
// of the first one's length share one backing array, from alloc when it
// is set, into which base64 is decoded in place.
func vectors(er *embedResponse, n, dims int, alloc func(int) []float32) ([][]float32, error) {
	if len(er.Data) != n {
		return nil, fmt.Errorf("%d vectors for %d inputs", len(er.Data), n)
	}
	out := make([][]float32, n)
	seen := make([]bool, n)
	var all []float32 // the shared backing array, once the length is known
	d := 0
	for _, e := range er.Data {
		if e.Index < 0 || e.Index >= n {
			return nil, fmt.Errorf("vector index %d out of range [0, %d)", e.Index, n)
		}
		if seen[e.Index] {
			return nil, fmt.Errorf("vector index %d appears twice", e.Index)
		}
		seen[e.Index] = true
		if all == nil {
			if d = base64Floats(e.Embedding); d > 0 {
				if alloc != nil {
					all = alloc(n * d)[: n*d : n*d]
				} else {
					all = make([]float32, n*d)
				}
			}
		}
		var into []float32
		if d > 0 && base64Floats(e.Embedding) == d {
			into = all[e.Index*d : (e.Index+1)*d : (e.Index+1)*d]
		}
		v, err := decodeVector(e.Embedding, into)
		if err == nil {
			err = clients.CheckFinite(v)
		}
		if err != nil {
			return nil, fmt.Errorf("vector %d: %w", e.Index, err)
		}
		out[e.Index] = v
	}
	if err := clients.CheckShapes(out, n, dims); err != nil {
		return nil, err
	}
	return out, nil
}

// base64Floats returns the number of float32s in raw when it is a base64
// string of whole ones, else 0. It counts escapes as base64: a string
// with escapes fails to decode into a vector of that length, and
// decodeBase64 then unquotes it.
func base64Floats(raw json.RawMessage) int {
	if len(raw) < 2 || raw[0] != '"' {
		return 0
	}
	b64 := raw[1 : len(raw)-1]
	if len(b64)%4 != 0 {
		return 0
	}
	n := len(b64) / 4 * 3
	for i := len(b64) - 1; i >= 0 && i >= len(b64)-2 && b64[i] == '='; i-- {
		n--
	}
	if n%4 != 0 {
		return 0
	}
	return n / 4
}

// decodeVector reads one "embedding" value: a base64 string of
// little-endian float32s, or a JSON array of numbers. A base64 vector of
// len(into) floats is decoded into into.
func decodeVector(raw json.RawMessage, into []float32) ([]float32, error) {
	if len(raw) == 0 {
		return nil, errors.New("no embedding")
	}
	switch raw[0] {
	case '"':
		return decodeBase64(raw, into)
	case '[':
		var v []float32
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("embedding array: %w", err)
		}
		return v, nil
	}
	return nil, errors.New("embedding is neither a base64 string nor an array")
}

// littleEndian is true where a []float32 in memory is its little-endian
// bytes, so that base64 decodes into it directly.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// decodeBase64 decodes a base64 vector, a JSON string: into into when its
// length says it is exactly len(into) floats, with SIMD where the CPU has
// it (about six times encoding/base64's speed); otherwise, or when that
// fails, with encoding/base64, whose errors it returns.
func decodeBase64(raw json.RawMessage, into []float32) ([]float32, error) {
	b64 := raw[1 : len(raw)-1]
	if littleEndian && len(into) > 0 && base64Floats(raw) == len(into) {
		// The decoded length is known: exactly the bytes of into. The
		// decoder takes nothing but base64, so a string with escapes
		// fails here and goes the slow way.
		dst := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(into))), 4*len(into))
		if n, err := simdbase64.StdEncoding.Decode(dst, b64); err == nil && n == len(dst) {
			return into, nil
		}
	}
	// Base64 needs no JSON escapes, so the bytes between the quotes are
	// the text; unquote only for a server that escapes "/" or the like.
	if bytes.IndexByte(b64, '\\') >= 0 {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("embedding string: %w", err)
		}
		b64 = []byte(s)
	}
	buf := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
	n, err := base64.StdEncoding.Decode(buf, b64)
	if err != nil {
		return nil, fmt.Errorf("embedding base64: %w", err)
	}
	if n%4 != 0 {
		return nil, fmt.Errorf("embedding base64: %d bytes is not a whole number of float32s", n)
	}
	v := into
	if len(v) != n/4 {
		v = make([]float32, n/4)
	}
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
	}
	return v, nil
}

// Limits on what an error keeps of an error body.
const (
	maxErrorBody    = 64 << 10
	maxMessage      = 512
	maxField        = 100
	maxGarbageBytes = 200
)

// apiError turns a non-2xx response into a *clients.APIError. Type, code
// and message come from an OpenAI error body ({"error": {"message", "type",
// "param", "code"}}), or from the shapes compatible servers use instead
// ({"error": "..."}, or message, type and code at the top level); any
// other body gives a short cleaned snippet.
func (c *Client) apiError(resp *http.Response, inputs []string) *clients.APIError {
	e := clients.NewAPIError(Provider, resp)
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	secrets := []string{c.key}
	type fields struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
	}
	var eb struct {
		fields
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(body, &eb); err == nil {
		f := eb.fields
		var inner fields
		var s string
		switch {
		case json.Unmarshal(eb.Error, &inner) == nil && inner.Message+inner.Type != "":
			f = inner
		case json.Unmarshal(eb.Error, &s) == nil && s != "":
			f = fields{Message: s}
		}
		if f.Message+f.Type != "" || len(f.Code) > 0 {
			e.Type = redact.Snippet(f.Type, maxField, secrets, inputs)
			e.Code = redact.Snippet(jsonScalar(f.Code), maxField, secrets, inputs)
			if m := redact.Snippet(f.Message, maxMessage, secrets, inputs); m != "" {
				e.Message = m
			}
			return e
		}
	}
	if m := redact.Snippet(string(body), maxGarbageBytes, secrets, inputs); m != "" {
		e.Message = m
	}
	return e
}

// jsonScalar renders a JSON string, number or boolean as text; null and
// anything else as "".
func jsonScalar(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case 't', 'f', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return string(raw)
	}
	return ""
}
