package simulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/llmq/llmq/simulator"
)

func TestDirectives(t *testing.T) {
	embed := func(texts ...string) map[string]any { return map[string]any{"input": texts} }
	ollamaEmbed := func(text string) map[string]any { return map[string]any{"model": "m", "input": text} }
	generate := func(prompt string) map[string]any { return map[string]any{"model": "m", "prompt": prompt} }

	tests := []struct {
		name       string
		path       string
		body       any
		wantStatus int
		// OpenAI error fields, checked when wantType is set.
		wantType, wantCode string
		// Ollama error body expected.
		wantOllamaError bool
		// Headers: "" means absent.
		wantHeaders map[string]string
		wantGarbage bool
	}{
		{
			name: "status 500", path: "/v1/embeddings", body: embed("a sim:status=500"),
			wantStatus: 500, wantType: "server_error",
			wantHeaders: map[string]string{"Retry-After": "", "X-Ratelimit-Limit-Requests": ""},
		},
		{
			name: "status 503", path: "/v1/embeddings", body: embed("a sim:status=503"),
			wantStatus: 503, wantType: "server_error",
		},
		{
			name: "status 429 has rate-limit headers", path: "/v1/embeddings", body: embed("a sim:status=429"),
			wantStatus: 429, wantType: "requests", wantCode: "rate_limit_exceeded",
			wantHeaders: map[string]string{
				"Retry-After": "1", "Retry-After-Ms": "1000",
				"X-Ratelimit-Limit-Requests": "3000", "X-Ratelimit-Remaining-Requests": "0", "X-Ratelimit-Reset-Requests": "1s",
			},
		},
		{
			name: "429 retry_after rounds seconds up", path: "/v1/embeddings", body: embed("a sim:status=429 sim:retry_after=300ms"),
			wantStatus: 429, wantType: "requests", wantCode: "rate_limit_exceeded",
			wantHeaders: map[string]string{"Retry-After": "1", "Retry-After-Ms": "300", "X-Ratelimit-Reset-Requests": "300ms"},
		},
		{
			name: "429 retry_after 0 sends none", path: "/v1/embeddings", body: embed("a sim:status=429 sim:retry_after=0s"),
			wantStatus: 429, wantType: "requests", wantCode: "rate_limit_exceeded",
			wantHeaders: map[string]string{"Retry-After": "", "Retry-After-Ms": "", "X-Ratelimit-Limit-Requests": "3000"},
		},
		{
			name: "503 with retry_after", path: "/v1/embeddings", body: embed("a sim:status=503 sim:retry_after=2s"),
			wantStatus: 503, wantType: "server_error",
			wantHeaders: map[string]string{"Retry-After": "2", "Retry-After-Ms": "2000", "X-Ratelimit-Limit-Requests": ""},
		},
		{
			name: "insufficient_quota implies 429", path: "/v1/embeddings", body: embed("a sim:code=insufficient_quota"),
			wantStatus: 429, wantType: "insufficient_quota", wantCode: "insufficient_quota",
		},
		{
			name: "status and code", path: "/v1/embeddings", body: embed("sim:code=insufficient_quota a sim:status=429"),
			wantStatus: 429, wantType: "insufficient_quota", wantCode: "insufficient_quota",
		},
		{
			name: "other code implies 400", path: "/v1/embeddings", body: embed("a sim:code=context_length_exceeded"),
			wantStatus: 400, wantType: "invalid_request_error", wantCode: "context_length_exceeded",
		},
		{
			name: "directive in a later input", path: "/v1/embeddings", body: embed("fine", "also fine", "sim:status=502"),
			wantStatus: 502, wantType: "server_error",
		},
		{
			name: "first occurrence wins", path: "/v1/embeddings", body: embed("sim:status=404", "sim:status=500"),
			wantStatus: 404, wantType: "invalid_request_error", wantCode: "model_not_found",
		},
		{
			name: "garbage", path: "/v1/embeddings", body: embed("a sim:garbage=1"),
			wantStatus: 200, wantGarbage: true,
		},
		{
			name: "ollama embed status", path: "/api/embed", body: ollamaEmbed("a sim:status=503"),
			wantStatus: 503, wantOllamaError: true,
		},
		{
			name: "ollama generate 429", path: "/api/generate", body: generate("a sim:status=429 sim:retry_after=2s"),
			wantStatus: 429, wantOllamaError: true,
			wantHeaders: map[string]string{"Retry-After": "2", "Retry-After-Ms": "2000", "X-Ratelimit-Remaining-Requests": "0"},
		},
		{
			name: "ollama chat status", path: "/api/chat",
			body:       map[string]any{"model": "m", "messages": []map[string]string{{"role": "user", "content": "hi"}, {"role": "user", "content": "sim:status=500"}}},
			wantStatus: 500, wantOllamaError: true,
		},
		{
			name: "ollama generate garbage", path: "/api/generate", body: generate("a sim:garbage=true"),
			wantStatus: 200, wantGarbage: true,
		},
		{
			name: "ollama embed garbage", path: "/api/embed", body: ollamaEmbed("sim:garbage=1"),
			wantStatus: 200, wantGarbage: true,
		},
		{
			name: "ollama invalid directive", path: "/api/generate", body: generate("sim:tokens=-1"),
			wantStatus: 400, wantOllamaError: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, simulator.Config{})
			resp, body := f.do(t, http.MethodPost, tt.path, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			for k, want := range tt.wantHeaders {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
			switch {
			case tt.wantGarbage:
				if len(body) == 0 || json.Valid(body) {
					t.Errorf("body %q is valid JSON or empty; want garbage", body)
				}
			case tt.wantOllamaError:
				decodeOllamaError(t, body)
			case tt.wantType != "":
				e := decodeOpenAIError(t, body)
				if e.Error.Type != tt.wantType || deref(e.Error.Code) != cmpNull(tt.wantCode) {
					t.Errorf("error type %q code %s, want %q %s", e.Error.Type, deref(e.Error.Code), tt.wantType, cmpNull(tt.wantCode))
				}
			}
			if st := f.sim.Stats(); st.Inputs != 0 {
				t.Errorf("Stats.Inputs = %d after a steered answer, want 0", st.Inputs)
			}
		})
	}
}

