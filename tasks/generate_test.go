package tasks_test

import (
	"encoding/json"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/clients/openai"
	"github.com/llmq/llmq/simulator"
	"github.com/llmq/llmq/tasks"
)

// chatBody is the part of an OpenAI chat.completion or text_completion
// body the tests look at.
type chatBody struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Text    string `json:"text"`
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

// TestGenerateOpenAI runs generation tasks through the OpenAI client
// against the simulator: prompts and chats built into chat requests, and
// request bodies sent as they are to either endpoint, streamed or not. The
// result holds the simulator's deterministic answer, its finish reason and
// usage, and the answer body.
func TestGenerateOpenAI(t *testing.T) {
	f := setup(t)
	const model = "sim-chat"
	tests := []struct {
		name       string
		payload    tasks.GeneratePayload
		model      string // that answers
		prompt     string // the simulator derives the answer from
		tokens     int
		finish     string
		object     string
		completion bool
	}{
		{"prompt", tasks.GeneratePayload{Provider: "openai", Prompt: "why is the sky blue"},
			openai.DefaultChatModel, "why is the sky blue", simulator.DefaultTokens, "stop", "chat.completion", false},
		{"prompt with system, streamed", tasks.GeneratePayload{Provider: "openai", Model: model, System: "Be brief.", Prompt: "why", Stream: true,
			Options: map[string]any{"max_tokens": 3}},
			model, simulator.ChatPrompt("Be brief.", "why"), 3, "length", "chat.completion", false},
		{"chat body", tasks.GeneratePayload{Provider: "openai", Endpoint: tasks.EndpointChat,
			Body: json.RawMessage(`{"model":"sim-chat","messages":[{"role":"user","content":"hello"}],"max_completion_tokens":5,"temperature":0}`)},
			model, "hello", 5, "length", "chat.completion", false},
		{"completions body streamed", tasks.GeneratePayload{Provider: "openai", Endpoint: tasks.EndpointCompletions, Stream: true,
			Body: json.RawMessage(`{"model":"sim-chat","prompt":"once upon a time"}`)},
			model, "once upon a time", simulator.DefaultTokens, "stop", "text_completion", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := f.generate(t, tt.payload)
			want := simulator.Answer(tt.model, tt.prompt, 0, tt.tokens)
			if g.Text != want || g.FinishReason != tt.finish || g.Model != tt.model || g.Provider != "openai" {
				t.Errorf("result %+v\nwant text %q, finish %q, model %q", g, want, tt.finish, tt.model)
			}
			if g.InputTokens != simulator.Tokens(tt.prompt) || g.OutputTokens != tt.tokens {
				t.Errorf("usage %d/%d, want %d/%d", g.InputTokens, g.OutputTokens, simulator.Tokens(tt.prompt), tt.tokens)
			}
			var body chatBody
			if err := json.Unmarshal(g.Body, &body); err != nil {
				t.Fatalf("body %s: %v", g.Body, err)
			}
			text := body.Choices[0].Message.Content
			if tt.completion {
				text = body.Choices[0].Text
			}
			if body.Object != tt.object || body.ID != g.ResponseID || text != want || body.Usage.CompletionTokens != tt.tokens {
				t.Errorf("body %s does not hold the answer %q (id %s)", g.Body, want, g.ResponseID)
			}
		})
	}
}

// TestGenerateJobItem checks a job's item: counted as started and finished
// with the recorder, and, when the provider refuses it, stored as a failed
// result with the provider's status while the task completes; a task of
// its own with the same refusal is archived.
func TestGenerateJobItem(t *testing.T) {
	f := setup(t)
	body := func(content string) json.RawMessage {
		b, _ := json.Marshal(map[string]any{"model": "m", "messages": []map[string]string{{"role": "user", "content": content}}})
		return b
	}
	tests := []struct {
		name       string
		content    string
		job        *tasks.JobRef
		state      asynq.TaskState
		wantStatus int // of the stored refusal; 0 for an answer
		finished   [2]int
	}{
		{"answered", "hello job", &tasks.JobRef{ID: "gen-a", Batch: 0}, asynq.TaskStateCompleted, 0, [2]int{1, 0}},
		{"refused", "bad sim:status=400", &tasks.JobRef{ID: "gen-a", Batch: 1}, asynq.TaskStateCompleted, 400, [2]int{1, 1}},
		{"quota", "sim:code=insufficient_quota", &tasks.JobRef{ID: "gen-a", Batch: 2}, asynq.TaskStateCompleted, 429, [2]int{1, 1}},
		{"refused alone", "alone sim:status=422", nil, asynq.TaskStateArchived, 0, [2]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task, err := tasks.NewGenerateTask(tasks.GeneratePayload{Provider: "openai", Endpoint: tasks.EndpointChat, Body: body(tt.content), Job: tt.job})
			if err != nil {
				t.Fatal(err)
			}
			info := f.enqueue(t, task)
			info = f.await(t, info.Queue, info.ID, inState(tt.state))
			if tt.job == nil {
				if info.Retried != 0 {
					t.Errorf("retried %d times before it was archived", info.Retried)
				}
				return
			}
			g, err := tasks.DecodeGenerateResult(info.Result)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.wantStatus == 0 && (g.Error != nil || g.Text != simulator.Answer("m", tt.content, 0, simulator.DefaultTokens)):
				t.Errorf("result %+v, want the simulator's answer", g)
			case tt.wantStatus != 0 && (g.Error == nil || g.Error.Status != tt.wantStatus || g.Error.Message == "" || g.Body != nil):
				t.Errorf("result %+v, want a refusal with status %d", g, tt.wantStatus)
			}
			if got, ok := f.jobs.finishedOf(*tt.job); !ok || got != tt.finished {
				t.Errorf("recorder finished %v (%t), want %v", got, ok, tt.finished)
			}
		})
	}
}

// TestGenerateResultDecodesEarlierResults reads a result as earlier
// versions stored it, with "done_reason".
func TestGenerateResultDecodesEarlierResults(t *testing.T) {
	g, err := tasks.DecodeGenerateResult([]byte(`{"model":"llama3.2","text":"hi","done_reason":"stop","input_tokens":3,"output_tokens":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if g.FinishReason != "stop" || g.Text != "hi" || g.InputTokens != 3 || g.OutputTokens != 1 {
		t.Errorf("decoded %+v", g)
	}
	if _, err := tasks.DecodeGenerateResult([]byte(`{"text":`)); err == nil {
		t.Error("a truncated result decoded")
	}
}
