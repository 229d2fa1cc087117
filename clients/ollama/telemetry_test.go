package ollama_test

import (
	"context"
	"strconv"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/ollama"
	"github.com/llmq/llmq/simulator"
)

// TestTelemetry checks the GenAI span of each kind of call: its operation,
// model and token counts, streamed or not.
func TestTelemetry(t *testing.T) {
	tests := []struct {
		name      string
		call      func(*ollama.Client) error
		wantName  string
		wantOp    string
		wantInput int
		wantOut   int
	}{
		{"embed", func(c *ollama.Client) error {
			_, err := c.Embed(t.Context(), clients.EmbedRequest{Input: []string{"one text", "two texts"}})
			return err
		}, "embeddings " + ollama.DefaultEmbeddingModel, "embeddings", simulator.Tokens("one text") + simulator.Tokens("two texts"), 0},
		{"generate", func(c *ollama.Client) error {
			_, err := c.Generate(t.Context(), clients.GenerateRequest{Prompt: "why is the sky blue"})
			return err
		}, "text_completion " + ollama.DefaultModel, "text_completion", simulator.Tokens("why is the sky blue"), simulator.DefaultTokens},
		{"chat streamed", func(c *ollama.Client) error {
			_, err := c.Generate(t.Context(), clients.GenerateRequest{Model: "qwen", Stream: true,
				Messages: []clients.Message{{Role: "user", Content: "hello there"}}})
			return err
		}, "chat qwen", "chat", simulator.Tokens("hello there"), simulator.DefaultTokens},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spans := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			sim := simulator.New(simulator.Config{Dim: 8})
			ts := simulator.Start(sim, false)
			t.Cleanup(ts.Close)
			hc, _, err := clients.NewHTTPClient(clients.Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(hc.CloseIdleConnections)
			c, err := ollama.New(hc, ollama.Config{Host: ts.URL, TracerProvider: tp})
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			ended := spans.Ended()
			if len(ended) != 1 {
				t.Fatalf("%d spans, want 1", len(ended))
			}
			s := ended[0]
			if s.Name() != tt.wantName {
				t.Errorf("span name %q, want %q", s.Name(), tt.wantName)
			}
			got := map[attribute.Key]string{}
			for _, kv := range s.Attributes() {
				got[kv.Key] = kv.Value.String()
			}
			want := map[attribute.Key]string{
				"gen_ai.operation.name":     tt.wantOp,
				"gen_ai.provider.name":      "ollama",
				"gen_ai.usage.input_tokens": strconv.Itoa(tt.wantInput),
				"http.response.status_code": "200",
				"network.protocol.version":  "1.1",
				"llmq.connection.reused":    "false",
			}
			if tt.wantOut > 0 {
				want["gen_ai.usage.output_tokens"] = strconv.Itoa(tt.wantOut)
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}