func cmpNull(s string) string {
	if s == "" {
		return "<null>"
	}
	return s
}

func TestSleepDirective(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		path string
		body map[string]any
	}{
		{"openai", "/v1/embeddings", map[string]any{"input": []string{"a", "b sim:sleep=150ms"}}},
		{"ollama embed", "/api/embed", map[string]any{"model": "m", "input": "b sim:sleep=150ms"}},
		{"ollama generate", "/api/generate", map[string]any{"model": "m", "prompt": "b sim:sleep=150ms", "stream": false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, simulator.Config{})
			start := time.Now()
			resp, body := f.do(t, http.MethodPost, tt.path, tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if took := time.Since(start); took < 150*time.Millisecond {
				t.Errorf("answered after %v, want at least 150ms", took)
			}
		})
	}
}

// TestSleepHonoursContext checks that a client giving up ends the wait: the
// request is counted as 499 well before the sleep would have ended.
func TestSleepHonoursContext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  simulator.Config
		text string
	}{
		{"sleep directive", simulator.Config{}, "x sim:sleep=10s"},
		{"latency", simulator.Config{Latency: 10 * time.Second}, "x"},
		{"stream delay", simulator.Config{}, "x sim:stream_delay=10s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, tt.cfg)
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+"/api/generate",
				jsonBody(t, map[string]any{"model": "m", "prompt": tt.text}))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := f.client.Do(req)
			if err == nil {
				// The stream case answers headers, then stalls on the body.
				_, err = resp.Body.Read(make([]byte, 64<<10))
				for err == nil {
					_, err = resp.Body.Read(make([]byte, 64<<10))
				}
				resp.Body.Close()
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want deadline exceeded", err)
			}
			// Close waits for the handler; it must not wait out the sleep.
			start := time.Now()
			f.srv.Close()
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("handler ran %v after the client left", took)
			}
			want := "499" // no answer was started
			if tt.name == "stream delay" {
				want = "200" // the stream had started
			}
			if st := f.sim.Stats(); st.ByStatus[want] != 1 {
				t.Errorf("stats = %+v, want one %s", st, want)
			}
		})
	}
}

