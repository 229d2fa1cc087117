package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/llmq/llmq/internal/proctest"
	"github.com/llmq/llmq/job"
	"github.com/llmq/llmq/simulator"
)

// genCase is one input line of a generation job and the answer the
// simulator gives it.
type genCase struct {
	line   any
	id     string
	answer string
	dup    bool // an identical request came earlier
}

// TestGenerationJobs runs 1,204 simple lines ({"id", "prompt"} and
// {"id", "messages"}, some with parameters, some repeated) and 500 OpenAI
// Batch API lines (chat and text completions) as two generation jobs
// through the built binaries and the simulator, stops the first worker
// with SIGTERM while it runs (four slow requests outlast its
// SHUTDOWN_TIMEOUT and are handed back), finishes with a second worker,
// and checks that each export holds every item exactly once, in input
// order, with the simulator's answer; that identical requests were sent
// once; and that submitting a file again enqueues nothing.
func TestGenerationJobs(t *testing.T) {
	t.Parallel()
	const (
		chatModel = "e2e-chat"
		slow      = 4
	)
	f := setup(t)
	s := f.startSimulator(t, false, "-ttft", "20ms", "-token-latency", "1ms")
	vars := []string{
		"OPENAI_BASE_URL=" + s.url + "/v1", "OPENAI_CHAT_MODEL=" + chatModel,
		"WORKER_CONCURRENCY=4", "WORKER_QUEUE_CONCURRENCY=generation=64",
		"SHUTDOWN_TIMEOUT=2s", "WORKER_POLL_INTERVAL=50ms",
	}
	first := f.startWorker(t, vars...)

	type message struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	var simple []genCase
	for i := range 1204 {
		id := fmt.Sprintf("q-%04d", i)
		switch {
		case i < slow: // outlasts SHUTDOWN_TIMEOUT
			p := fmt.Sprintf("slow question %d sim:sleep=6s", i)
			simple = append(simple, genCase{map[string]any{"id": id, "prompt": p}, id, simulator.Answer(chatModel, p, 0, simulator.DefaultTokens), false})
		case i%10 == 3: // a repeat of the line before the one before
			prev := simple[i-2]
			line := map[string]any{}
			for k, v := range prev.line.(map[string]any) {
				line[k] = v
			}
			line["id"] = id
			simple = append(simple, genCase{line, id, prev.answer, true})
		case i%3 == 0:
			msgs := []message{{"system", "Be brief."}, {"user", fmt.Sprintf("question %d, «naïvely»", i)}}
			simple = append(simple, genCase{map[string]any{"id": id, "messages": msgs, "temperature": 0.2},
				id, simulator.Answer(chatModel, simulator.ChatPrompt(msgs[0].Content, msgs[1].Content), 0, simulator.DefaultTokens), false})
		case i%3 == 1:
			p := fmt.Sprintf("question %d", i)
			simple = append(simple, genCase{map[string]any{"id": id, "prompt": p, "system": "Answer in French.", "max_tokens": 3},
				id, simulator.Answer(chatModel, simulator.ChatPrompt("Answer in French.", p), 0, 3), false})
		default:
			p := fmt.Sprintf("question %d with \"quotes\"\nand a new line", i)
			simple = append(simple, genCase{map[string]any{"id": id, "prompt": p, "model": "e2e-other"},
				id, simulator.Answer("e2e-other", p, 0, simulator.DefaultTokens), false})
		}
	}
	var batch []genCase
	for i := range 500 {
		id := fmt.Sprintf("r-%03d", i)
		model := []string{"m-a", "m-b"}[i%2]
		var line map[string]any
		var answer string
		switch {
		case i%25 == 24: // a repeat, under another custom_id
			prev := batch[i-1]
			line = map[string]any{}
			for k, v := range prev.line.(map[string]any) {
				line[k] = v
			}
			line["custom_id"] = id
			batch = append(batch, genCase{line, id, prev.answer, true})
			continue
		case i%2 == 0:
			content := fmt.Sprintf("chat %d", i)
			body := map[string]any{"model": model, "messages": []message{{"user", content}}}
			answer = simulator.Answer(model, content, 0, simulator.DefaultTokens)
			if i%4 == 0 {
				body["max_completion_tokens"] = 5
				answer = simulator.Answer(model, content, 0, 5)
			}
			line = map[string]any{"custom_id": id, "method": "POST", "url": "/v1/chat/completions", "body": body}
		default:
			p := fmt.Sprintf("complete %d", i)
			line = map[string]any{"custom_id": id, "method": "POST", "url": "/v1/completions",
				"body": map[string]any{"model": model, "prompt": p, "max_tokens": 6, "seed": 7}}
			answer = simulator.Answer(model, p, 0, 6)
		}
		batch = append(batch, genCase{line, id, answer, false})
	}
	linesOf := func(cs []genCase) []any {
		out := make([]any, len(cs))
		for i, c := range cs {
			out[i] = c.line
		}
		return out
	}
	simpleIn := f.writeJSONL(t, "prompts.jsonl", linesOf(simple)...)
	batchIn := f.writeJSONL(t, "batch.jsonl", linesOf(batch)...)

	res := f.enqueue(t, "generate", "--file", simpleIn)
	if res.Code != 0 {
		t.Fatalf("enqueue exit status %d\n%s", res.Code, res.Stderr)
	}
	simpleJob := strings.TrimSpace(res.Stdout)
	batchOut, batchErrs := f.path("batch-out.jsonl"), f.path("batch-errors.jsonl")
	waiting := proctest.Start(t, bin["enqueue"], proctest.Environ("REDIS_URL="+f.redis.URL()),
		"generate", "--file", batchIn, "--wait", "--out", batchOut, "--errors", batchErrs)

	// SIGTERM once the simple job is partly done.
	proctest.Eventually(t, 60*time.Second, 50*time.Millisecond, func() (bool, string) {
		st := f.jobStatus(t, simpleJob)
		return st.Done >= 300, fmt.Sprintf("simple job: %d done", st.Done)
	})
	first.Signal(t, syscall.SIGTERM)
	if code := first.Wait(t, 20*time.Second); code != 0 {
		t.Fatalf("worker exit status %d after SIGTERM, want 0", code)
	}
	st := f.jobStatus(t, simpleJob)
	t.Logf("first worker stopped with the simple job at %d of %d unique items done", st.Done, st.Total)
	if st.Done+st.Failed >= st.Total {
		t.Fatalf("the simple job finished before the SIGTERM: the test did not stop a worker mid-run")
	}

	again := f.enqueue(t, "generate", "--file", simpleIn)
	if again.Code != 0 || strings.TrimSpace(again.Stdout) != simpleJob || !strings.Contains(again.Stderr, "nothing enqueued") {
		t.Errorf("resubmission: exit %d, stdout %q, stderr %q; want the same job, nothing enqueued", again.Code, again.Stdout, again.Stderr)
	}

	f.startWorker(t, vars...)
	if code := waiting.Wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("enqueue generate --wait exit status %d\n%s", code, waiting.Stderr.String())
	}
	simpleOut, simpleErrs := f.path("simple-out.jsonl"), f.path("simple-errors.jsonl")
	res = f.enqueue(t, "results", simpleJob, "--wait", "--out", simpleOut, "--errors", simpleErrs)
	if res.Code != 0 {
		t.Fatalf("enqueue results exit status %d\n%s", res.Code, res.Stderr)
	}

	unique := 0
	for _, cs := range [][]genCase{simple, batch} {
		for _, c := range cs {
			if !c.dup {
				unique++
			}
		}
	}
	checkExport(t, "simple", simple, readFile(t, simpleOut), readFile(t, simpleErrs), func(l string) (string, string) {
		var o generateOut
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("simple output %q: %v", l, err)
		}
		return o.ID, o.Text
	})
	checkExport(t, "batch", batch, readFile(t, batchOut), readFile(t, batchErrs), func(l string) (string, string) {
		var o struct {
			CustomID string `json:"custom_id"`
			Response struct {
				StatusCode int `json:"status_code"`
				Body       struct {
					Choices []struct {
						Text    string `json:"text"`
						Message struct {
							Content string `json:"content"`
						} `json:"message"`
					} `json:"choices"`
				} `json:"body"`
			} `json:"response"`
		}
		if err := json.Unmarshal([]byte(l), &o); err != nil || o.Response.StatusCode != 200 || len(o.Response.Body.Choices) != 1 {
			t.Fatalf("batch output %q: %v", l, err)
		}
		return o.CustomID, o.Response.Body.Choices[0].Message.Content + o.Response.Body.Choices[0].Text
	})

	// Each unique request was sent once, the slow ones handed back by the
	// first worker perhaps twice.
	sst := s.stats(t)
	sent := int(sst.ByPath["/v1/chat/completions"] + sst.ByPath["/v1/completions"])
	t.Logf("%d simple and %d Batch API lines, %d unique requests, %d sent to the simulator", len(simple), len(batch), unique, sent)
	if sent < unique || sent > unique+slow {
		t.Errorf("the simulator answered %d generation requests, want %d to %d", sent, unique, unique+slow)
	}
}

