package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/openai"
	"github.com/llmq/llmq/simulator"
)

func chatReq(body string, stream bool) clients.CompletionRequest {
	return clients.CompletionRequest{Body: json.RawMessage(body), Stream: stream}
}

// TestChat checks every answer against the simulator's deterministic one,
// streamed and not, for both endpoints.
func TestChat(t *testing.T) {
	tests := []struct {
		name       string
		complete   bool
		body       string
		model      string
		prompt     string
		choices    int
		tokens     int
		wantReason string
	}{
		{name: "chat default model", body: `{"messages":[{"role":"user","content":"Hello"}]}`, model: openai.DefaultChatModel, prompt: "Hello", choices: 1, tokens: simulator.DefaultTokens, wantReason: "stop"},
		{name: "chat n and max_tokens", body: `{"model":"m1","n":3,"max_tokens":7,"messages":[{"role":"system","content":"Be "},{"role":"user","content":"brief"}]}`, model: "m1", prompt: "Be brief", choices: 3, tokens: 7, wantReason: "length"},
		{name: "chat long", body: `{"model":"m1","max_completion_tokens":3000,"messages":[{"role":"user","content":"x"}]}`, model: "m1", prompt: "x", choices: 1, tokens: 3000, wantReason: "length"},
		{name: "completion", complete: true, body: `{"model":"inst","prompt":"Once","max_tokens":5}`, model: "inst", prompt: "Once", choices: 1, tokens: 5, wantReason: "length"},
		{name: "completion empty model", complete: true, body: `{"model":"","prompt":"Once","n":2}`, model: openai.DefaultChatModel, prompt: "Once", choices: 2, tokens: simulator.DefaultTokens, wantReason: "stop"},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			t.Run(tt.name+map[bool]string{false: "", true: " streamed"}[stream], func(t *testing.T) {
				f := setup(t, options{})
				call := f.client.Chat
				wantObject := "chat.completion"
				if tt.complete {
					call, wantObject = f.client.Complete, "text_completion"
				}
				got, err := call(t.Context(), chatReq(tt.body, stream))
				if err != nil {
					t.Fatal(err)
				}
				if got.Streamed != stream || got.Model != tt.model || got.ID == "" || len(got.Choices) != tt.choices {
					t.Fatalf("result %+v", got)
				}
				for i, ch := range got.Choices {
					if want := simulator.Answer(tt.model, tt.prompt, i, tt.tokens); ch.Index != i || ch.Text != want || ch.FinishReason != tt.wantReason {
						t.Errorf("choice %d = %+v, want %q (%s)", i, ch, want, tt.wantReason)
					}
				}
				if got.Text != got.Choices[0].Text || got.FinishReason != tt.wantReason {
					t.Errorf("Text/FinishReason = %q %q", got.Text, got.FinishReason)
				}
				if got.InputTokens != simulator.Tokens(tt.prompt) || got.OutputTokens != tt.choices*tt.tokens {
					t.Errorf("usage %d/%d", got.InputTokens, got.OutputTokens)
				}
				// The body is a non-streamed answer either way.
				var body struct {
					ID      string `json:"id"`
					Object  string `json:"object"`
					Model   string `json:"model"`
					Choices []struct {
						Index   int    `json:"index"`
						Text    string `json:"text"`
						Message struct {
							Role    string `json:"role"`
							Content string `json:"content"`
						} `json:"message"`
						FinishReason string `json:"finish_reason"`
					} `json:"choices"`
					Usage struct {
						TotalTokens int `json:"total_tokens"`
					} `json:"usage"`
				}
				if err := json.Unmarshal(got.Body, &body); err != nil {
					t.Fatalf("Body %s: %v", got.Body, err)
				}
				if body.ID != got.ID || body.Object != wantObject || body.Model != tt.model || len(body.Choices) != tt.choices ||
					body.Usage.TotalTokens != got.InputTokens+got.OutputTokens {
					t.Errorf("Body %s", got.Body)
				}
				for i, ch := range body.Choices {
					text := ch.Text
					if !tt.complete {
						text = ch.Message.Content
						if ch.Message.Role != "assistant" {
							t.Errorf("Body choice %d role %q", i, ch.Message.Role)
						}
					}
					if ch.Index != i || text != got.Choices[i].Text || ch.FinishReason != tt.wantReason {
						t.Errorf("Body choice %d = %+v", i, ch)
					}
				}
			})
		}
	}
}