func TestLatency(t *testing.T) {
	f := setup(t, simulator.Config{Latency: 100 * time.Millisecond})
	start := time.Now()
	if resp, _ := f.do(t, http.MethodGet, "/api/version", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Errorf("API request answered after %v, want at least 100ms", took)
	}
	start = time.Now()
	if resp, _ := f.do(t, http.MethodGet, "/stats", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if took := time.Since(start); took >= 100*time.Millisecond {
		t.Errorf("/stats answered after %v; it should not be delayed", took)
	}
}

func TestInjectedFaults(t *testing.T) {
	t.Parallel()
	const n = 200
	tests := []struct {
		name     string
		cfg      simulator.Config
		path     string
		body     any
		want429  [2]int // inclusive bounds on the count of 429s
		want500  [2]int
		ollama   bool
		retryHdr string
	}{
		{"all rate limited", simulator.Config{RateLimitRate: 1}, "/v1/embeddings", map[string]any{"input": "x"}, [2]int{n, n}, [2]int{0, 0}, false, "1"},
		{"all errors", simulator.Config{ErrorRate: 1}, "/v1/embeddings", map[string]any{"input": "x"}, [2]int{0, 0}, [2]int{n, n}, false, ""},
		{"rate limit wins over errors", simulator.Config{ErrorRate: 1, RateLimitRate: 1}, "/v1/models", nil, [2]int{n, n}, [2]int{0, 0}, false, "1"},
		{"none", simulator.Config{Seed: 3}, "/v1/embeddings", map[string]any{"input": "x"}, [2]int{0, 0}, [2]int{0, 0}, false, ""},
		{"mixed rates", simulator.Config{ErrorRate: 0.3, RateLimitRate: 0.2, Seed: 42}, "/v1/embeddings", map[string]any{"input": "x"}, [2]int{n * 12 / 100, n * 28 / 100}, [2]int{n * 22 / 100, n * 38 / 100}, false, "1"},
		{"ollama shape", simulator.Config{ErrorRate: 0.5, RateLimitRate: 0.5, RetryAfter: 2500 * time.Millisecond, Seed: 7}, "/api/embed", map[string]any{"model": "m", "input": "x"}, [2]int{n * 35 / 100, n * 65 / 100}, [2]int{n * 35 / 100, n * 65 / 100}, true, "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Two simulators with the same seed fail the same requests.
			var runs [2][]int
			for run := range runs {
				f := setup(t, tt.cfg)
				method := http.MethodPost
				if tt.body == nil {
					method = http.MethodGet
				}
				for range n {
					resp, body := f.do(t, method, tt.path, tt.body)
					runs[run] = append(runs[run], resp.StatusCode)
					switch resp.StatusCode {
					case http.StatusOK:
						continue
					case http.StatusTooManyRequests:
						if got := resp.Header.Get("Retry-After"); got != tt.retryHdr {
							t.Fatalf("Retry-After = %q, want %q", got, tt.retryHdr)
						}
					}
					if tt.ollama {
						decodeOllamaError(t, body)
					} else {
						decodeOpenAIError(t, body)
					}
				}
			}
			if !slices.Equal(runs[0], runs[1]) {
				t.Errorf("same seed, different failures")
			}
			var c429, c500 int
			for _, st := range runs[0] {
				switch st {
				case http.StatusTooManyRequests:
					c429++
				case http.StatusInternalServerError:
					c500++
				}
			}
			if c429 < tt.want429[0] || c429 > tt.want429[1] || c500 < tt.want500[0] || c500 > tt.want500[1] {
				t.Errorf("%d 429s and %d 500s of %d; want 429s in %v, 500s in %v", c429, c500, n, tt.want429, tt.want500)
			}
		})
	}
}
