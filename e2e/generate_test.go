package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/llmq/llmq/simulator"
)

// generateOut is one line of enqueue generate --wait output: a
// generation job's simple output.
type generateOut struct {
	ID           string     `json:"id"`
	Model        string     `json:"model"`
	Text         string     `json:"text"`
	FinishReason string     `json:"finish_reason"`
	Usage        tokenUsage `json:"usage"`
}

type tokenUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// TestGenerate runs prompts and a chat as a generation job through the
// simulator's Ollama routes, streamed and not, and checks each text
// against the simulator's own completion.
func TestGenerate(t *testing.T) {
	t.Parallel()
	const model = "e2e-generation-model"
	f := setup(t)
	s := f.startSimulator(t, false)
	f.startWorker(t, "OLLAMA_HOST="+s.url, "OLLAMA_MODEL="+model, "OPENAI_BASE_URL="+s.url+"/v1", "WORKER_CONCURRENCY=4")

	type input struct {
		ID       string    `json:"id"`
		Prompt   string    `json:"prompt,omitempty"`
		Messages []message `json:"messages,omitempty"`
	}
	chat := []message{
		{Role: "system", Content: "Answer in one sentence."},
		{Role: "user", Content: "What does a queue worker do?"},
		{Role: "assistant", Content: "It runs tasks."},
		{Role: "user", Content: "And when it fails?"},
	}
	inputs := []input{
		{ID: "sky", Prompt: "Why is the sky blue?"},
		{ID: "haiku", Prompt: "Write a haiku about batch jobs, naïvely: «queues»"},
		{ID: "chat", Messages: chat},
	}
	// The simulator completes a chat from its message contents concatenated
	// without a separator.
	var chatText strings.Builder
	for _, m := range chat {
		chatText.WriteString(m.Content)
	}
	derivedFrom := map[string]string{"sky": inputs[0].Prompt, "haiku": inputs[1].Prompt, "chat": chatText.String()}
	file := f.writeJSONL(t, "prompts.jsonl", lines(inputs)...)

	tests := []struct {
		name   string
		stream bool
	}{
		{"streamed", true},
		{"not streamed", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := f.enqueue(t, "generate", "--provider", "ollama", "--file", file, fmt.Sprintf("--stream=%t", tt.stream), "--wait")
			if res.Code != 0 {
				t.Fatalf("enqueue exit status %d\nstderr:\n%s", res.Code, res.Stderr)
			}
			got := readJSONL[generateOut](t, res.Stdout)
			if len(got) != len(inputs) {
				t.Fatalf("%d results, want %d:\n%s", len(got), len(inputs), res.Stdout)
			}
			for i, g := range got {
				if g.ID != inputs[i].ID {
					t.Errorf("result %d: id %q, want %q", i, g.ID, inputs[i].ID)
					continue
				}
				src := derivedFrom[g.ID]
				in := simulator.Tokens(src)
				want := generateOut{
					ID:           g.ID,
					Model:        model,
					Text:         strings.Join(simulator.Completion(src, simulator.DefaultTokens), ""),
					FinishReason: "stop",
					Usage:        tokenUsage{in, simulator.DefaultTokens, in + simulator.DefaultTokens},
				}
				if g != want {
					t.Errorf("result %s:\n got %+v\nwant %+v", g.ID, g, want)
				}
			}
		})
	}

	st := s.stats(t)
	if st.ByPath["/api/generate"] != 4 || st.ByPath["/api/chat"] != 2 {
		t.Errorf("simulator saw %d generate and %d chat requests, want 4 and 2", st.ByPath["/api/generate"], st.ByPath["/api/chat"])
	}
}
