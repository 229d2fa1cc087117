package job_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/clients/openai"
	"github.com/llmq/llmq/job"
	"github.com/llmq/llmq/simulator"
	"github.com/llmq/llmq/tasks"
)

// batchOut is a Batch API output line of a generation job.
type batchOut struct {
	ID       string `json:"id"`
	CustomID string `json:"custom_id"`
	Response *struct {
		StatusCode int             `json:"status_code"`
		Body       json.RawMessage `json:"body"`
	} `json:"response"`
	Error json.RawMessage `json:"error"`
}

// answerOf returns the first choice's text of a chat.completion or
// text_completion body.
func answerOf(t *testing.T, body json.RawMessage) string {
	t.Helper()
	var b struct {
		Choices []struct {
			Text    string `json:"text"`
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(body, &b); err != nil || len(b.Choices) == 0 {
		t.Fatalf("body %s: %v", body, err)
	}
	return b.Choices[0].Message.Content + b.Choices[0].Text
}

func exportJob(t *testing.T, rdb redis.UniversalClient, st *job.Status, format job.Format) (*job.ExportSummary, string, string) {
	t.Helper()
	var out, errs bytes.Buffer
	es, err := job.Export(context.Background(), rdb, st, job.ExportOptions{Out: &out, Errors: &errs, Format: format})
	if err != nil {
		t.Fatal(err)
	}
	return es, out.String(), errs.String()
}

func splitLines(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// TestGenerationJobBatch runs OpenAI Batch API chat and completion lines
// as a generation job: each line is one task, an identical request is
// sent once and its answer copied, a refused one is reported with the
// provider's status, and the output's bodies are the provider's answers
// in input order.
func TestGenerationJobBatch(t *testing.T) {
	rdb := setup(t)
	ctx := context.Background()
	chat := func(id, content string, extra string) string {
		return fmt.Sprintf(`{"custom_id":%q,"method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"user","content":%q}]%s}}`, id, content, extra)
	}
	path := writeFile(t,
		chat("a", "alpha", `,"max_tokens":4`),
		`{"custom_id":"b","method":"POST","url":"/v1/completions","body":{"model":"m2","prompt":"beta"}}`,
		chat("c", "alpha", `,"max_tokens":4`),
		chat("d", "bad sim:status=400", ""),
		`{"custom_id":"e","method":"POST","url":"/v1/embeddings","body":{"model":"m","input":"x"}}`,
		chat("f", "phi", `,"temperature":0,"seed":12345678901234567`),
	)
	var bad []string
	sum, err := job.NewSubmission(rdb, job.Spec{Path: path, Kind: job.KindGeneration}).Run(ctx, func(le *job.LineError) { bad = append(bad, le.Error()) })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Items != 5 || sum.Unique != 4 || sum.Batches != 4 || sum.Skipped != 1 || sum.Format != job.FormatBatch || sum.Queue != tasks.QueueGeneration {
		t.Fatalf("summary %+v", sum)
	}
	if len(bad) != 1 || !strings.Contains(bad[0], `line 5: unsupported url "/v1/embeddings"`) {
		t.Errorf("bad lines %q", bad)
	}
	st := wait(t, rdb, sum.ID)
	if !st.Generation() || st.Done != 3 || st.Failed != 1 {
		t.Errorf("status %+v, want a generation job with 3 done, 1 failed", st)
	}
	es, out, errs := exportJob(t, rdb, st, "")
	if es.Results != 4 || es.Failed != 1 || es.Duplicates != 1 {
		t.Errorf("export %+v, want 4 results, 1 failed, 1 duplicate", es)
	}
	want := map[string]string{
		"a": simulator.Answer("m", "alpha", 0, 4), "b": simulator.Answer("m2", "beta", 0, simulator.DefaultTokens),
		"c": simulator.Answer("m", "alpha", 0, 4), "f": simulator.Answer("m", "phi", 0, simulator.DefaultTokens),
	}
	var ids []string
	bodies := map[string]string{}
	for _, l := range splitLines(out) {
		var o batchOut
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.CustomID)
		if o.Response == nil || o.Response.StatusCode != 200 || string(o.Error) != "null" || !strings.HasPrefix(o.ID, "batch_req_") {
			t.Errorf("line %s", l)
			continue
		}
		if got := answerOf(t, o.Response.Body); got != want[o.CustomID] {
			t.Errorf("%s: answer %q, want %q", o.CustomID, got, want[o.CustomID])
		}
		bodies[o.CustomID] = string(o.Response.Body)
	}
	if got := strings.Join(ids, " "); got != "a b c f" {
		t.Errorf("output custom_ids %q, want input order", got)
	}
	if bodies["a"] != bodies["c"] {
		t.Errorf("the duplicate's body differs:\n%s\n%s", bodies["a"], bodies["c"])
	}
	if !strings.Contains(errs, `"custom_id":"d","response":{"status_code":400`) || !strings.Contains(errs, `"body":{"error":{"message":`) {
		t.Errorf("errors %s", errs)
	}

	// The simple format of the same job.
	_, out, _ = exportJob(t, rdb, st, job.FormatSimple)
	first, _, _ := strings.Cut(out, "\n")
	wantFirst := fmt.Sprintf(`{"id":"a","model":"m","text":%q,"finish_reason":"length","usage":{"prompt_tokens":%d,"completion_tokens":4,"total_tokens":%d}}`,
		want["a"], simulator.Tokens("alpha"), simulator.Tokens("alpha")+4)
	if first != wantFirst {
		t.Errorf("simple line\n got %s\nwant %s", first, wantFirst)
	}

	again, err := job.NewSubmission(rdb, job.Spec{Path: path, Kind: job.KindGeneration}).Run(ctx, nil)
	if err != nil || !again.Resubmitted || again.ID != sum.ID {
		t.Errorf("resubmission %+v, %v; want the same job, resubmitted", again, err)
	}
	emb, err := job.NewSubmission(rdb, job.Spec{Path: path}).Run(ctx, nil)
	if err != nil || emb.ID == sum.ID {
		t.Errorf("the same file as an embedding job: %+v, %v; want another job", emb, err)
	}
	if err := job.Delete(ctx, rdb, st); err != nil {
		t.Fatal(err)
	}
	if keys := rdb.Keys(ctx, "asynq:{generation}:t:"+sum.ID+"*").Val(); len(keys) > 0 {
		t.Errorf("tasks left after delete: %v", keys)
	}
}

// TestGenerationJobSimple runs {"id", "prompt"} and {"id", "messages"}
// lines toward OpenAI (chat completions, streamed, with the line's other
// fields in the body) and toward Ollama.
func TestGenerationJobSimple(t *testing.T) {
	rdb := setup(t)
	ctx := context.Background()
	lines := []string{
		`{"id":"p","prompt":"why is the sky blue"}`,
		`{"id":"s","system":"Be brief.","prompt":"why","max_tokens":3}`,
		`{"id":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"bye"}]}`,
		`{"id":"p2","prompt":"why is the sky blue"}`,
		`{"id":"x","prompt":"a","messages":[{"role":"user","content":"b"}]}`,
		`{"id":"y"}`,
		`{"id":"z","system":"s","messages":[{"role":"user","content":"b"}]}`,
	}
	tests := []struct {
		name     string
		provider string
		want     map[string]string
		extra    string // a line only this provider refuses
	}{
		{"openai", tasks.ProviderOpenAI, map[string]string{
			"p":  simulator.Answer(openai.DefaultChatModel, "why is the sky blue", 0, simulator.DefaultTokens),
			"s":  simulator.Answer(openai.DefaultChatModel, simulator.ChatPrompt("Be brief.", "why"), 0, 3),
			"m":  simulator.Answer(openai.DefaultChatModel, simulator.ChatPrompt("hi", "hello", "bye"), 0, simulator.DefaultTokens),
			"p2": simulator.Answer(openai.DefaultChatModel, "why is the sky blue", 0, simulator.DefaultTokens),
		}, `{"custom_id":"q","method":"POST","url":"/v1/chat/completions","body":{}}`},
		{"ollama", tasks.ProviderOllama, map[string]string{
			"p":  strings.Join(simulator.Completion("why is the sky blue", simulator.DefaultTokens), ""),
			"s":  "",
			"m":  strings.Join(simulator.Completion(simulator.ChatPrompt("hi", "hello", "bye"), simulator.DefaultTokens), ""),
			"p2": strings.Join(simulator.Completion("why is the sky blue", simulator.DefaultTokens), ""),
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]string(nil), lines...)
			if tt.extra != "" {
				in = append(in, tt.extra)
			}
			var bad []string
			sum, err := job.NewSubmission(rdb, job.Spec{Path: writeFile(t, in...), Kind: job.KindGeneration, Provider: tt.provider, Stream: true}).
				Run(ctx, func(le *job.LineError) { bad = append(bad, le.Error()) })
			if err != nil {
				t.Fatal(err)
			}
			wantBad := []string{"line 5: both", "line 6: no \"prompt\"", "line 7: \"system\" goes with \"prompt\""}
			switch tt.provider {
			case tasks.ProviderOllama:
				// Ollama knows no max_tokens: line 2 is refused.
				wantBad = append([]string{`line 2: field "max_tokens" is not one for Ollama`}, wantBad...)
			default:
				wantBad = append(wantBad, "line 8: an OpenAI Batch API request line")
			}
			if len(bad) != len(wantBad) {
				t.Fatalf("bad lines %q, want %q", bad, wantBad)
			}
			for i := range bad {
				if !strings.HasPrefix(bad[i], wantBad[i]) {
					t.Errorf("bad line %q, want %q…", bad[i], wantBad[i])
				}
			}
			st := wait(t, rdb, sum.ID)
			_, out, errs := exportJob(t, rdb, st, "")
			if errs != "" {
				t.Errorf("errors: %s", errs)
			}
			var got []string
			for _, l := range splitLines(out) {
				var o struct {
					ID           string `json:"id"`
					Text         string `json:"text"`
					FinishReason string `json:"finish_reason"`
					Usage        struct {
						CompletionTokens int `json:"completion_tokens"`
					} `json:"usage"`
				}
				if err := json.Unmarshal([]byte(l), &o); err != nil {
					t.Fatal(err)
				}
				got = append(got, o.ID)
				if o.Text != tt.want[o.ID] {
					t.Errorf("%s: text %q, want %q", o.ID, o.Text, tt.want[o.ID])
				}
				if o.ID == "p2" && o.Usage.CompletionTokens != 0 {
					t.Errorf("the duplicate p2 reports %d tokens, want 0", o.Usage.CompletionTokens)
				}
			}
			wantIDs := "p s m p2"
			if tt.provider == tasks.ProviderOllama {
				wantIDs = "p m p2"
			}
			if strings.Join(got, " ") != wantIDs {
				t.Errorf("ids %q, want %q", got, wantIDs)
			}
			// Ollama's answers get a chat.completion body in the Batch API format.
			_, out, _ = exportJob(t, rdb, st, job.FormatBatch)
			var o batchOut
			if err := json.Unmarshal([]byte(splitLines(out)[0]), &o); err != nil {
				t.Fatal(err)
			}
			if o.CustomID != "p" || answerOf(t, o.Response.Body) != tt.want["p"] {
				t.Errorf("batch line %s", splitLines(out)[0])
			}
		})
	}
}

