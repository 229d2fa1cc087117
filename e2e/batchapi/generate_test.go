package batchapi

import (
	"fmt"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/llmq/llmq/simulator"
)

// genLine is a Batch API output line of a generation batch, its body
// decoded as T by the SDK's own type.
type genLine[T any] struct {
	CustomID string `json:"custom_id"`
	Response *struct {
		StatusCode int `json:"status_code"`
		Body       T   `json:"body"`
	} `json:"response"`
}

// TestGoSDKGeneration runs a chat completions batch and a text
// completions batch through the official Go SDK: each request's answer is
// the provider's, in input order, a refused request is in the error file,
// a repeated request is sent once, and usage adds up the answers'.
func TestGoSDKGeneration(t *testing.T) {
	f := setup(t)
	_, base := f.startAPI(t)
	c := sdk(base, keyA)
	const model = "gpt-4o-mini"

	// 40 chat requests: one refused by the provider, every tenth from the
	// fourth repeating the first, and one capped at 5 tokens.
	type want struct {
		id, answer string
		dup        bool
	}
	var lines []string
	var wants []want
	for i := range 40 {
		id, content, extra := fmt.Sprintf("chat-%d", i), fmt.Sprintf("question %d", i), map[string]any(nil)
		answer := simulator.Answer(model, content, 0, simulator.DefaultTokens)
		switch {
		case i == 7:
			content = "refused sim:status=400"
		case i%10 == 3:
			content, answer = "question 0", wants[0].answer
		case i == 11:
			extra = map[string]any{"max_completion_tokens": 5, "temperature": 0.2}
			answer = simulator.Answer(model, content, 0, 5)
		}
		lines = append(lines, chatRequest(id, content, extra))
		if i != 7 {
			wants = append(wants, want{id, answer, i%10 == 3})
		}
	}
	in := upload(t, c, writeLines(t, lines...))
	b := createTo(t, c, in.ID, "1h", openai.BatchNewParamsEndpointV1ChatCompletions)
	if b.Endpoint != "/v1/chat/completions" || b.Status != openai.BatchStatusValidating {
		t.Errorf("created %+v", b)
	}
	b = poll(t, c, b.ID, 60*time.Second, openai.BatchStatusCompleted, openai.BatchStatusFailed)
	if b.Status != openai.BatchStatusCompleted {
		t.Fatalf("batch %s: %+v", b.Status, b.Errors)
	}
	if b.RequestCounts.Total != 40 || b.RequestCounts.Completed != 39 || b.RequestCounts.Failed != 1 || b.Model != model {
		t.Errorf("counts %+v, model %q; want 40 = 39 + 1 of %s", b.RequestCounts, b.Model, model)
	}
	out := contentAs[genLine[openai.ChatCompletion]](t, c, b.OutputFileID)
	if len(out) != len(wants) {
		t.Fatalf("%d output lines, want %d", len(out), len(wants))
	}
	var inTokens, outTokens int64
	for i, l := range out {
		w := wants[i]
		if l.CustomID != w.id || l.Response == nil || l.Response.StatusCode != 200 {
			t.Fatalf("output line %d: %+v, want %s in input order", i+1, l, w.id)
		}
		cc := l.Response.Body
		if len(cc.Choices) != 1 || cc.Choices[0].Message.Content != w.answer || cc.Object != "chat.completion" {
			t.Errorf("%s: %+v, want the answer %q", w.id, cc, w.answer)
		}
		if !w.dup {
			inTokens, outTokens = inTokens+cc.Usage.PromptTokens, outTokens+cc.Usage.CompletionTokens
		}
	}
	if out[11-1].Response.Body.Choices[0].FinishReason != "length" {
		t.Errorf("the capped request ended %q, want length", out[10].Response.Body.Choices[0].FinishReason)
	}
	if b.Usage.InputTokens != inTokens || b.Usage.OutputTokens != outTokens || b.Usage.TotalTokens != inTokens+outTokens || outTokens == 0 {
		t.Errorf("usage %+v, want %d input and %d output tokens (the answers', each unique request once)", b.Usage, inTokens, outTokens)
	}
	errs := content(t, c, b.ErrorFileID)
	if len(errs) != 1 || errs[0].CustomID != "chat-7" || errs[0].Response == nil || errs[0].Response.StatusCode != 400 {
		t.Errorf("error file %+v, want chat-7 with status 400", errs)
	}
	st, err := f.rdb.HGet(t.Context(), "llmq:job:{"+b.ID+"}", "kind").Result()
	if err != nil || st != "generation" {
		t.Errorf("the batch's job kind %q, %v; want generation", st, err)
	}

	// Text completions.
	var clines []string
	for i := range 10 {
		clines = append(clines, fmt.Sprintf(`{"custom_id": "c%d", "method": "POST", "url": "/v1/completions", "body": {"model": %q, "prompt": "complete %d", "max_tokens": 6}}`, i, model, i))
	}
	cin := upload(t, c, writeLines(t, clines...))
	cb := createTo(t, c, cin.ID, "24h", openai.BatchNewParamsEndpointV1Completions)
	cb = poll(t, c, cb.ID, 60*time.Second, openai.BatchStatusCompleted, openai.BatchStatusFailed)
	if cb.Status != openai.BatchStatusCompleted || cb.RequestCounts.Completed != 10 || cb.ErrorFileID != "" {
		t.Fatalf("completions batch %s %+v, error file %q", cb.Status, cb.RequestCounts, cb.ErrorFileID)
	}
	for i, l := range contentAs[genLine[openai.Completion]](t, c, cb.OutputFileID) {
		want := simulator.Answer(model, fmt.Sprintf("complete %d", i), 0, 6)
		if l.CustomID != fmt.Sprintf("c%d", i) || len(l.Response.Body.Choices) != 1 || l.Response.Body.Choices[0].Text != want {
			t.Errorf("completion %d: %+v, want %q", i, l, want)
		}
	}
}
