package ollama_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/ollama"
	"github.com/llmq/llmq/simulator"
)

// fixture is a simulator and an ollama.Client pointed at it.
type fixture struct {
	sim    *simulator.Simulator
	hc     *http.Client
	stats  *clients.Stats
	client *ollama.Client
}

// setup starts a simulator and builds a pooled client and an ollama.Client
// for it; everything is closed when the test ends.
func setup(t *testing.T, simCfg simulator.Config, httpCfg clients.Config) *fixture {
	t.Helper()
	sim := simulator.New(simCfg)
	ts := simulator.Start(sim, false)
	t.Cleanup(ts.Close)
	f := &fixture{sim: sim}
	f.client, f.hc, f.stats = newClient(t, ts.URL, httpCfg)
	return f
}

// serve starts a plain test server with h and returns a client for it.
func serve(t *testing.T, h http.HandlerFunc) *ollama.Client {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	c, _, _ := newClient(t, ts.URL, clients.Config{})
	return c
}

// newClient builds a pooled client with httpCfg, closed when the test
// ends, and an ollama.Client on it for host.
func newClient(t *testing.T, host string, httpCfg clients.Config) (*ollama.Client, *http.Client, *clients.Stats) {
	t.Helper()
	hc, stats, err := clients.NewHTTPClient(httpCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	c, err := ollama.New(hc, ollama.Config{Host: host})
	if err != nil {
		t.Fatal(err)
	}
	return c, hc, stats
}

func TestEmbed(t *testing.T) {
	texts := []string{"first text", "second text", "third, ünïcödé"}
	tests := []struct {
		name      string
		simDim    int
		req       clients.EmbedRequest
		wantDim   int
		wantModel string
	}{
		{name: "defaults", simDim: 768, req: clients.EmbedRequest{Input: texts}, wantDim: 768, wantModel: ollama.DefaultEmbeddingModel},
		{name: "dimensions", req: clients.EmbedRequest{Input: texts, Dimensions: 128}, wantDim: 128, wantModel: ollama.DefaultEmbeddingModel},
		{name: "model named", simDim: 16, req: clients.EmbedRequest{Input: texts[:1], Model: "mxbai-embed-large"}, wantDim: 16, wantModel: "mxbai-embed-large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, simulator.Config{Dim: tt.simDim}, clients.Config{})
			got, err := f.client.Embed(t.Context(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got.Model != tt.wantModel {
				t.Errorf("Model = %q, want %q", got.Model, tt.wantModel)
			}
			want := 0
			for _, s := range tt.req.Input {
				want += simulator.Tokens(s)
			}
			if got.InputTokens != want {
				t.Errorf("InputTokens = %d, want %d", got.InputTokens, want)
			}
			if len(got.Vectors) != len(tt.req.Input) {
				t.Fatalf("%d vectors for %d inputs", len(got.Vectors), len(tt.req.Input))
			}
			for i, in := range tt.req.Input {
				if !slices.Equal(got.Vectors[i], simulator.Vector(in, tt.wantDim)) {
					t.Errorf("vector %d differs from simulator.Vector(input, %d)", i, tt.wantDim)
				}
			}
		})
	}
}

func TestEmbedResponseShapes(t *testing.T) {
	tests := []struct {
		name    string
		dims    int
		body    string
		wantErr string
	}{
		{name: "too few vectors", body: `{"embeddings":[[1,2]]}`, wantErr: "1 vectors for 2 inputs"},
		{name: "lengths differ", body: `{"embeddings":[[1,2],[1]]}`, wantErr: "vector 1 has 1 dimensions, want 2"},
		{name: "dimensions ignored", dims: 1, body: `{"embeddings":[[1,2],[1,2]]}`, wantErr: "vector 0 has 2 dimensions, want 1"},
		{name: "not JSON", body: `not json`, wantErr: "decode response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := serve(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, tt.body) })
			_, err := c.Embed(t.Context(), clients.EmbedRequest{Input: []string{"a", "b"}, Dimensions: tt.dims})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "ollama embed: ") {
				t.Fatalf("error = %v, want one starting with %q and containing %q", err, "ollama embed: ", tt.wantErr)
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		name       string
		req        clients.GenerateRequest
		prompt     string // what the simulator completes
		n          int
		doneReason string
		model      string
	}{
		{
			name:   "prompt",
			req:    clients.GenerateRequest{Prompt: "Why is the sky blue?"},
			prompt: "Why is the sky blue?", n: simulator.DefaultTokens, doneReason: "stop", model: ollama.DefaultModel,
		},
		{
			name:   "prompt with system and num_predict",
			req:    clients.GenerateRequest{Prompt: "Write a haiku.", System: "Be brief.", Model: "qwen3", Options: map[string]any{"num_predict": 20, "temperature": 0}},
			prompt: "Write a haiku.", n: 20, doneReason: "length", model: "qwen3",
		},
		{
			name:   "prompt with sim:tokens",
			req:    clients.GenerateRequest{Prompt: "long answer please sim:tokens=50"},
			prompt: "long answer please sim:tokens=50", n: 50, doneReason: "stop", model: ollama.DefaultModel,
		},
		{
			name: "chat",
			req: clients.GenerateRequest{Messages: []clients.Message{
				{Role: "user", Content: "Hello."},
				{Role: "assistant", Content: "Hi!"},
				{Role: "user", Content: "What is a queue?"},
			}},
			prompt: "Hello.Hi!What is a queue?", n: simulator.DefaultTokens, doneReason: "stop", model: ollama.DefaultModel,
		},
		{
			name:   "chat with system",
			req:    clients.GenerateRequest{System: "You are terse.", Messages: []clients.Message{{Role: "user", Content: "Explain retries."}}, Options: map[string]any{"num_predict": 12}},
			prompt: "You are terse.Explain retries.", n: 12, doneReason: "length", model: ollama.DefaultModel,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, simulator.Config{}, clients.Config{})
			want := clients.Generation{
				Model:        tt.model,
				Text:         strings.Join(simulator.Completion(tt.prompt, tt.n), ""),
				DoneReason:   tt.doneReason,
				InputTokens:  simulator.Tokens(tt.prompt),
				OutputTokens: tt.n,
			}
			for _, stream := range []bool{false, true} {
				req := tt.req
				req.Stream = stream
				got, err := f.client.Generate(t.Context(), req)
				if err != nil {
					t.Fatalf("stream %v: %v", stream, err)
				}
				if *got != want {
					t.Errorf("stream %v:\n got %+v\nwant %+v", stream, *got, want)
				}
			}
			if n := f.sim.Stats().Connections; n != 1 {
				t.Errorf("two calls used %d connections, want 1", n)
			}
		})
	}
}

// TestGenerateRequestOnTheWire checks the request bodies as a server
// receives them: stream always present, options only when set.
func TestGenerateRequestOnTheWire(t *testing.T) {
	tests := []struct {
		name     string
		req      clients.GenerateRequest
		wantPath string
		wantBody string
	}{
		{
			name:     "generate not streamed",
			req:      clients.GenerateRequest{Prompt: "hi there"},
			wantPath: "/api/generate",
			wantBody: `{"model":"llama3.2","prompt":"hi there","stream":false}`,
		},
		{
			name:     "generate streamed with options",
			req:      clients.GenerateRequest{Prompt: "hi there", System: "sys", Stream: true, Model: "m", Options: map[string]any{"seed": 1}},
			wantPath: "/api/generate",
			wantBody: `{"model":"m","prompt":"hi there","system":"sys","stream":true,"options":{"seed":1}}`,
		},
		{
			name:     "chat ignores prompt",
			req:      clients.GenerateRequest{Prompt: "ignored", Messages: []clients.Message{{Role: "user", Content: "hello"}}, Options: map[string]any{}},
			wantPath: "/api/chat",
			wantBody: `{"model":"llama3.2","messages":[{"role":"user","content":"hello"}],"stream":false}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var path, body string
			c := serve(t, func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				path, body = r.URL.Path, string(b)
				_, _ = io.WriteString(w, `{"model":"m","response":"ok","message":{"role":"assistant","content":"ok"},"done":true}`+"\n")
			})
			got, err := c.Generate(t.Context(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got.Text != "ok" {
				t.Errorf("Text = %q", got.Text)
			}
			if path != tt.wantPath || body != tt.wantBody {
				t.Errorf("got %s %s\nwant %s %s", path, body, tt.wantPath, tt.wantBody)
			}
		})
	}
}

func TestGenerateCancelMidStream(t *testing.T) {
	tests := []struct {
		name string
		req  clients.GenerateRequest
	}{
		{name: "generate", req: clients.GenerateRequest{Prompt: "tell a long story sim:stream_delay=200ms sim:tokens=100", Stream: true}},
		{name: "chat", req: clients.GenerateRequest{Messages: []clients.Message{{Role: "user", Content: "tell a long story sim:stream_delay=200ms sim:tokens=100"}}, Stream: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, simulator.Config{}, clients.Config{})
			ctx, cancel := context.WithCancel(t.Context())
			timer := time.AfterFunc(300*time.Millisecond, cancel)
			defer timer.Stop()
			start := time.Now()
			_, err := f.client.Generate(ctx, tt.req)
			elapsed := time.Since(start)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("error = %v, want context.Canceled", err)
			}
			if elapsed > 3*time.Second {
				t.Errorf("returned %v after the start; the stream takes 20s, cancel came at 300ms", elapsed)
			}
			if strings.Contains(err.Error(), "long story") {
				t.Errorf("error %q holds the prompt", err)
			}
		})
	}
}

func TestGenerateStreamFailures(t *testing.T) {
	tests := []struct {
		name    string
		chat    bool
		lines   []string
		wantErr string
		wantEOF bool
	}{
		{
			name:    "error line mid-stream",
			lines:   []string{`{"response":"one ","done":false}`, `{"error":"model runner has unexpectedly stopped"}`},
			wantErr: "model runner has unexpectedly stopped",
		},
		{
			name:    "chat error line mid-stream",
			chat:    true,
			lines:   []string{`{"message":{"role":"assistant","content":"one "},"done":false}`, `{"error":"out of memory"}`},
			wantErr: "out of memory",
		},
		{
			name:    "error line echoing the prompt",
			lines:   []string{`{"error":"cannot process the secret prompt text here"}`},
			wantErr: "cannot process [redacted]",
		},
		{
			name:    "truncated stream",
			lines:   []string{`{"response":"one ","done":false}`, `{"response":"two ","done":false}`},
			wantErr: "ended before its final line",
			wantEOF: true,
		},
		{
			name:    "empty stream",
			wantErr: "ended before its final line",
			wantEOF: true,
		},
		{
			name:    "invalid line",
			lines:   []string{`{"response":"one ","done":false}`, `{"response":`},
			wantErr: "decode stream line 2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/x-ndjson")
				for _, l := range tt.lines {
					_, _ = io.WriteString(w, l+"\n")
					w.(http.Flusher).Flush()
				}
			})
			req := clients.GenerateRequest{Prompt: "the secret prompt text", Stream: true}
			if tt.chat {
				req = clients.GenerateRequest{Messages: []clients.Message{{Role: "user", Content: "the secret prompt text"}}, Stream: true}
			}
			_, err := c.Generate(t.Context(), req)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
			if _, ok := errors.AsType[*clients.APIError](err); ok {
				t.Errorf("error = %v, want no *clients.APIError", err)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) != tt.wantEOF {
				t.Errorf("errors.Is(%v, io.ErrUnexpectedEOF) = %v, want %v", err, !tt.wantEOF, tt.wantEOF)
			}
			if strings.Contains(err.Error(), "the secret prompt text") {
				t.Errorf("error %q holds the prompt", err)
			}
		})
	}
}

// TestGenerateConnectionDropped has the server hang up in the middle of a
// chunked stream.
func TestGenerateConnectionDropped(t *testing.T) {
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"response":"one ","done":false}`+"\n")
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	})
	_, err := c.Generate(t.Context(), clients.GenerateRequest{Prompt: "p", Stream: true})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("error = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestAPIErrors(t *testing.T) {
	const secret = "confidential-prompt-about-the-merger"
	tests := []struct {
		name       string
		call       func(c *ollama.Client, text string) error
		directives string
		status     int
		permanent  bool
		retryAfter time.Duration
	}{
		{name: "embed 400", call: embed, directives: "sim:status=400", status: 400, permanent: true},
		{name: "embed 500", call: embed, directives: "sim:status=500", status: 500},
		{name: "generate 404", call: generate(false), directives: "sim:status=404", status: 404, permanent: true},
		{name: "generate streamed 503", call: generate(true), directives: "sim:status=503", status: 503},
		{name: "chat 429", call: chat(true), directives: "sim:status=429 sim:retry_after=3s", status: 429, retryAfter: 3 * time.Second},
		{name: "bad directive", call: generate(true), directives: "sim:bogus=1", status: 400, permanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, simulator.Config{}, clients.Config{})
			err := tt.call(f.client, secret+" "+tt.directives)
			ae, ok := errors.AsType[*clients.APIError](err)
			if !ok {
				t.Fatalf("error = %v, want a *clients.APIError", err)
			}
			if ae.Provider != "ollama" || ae.StatusCode != tt.status || ae.Permanent() != tt.permanent || ae.RetryAfter != tt.retryAfter {
				t.Errorf("got %s %d permanent %v retry after %v, want ollama %d %v %v", ae.Provider, ae.StatusCode, ae.Permanent(), ae.RetryAfter, tt.status, tt.permanent, tt.retryAfter)
			}
			if ae.Message == "" || ae.Message == http.StatusText(tt.status) {
				t.Errorf("Message = %q, want the server's message", ae.Message)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q holds the input", err)
			}
		})
	}
}

