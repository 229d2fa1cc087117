package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/clients"
)

// validateTest is a payload and what its Validate says of it.
type validateTest struct {
	name    string
	p       interface{ Validate() error }
	wantErr string // "" for valid
}

// testValidate runs each test's Validate: nil where wantErr is "", else
// ErrInvalidPayload with wantErr in its message.
func testValidate(t *testing.T, tests []validateTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidPayload) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want ErrInvalidPayload containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestEmbedPayloadValidate(t *testing.T) {
	many := make([]string, MaxEmbedInputs+1)
	for i := range many {
		many[i] = "x"
	}
	tests := []validateTest{
		{"one text", EmbedPayload{Texts: []string{"a"}}, ""},
		{"ollama with ids", EmbedPayload{Provider: "ollama", Texts: []string{"a", "b"}, IDs: []string{"1", "2"}}, ""},
		{"max texts", EmbedPayload{Texts: many[:MaxEmbedInputs]}, ""},
		{"no texts", EmbedPayload{}, "no texts"},
		{"too many texts", EmbedPayload{Texts: many}, "at most 2048"},
		{"empty text", EmbedPayload{Texts: []string{"a", ""}}, "text 1 is empty"},
		{"ids mismatch", EmbedPayload{Texts: []string{"a"}, IDs: []string{"1", "2"}}, "2 ids for 1 texts"},
		{"unknown provider", EmbedPayload{Provider: "acme", Texts: []string{"a"}}, `unknown provider "acme"`},
		{"negative dimensions", EmbedPayload{Texts: []string{"a"}, Dimensions: -1}, "negative dimensions"},
	}
	testValidate(t, tests)
}

func TestGeneratePayloadValidate(t *testing.T) {
	tests := []validateTest{
		{"prompt", GeneratePayload{Prompt: "hi"}, ""},
		{"chat", GeneratePayload{Messages: []clients.Message{{Role: "user", Content: "hi"}}}, ""},
		{"nothing", GeneratePayload{}, "neither prompt nor messages"},
		{"both", GeneratePayload{Prompt: "a", Messages: []clients.Message{{Role: "user", Content: "b"}}}, "both"},
		{"empty message", GeneratePayload{Messages: []clients.Message{{Role: "user"}}}, "message 0"},
		{"openai prompt", GeneratePayload{Provider: "openai", Prompt: "hi"}, ""},
		{"unknown provider", GeneratePayload{Provider: "vllm", Prompt: "hi"}, "unknown provider"},
		{"body", GeneratePayload{Endpoint: EndpointChat, Body: json.RawMessage(`{"messages":[]}`)}, ""},
		{"body completions", GeneratePayload{Provider: "openai", Endpoint: EndpointCompletions, Body: json.RawMessage(` {"prompt":"x"}`)}, ""},
		{"body for ollama", GeneratePayload{Provider: "ollama", Endpoint: EndpointChat, Body: json.RawMessage(`{}`)}, "needs provider"},
		{"body without endpoint", GeneratePayload{Body: json.RawMessage(`{}`)}, "endpoint"},
		{"body other endpoint", GeneratePayload{Endpoint: "/v1/embeddings", Body: json.RawMessage(`{}`)}, "endpoint"},
		{"body not an object", GeneratePayload{Endpoint: EndpointChat, Body: json.RawMessage(`[1]`)}, "not a JSON object"},
		{"body not JSON", GeneratePayload{Endpoint: EndpointChat, Body: json.RawMessage(`{"a":`)}, "not a JSON object"},
		{"body with prompt", GeneratePayload{Endpoint: EndpointChat, Body: json.RawMessage(`{}`), Prompt: "x"}, "comes alone"},
	}
	testValidate(t, tests)
}