// TestGenerationJobStrict checks that a strict generation job with a bad
// line enqueues nothing.
func TestGenerationJobStrict(t *testing.T) {
	rdb := setup(t)
	path := writeFile(t, `{"id":"a","prompt":"ok"}`, `{"id":"b","prompt":""}`)
	_, err := job.NewSubmission(rdb, job.Spec{Path: path, Kind: job.KindGeneration, Strict: true}).Run(context.Background(), nil)
	if !errors.Is(err, job.ErrStrict) {
		t.Fatalf("err %v, want ErrStrict", err)
	}
	if keys := rdb.Keys(context.Background(), "asynq:{generation}:*").Val(); len(keys) > 0 {
		t.Errorf("keys after a strict refusal: %v", keys)
	}
}

// TestSubmitGenerateRequests submits parsed Batch API requests, as a
// Batch API server would: the job runs them, reports a bad one by its
// place, and submitting the same requests again resumes the same job.
func TestSubmitGenerateRequests(t *testing.T) {
	rdb := setup(t)
	ctx := context.Background()
	reqs := []job.GenerateRequest{
		{CustomID: "a", URL: tasks.EndpointChat, Body: json.RawMessage(`{"model":"m","messages":[{"role":"user","content":"one"}]}`)},
		{CustomID: "b", URL: tasks.EndpointCompletions, Body: json.RawMessage(`{"model":"m","prompt":"two","max_tokens":2}`)},
		{CustomID: "c", URL: "/v1/embeddings", Body: json.RawMessage(`{"model":"m","input":"x"}`)},
		{CustomID: "d", URL: tasks.EndpointChat, Body: json.RawMessage(`{"model":`)},
	}
	seq := func(yield func(job.GenerateRequest, error) bool) {
		for _, r := range reqs {
			if !yield(r, nil) {
				return
			}
		}
	}
	var bad []string
	sum, err := job.SubmitGenerateRequests(ctx, rdb, job.Spec{ID: "batch_123"}, seq, t.TempDir(), func(le *job.LineError) { bad = append(bad, le.Error()) })
	if err != nil {
		t.Fatal(err)
	}
	if sum.ID != "batch_123" || sum.Items != 2 || sum.Skipped != 2 || !sum.Generation() {
		t.Errorf("summary %+v", sum)
	}
	if len(bad) != 2 || !strings.HasPrefix(bad[0], "line 3: unsupported url") || !strings.HasPrefix(bad[1], "line 4: body must be a JSON object") {
		t.Errorf("bad requests %q", bad)
	}
	st := wait(t, rdb, sum.ID)
	_, out, _ := exportJob(t, rdb, st, "")
	got := splitLines(out)
	if len(got) != 2 {
		t.Fatalf("output %q", out)
	}
	var o batchOut
	if err := json.Unmarshal([]byte(got[1]), &o); err != nil {
		t.Fatal(err)
	}
	if o.CustomID != "b" || answerOf(t, o.Response.Body) != simulator.Answer("m", "two", 0, 2) {
		t.Errorf("line %s", got[1])
	}
	again, err := job.SubmitGenerateRequests(ctx, rdb, job.Spec{ID: "batch_123"}, seq, "", nil)
	if err != nil || !again.Resubmitted {
		t.Errorf("again: %+v, %v; want resubmitted", again, err)
	}
	failing := func(yield func(job.GenerateRequest, error) bool) {
		yield(job.GenerateRequest{}, errors.New("read failed"))
	}
	if _, err := job.SubmitGenerateRequests(ctx, rdb, job.Spec{ID: "batch_124"}, failing, "", nil); err == nil || !strings.Contains(err.Error(), "read failed") {
		t.Errorf("a failing source: %v", err)
	}
	if _, err := job.GetStatus(ctx, rdb, "batch_124"); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("a failing source left a job: %v", err)
	}
}