func embed(c *ollama.Client, text string) error {
	_, err := c.Embed(context.Background(), clients.EmbedRequest{Input: []string{text}})
	return err
}

func generate(stream bool) func(c *ollama.Client, text string) error {
	return func(c *ollama.Client, text string) error {
		_, err := c.Generate(context.Background(), clients.GenerateRequest{Prompt: text, Stream: stream})
		return err
	}
}

func chat(stream bool) func(c *ollama.Client, text string) error {
	return func(c *ollama.Client, text string) error {
		_, err := c.Generate(context.Background(), clients.GenerateRequest{Messages: []clients.Message{{Role: "user", Content: text}}, Stream: stream})
		return err
	}
}

func TestTransportErrors(t *testing.T) {
	tests := []struct {
		name    string
		call    func(c *ollama.Client, text string) error
		text    string
		timeout time.Duration
		wantErr string
		wantIs  error
	}{
		{name: "garbage embed", call: embed, text: "x sim:garbage=1", wantErr: "decode response"},
		{name: "garbage generate", call: generate(false), text: "x sim:garbage=1", wantErr: "decode response"},
		{name: "garbage stream", call: generate(true), text: "x sim:garbage=1", wantErr: "decode stream line 1"},
		{name: "timeout", call: generate(false), text: "x sim:sleep=5s", timeout: 200 * time.Millisecond, wantIs: context.DeadlineExceeded},
		{name: "timeout streaming", call: generate(true), text: "x sim:stream_delay=1s", timeout: 300 * time.Millisecond, wantIs: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, simulator.Config{}, clients.Config{Timeout: tt.timeout})
			start := time.Now()
			err := tt.call(f.client, tt.text)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want one containing %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error = %v, want one that is %v", err, tt.wantIs)
			}
			if _, ok := errors.AsType[*clients.APIError](err); ok {
				t.Errorf("error = %v, want no *clients.APIError", err)
			}
			if el := time.Since(start); el > 3*time.Second {
				t.Errorf("returned after %v", el)
			}
		})
	}
}