func TestNewTaskIDIsContentAddressed(t *testing.T) {
	a1, err := NewEmbedTask(EmbedPayload{Texts: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := NewEmbedTask(EmbedPayload{Texts: []string{"a"}})
	b, _ := NewEmbedTask(EmbedPayload{Texts: []string{"b"}})
	g, _ := NewGenerateTask(GeneratePayload{Prompt: "a"})
	if ID(a1) != ID(a2) {
		t.Errorf("same payload, different IDs: %s, %s", ID(a1), ID(a2))
	}
	if ID(a1) == ID(b) || ID(a1) == ID(g) {
		t.Errorf("different tasks share an ID: %s %s %s", ID(a1), ID(b), ID(g))
	}
	if a1.Type() != TypeEmbed || g.Type() != TypeGenerate {
		t.Errorf("types = %q, %q", a1.Type(), g.Type())
	}
	if _, err := NewEmbedTask(EmbedPayload{}); !errors.Is(err, ErrInvalidPayload) {
		t.Errorf("NewEmbedTask(empty) err = %v, want ErrInvalidPayload", err)
	}
	if _, err := NewGenerateTask(GeneratePayload{}); !errors.Is(err, ErrInvalidPayload) {
		t.Errorf("NewGenerateTask(empty) err = %v, want ErrInvalidPayload", err)
	}
}

func TestNewTaskWithHeaders(t *testing.T) {
	headers := map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	tests := []struct {
		name  string
		plain func() (*asynq.Task, error)
		with  func(map[string]string) (*asynq.Task, error)
	}{
		{"embed",
			func() (*asynq.Task, error) { return NewEmbedTask(EmbedPayload{Texts: []string{"a"}}) },
			func(h map[string]string) (*asynq.Task, error) {
				return NewEmbedTaskWithHeaders(EmbedPayload{Texts: []string{"a"}}, h)
			}},
		{"generate",
			func() (*asynq.Task, error) { return NewGenerateTask(GeneratePayload{Prompt: "a"}) },
			func(h map[string]string) (*asynq.Task, error) {
				return NewGenerateTaskWithHeaders(GeneratePayload{Prompt: "a"}, h)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain, err := tt.plain()
			if err != nil {
				t.Fatal(err)
			}
			with, err := tt.with(headers)
			if err != nil {
				t.Fatal(err)
			}
			if got := with.Headers()["traceparent"]; got != headers["traceparent"] {
				t.Errorf("traceparent header = %q, want %q", got, headers["traceparent"])
			}
			if len(plain.Headers()) != 0 {
				t.Errorf("task without headers has %v", plain.Headers())
			}
			if ID(with) != ID(plain) || string(with.Payload()) != string(plain.Payload()) {
				t.Error("headers changed the task's ID or payload")
			}
		})
	}
}

func TestDecodePayloadReadableErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"not JSON", `{"texts": [`, "not JSON"},
		{"wrong type", `{"texts": "one"}`, `field "texts"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p EmbedPayload
			err := decodePayload([]byte(tt.in), &p)
			if !errors.Is(err, ErrInvalidPayload) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalidPayload containing %q", err, tt.want)
			}
		})
	}
}

func TestMuxArchivesUnknownTypes(t *testing.T) {
	called := 0
	m := NewMux(map[string]asynq.Handler{
		TypeEmbed: asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error { called++; return nil }),
	})
	tests := []struct {
		typ        string
		wantCalled int
		wantSkip   bool
	}{
		{TypeEmbed, 1, false},
		{"embedding:create:v2", 1, true}, // a longer name is not a prefix match
		{"embedding", 1, true},
		{"mail:send", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			err := m.ProcessTask(context.Background(), asynq.NewTask(tt.typ, nil))
			if called != tt.wantCalled {
				t.Errorf("handler called %d times, want %d", called, tt.wantCalled)
			}
			if got := errors.Is(err, asynq.SkipRetry); got != tt.wantSkip {
				t.Errorf("err = %v, SkipRetry = %v, want %v", err, got, tt.wantSkip)
			}
			if tt.wantSkip && !errors.Is(err, ErrUnknownType) {
				t.Errorf("err = %v, want ErrUnknownType", err)
			}
		})
	}
}
