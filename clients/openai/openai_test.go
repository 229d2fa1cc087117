package openai_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/openai"
	"github.com/llmq/llmq/simulator"
)

// fixture is a simulator and an openai.Client pointed at it.
type fixture struct {
	sim    *simulator.Simulator
	server *httptest.Server
	hc     *http.Client
	stats  *clients.Stats
	client *openai.Client
}

type options struct {
	sim  simulator.Config
	http clients.Config
	cfg  openai.Config
	tls  bool
}

// setup starts a simulator and builds a pooled client and an openai.Client
// for it; everything is closed when the test ends.
func setup(t *testing.T, o options) *fixture {
	t.Helper()
	sim := simulator.New(o.sim)
	ts := simulator.Start(sim, o.tls)
	t.Cleanup(ts.Close)
	if o.tls {
		pool := x509.NewCertPool()
		pool.AddCert(ts.Certificate())
		o.http.TLSConfig = &tls.Config{RootCAs: pool}
	}
	hc, stats, err := clients.NewHTTPClient(o.http)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	if o.cfg.BaseURL == "" {
		o.cfg.BaseURL = ts.URL + "/v1"
	}
	c, err := openai.New(hc, o.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{sim: sim, server: ts, hc: hc, stats: stats, client: c}
}

func sumTokens(texts []string) int {
	n := 0
	for _, s := range texts {
		n += simulator.Tokens(s)
	}
	return n
}

func TestEmbed(t *testing.T) {
	texts := []string{"the first text", "a second, longer text about queues", "ünïcödé ✓"}
	tests := []struct {
		name      string
		floatOnly bool
		simDim    int
		req       clients.EmbedRequest
		wantDim   int
		wantModel string
	}{
		{name: "base64", req: clients.EmbedRequest{Input: texts}, wantDim: simulator.DefaultDim, wantModel: openai.DefaultModel},
		{name: "float arrays", floatOnly: true, req: clients.EmbedRequest{Input: texts}, wantDim: simulator.DefaultDim, wantModel: openai.DefaultModel},
		{name: "dimensions", req: clients.EmbedRequest{Input: texts, Dimensions: 256}, wantDim: 256, wantModel: openai.DefaultModel},
		{name: "dimensions float arrays", floatOnly: true, req: clients.EmbedRequest{Input: texts, Dimensions: 64}, wantDim: 64, wantModel: openai.DefaultModel},
		{name: "server default dimensions", simDim: 32, req: clients.EmbedRequest{Input: texts}, wantDim: 32, wantModel: openai.DefaultModel},
		{name: "one input", req: clients.EmbedRequest{Input: texts[:1]}, wantDim: simulator.DefaultDim, wantModel: openai.DefaultModel},
		{name: "model named", req: clients.EmbedRequest{Input: texts, Model: "text-embedding-3-large"}, wantDim: simulator.DefaultDim, wantModel: "text-embedding-3-large"},
		{name: "many inputs", req: clients.EmbedRequest{Input: manyTexts(openai.MaxInputs), Dimensions: 8}, wantDim: 8, wantModel: openai.DefaultModel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, options{sim: simulator.Config{FloatOnly: tt.floatOnly, Dim: tt.simDim}})
			got, err := f.client.Embed(t.Context(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got.Model != tt.wantModel {
				t.Errorf("Model = %q, want %q", got.Model, tt.wantModel)
			}
			if want := sumTokens(tt.req.Input); got.InputTokens != want {
				t.Errorf("InputTokens = %d, want %d", got.InputTokens, want)
			}
			if len(got.Vectors) != len(tt.req.Input) {
				t.Fatalf("%d vectors for %d inputs", len(got.Vectors), len(tt.req.Input))
			}
			for i, in := range tt.req.Input {
				want := simulator.Vector(in, tt.wantDim)
				if !slices.Equal(got.Vectors[i], want) {
					t.Fatalf("vector %d (len %d) differs from simulator.Vector(input %d, %d)", i, len(got.Vectors[i]), i, tt.wantDim)
				}
			}
		})
	}
}

// TestEmbedAlloc checks that base64 vectors are decoded into the memory
// Alloc gives, stale contents overwritten, and that float arrays, which
// are not decoded in place, never ask for it.
func TestEmbedAlloc(t *testing.T) {
	texts := []string{"the first text", "a second, longer text about queues", "ünïcödé ✓"}
	for _, floatOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("float only %v", floatOnly), func(t *testing.T) {
			f := setup(t, options{sim: simulator.Config{FloatOnly: floatOnly}})
			var given []float32
			calls := 0
			alloc := func(n int) []float32 {
				calls++
				given = make([]float32, n+7) // larger, and not zero
				for i := range given {
					given[i] = -1
				}
				return given[:n]
			}
			got, err := f.client.Embed(t.Context(), clients.EmbedRequest{Input: texts, Alloc: alloc})
			if err != nil {
				t.Fatal(err)
			}
			wantCalls := 1
			if floatOnly {
				wantCalls = 0
			}
			if calls != wantCalls {
				t.Fatalf("Alloc called %d times, want %d", calls, wantCalls)
			}
			for i, in := range texts {
				if want := simulator.Vector(in, simulator.DefaultDim); !slices.Equal(got.Vectors[i], want) {
					t.Fatalf("vector %d differs from simulator.Vector", i)
				}
				if !floatOnly && &got.Vectors[i][0] != &given[i*simulator.DefaultDim] {
					t.Errorf("vector %d is not in the memory Alloc gave", i)
				}
				if !floatOnly && cap(got.Vectors[i]) != len(got.Vectors[i]) {
					t.Errorf("vector %d has capacity %d beyond its %d values", i, cap(got.Vectors[i]), len(got.Vectors[i]))
				}
			}
		})
	}
}

