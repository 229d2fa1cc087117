package simulator_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llmq/llmq/simulator"
)

func TestStats(t *testing.T) {
	f := setup(t, simulator.Config{})
	steps := []struct {
		method, path string
		body         any
		wantStatus   int
	}{
		{http.MethodPost, "/v1/embeddings", map[string]any{"input": []string{"a", "b", "c"}}, 200},
		{http.MethodPost, "/api/embed", map[string]any{"model": "m", "input": []string{"d", "e"}}, 200},
		{http.MethodPost, "/v1/embeddings", map[string]any{"input": "x sim:status=429"}, 429},
		{http.MethodPost, "/api/generate", map[string]any{"model": "m", "prompt": "hi"}, 200},
		{http.MethodGet, "/v1/nothing", nil, 404},
		{http.MethodGet, "/v1/embeddings", nil, 405},
		{http.MethodGet, "/stats", nil, 200}, // not counted
	}
	for _, st := range steps {
		if resp, body := f.do(t, st.method, st.path, st.body); resp.StatusCode != st.wantStatus {
			t.Fatalf("%s %s: status %d, want %d: %s", st.method, st.path, resp.StatusCode, st.wantStatus, body)
		}
	}
	want := simulator.Stats{
		Connections: 1,
		Requests:    6,
		Inputs:      5,
		ByPath:      map[string]int64{"/v1/embeddings": 3, "/api/embed": 1, "/api/generate": 1, "unknown": 1},
		ByStatus:    map[string]int64{"200": 3, "429": 1, "404": 1, "405": 1},
	}
	got := f.sim.Stats()
	assertStats(t, got, want)

	// GET /stats reports the same, as JSON.
	resp, body := f.do(t, http.MethodGet, "/stats", nil)
	var served simulator.Stats
	if err := json.Unmarshal(body, &served); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /stats: %d %s (%v)", resp.StatusCode, body, err)
	}
	assertStats(t, served, want)
	for _, key := range []string{`"connections"`, `"requests"`, `"inputs"`, `"by_path"`, `"by_status"`} {
		if !strings.Contains(string(body), key) {
			t.Errorf("GET /stats lacks %s: %s", key, body)
		}
	}

	// DELETE /stats resets, and is not counted either.
	if resp, _ := f.do(t, http.MethodDelete, "/stats", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /stats: status %d", resp.StatusCode)
	}
	assertStats(t, f.sim.Stats(), simulator.Stats{ByPath: map[string]int64{}, ByStatus: map[string]int64{}})
	if resp, _ := f.do(t, http.MethodPost, "/stats", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /stats: status %d, want 405", resp.StatusCode)
	}

	f.sim.ResetStats()
	got = f.sim.Stats()
	got.ByPath["x"] = 1 // a copy: must not reach the simulator
	if f.sim.Stats().ByPath["x"] != 0 {
		t.Errorf("Stats returns the simulator's own map")
	}
}

func assertStats(t *testing.T, got, want simulator.Stats) {
	t.Helper()
	if got.Connections != want.Connections || got.Requests != want.Requests || got.Inputs != want.Inputs ||
		!mapsEqual(got.ByPath, want.ByPath) || !mapsEqual(got.ByStatus, want.ByStatus) {
		t.Errorf("stats = %+v\nwant    %+v", got, want)
	}
}

func mapsEqual(a, b map[string]int64) bool {
	if a == nil || b == nil || len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func TestConnections(t *testing.T) {
	tests := []struct {
		name      string
		tls       bool
		keepAlive bool
		want      int64
	}{
		{"keep-alive reuses one connection", false, true, 1},
		{"no keep-alive dials every time", false, false, 10},
		{"http2 reuses one connection", true, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := simulator.New(simulator.Config{})
			srv := simulator.Start(sim, tt.tls)
			defer srv.Close()
			client := srv.Client()
			if !tt.keepAlive {
				client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			}
			defer client.CloseIdleConnections()
			for range 10 {
				resp, err := client.Post(srv.URL+"/v1/embeddings", "application/json",
					strings.NewReader(`{"input":["a","b"],"dimensions":16}`))
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d", resp.StatusCode)
				}
			}
			st := sim.Stats()
			if st.Connections != tt.want || st.Requests != 10 || st.Inputs != 20 {
				t.Errorf("connections %d requests %d inputs %d; want %d, 10, 20", st.Connections, st.Requests, st.Inputs, tt.want)
			}
		})
	}
}

func TestTLSHTTP2(t *testing.T) {
	sim := simulator.New(simulator.Config{})
	srv := simulator.Start(sim, true)
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") {
		t.Fatalf("URL = %s", srv.URL)
	}
	tests := []struct {
		name, method, path, body string
	}{
		{"models", http.MethodGet, "/v1/models", ""},
		{"embeddings", http.MethodPost, "/v1/embeddings", `{"input":"hello","encoding_format":"base64"}`},
		{"generate", http.MethodPost, "/api/generate", `{"model":"m","prompt":"hi"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
				t.Errorf("status %d over %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
			}
		})
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		path       string
		body       any
		wantStatus int
		wantAllow  string
		openAI     bool
	}{
		{"unknown /v1 path", http.MethodGet, "/v1/audio/speech", nil, 404, "", true},
		{"unknown /api path", http.MethodPost, "/api/pull", `{}`, 404, "", false},
		{"root", http.MethodGet, "/", nil, 404, "", false},
		{"GET embeddings", http.MethodGet, "/v1/embeddings", nil, 405, "POST", true},
		{"POST models", http.MethodPost, "/v1/models", `{}`, 405, "GET", true},
		{"GET generate", http.MethodGet, "/api/generate", nil, 405, "POST", false},
		{"too large", http.MethodPost, "/v1/embeddings", `{"input":"` + strings.Repeat("x", 64<<20) + `"}`, 413, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, simulator.Config{})
			resp, body := f.do(t, tt.method, tt.path, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %.200s", resp.StatusCode, tt.wantStatus, body)
			}
			if got := resp.Header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
			if tt.openAI {
				decodeOpenAIError(t, body)
			} else {
				decodeOllamaError(t, body)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     simulator.Config
		wantErr string
	}{
		{"zero", simulator.Config{}, ""},
		{"full", simulator.Config{Dim: 8, Latency: time.Millisecond, ErrorRate: 0.1, RateLimitRate: 1, RetryAfter: time.Second, APIKey: "k"}, ""},
		{"negative dim", simulator.Config{Dim: -1}, "Dim"},
		{"huge dim", simulator.Config{Dim: simulator.MaxDim + 1}, "Dim"},
		{"negative latency", simulator.Config{Latency: -1}, "Latency"},
		{"error rate above 1", simulator.Config{ErrorRate: 1.5}, "ErrorRate"},
		{"negative rate limit rate", simulator.Config{RateLimitRate: -0.1}, "RateLimitRate"},
		{"negative retry after", simulator.Config{RetryAfter: -time.Second}, "RetryAfter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
}

// TestNewRepairsConfig checks that New serves even a config Validate rejects.
func TestNewRepairsConfig(t *testing.T) {
	f := setup(t, simulator.Config{Dim: -5, ErrorRate: -1, RateLimitRate: -1, RetryAfter: -1})
	resp, body := f.do(t, http.MethodPost, "/v1/embeddings", map[string]any{"input": "x"})
	var got embeddingList
	if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if v, _ := decodeVector(t, got.Data[0].Embedding); len(v) != simulator.DefaultDim {
		t.Errorf("dim = %d, want the default %d", len(v), simulator.DefaultDim)
	}
}