// TestChatForwardsBody checks what reached the server: the caller's bytes
// unchanged when nothing is filled in, and every field kept otherwise.
func TestChatForwardsBody(t *testing.T) {
	const full = `{"model":"m", "messages":[{"role":"user","content":"hi"}],"temperature":0.3,"max_tokens":4,"max_completion_tokens":4,` +
		`"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}},"tools":[{"type":"function","function":{"name":"f","parameters":{}}}],` +
		`"seed":42,"n":1,"logprobs":true,"top_logprobs":2,"stop":["\n"],"x_vendor":{"a":[1,2.50,null]}}`
	tests := []struct {
		name   string
		body   string
		stream bool
		want   map[string]string // member: its JSON as sent; "" means the body is sent byte for byte
	}{
		{name: "unchanged", body: full},
		{name: "model filled in", body: `{"messages":[{"role":"user","content":"hi"}],"seed":42,"x_vendor":{"a":[1,2.50,null]}}`,
			want: map[string]string{"model": `"gpt-4o-mini"`, "seed": `42`, "x_vendor": `{"a":[1,2.50,null]}`, "messages": `[{"role":"user","content":"hi"}]`}},
		{name: "null model", body: `{"model":null,"messages":[{"role":"user","content":"hi"}]}`, want: map[string]string{"model": `"gpt-4o-mini"`}},
		{name: "stream asked", body: full, stream: true,
			want: map[string]string{"stream": `true`, "stream_options": `{"include_usage":true}`, "temperature": `0.3`, "stop": `["\n"]`, "model": `"m"`}},
		{name: "stream options kept", body: `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_obfuscation":false}}`,
			want: map[string]string{"stream": `true`, "stream_options": `{"include_obfuscation":false,"include_usage":true}`}},
		{name: "stream in body, options complete", body: `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, options{sim: simulator.Config{KeepBodies: 1}})
			if _, err := f.client.Chat(t.Context(), chatReq(tt.body, tt.stream)); err != nil {
				t.Fatal(err)
			}
			bodies := f.sim.Bodies()
			if len(bodies) != 1 || bodies[0].Path != "/v1/chat/completions" {
				t.Fatalf("bodies %+v", bodies)
			}
			sent := bodies[0].Body
			if tt.want == nil {
				if sent != tt.body {
					t.Errorf("sent %s\nwant %s", sent, tt.body)
				}
				return
			}
			var got, orig map[string]json.RawMessage
			if err := json.Unmarshal([]byte(sent), &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tt.body), &orig); err != nil {
				t.Fatal(err)
			}
			for k, v := range orig {
				if _, changed := tt.want[k]; !changed && string(got[k]) != string(v) {
					t.Errorf("member %s sent as %s, want %s", k, got[k], v)
				}
			}
			for k, v := range tt.want {
				if string(got[k]) != v {
					t.Errorf("member %s sent as %s, want %s", k, got[k], v)
				}
			}
		})
	}
}

func TestChatInvalidBody(t *testing.T) {
	f := setup(t, options{})
	for _, body := range []string{``, `[]`, `"x"`, `{"model":3}`, `{"stream":"yes"}`, `{"a":1} {}`, `{"a":`, `{"stream":true,"stream_options":[1]}`} {
		_, err := f.client.Chat(t.Context(), chatReq(body, false))
		if !errors.Is(err, openai.ErrInvalidRequest) {
			t.Errorf("body %q: %v, want ErrInvalidRequest", body, err)
		}
	}
	if st := f.sim.Stats(); st.Requests != 0 {
		t.Errorf("%d requests sent", st.Requests)
	}
}

// TestChatErrors runs every failure class against the simulator, streamed
// and not.
func TestChatErrors(t *testing.T) {
	body := func(prompt string) string {
		b, _ := json.Marshal(map[string]any{"model": "m", "messages": []any{map[string]any{"role": "user", "content": prompt}}})
		return string(b)
	}
	tests := []struct {
		name   string
		prompt string
		sim    simulator.Config
		stream bool
		check  func(t *testing.T, err error)
	}{
		{name: "429 with headers", prompt: "x sim:status=429 sim:retry_after=1500ms", check: func(t *testing.T, err error) {
			ae, ok := errors.AsType[*clients.APIError](err)
			if !ok || ae.StatusCode != 429 || !ae.RateLimited() || ae.RetryAfter != 1500*time.Millisecond || ae.RateLimit["x-ratelimit-remaining-requests"] != "0" {
				t.Errorf("err = %#v", err)
			}
		}},
		{name: "rate limit enforced", prompt: "x", sim: simulator.Config{RequestsPerMinute: 1}, check: func(t *testing.T, err error) {
			ae, ok := errors.AsType[*clients.APIError](err)
			if !ok || ae.StatusCode != 429 || ae.RetryAfter < 50*time.Second || ae.RateLimit["x-ratelimit-limit-requests"] != "1" || ae.Type != "requests" {
				t.Errorf("err = %#v", err)
			}
		}},
		{name: "400", prompt: "x sim:status=400 sim:code=context_length_exceeded", stream: true, check: func(t *testing.T, err error) {
			ae, ok := errors.AsType[*clients.APIError](err)
			if !ok || ae.StatusCode != 400 || !ae.Permanent() || ae.Code != "context_length_exceeded" {
				t.Errorf("err = %#v", err)
			}
		}},
		{name: "503", prompt: "x sim:status=503", stream: true, check: func(t *testing.T, err error) {
			if ae, ok := errors.AsType[*clients.APIError](err); !ok || ae.StatusCode != 503 || ae.Permanent() {
				t.Errorf("err = %#v", err)
			}
		}},
		{name: "garbage", prompt: "x sim:garbage=1", check: func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "decode response") {
				t.Errorf("err = %v", err)
			}
		}},
		{name: "stream cut", prompt: "x sim:stream_cut=3", stream: true, check: func(t *testing.T, err error) {
			if !errors.Is(err, clients.ErrIncompleteStream) {
				t.Errorf("err = %v, want ErrIncompleteStream", err)
			}
		}},
		{name: "stream without [DONE]", prompt: "x sim:stream_no_done=1", stream: true, check: func(t *testing.T, err error) {
			if !errors.Is(err, clients.ErrIncompleteStream) || !strings.Contains(err.Error(), "[DONE]") {
				t.Errorf("err = %v, want ErrIncompleteStream", err)
			}
		}},
		{name: "error event", prompt: "x sim:stream_error=2", stream: true, check: func(t *testing.T, err error) {
			se, ok := errors.AsType[*clients.StreamError](err)
			if !ok || se.Type != "server_error" || se.Message == "" || se.Permanent() {
				t.Errorf("err = %#v", err)
			}
		}},
		{name: "too large", prompt: "x sim:tokens=20000", check: func(t *testing.T, err error) {
			if !errors.Is(err, clients.ErrAnswerTooLarge) {
				t.Errorf("err = %v, want ErrAnswerTooLarge", err)
			}
		}},
		{name: "too large streamed", prompt: "x sim:tokens=20000", stream: true, check: func(t *testing.T, err error) {
			if !errors.Is(err, clients.ErrAnswerTooLarge) {
				t.Errorf("err = %v, want ErrAnswerTooLarge", err)
			}
		}},
		{name: "outage 503", prompt: "x", check: func(t *testing.T, err error) {
			if ae, ok := errors.AsType[*clients.APIError](err); !ok || ae.StatusCode != 503 {
				t.Errorf("err = %#v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, options{sim: tt.sim, cfg: openai.Config{MaxAnswerBytes: 64 << 10}})
			if tt.sim.RequestsPerMinute > 0 {
				if _, err := f.client.Chat(t.Context(), chatReq(body(tt.prompt), tt.stream)); err != nil {
					t.Fatal(err)
				}
			}
			if tt.name == "outage 503" {
				if err := f.sim.SetOutage(simulator.OutageUnavailable, 0); err != nil {
					t.Fatal(err)
				}
			}
			res, err := f.client.Chat(t.Context(), chatReq(body(tt.prompt), tt.stream))
			if err == nil {
				t.Fatalf("no error; result %+v", res)
			}
			if res != nil {
				t.Errorf("result %+v with the error", res)
			}
			tt.check(t, err)
			if strings.Contains(err.Error(), "sim:") {
				t.Errorf("error repeats the prompt: %v", err)
			}
		})
	}
}

// TestChatStreamCancel checks that ending the context stops a stream at
// once, and that the server sees the client leave.
func TestChatStreamCancel(t *testing.T) {
	f := setup(t, options{sim: simulator.Config{TimeToFirstToken: 10 * time.Millisecond, TokenLatency: 20 * time.Millisecond}})
	ctx, cancel := context.WithCancel(t.Context())
	// 1000 tokens take 20s; cancel once the stream is under way.
	go func() {
		for f.sim.Stats().ByStatus["200"] == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	_, err := f.client.Chat(ctx, chatReq(`{"model":"m","max_tokens":1000,"messages":[{"role":"user","content":"x"}]}`, true))
	elapsed := time.Since(start)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if elapsed > 2*time.Second {
		t.Errorf("returned %s after start", elapsed)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.sim.Stats().Disconnects != 1 || f.sim.InFlight() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not see the client leave: %+v", f.sim.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestChatTLS runs both modes over HTTPS with HTTP/2.
func TestChatTLS(t *testing.T) {
	f := setup(t, options{tls: true})
	for _, stream := range []bool{false, true} {
		got, err := f.client.Chat(t.Context(), chatReq(`{"model":"m","messages":[{"role":"user","content":"h2"}]}`, stream))
		if err != nil {
			t.Fatal(err)
		}
		if want := simulator.Answer("m", "h2", 0, simulator.DefaultTokens); got.Text != want {
			t.Errorf("stream %v: %q, want %q", stream, got.Text, want)
		}
	}
}
