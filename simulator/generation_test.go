package simulator_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llmq/llmq/simulator"
)

// genAnswer is an OpenAI chat or text completion, or one chunk of a
// stream, spelled out independently of the package's own types.
type genAnswer struct {
	ID                string `json:"id"`
	Object            string `json:"object"`
	Created           int64  `json:"created"`
	Model             string `json:"model"`
	SystemFingerprint string `json:"system_fingerprint"`
	Choices           []struct {
		Index   int    `json:"index"`
		Text    string `json:"text"`
		Message *struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		Delta *struct {
			Role    string  `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
	Error *struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	} `json:"error"`
}

func chatBody(model string, extra map[string]any, contents ...string) map[string]any {
	msgs := make([]map[string]any, len(contents))
	for i, c := range contents {
		msgs[i] = map[string]any{"role": "user", "content": c}
	}
	b := map[string]any{"model": model, "messages": msgs}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func TestChatCompletions(t *testing.T) {
	const model = "gpt-4o-mini"
	tests := []struct {
		name       string
		body       map[string]any
		prompt     string
		choices    int
		tokens     int
		wantReason string
	}{
		{name: "default length", body: chatBody(model, nil, "Hello, ", "world"), prompt: "Hello, world", choices: 1, tokens: simulator.DefaultTokens, wantReason: "stop"},
		{name: "max_tokens", body: chatBody(model, map[string]any{"max_tokens": 20}, "Hi"), prompt: "Hi", choices: 1, tokens: 20, wantReason: "length"},
		{name: "max_completion_tokens wins", body: chatBody(model, map[string]any{"max_tokens": 20, "max_completion_tokens": 3}, "Hi"), prompt: "Hi", choices: 1, tokens: 3, wantReason: "length"},
		{name: "n choices", body: chatBody(model, map[string]any{"n": 3, "max_tokens": 5}, "Hi"), prompt: "Hi", choices: 3, tokens: 5, wantReason: "length"},
		{name: "sim:tokens under max_tokens", body: chatBody(model, map[string]any{"max_tokens": 50}, "Hi sim:tokens=4"), prompt: "Hi sim:tokens=4", choices: 1, tokens: 4, wantReason: "stop"},
		{name: "sim:tokens over max_tokens", body: chatBody(model, map[string]any{"max_tokens": 2}, "Hi sim:tokens=4"), prompt: "Hi sim:tokens=4", choices: 1, tokens: 2, wantReason: "length"},
		{name: "content parts and unknown fields", body: map[string]any{"model": "m2", "temperature": 0.2, "seed": 7, "tools": []any{}, "response_format": map[string]any{"type": "json_object"},
			"messages": []any{map[string]any{"role": "system", "content": []any{map[string]any{"type": "text", "text": "be brief "}, map[string]any{"type": "image_url", "image_url": map[string]any{"url": "x"}}}}, map[string]any{"role": "user", "content": "now"}, map[string]any{"role": "assistant", "content": nil}}},
			prompt: "be brief now", choices: 1, tokens: simulator.DefaultTokens, wantReason: "stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, simulator.Config{})
			before := time.Now().Unix()
			resp, body := f.do(t, http.MethodPost, "/v1/chat/completions", tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var a genAnswer
			if err := json.Unmarshal(body, &a); err != nil {
				t.Fatal(err)
			}
			m := tt.body["model"].(string)
			if !strings.HasPrefix(a.ID, "chatcmpl-") || a.Object != "chat.completion" || a.Model != m || a.Created < before || a.Created > time.Now().Unix() || a.SystemFingerprint == "" {
				t.Errorf("envelope: %s", body)
			}
			if len(a.Choices) != tt.choices {
				t.Fatalf("%d choices, want %d", len(a.Choices), tt.choices)
			}
			for i, c := range a.Choices {
				want := simulator.Answer(m, tt.prompt, i, tt.tokens)
				if c.Index != i || c.Message == nil || c.Message.Role != "assistant" || c.Message.Content != want {
					t.Errorf("choice %d = %+v, want content %q", i, c, want)
				}
				if c.FinishReason == nil || *c.FinishReason != tt.wantReason {
					t.Errorf("choice %d finish_reason = %v, want %s", i, c.FinishReason, tt.wantReason)
				}
			}
			if a.Usage == nil || a.Usage.PromptTokens != simulator.Tokens(tt.prompt) || a.Usage.CompletionTokens != tt.choices*tt.tokens ||
				a.Usage.TotalTokens != a.Usage.PromptTokens+a.Usage.CompletionTokens {
				t.Errorf("usage = %+v", a.Usage)
			}
			if got := f.sim.Stats().CompletionTokens; got != int64(tt.choices*tt.tokens) {
				t.Errorf("Stats.CompletionTokens = %d", got)
			}
		})
	}
}

func TestAnswer(t *testing.T) {
	a := simulator.Answer("m", "p", 0, 10)
	if n := len(strings.Fields(a)); n != 10 || !strings.HasSuffix(a, " ") {
		t.Errorf("Answer = %q: %d words", a, n)
	}
	if !strings.HasPrefix(a, simulator.Answer("m", "p", 0, 4)) {
		t.Error("a longer answer does not extend a shorter one")
	}
	for _, other := range []string{simulator.Answer("m2", "p", 0, 10), simulator.Answer("m", "p2", 0, 10), simulator.Answer("m", "p", 1, 10)} {
		if other == a {
			t.Errorf("model, prompt and choice do not all change the answer: %q", a)
		}
	}
	if simulator.Answer("m", "p", 0, 0) != "" {
		t.Error("0 tokens is not empty")
	}
}

func TestTextCompletions(t *testing.T) {
	f := setup(t, simulator.Config{})
	resp, body := f.do(t, http.MethodPost, "/v1/completions", map[string]any{"model": "davinci", "prompt": []string{"one", "two"}, "n": 2, "max_tokens": 6})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var a genAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.ID, "cmpl-") || a.Object != "text_completion" || len(a.Choices) != 4 {
		t.Fatalf("answer: %s", body)
	}
	for i, c := range a.Choices {
		want := simulator.Answer("davinci", []string{"one", "two"}[i/2], i%2, 6)
		if c.Index != i || c.Text != want || c.FinishReason == nil || *c.FinishReason != "length" {
			t.Errorf("choice %d = %+v, want %q", i, c, want)
		}
	}
	if a.Usage == nil || a.Usage.PromptTokens != 2 || a.Usage.CompletionTokens != 24 || a.Usage.TotalTokens != 26 {
		t.Errorf("usage = %+v", a.Usage)
	}
}

func TestGenerationValidation(t *testing.T) {
	f := setup(t, simulator.Config{})
	tests := []struct {
		name, path string
		body       any
		wantParam  string
	}{
		{"no model", "/v1/chat/completions", chatBody("", nil, "hi"), "model"},
		{"no messages", "/v1/chat/completions", map[string]any{"model": "m", "messages": []any{}}, "messages"},
		{"no role", "/v1/chat/completions", map[string]any{"model": "m", "messages": []any{map[string]any{"content": "x"}}}, "messages.[0].role"},
		{"bad content", "/v1/chat/completions", map[string]any{"model": "m", "messages": []any{map[string]any{"role": "user", "content": 5}}}, "messages.[0].content"},
		{"n zero", "/v1/chat/completions", chatBody("m", map[string]any{"n": 0}, "hi"), "n"},
		{"max_tokens zero", "/v1/chat/completions", chatBody("m", map[string]any{"max_tokens": 0}, "hi"), "max_tokens"},
		{"max_completion_tokens too large", "/v1/chat/completions", chatBody("m", map[string]any{"max_completion_tokens": simulator.MaxGenerationTokens + 1}, "hi"), "max_completion_tokens"},
		{"bad directive", "/v1/chat/completions", chatBody("m", nil, "hi sim:stream_cut=x"), "messages"},
		{"no prompt", "/v1/completions", map[string]any{"model": "m"}, "prompt"},
		{"token prompt", "/v1/completions", map[string]any{"model": "m", "prompt": []int{1, 2}}, "prompt"},
		{"not JSON", "/v1/completions", "{", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, http.MethodPost, tt.path, tt.body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
			}
			e := decodeOpenAIError(t, body)
			if got := deref(e.Error.Param); tt.wantParam != "" && got != tt.wantParam {
				t.Errorf("param = %s, want %s", got, tt.wantParam)
			}
		})
	}
}

// sse reads a server-sent event stream: the data of each event, in order.
// It returns the read error that ended the stream (nil at a clean end).
func sse(body io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, data)
		}
	}
	return out, sc.Err()
}

// stream posts body and reads the events.
func (f fixture) stream(t *testing.T, path string, body any) (*http.Response, []string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.srv.URL+path, jsonBody(t, body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events, err := sse(resp.Body)
	return resp, events, err
}

func TestChatStream(t *testing.T) {
	for _, usage := range []bool{true, false} {
		t.Run(map[bool]string{true: "include_usage", false: "no usage"}[usage], func(t *testing.T) {
			f := setup(t, simulator.Config{})
			body := chatBody("m", map[string]any{"stream": true, "n": 2, "max_tokens": 5, "stream_options": map[string]any{"include_usage": usage}}, "tell me")
			resp, events, err := f.stream(t, "/v1/chat/completions", body)
			if err != nil {
				t.Fatal(err)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Errorf("Content-Type = %q", ct)
			}
			if len(events) == 0 || events[len(events)-1] != "[DONE]" {
				t.Fatalf("stream does not end with [DONE]: %q", events)
			}
			texts := make([]string, 2)
			reasons := make([]string, 2)
			var ids []string
			sawUsage := false
			for i, ev := range events[:len(events)-1] {
				var c genAnswer
				if err := json.Unmarshal([]byte(ev), &c); err != nil {
					t.Fatalf("event %d %q: %v", i, ev, err)
				}
				ids = append(ids, c.ID)
				if c.Object != "chat.completion.chunk" {
					t.Errorf("object = %q", c.Object)
				}
				if c.Usage != nil {
					sawUsage = true
					if len(c.Choices) != 0 || i != len(events)-2 || c.Usage.PromptTokens != simulator.Tokens("tell me") || c.Usage.CompletionTokens != 10 {
						t.Errorf("usage chunk %d: %s", i, ev)
					}
				}
				for _, ch := range c.Choices {
					if i == 0 && (ch.Delta == nil || ch.Delta.Role != "assistant") {
						t.Errorf("first chunk lacks the role: %s", ev)
					}
					if ch.Delta != nil && ch.Delta.Content != nil {
						texts[ch.Index] += *ch.Delta.Content
					}
					if ch.FinishReason != nil {
						reasons[ch.Index] = *ch.FinishReason
					}
				}
			}
			if sawUsage != usage {
				t.Errorf("usage chunk sent: %v, want %v", sawUsage, usage)
			}
			for i := range texts {
				if want := simulator.Answer("m", "tell me", i, 5); texts[i] != want || reasons[i] != "length" {
					t.Errorf("choice %d: %q (%s), want %q (length)", i, texts[i], reasons[i], want)
				}
			}
			for _, id := range ids {
				if id != ids[0] || !strings.HasPrefix(id, "chatcmpl-") {
					t.Errorf("ids %q", ids)
					break
				}
			}
		})
	}
}

func TestCompletionStream(t *testing.T) {
	f := setup(t, simulator.Config{})
	_, events, err := f.stream(t, "/v1/completions", map[string]any{"model": "m", "prompt": "go", "stream": true, "stream_options": map[string]any{"include_usage": true}})
	if err != nil {
		t.Fatal(err)
	}
	var text, reason string
	var usage int
	for _, ev := range events[:len(events)-1] {
		var c genAnswer
		if err := json.Unmarshal([]byte(ev), &c); err != nil {
			t.Fatal(err)
		}
		if c.Object != "text_completion" {
			t.Errorf("object %q", c.Object)
		}
		for _, ch := range c.Choices {
			text += ch.Text
			if ch.FinishReason != nil {
				reason = *ch.FinishReason
			}
		}
		if c.Usage != nil {
			usage = c.Usage.TotalTokens
		}
	}
	if want := simulator.Answer("m", "go", 0, simulator.DefaultTokens); text != want || reason != "stop" || usage != 1+simulator.DefaultTokens || events[len(events)-1] != "[DONE]" {
		t.Errorf("text %q reason %q usage %d last %q; want %q", text, reason, usage, events[len(events)-1], want)
	}
}

func TestStreamFaults(t *testing.T) {
	tests := []struct {
		name       string
		prompt     string
		wantErr    bool // the body ends in a read error
		wantDone   bool
		wantError  bool // an error event
		wantTokens int  // content chunks before the fault
	}{
		{name: "cut", prompt: "x sim:stream_cut=3", wantErr: true, wantTokens: 3},
		{name: "cut before any token", prompt: "x sim:stream_cut=0", wantErr: true, wantTokens: 0},
		{name: "no [DONE]", prompt: "x sim:stream_no_done=1", wantTokens: simulator.DefaultTokens},
		{name: "error event", prompt: "x sim:stream_error=2", wantError: true, wantTokens: 2},
		{name: "normal", prompt: "x", wantDone: true, wantTokens: simulator.DefaultTokens},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, simulator.Config{})
			_, events, err := f.stream(t, "/v1/chat/completions", chatBody("m", map[string]any{"stream": true}, tt.prompt))
			if (err != nil) != tt.wantErr {
				t.Fatalf("read error %v, want one: %v", err, tt.wantErr)
			}
			if tt.wantErr && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("read error %v, want unexpected EOF", err)
			}
			done := len(events) > 0 && events[len(events)-1] == "[DONE]"
			if done != tt.wantDone {
				t.Errorf("[DONE] sent: %v, want %v", done, tt.wantDone)
			}
			tokens, sawError := 0, false
			for _, ev := range events {
				var c genAnswer
				if ev == "[DONE]" {
					continue
				}
				if err := json.Unmarshal([]byte(ev), &c); err != nil {
					t.Fatal(err)
				}
				if c.Error != nil {
					sawError = c.Error.Type == "server_error" && c.Error.Message != ""
				}
				for _, ch := range c.Choices {
					if ch.Delta != nil && ch.Delta.Content != nil && *ch.Delta.Content != "" {
						tokens++
					}
				}
			}
			if sawError != tt.wantError || tokens != tt.wantTokens {
				t.Errorf("error event %v (want %v), %d tokens (want %d): %q", sawError, tt.wantError, tokens, tt.wantTokens, events)
			}
		})
	}
}

// TestStreamDisconnect checks that a client leaving mid-stream ends the
// stream and is counted.
func TestStreamDisconnect(t *testing.T) {
	f := setup(t, simulator.Config{TokenLatency: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+"/v1/chat/completions", jsonBody(t, chatBody("m", map[string]any{"stream": true, "max_tokens": 1000}, "long")))
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	waitFor(t, func() bool { return f.sim.Stats().Disconnects == 1 && f.sim.InFlight() == 0 })
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestGenerationErrors(t *testing.T) {
	f := setup(t, simulator.Config{})
	for _, path := range []string{"/v1/chat/completions", "/v1/completions"} {
		body := chatBody("m", nil, "x sim:status=429 sim:retry_after=2s")
		if path == "/v1/completions" {
			body = map[string]any{"model": "m", "prompt": "x sim:status=429 sim:retry_after=2s"}
		}
		resp, raw := f.do(t, http.MethodPost, path, body)
		e := decodeOpenAIError(t, raw)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" || resp.Header.Get("Retry-After-Ms") != "2000" || deref(e.Error.Code) != "rate_limit_exceeded" {
			t.Errorf("%s: %d %v %s", path, resp.StatusCode, resp.Header, raw)
		}
		resp, raw = f.do(t, http.MethodPost, path, strings.Replace(string(mustJSON(t, body)), "sim:status=429 sim:retry_after=2s", "sim:garbage=1", 1))
		if resp.StatusCode != 200 || json.Valid(raw) {
			t.Errorf("%s garbage: %d %s", path, resp.StatusCode, raw)
		}
	}
	// Random faults apply to the generation routes too.
	g := setup(t, simulator.Config{ErrorRate: 1})
	if resp, raw := g.do(t, http.MethodPost, "/v1/chat/completions", chatBody("m", nil, "x")); resp.StatusCode != 500 {
		t.Errorf("ErrorRate 1: %d %s", resp.StatusCode, raw)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGenerationLatency checks the lower bounds TimeToFirstToken and
// TokenLatency set, streamed and not.
func TestGenerationLatency(t *testing.T) {
	const ttft, tok = 150 * time.Millisecond, 20 * time.Millisecond
	f := setup(t, simulator.Config{TimeToFirstToken: ttft, TokenLatency: tok})
	start := time.Now()
	if resp, body := f.do(t, http.MethodPost, "/v1/chat/completions", chatBody("m", map[string]any{"max_tokens": 6}, "x")); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if got, want := time.Since(start), ttft+5*tok; got < want {
		t.Errorf("non-streamed answer after %s, want at least %s", got, want)
	}

	start = time.Now()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, f.srv.URL+"/v1/completions", jsonBody(t, map[string]any{"model": "m", "prompt": "x", "stream": true, "max_tokens": 6}))
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if got := time.Since(start); got < ttft {
		t.Errorf("first chunk after %s, want at least %s", got, ttft)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Fatal(err)
	}
	if got, want := time.Since(start), ttft+5*tok; got < want {
		t.Errorf("stream ended after %s, want at least %s", got, want)
	}
}

func TestRateLimit(t *testing.T) {
	t.Run("requests", func(t *testing.T) {
		f := setup(t, simulator.Config{RequestsPerMinute: 3})
		for i := range 3 {
			resp, body := f.do(t, http.MethodPost, "/v1/embeddings", map[string]any{"input": "a"})
			if resp.StatusCode != 200 {
				t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
			}
			h := resp.Header
			if h.Get("X-Ratelimit-Limit-Requests") != "3" || h.Get("X-Ratelimit-Remaining-Requests") != []string{"2", "1", "0"}[i] {
				t.Errorf("request %d headers: %v", i, h)
			}
			if _, err := time.ParseDuration(h.Get("X-Ratelimit-Reset-Requests")); err != nil || h.Get("X-Ratelimit-Limit-Tokens") != "" {
				t.Errorf("request %d headers: %v", i, h)
			}
		}
		resp, body := f.do(t, http.MethodPost, "/v1/chat/completions", chatBody("m", nil, "a"))
		e := decodeOpenAIError(t, body)
		ms := resp.Header.Get("Retry-After-Ms")
		wait, _ := time.ParseDuration(ms + "ms")
		// One request comes back every 20s; a little of it has passed.
		if resp.StatusCode != 429 || e.Error.Type != "requests" || wait < 19*time.Second || wait > 20*time.Second || resp.Header.Get("Retry-After") != "20" {
			t.Errorf("4th request: %d %v %s", resp.StatusCode, resp.Header, body)
		}
		if resp.Header.Get("X-Ratelimit-Remaining-Requests") != "0" {
			t.Errorf("remaining: %v", resp.Header)
		}
		// Answers refused before the limit is charged carry the headers too.
		if resp, _ := f.do(t, http.MethodGet, "/v1/nothing", nil); resp.StatusCode != 404 || resp.Header.Get("X-Ratelimit-Limit-Requests") != "3" {
			t.Errorf("404: %v", resp.Header)
		}
	})
	t.Run("tokens", func(t *testing.T) {
		f := setup(t, simulator.Config{TokensPerMinute: 600})
		// Costs prompt (1) plus max_tokens (100) tokens.
		body := chatBody("m", map[string]any{"max_tokens": 100}, "abcd")
		for i := range 5 {
			resp, raw := f.do(t, http.MethodPost, "/v1/chat/completions", body)
			if resp.StatusCode != 200 {
				t.Fatalf("request %d: %d %s", i, resp.StatusCode, raw)
			}
			if got, want := resp.Header.Get("X-Ratelimit-Remaining-Tokens"), []string{"499", "398", "297", "196", "95"}[i]; got != want {
				t.Errorf("request %d: remaining tokens %s, want %s", i, got, want)
			}
		}
		resp, raw := f.do(t, http.MethodPost, "/v1/chat/completions", body)
		e := decodeOpenAIError(t, raw)
		// 6 tokens are missing; 10 come back every second.
		wait, _ := time.ParseDuration(resp.Header.Get("Retry-After-Ms") + "ms")
		if resp.StatusCode != 429 || e.Error.Type != "tokens" || wait < 500*time.Millisecond || wait > 600*time.Millisecond {
			t.Errorf("6th: %d %v %s", resp.StatusCode, resp.Header, raw)
		}
		if reset, err := time.ParseDuration(resp.Header.Get("X-Ratelimit-Reset-Tokens")); err != nil || reset < 50*time.Second || reset > 51*time.Second {
			t.Errorf("reset tokens %q", resp.Header.Get("X-Ratelimit-Reset-Tokens"))
		}
		time.Sleep(wait)
		if resp, raw := f.do(t, http.MethodPost, "/v1/chat/completions", body); resp.StatusCode != 200 {
			t.Errorf("after Retry-After-Ms: %d %s", resp.StatusCode, raw)
		}
		// More than the whole limit can never pass.
		resp, raw = f.do(t, http.MethodPost, "/v1/chat/completions", chatBody("m", map[string]any{"max_tokens": 700}, "a"))
		if resp.StatusCode != 429 || !strings.Contains(string(raw), "too large") {
			t.Errorf("too large: %d %s", resp.StatusCode, raw)
		}
	})
}

func TestFormatReset(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", time.Second: "1s", 6 * time.Minute: "6m0s", 20 * time.Millisecond: "20ms",
		20*time.Millisecond + time.Microsecond: "21ms", 1500 * time.Millisecond: "1.5s",
	} {
		if got := simulator.FormatReset(d); got != want {
			t.Errorf("FormatReset(%s) = %s, want %s", d, got, want)
		}
	}
}

// TestSaturation checks that concurrent requests beyond Capacity slow
// every request down in proportion.
func TestSaturation(t *testing.T) {
	const lat = 100 * time.Millisecond
	f := setup(t, simulator.Config{Latency: lat, Capacity: 2})
	elapsed := func(concurrency int) time.Duration {
		start := time.Now()
		errs := make(chan error, concurrency)
		for range concurrency {
			go func() {
				resp, err := f.client.Post(f.srv.URL+"/v1/embeddings", "application/json", strings.NewReader(`{"input":"a"}`))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				errs <- err
			}()
		}
		for range concurrency {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start)
	}
	if got := elapsed(8); got < 3*lat {
		// The last of 8 to arrive waits at least lat*8/2 when all have
		// arrived; the first ones at least lat.
		t.Errorf("8 requests at capacity 2 took %s, want at least %s", got, 3*lat)
	}
	if got := elapsed(1); got > 3*lat {
		t.Errorf("1 request took %s", got)
	}
}

func TestEventsAndBodies(t *testing.T) {
	f := setup(t, simulator.Config{KeepBodies: 2})
	f.do(t, http.MethodPost, "/v1/embeddings", `{"input":"abcdefgh"}`)
	f.do(t, http.MethodPost, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":3,"x_unknown":[1]}`)
	f.do(t, http.MethodPost, "/v1/embeddings", `{"input":"x sim:status=503"}`)

	resp, raw := f.do(t, http.MethodGet, "/_sim/events", nil)
	var eb struct {
		Events []simulator.Event `json:"events"`
		Next   int64             `json:"next"`
	}
	if err := json.Unmarshal(raw, &eb); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	type ev struct {
		kind, path     string
		status, tokens int
	}
	var got []ev
	for _, e := range eb.Events {
		if e.Time.IsZero() {
			t.Errorf("event without time: %+v", e)
		}
		got = append(got, ev{e.Kind, e.Path, e.Status, e.Tokens})
	}
	want := []ev{{"connection", "", 0, 0}, {"request", "/v1/embeddings", 200, 2}, {"request", "/v1/chat/completions", 200, 4}, {"request", "/v1/embeddings", 503, 4}}
	if len(got) != len(want) || eb.Next != 4 {
		t.Fatalf("events %+v next %d, want %+v", got, eb.Next, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if ev, next := f.sim.Events(3); len(ev) != 1 || ev[0].Seq != 3 || next != 4 {
		t.Errorf("Events(3) = %+v, %d", ev, next)
	}
	bodies := f.sim.Bodies()
	if len(bodies) != 2 || bodies[0].Path != "/v1/chat/completions" || !strings.Contains(bodies[0].Body, `"x_unknown":[1]`) {
		t.Errorf("bodies = %+v", bodies)
	}
	resp, raw = f.do(t, http.MethodGet, "/_sim/bodies", nil)
	var served []simulator.Body
	if err := json.Unmarshal(raw, &served); err != nil || len(served) != 2 || served[1].Body != `{"input":"x sim:status=503"}` {
		t.Errorf("GET /_sim/bodies: %d %s", resp.StatusCode, raw)
	}
	if resp, _ := f.do(t, http.MethodDelete, "/_sim/events", nil); resp.StatusCode != 204 {
		t.Errorf("DELETE: %d", resp.StatusCode)
	}
	if ev, next := f.sim.Events(0); len(ev) != 0 || next != 4 {
		t.Errorf("after reset: %+v %d", ev, next)
	}
	if len(f.sim.Bodies()) != 0 {
		t.Error("bodies survive reset")
	}
	if resp, _ := f.do(t, http.MethodGet, "/_sim/nothing", nil); resp.StatusCode != 404 {
		t.Errorf("unknown admin route: %d", resp.StatusCode)
	}
	if st := f.sim.Stats(); st.Requests != 3 {
		t.Errorf("admin requests counted: %+v", st)
	}
}