// jobStatus reads a job's status with enqueue status --json.
func (f *fixture) jobStatus(t *testing.T, id string) job.Status {
	t.Helper()
	res := f.enqueue(t, "status", id, "--json")
	if res.Code != 0 {
		t.Fatalf("enqueue status exit status %d\n%s", res.Code, res.Stderr)
	}
	var st job.Status
	if err := json.Unmarshal([]byte(res.Stdout), &st); err != nil {
		t.Fatalf("status %q: %v", res.Stdout, err)
	}
	return st
}

// checkExport checks that out holds one line per case, in input order,
// with the case's answer, and that errs is empty.
func checkExport(t *testing.T, name string, cases []genCase, out, errs string, parse func(string) (id, answer string)) {
	t.Helper()
	if strings.TrimSpace(errs) != "" {
		t.Errorf("%s: failed items:\n%s", name, proctest.TailLines(errs, 10))
	}
	got := nonEmptyLines(out)
	if len(got) != len(cases) {
		t.Errorf("%s: %d output lines for %d input lines", name, len(got), len(cases))
	}
	wrong := 0
	for i := range min(len(got), len(cases)) {
		id, answer := parse(got[i])
		if id != cases[i].id || answer != cases[i].answer {
			if wrong++; wrong <= 5 {
				t.Errorf("%s line %d: id %q answer %q, want id %q answer %q", name, i+1, id, answer, cases[i].id, cases[i].answer)
			}
		}
	}
	if wrong > 0 {
		t.Errorf("%s: %d lines differ", name, wrong)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