func TestInvalidRequest(t *testing.T) {
	tests := []struct {
		name string
		call func(c *ollama.Client) error
	}{
		{name: "embed no inputs", call: func(c *ollama.Client) error {
			_, err := c.Embed(context.Background(), clients.EmbedRequest{})
			return err
		}},
		{name: "embed empty input", call: func(c *ollama.Client) error {
			_, err := c.Embed(context.Background(), clients.EmbedRequest{Input: []string{"a", ""}})
			return err
		}},
		{name: "generate nothing", call: func(c *ollama.Client) error {
			_, err := c.Generate(context.Background(), clients.GenerateRequest{System: "only a system prompt"})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, simulator.Config{}, clients.Config{})
			err := tt.call(f.client)
			if !errors.Is(err, ollama.ErrInvalidRequest) || !errors.Is(err, clients.ErrInvalidRequest) {
				t.Fatalf("error = %v, want ErrInvalidRequest", err)
			}
			if n := f.sim.Stats().Requests; n != 0 {
				t.Errorf("server received %d requests, want 0", n)
			}
		})
	}
}

func TestReusesConnections(t *testing.T) {
	const concurrency, perWorker = 8, 20
	f := setup(t, simulator.Config{Dim: 8, Latency: 2 * time.Millisecond}, clients.Config{MaxIdleConns: concurrency, MaxConns: concurrency})
	if err := clients.Warm(t.Context(), f.hc, f.client.WarmURL()); err != nil {
		t.Fatal(err)
	}
	var g errgroup.Group
	for w := range concurrency {
		g.Go(func() error {
			for i := range perWorker {
				text := fmt.Sprint("worker ", w, " call ", i)
				var err error
				if i%2 == 0 {
					_, err = f.client.Embed(t.Context(), clients.EmbedRequest{Input: []string{text}})
				} else {
					_, err = f.client.Generate(t.Context(), clients.GenerateRequest{Prompt: text, Stream: w%2 == 0})
				}
				if err != nil {
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
	if st.Connections > concurrency {
		t.Errorf("%d concurrent callers opened %d connections, want at most %d", concurrency, st.Connections, concurrency)
	}
	if d := f.stats.Snapshot().Dials; d != st.Connections {
		t.Errorf("client dialed %d, server accepted %d", d, st.Connections)
	}
	if got := st.ByPath["/api/version"]; got != 1 {
		t.Errorf("warm-up requests = %d, want 1", got)
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
		host     string
		wantWarm string
		wantErr  bool
	}{
		{name: "default", hc: hc, wantWarm: "http://127.0.0.1:11434/api/version"},
		{name: "host and port", hc: hc, host: "ollama:11434", wantWarm: "http://ollama:11434/api/version"},
		{name: "https with slash", hc: hc, host: "https://ollama.example.com/", wantWarm: "https://ollama.example.com/api/version"},
		{name: "nil client", wantErr: true},
		{name: "other scheme", hc: hc, host: "unix:///var/run/ollama.sock", wantErr: true},
		{name: "query", hc: hc, host: "http://h:1/?a=b", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ollama.New(tt.hc, ollama.Config{Host: tt.host})
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && c.WarmURL() != tt.wantWarm {
				t.Errorf("WarmURL() = %q, want %q", c.WarmURL(), tt.wantWarm)
			}
		})
	}
}