func manyTexts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("text number %d", i)
	}
	return out
}

// TestEmbedRequestOnTheWire checks the request body and headers as a server
// receives them.
func TestEmbedRequestOnTheWire(t *testing.T) {
	tests := []struct {
		name     string
		cfg      openai.Config
		req      clients.EmbedRequest
		wantBody string
		wantAuth string
	}{
		{
			name:     "one input is still an array",
			cfg:      openai.Config{APIKey: "sk-test"},
			req:      clients.EmbedRequest{Input: []string{"hello"}},
			wantBody: `{"model":"text-embedding-3-small","input":["hello"],"encoding_format":"base64"}`,
			wantAuth: "Bearer sk-test",
		},
		{
			name:     "dimensions and model",
			cfg:      openai.Config{Model: "my-model"},
			req:      clients.EmbedRequest{Input: []string{"a", "b"}, Dimensions: 3},
			wantBody: `{"model":"my-model","input":["a","b"],"dimensions":3,"encoding_format":"base64"}`,
		},
		{
			name:     "negative dimensions are not sent",
			req:      clients.EmbedRequest{Input: []string{"a"}, Dimensions: -1, Model: "m"},
			wantBody: `{"model":"m","input":["a"],"encoding_format":"base64"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body, auth, ctype, path string
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				body, auth, ctype, path = string(b), r.Header.Get("Authorization"), r.Header.Get("Content-Type"), r.URL.Path
				var req struct{ Input []string }
				_ = json.Unmarshal(b, &req)
				var data []string
				for i := range req.Input {
					data = append(data, fmt.Sprintf(`{"index":%d,"embedding":[1,2,3]}`, i))
				}
				fmt.Fprintf(w, `{"data":[%s],"model":"m","usage":{"prompt_tokens":1}}`, strings.Join(data, ","))
			}))
			t.Cleanup(ts.Close)
			tt.cfg.BaseURL = ts.URL + "/v1/"
			c := newClient(t, tt.cfg)
			if _, err := c.Embed(t.Context(), tt.req); err != nil {
				t.Fatal(err)
			}
			if body != tt.wantBody {
				t.Errorf("body\n got %s\nwant %s", body, tt.wantBody)
			}
			if auth != tt.wantAuth {
				t.Errorf("Authorization = %q, want %q", auth, tt.wantAuth)
			}
			if ctype != "application/json" {
				t.Errorf("Content-Type = %q", ctype)
			}
			if path != "/v1/embeddings" {
				t.Errorf("path = %q, want /v1/embeddings", path)
			}
		})
	}
}

func newClient(t *testing.T, cfg openai.Config) *openai.Client {
	t.Helper()
	hc, _, err := clients.NewHTTPClient(clients.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	c, err := openai.New(hc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEmbedResponseShapes feeds the client answers the simulator does not
// give: out-of-order, malformed and inconsistent ones.
func TestEmbedResponseShapes(t *testing.T) {
	// AACAPwAAAEA= is [1, 2] as little-endian float32s.
	tests := []struct {
		name    string
		inputs  int
		dims    int
		body    string
		want    [][]float32
		wantErr string
	}{
		{name: "ordered by index", inputs: 3, body: `{"data":[{"index":2,"embedding":[3]},{"index":0,"embedding":[1]},{"index":1,"embedding":[2]}]}`, want: [][]float32{{1}, {2}, {3}}},
		{name: "base64 and arrays mixed", inputs: 2, body: `{"data":[{"index":1,"embedding":"AACAPwAAAEA="},{"index":0,"embedding":[5,6]}]}`, want: [][]float32{{5, 6}, {1, 2}}},
		{name: "escaped slashes in base64", inputs: 1, body: `{"data":[{"index":0,"embedding":"\/\/9\/fw=="}]}`, want: [][]float32{{math.MaxFloat32}}},
		{name: "escape that is not base64", inputs: 1, body: `{"data":[{"index":0,"embedding":"AACAPwAAAEA=\u0000"}]}`, wantErr: "base64"},
		{name: "NaN in base64", inputs: 2, body: `{"data":[{"index":0,"embedding":"AACAPwAAAEA="},{"index":1,"embedding":"AACAPwAAwH8="}]}`, wantErr: "vector 1: value 1 is NaN, outside float32's range"},
		{name: "infinity in base64, a vector of another length after it", inputs: 2, body: `{"data":[{"index":0,"embedding":"AACA/wAAgD8="},{"index":1,"embedding":"AAAA"}]}`, wantErr: "vector 0: value 0 is -Inf, outside float32's range"},
		{name: "unknown fields ignored", inputs: 1, body: `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[7]}],"extra":{"a":1}}`, want: [][]float32{{7}}},
		{name: "too few vectors", inputs: 2, body: `{"data":[{"index":0,"embedding":[1]}]}`, wantErr: "1 vectors for 2 inputs"},
		{name: "too many vectors", inputs: 1, body: `{"data":[{"index":0,"embedding":[1]},{"index":1,"embedding":[1]}]}`, wantErr: "2 vectors for 1 inputs"},
		{name: "index out of range", inputs: 2, body: `{"data":[{"index":0,"embedding":[1]},{"index":2,"embedding":[1]}]}`, wantErr: "out of range"},
		{name: "negative index", inputs: 1, body: `{"data":[{"index":-1,"embedding":[1]}]}`, wantErr: "out of range"},
		{name: "duplicate index", inputs: 2, body: `{"data":[{"index":1,"embedding":[1]},{"index":1,"embedding":[1]}]}`, wantErr: "twice"},
		{name: "bad base64", inputs: 1, body: `{"data":[{"index":0,"embedding":"!!!"}]}`, wantErr: "base64"},
		{name: "base64 not whole float32s", inputs: 1, body: `{"data":[{"index":0,"embedding":"AAAA"}]}`, wantErr: "float32"},
		{name: "embedding null", inputs: 1, body: `{"data":[{"index":0,"embedding":null}]}`, wantErr: "neither"},
		{name: "embedding missing", inputs: 1, body: `{"data":[{"index":0}]}`, wantErr: "no embedding"},
		{name: "lengths differ", inputs: 2, body: `{"data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":[1]}]}`, wantErr: "vector 1 has 1 dimensions, want 2"},
		{name: "dimensions ignored by server", inputs: 1, dims: 1, body: `{"data":[{"index":0,"embedding":[1,2]}]}`, wantErr: "vector 0 has 2 dimensions, want 1"},
		{name: "empty vector", inputs: 1, body: `{"data":[{"index":0,"embedding":[]}]}`, wantErr: "0 dimensions"},
		{name: "not JSON", inputs: 1, body: `<html>oops</html>`, wantErr: "decode response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, tt.body)
			}))
			t.Cleanup(ts.Close)
			c := newClient(t, openai.Config{BaseURL: ts.URL})
			got, err := c.Embed(t.Context(), clients.EmbedRequest{Input: manyTexts(tt.inputs), Dimensions: tt.dims})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "openai embeddings: ") {
					t.Errorf("error %q does not name the operation", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.want {
				if !slices.Equal(got.Vectors[i], tt.want[i]) {
					t.Errorf("vector %d = %v, want %v", i, got.Vectors[i], tt.want[i])
				}
			}
		})
	}
}

func TestEmbedInvalidRequest(t *testing.T) {
	tests := []struct {
		name  string
		input []string
	}{
		{name: "no inputs", input: nil},
		{name: "empty slice", input: []string{}},
		{name: "too many inputs", input: manyTexts(openai.MaxInputs + 1)},
		{name: "empty input", input: []string{"fine", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, options{})
			_, err := f.client.Embed(t.Context(), clients.EmbedRequest{Input: tt.input})
			if !errors.Is(err, openai.ErrInvalidRequest) || !errors.Is(err, clients.ErrInvalidRequest) {
				t.Fatalf("error = %v, want ErrInvalidRequest", err)
			}
			if n := f.sim.Stats().Requests; n != 0 {
				t.Errorf("server received %d requests, want 0", n)
			}
		})
	}
}

func TestEmbedAPIErrors(t *testing.T) {
	const secret = "confidential-paragraph-about-the-merger"
	tests := []struct {
		name        string
		key         string
		simKey      string
		directives  string
		status      int
		typ         string
		code        string
		permanent   bool
		rateLimited bool
		retryAfter  time.Duration
		rateLimit   map[string]string
	}{
		{name: "400", directives: "sim:status=400", status: 400, typ: "invalid_request_error", permanent: true},
		{name: "401 wrong key", key: "sk-wrong-0123456789", simKey: "sk-right-0123456789", status: 401, typ: "invalid_request_error", code: "invalid_api_key", permanent: true},
		{name: "401 no key", simKey: "sk-right-0123456789", status: 401, code: "invalid_api_key", typ: "invalid_request_error", permanent: true},
		{name: "403", directives: "sim:status=403", status: 403, typ: "invalid_request_error", permanent: true},
		{name: "404", directives: "sim:status=404", status: 404, typ: "invalid_request_error", code: "model_not_found", permanent: true},
		{name: "422", directives: "sim:status=422", status: 422, typ: "invalid_request_error", permanent: true},
		{
			name: "429", directives: "sim:status=429 sim:retry_after=2500ms", status: 429, typ: "requests", code: "rate_limit_exceeded",
			rateLimited: true, retryAfter: 2500 * time.Millisecond,
			rateLimit: map[string]string{"x-ratelimit-limit-requests": "3000", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "2.5s"},
		},
		{
			name: "insufficient quota", directives: "sim:code=insufficient_quota", status: 429, typ: "insufficient_quota", code: "insufficient_quota",
			permanent: true, retryAfter: simulator.DefaultRetryAfter,
			rateLimit: map[string]string{"x-ratelimit-limit-requests": "3000", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s"},
		},
		{name: "500", directives: "sim:status=500", status: 500, typ: "server_error"},
		{name: "502", directives: "sim:status=502", status: 502, typ: "server_error"},
		{name: "503", directives: "sim:status=503", status: 503, typ: "server_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, options{sim: simulator.Config{APIKey: tt.simKey}, cfg: openai.Config{APIKey: tt.key}})
			input := []string{"harmless", secret + " " + tt.directives}
			_, err := f.client.Embed(t.Context(), clients.EmbedRequest{Input: input})
			ae, ok := errors.AsType[*clients.APIError](err)
			if !ok {
				t.Fatalf("error = %v, want a *clients.APIError", err)
			}
			if ae.Provider != "openai" || ae.StatusCode != tt.status || ae.Type != tt.typ || ae.Code != tt.code {
				t.Errorf("got provider %q status %d type %q code %q, want openai %d %q %q", ae.Provider, ae.StatusCode, ae.Type, ae.Code, tt.status, tt.typ, tt.code)
			}
			if ae.Message == "" || ae.Message == http.StatusText(tt.status) {
				t.Errorf("Message = %q, want the provider's message", ae.Message)
			}
			if ae.Permanent() != tt.permanent || ae.RateLimited() != tt.rateLimited {
				t.Errorf("Permanent, RateLimited = %v, %v; want %v, %v", ae.Permanent(), ae.RateLimited(), tt.permanent, tt.rateLimited)
			}
			if ae.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", ae.RetryAfter, tt.retryAfter)
			}
			if len(ae.RateLimit) != len(tt.rateLimit) {
				t.Errorf("RateLimit = %v, want %v", ae.RateLimit, tt.rateLimit)
			}
			for k, v := range tt.rateLimit {
				if ae.RateLimit[k] != v {
					t.Errorf("RateLimit[%q] = %q, want %q", k, ae.RateLimit[k], v)
				}
			}
			assertClean(t, err, secret, tt.key, tt.simKey)
		})
	}
}

// assertClean fails if err's text holds any of the secrets.
func assertClean(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		for _, secret := range secrets {
			if secret != "" && strings.Contains(s, secret) {
				t.Errorf("error text %q holds %q", s, secret)
			}
		}
	}
}

// TestEmbedErrorBodies checks error bodies the simulator does not send:
// other servers' shapes, and bodies that echo the key or the input.
func TestEmbedErrorBodies(t *testing.T) {
	const key, text = "sk-live-abcdef0123456789", "private text of the customer"
	tests := []struct {
		name        string
		status      int
		header      map[string]string
		body        string
		wantMessage string
		wantType    string
		wantCode    string
		retryAfter  time.Duration
	}{
		{name: "openai shape", status: 400, body: `{"error":{"message":"bad","type":"invalid_request_error","param":"input","code":null}}`, wantMessage: "bad", wantType: "invalid_request_error"},
		{name: "numeric code", status: 400, body: `{"object":"error","message":"too long","type":"BadRequestError","param":null,"code":400}`, wantMessage: "too long", wantType: "BadRequestError", wantCode: "400"},
		{name: "string error", status: 413, body: `{"error":"Input validation error: batch too large","error_type":"Validation"}`, wantMessage: "Input validation error: batch too large"},
		{name: "html", status: 502, body: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>nginx</body></html>", wantMessage: "<html> <head><title>502 Bad Gateway</title></head> <body>nginx</body></html>"},
		{name: "empty body", status: 503, wantMessage: "Service Unavailable"},
		{name: "long plain text cut", status: 500, body: strings.Repeat("z", 1000), wantMessage: strings.Repeat("z", 200) + "..."},
		{name: "key echoed", status: 401, body: `{"error":{"message":"Incorrect API key provided: ` + key + `.","type":"invalid_request_error","code":"invalid_api_key"}}`, wantMessage: "Incorrect API key provided: [redacted].", wantType: "invalid_request_error", wantCode: "invalid_api_key"},
		{name: "input echoed", status: 400, body: `{"error":{"message":"Invalid input: '` + text + `'","type":"invalid_request_error"}}`, wantMessage: "Invalid input: '[redacted]'", wantType: "invalid_request_error"},
		{name: "input echoed in garbage", status: 500, body: "panic: cannot embed " + text + "\ngoroutine 1", wantMessage: "panic: cannot embed [redacted] goroutine 1"},
		{name: "retry-after date", status: 503, header: map[string]string{"Retry-After": time.Now().Add(time.Hour + time.Minute).UTC().Format(http.TimeFormat)}, wantMessage: "Service Unavailable", retryAfter: clients.MaxRetryAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			t.Cleanup(ts.Close)
			c := newClient(t, openai.Config{BaseURL: ts.URL, APIKey: key})
			_, err := c.Embed(t.Context(), clients.EmbedRequest{Input: []string{text}})
			ae, ok := errors.AsType[*clients.APIError](err)
			if !ok {
				t.Fatalf("error = %v, want a *clients.APIError", err)
			}
			if ae.StatusCode != tt.status || ae.Message != tt.wantMessage || ae.Type != tt.wantType || ae.Code != tt.wantCode {
				t.Errorf("got %d %q type %q code %q, want %d %q type %q code %q", ae.StatusCode, ae.Message, ae.Type, ae.Code, tt.status, tt.wantMessage, tt.wantType, tt.wantCode)
			}
			if ae.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", ae.RetryAfter, tt.retryAfter)
			}
			assertClean(t, err, key, text)
		})
	}
}

func TestEmbedTransportErrors(t *testing.T) {
	const text = "some text that must stay private"
	t.Run("garbage body", func(t *testing.T) {
		f := setup(t, options{})
		_, err := f.client.Embed(t.Context(), clients.EmbedRequest{Input: []string{text + " sim:garbage=1"}})
		if err == nil {
			t.Fatal("no error")
		}
		if _, ok := errors.AsType[*clients.APIError](err); ok {
			t.Errorf("error = %v, want no *clients.APIError for a 200", err)
		}
		if !strings.Contains(err.Error(), "decode response") {
			t.Errorf("error = %v, want a decode error", err)
		}
		assertClean(t, err, text)
	})
	t.Run("client timeout", func(t *testing.T) {
		f := setup(t, options{http: clients.Config{Timeout: 200 * time.Millisecond}})
		start := time.Now()
		_, err := f.client.Embed(t.Context(), clients.EmbedRequest{Input: []string{text + " sim:sleep=5s"}})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error = %v, want one that is context.DeadlineExceeded", err)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("returned after %v", el)
		}
		assertClean(t, err, text)
	})
	t.Run("context deadline", func(t *testing.T) {
		f := setup(t, options{})
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := f.client.Embed(ctx, clients.EmbedRequest{Input: []string{text + " sim:sleep=5s"}})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error = %v, want one that is context.DeadlineExceeded", err)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("returned after %v", el)
		}
	})
	t.Run("context canceled before", func(t *testing.T) {
		f := setup(t, options{})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := f.client.Embed(ctx, clients.EmbedRequest{Input: []string{text}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v, want context.Canceled", err)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		c := newClient(t, openai.Config{BaseURL: "http://" + addr + "/v1", APIKey: "sk-refused-key"})
		_, err = c.Embed(t.Context(), clients.EmbedRequest{Input: []string{text}})
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("error = %v, want ECONNREFUSED", err)
		}
		if _, ok := errors.AsType[*clients.APIError](err); ok {
			t.Errorf("error = %v, want no *clients.APIError", err)
		}
		assertClean(t, err, text, "sk-refused-key")
	})
}

func TestEmbedReusesConnections(t *testing.T) {
	const concurrency, perWorker = 8, 25
	tests := []struct {
		name      string
		tls       bool
		maxConns  int64
		wantProto int
	}{
		{name: "http1", maxConns: concurrency, wantProto: 1},
		{name: "http2", tls: true, maxConns: 1, wantProto: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, options{
				sim: simulator.Config{Dim: 16, Latency: 2 * time.Millisecond},
				// As the worker configures it: MaxIdleConns keeps the
				// connections, MaxConns also bounds the cold start (see
				// clients.Config.MaxConns).
				http: clients.Config{MaxIdleConns: concurrency, MaxConns: concurrency},
				tls:  tt.tls,
			})
			if err := clients.Warm(t.Context(), f.hc, f.client.WarmURL()); err != nil {
				t.Fatal(err)
			}
			// Sequential calls share one connection.
			for i := range 20 {
				if _, err := f.client.Embed(t.Context(), clients.EmbedRequest{Input: []string{fmt.Sprint("seq ", i)}}); err != nil {
					t.Fatal(err)
				}
			}
			if n := f.sim.Stats().Connections; n != 1 {
				t.Errorf("20 sequential calls used %d connections, want 1", n)
			}
			var g errgroup.Group
			for w := range concurrency {
				g.Go(func() error {
					for i := range perWorker {
						if _, err := f.client.Embed(t.Context(), clients.EmbedRequest{Input: []string{fmt.Sprint("worker ", w, " call ", i)}}); err != nil {
							return err
						}
					}
					return nil
				})
			}
			if err := g.Wait(); err != nil {
				t.Fatal(err)
			}
			st := f.sim.Stats()
			if st.Connections > tt.maxConns {
				t.Errorf("%d concurrent callers opened %d connections, want at most %d", concurrency, st.Connections, tt.maxConns)
			}
			cs := f.stats.Snapshot()
			if cs.Dials != st.Connections {
				t.Errorf("client dialed %d, server accepted %d", cs.Dials, st.Connections)
			}
			if want := int64(1 + 20 + concurrency*perWorker); st.Requests != want || cs.Requests != want {
				t.Errorf("requests: server %d, client %d, want %d", st.Requests, cs.Requests, want)
			}
			if got := st.ByPath["/v1/models"]; got != 1 {
				t.Errorf("warm-up requests = %d, want 1", got)
			}
		})
	}
}

func TestNew(t *testing.T) {
	hc, _, err := clients.NewHTTPClient(clients.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		hc       *http.Client
		cfg      openai.Config
		wantWarm string
		wantErr  bool
	}{
		{name: "defaults", hc: hc, wantWarm: "https://api.openai.com/v1/models"},
		{name: "trailing slash", hc: hc, cfg: openai.Config{BaseURL: "http://127.0.0.1:8000/v1/"}, wantWarm: "http://127.0.0.1:8000/v1/models"},
		{name: "nil client", cfg: openai.Config{}, wantErr: true},
		{name: "no scheme", hc: hc, cfg: openai.Config{BaseURL: "api.openai.com/v1"}, wantErr: true},
		{name: "other scheme", hc: hc, cfg: openai.Config{BaseURL: "ftp://example.com/v1"}, wantErr: true},
		{name: "no host", hc: hc, cfg: openai.Config{BaseURL: "http:///v1"}, wantErr: true},
		{name: "query", hc: hc, cfg: openai.Config{BaseURL: "http://example.com/v1?x=1"}, wantErr: true},
		{name: "unparsable with credentials", hc: hc, cfg: openai.Config{BaseURL: "http://user:hunter2@exa mple.com/v1"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := openai.New(tt.hc, tt.cfg)
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error %q holds the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.WarmURL(); got != tt.wantWarm {
				t.Errorf("WarmURL() = %q, want %q", got, tt.wantWarm)
			}
		})
	}
}
