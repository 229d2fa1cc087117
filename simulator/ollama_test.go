package simulator_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llmq/llmq/simulator"
)

func TestOllamaEmbed(t *testing.T) {
	tests := []struct {
		name    string
		body    map[string]any
		texts   []string
		wantDim int
	}{
		{"single string", map[string]any{"model": "nomic-embed-text", "input": "hello"}, []string{"hello"}, simulator.DefaultDim},
		{"batch", map[string]any{"model": "nomic-embed-text", "input": []string{"a", "b c"}, "truncate": true}, []string{"a", "b c"}, simulator.DefaultDim},
		{"dimensions", map[string]any{"model": "m", "input": []string{"a"}, "dimensions": 32}, []string{"a"}, 32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, simulator.Config{})
			resp, body := f.do(t, http.MethodPost, "/api/embed", tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var got struct {
				Model           string      `json:"model"`
				Embeddings      [][]float32 `json:"embeddings"`
				TotalDuration   *int64      `json:"total_duration"`
				LoadDuration    *int64      `json:"load_duration"`
				PromptEvalCount int         `json:"prompt_eval_count"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got.Model != tt.body["model"] || len(got.Embeddings) != len(tt.texts) {
				t.Fatalf("model %q with %d embeddings", got.Model, len(got.Embeddings))
			}
			if got.TotalDuration == nil || *got.TotalDuration <= 0 || got.LoadDuration == nil || *got.LoadDuration != 0 {
				t.Errorf("durations: %s", body)
			}
			wantTokens := 0
			for i, v := range got.Embeddings {
				wantTokens += simulator.Tokens(tt.texts[i])
				if !sameBits(v, simulator.Vector(tt.texts[i], tt.wantDim)) {
					t.Errorf("embedding %d is not Vector(%q, %d)", i, tt.texts[i], tt.wantDim)
				}
			}
			if got.PromptEvalCount != wantTokens {
				t.Errorf("prompt_eval_count = %d, want %d", got.PromptEvalCount, wantTokens)
			}
		})
	}
}

func TestOllamaEmbedValidation(t *testing.T) {
	tests := []struct {
		name string
		body any
	}{
		{"malformed JSON", `{"model":`},
		{"missing model", map[string]any{"input": "x"}},
		{"missing input", map[string]any{"model": "m"}},
		{"empty list", map[string]any{"model": "m", "input": []string{}}},
		{"empty string", map[string]any{"model": "m", "input": ""}},
		{"negative dimensions", map[string]any{"model": "m", "input": "x", "dimensions": -2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, simulator.Config{})
			resp, body := f.do(t, http.MethodPost, "/api/embed", tt.body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
			}
			decodeOllamaError(t, body)
		})
	}
}

func TestGenerate(t *testing.T) {
	const prompt = "Why is the sky blue?"
	tests := []struct {
		name       string
		path       string
		body       map[string]any
		from       string // the text the completion derives from
		wantStream bool
		wantTokens int
		wantReason string
	}{
		{
			name:       "generate streams by default",
			path:       "/api/generate",
			body:       map[string]any{"model": "llama3", "prompt": prompt},
			from:       prompt,
			wantStream: true, wantTokens: simulator.DefaultTokens, wantReason: "stop",
		},
		{
			name:       "generate stream true with system",
			path:       "/api/generate",
			body:       map[string]any{"model": "llama3", "prompt": prompt, "system": "be brief", "stream": true},
			from:       prompt,
			wantStream: true, wantTokens: simulator.DefaultTokens, wantReason: "stop",
		},
		{
			name:       "generate stream false",
			path:       "/api/generate",
			body:       map[string]any{"model": "llama3", "prompt": prompt, "stream": false},
			from:       prompt,
			wantTokens: simulator.DefaultTokens, wantReason: "stop",
		},
		{
			name:       "num_predict",
			path:       "/api/generate",
			body:       map[string]any{"model": "llama3", "prompt": prompt, "options": map[string]any{"num_predict": 3, "temperature": 0.2}},
			from:       prompt,
			wantStream: true, wantTokens: 3, wantReason: "length",
		},
		{
			name:       "tokens directive",
			path:       "/api/generate",
			body:       map[string]any{"model": "llama3", "prompt": "count sim:tokens=20", "stream": false},
			from:       "count sim:tokens=20",
			wantTokens: 20, wantReason: "stop",
		},
		{
			name:       "tokens directive in system prompt",
			path:       "/api/generate",
			body:       map[string]any{"model": "llama3", "prompt": prompt, "system": "sim:tokens=2"},
			from:       prompt,
			wantStream: true, wantTokens: 2, wantReason: "stop",
		},
		{
			name: "chat streams by default",
			path: "/api/chat",
			body: map[string]any{"model": "llama3", "messages": []map[string]string{
				{"role": "system", "content": "You are terse."},
				{"role": "user", "content": prompt},
			}},
			from:       "You are terse." + prompt,
			wantStream: true, wantTokens: simulator.DefaultTokens, wantReason: "stop",
		},
		{
			name: "chat stream false with num_predict",
			path: "/api/chat",
			body: map[string]any{"model": "llama3", "stream": false, "options": map[string]any{"num_predict": 5}, "messages": []map[string]string{
				{"role": "user", "content": prompt},
			}},
			from:       prompt,
			wantTokens: 5, wantReason: "length",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, simulator.Config{})
			resp, body := f.do(t, http.MethodPost, tt.path, tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			chat := tt.path == "/api/chat"
			wantType := "application/json"
			if tt.wantStream {
				wantType = "application/x-ndjson"
			}
			if ct := resp.Header.Get("Content-Type"); ct != wantType {
				t.Errorf("Content-Type = %q, want %q", ct, wantType)
			}
			parts := decodeLines(t, body)
			wantLines := 1
			if tt.wantStream {
				wantLines = tt.wantTokens + 1
			}
			if len(parts) != wantLines {
				t.Fatalf("%d lines, want %d:\n%s", len(parts), wantLines, body)
			}
			var text strings.Builder
			for i, p := range parts {
				if p.Model != "llama3" {
					t.Errorf("line %d: model %q", i, p.Model)
				}
				if _, err := time.Parse(time.RFC3339, p.CreatedAt); err != nil {
					t.Errorf("line %d: created_at: %v", i, err)
				}
				if chat != (p.Message != nil) || chat == (p.Response != nil) {
					t.Errorf("line %d: response %v, message %v; chat = %v", i, p.Response, p.Message, chat)
				}
				if p.Message != nil && p.Message.Role != "assistant" {
					t.Errorf("line %d: role %q", i, p.Message.Role)
				}
				if last := i == len(parts)-1; p.Done != last {
					t.Errorf("line %d: done = %v", i, p.Done)
				}
				text.WriteString(p.text())
			}
			if want := strings.Join(simulator.Completion(tt.from, tt.wantTokens), ""); text.String() != want {
				t.Errorf("text = %q, want %q", text.String(), want)
			}
			final := parts[len(parts)-1]
			if tt.wantStream && final.text() != "" {
				t.Errorf("final streamed line carries text %q", final.text())
			}
			if final.DoneReason != tt.wantReason || final.EvalCount != tt.wantTokens ||
				final.PromptEvalCount != simulator.Tokens(tt.from) || final.TotalDuration <= 0 {
				t.Errorf("final = reason %q eval %d prompt_eval %d duration %d; want %q %d %d >0",
					final.DoneReason, final.EvalCount, final.PromptEvalCount, final.TotalDuration,
					tt.wantReason, tt.wantTokens, simulator.Tokens(tt.from))
			}
		})
	}
}

func TestGenerateEdgeCases(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		body       any
		wantStatus int
		wantReason string // for 200s
	}{
		{"generate missing model", "/api/generate", map[string]any{"prompt": "x"}, http.StatusBadRequest, ""},
		{"chat missing model", "/api/chat", map[string]any{"messages": []map[string]string{{"role": "user", "content": "x"}}}, http.StatusBadRequest, ""},
		{"generate malformed JSON", "/api/generate", `{"model": "m", "prompt": `, http.StatusBadRequest, ""},
		{"num_predict not a number", "/api/generate", map[string]any{"model": "m", "prompt": "x", "options": map[string]any{"num_predict": "many"}}, http.StatusBadRequest, ""},
		{"empty prompt loads the model", "/api/generate", map[string]any{"model": "m"}, http.StatusOK, "load"},
		{"no messages loads the model", "/api/chat", map[string]any{"model": "m", "messages": []any{}}, http.StatusOK, "load"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, simulator.Config{})
			resp, body := f.do(t, http.MethodPost, tt.path, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus != http.StatusOK {
				decodeOllamaError(t, body)
				return
			}
			parts := decodeLines(t, body)
			if len(parts) != 1 || !parts[0].Done || parts[0].DoneReason != tt.wantReason {
				t.Errorf("answer = %s", body)
			}
		})
	}
}

// TestGenerateStreamFlushes checks that each token reaches the client as it
// is generated, not when the whole answer is done.
func TestGenerateStreamFlushes(t *testing.T) {
	t.Parallel()
	for _, tls := range []bool{false, true} {
		name := "http1"
		if tls {
			name = "http2"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := simulator.Start(simulator.New(simulator.Config{}), tls)
			defer srv.Close()
			const delay = 500 * time.Millisecond
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/api/generate",
				strings.NewReader(`{"model":"m","prompt":"hi sim:tokens=3 sim:stream_delay=500ms"}`))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			rd := bufio.NewReader(resp.Body)
			if _, err := rd.ReadString('\n'); err != nil {
				t.Fatalf("first line: %v", err)
			}
			if first := time.Since(start); first >= delay {
				t.Errorf("first token arrived after %v, want before the %v stream delay", first, delay)
			}
			lines := 1
			for {
				if _, err := rd.ReadString('\n'); err != nil {
					break
				}
				lines++
			}
			if lines != 4 {
				t.Errorf("%d lines, want 4", lines)
			}
			if total := time.Since(start); total < 2*delay {
				t.Errorf("stream took %v, want at least %v (two delays)", total, 2*delay)
			}
		})
	}
}

func TestOllamaInfo(t *testing.T) {
	tests := []struct {
		path string
		want string
	}{
		{"/api/version", `{"version":"0.0.0-simulator"}`},
		{"/api/tags", `{"models":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			f := setup(t, simulator.Config{})
			resp, body := f.do(t, http.MethodGet, tt.path, nil)
			if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != tt.want {
				t.Errorf("%d %s, want 200 %s", resp.StatusCode, body, tt.want)
			}
		})
	}
}
