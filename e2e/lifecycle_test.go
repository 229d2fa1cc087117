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
	"github.com/llmq/llmq/simulator"
)

// TestJobRetryAfterBadKey runs a job on a worker with a wrong API key, so
// that every batch fails (401, archived at once), restarts the worker
// with the right key and retries the job: every item then has exactly one
// result, the right vector, and none is left in the errors export. Along
// the way it checks enqueue jobs, status --json and a retry with nothing
// left to do.
func TestJobRetryAfterBadKey(t *testing.T) {
	t.Parallel()
	const (
		lineCount = 300
		dim       = 8
		key       = "sk-right"
	)
	f := setup(t)
	s := f.startSimulator(t, false, "-dim", fmt.Sprint(dim), "-api-key", key)
	vars := func(k string) []string {
		return []string{"OPENAI_BASE_URL=" + s.url + "/v1", "OPENAI_API_KEY=" + k, "WORKER_CONCURRENCY=4", "LOG_LEVEL=warn"}
	}
	bad := f.startWorker(t, vars("sk-wrong")...)

	docs := corpus("retry", lineCount)
	in := f.writeJSONL(t, "docs.jsonl", lines(docs)...)
	id := jobID(t, f.enqueue(t, "embed", "--file", in, "--batch-size", "32"))
	transcript := []string{"$ enqueue embed --file docs.jsonl --batch-size 32", id}

	st := f.enqueue(t, "status", id, "--wait")
	if !strings.Contains(st.Stdout, fmt.Sprintf("done 0, failed %d", lineCount)) {
		t.Fatalf("status after the bad key: exit %d\n%s\n%s", st.Code, st.Stdout, st.Stderr)
	}
	transcript = append(transcript, "$ enqueue status "+id+" --wait", strings.TrimSpace(st.Stdout))
	errs := f.path("errors.jsonl")
	r := f.enqueue(t, "results", id, "--out", f.path("none.jsonl"), "--errors", errs)
	if b, _ := os.ReadFile(errs); r.Code != 0 || strings.Count(string(b), "\n") != lineCount || !strings.Contains(string(b), "HTTP 401") {
		t.Fatalf("errors export after the bad key: exit %d, %.300s\n%s", r.Code, b, r.Stderr)
	}
	transcript = append(transcript, "$ head -1 errors.jsonl", firstLine(t, errs))

	jobs := f.enqueue(t, "jobs", "--json")
	var list []map[string]any
	if err := json.Unmarshal([]byte(jobs.Stdout), &list); err != nil || len(list) != 1 || list[0]["id"] != id || list[0]["state"] != "failed" {
		t.Errorf("jobs --json: %v, %s; want the failed job", err, jobs.Stdout)
	}
	table := f.enqueue(t, "jobs")
	transcript = append(transcript, "$ enqueue jobs", strings.TrimRight(table.Stdout, "\n"))

	bad.Signal(t, syscall.SIGTERM)
	bad.Wait(t, 30*time.Second)
	f.startWorker(t, vars(key)...)
	transcript = append(transcript, "# worker restarted with OPENAI_API_KEY set right")

	rt := f.enqueue(t, "retry", id, "--wait")
	if rt.Code != 0 || !strings.Contains(rt.Stderr, fmt.Sprintf("%d failed item(s) sent again in 10 task(s) (10 failed as a whole, 0 in part)", lineCount)) {
		t.Fatalf("retry: exit %d\n%s", rt.Code, rt.Stderr)
	}
	transcript = append(transcript, "$ enqueue retry "+id+" --wait", strings.TrimSpace(lastLines(rt.Stderr, 3)))

	var js map[string]any
	sj := f.enqueue(t, "status", id, "--json")
	if err := json.Unmarshal([]byte(sj.Stdout), &js); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "state", "total", "pending", "done", "failed", "finished", "rate", "age_s", "created_ms"} {
		if _, ok := js[k]; !ok {
			t.Errorf("status --json lacks %q: %s", k, sj.Stdout)
		}
	}
	for k := range js {
		if k != strings.ToLower(k) {
			t.Errorf("status --json key %q is not snake_case", k)
		}
	}
	if js["state"] != "done" || js["done"] != float64(lineCount) || js["failed"] != float64(0) {
		t.Errorf("status --json after the retry: %s", sj.Stdout)
	}

	out := f.path("results.jsonl")
	r = f.enqueue(t, "results", id, "--out", out, "--errors", errs)
	if r.Code != 0 {
		t.Fatalf("results: exit %d\n%s", r.Code, r.Stderr)
	}
	transcript = append(transcript, "$ enqueue results "+id+" --out results.jsonl --errors errors.jsonl", strings.TrimSpace(r.Stderr))
	seen := map[string]int{}
	n := readFileJSONL(t, out, func(i int, g bulkOut) {
		seen[g.ID]++
		if i >= lineCount || g.ID != docs[i].ID {
			t.Fatalf("result %d: id %q, want input order", i, g.ID)
		}
		if d := diffVector(g.Embedding, simulator.Vector(docs[i].Text, dim)); d != "" {
			t.Errorf("result %s: %s", g.ID, d)
		}
	})
	if n != lineCount || len(seen) != lineCount {
		t.Errorf("%d results for %d ids, want %d, one each", n, len(seen), lineCount)
	}
	if b, _ := os.ReadFile(errs); len(b) != 0 {
		t.Errorf("errors after the retry: %.300s", b)
	}
	again := f.enqueue(t, "retry", id)
	if again.Code != 0 || !strings.Contains(again.Stderr, "no failed items") {
		t.Errorf("second retry: exit %d, %s", again.Code, again.Stderr)
	}
	t.Logf("transcript:\n%s", strings.Join(transcript, "\n"))
}

// TestSingleTaskResubmitted sends a text to a worker with a wrong key,
// then the same text again once the worker has the right one: the second
// run replaces the archived task and returns the vector, not the old 401.
func TestSingleTaskResubmitted(t *testing.T) {
	t.Parallel()
	const key = "sk-right"
	f := setup(t)
	s := f.startSimulator(t, false, "-dim", "8", "-api-key", key)
	vars := func(k string) []string {
		return []string{"OPENAI_BASE_URL=" + s.url + "/v1", "OPENAI_API_KEY=" + k, "LOG_LEVEL=warn"}
	}
	bad := f.startWorker(t, vars("sk-wrong")...)
	first := f.enqueue(t, "embed", "--text", "resubmitted text", "--wait")
	if first.Code != 1 || !strings.Contains(first.Stderr, "401") {
		t.Fatalf("first run: exit %d\n%s", first.Code, first.Stderr)
	}
	bad.Signal(t, syscall.SIGTERM)
	bad.Wait(t, 30*time.Second)
	f.startWorker(t, vars(key)...)
	second := f.enqueue(t, "embed", "--text", "resubmitted text", "--wait")
	if second.Code != 0 || !strings.Contains(second.Stderr, "1 failed task(s) replaced") {
		t.Fatalf("second run: exit %d\n%s", second.Code, second.Stderr)
	}
	var got embedOutLine
	if err := json.Unmarshal([]byte(second.Stdout), &got); err != nil || diffVector(got.Embedding, simulator.Vector("resubmitted text", 8)) != "" {
		t.Errorf("second run's result %q, %v; want the text's vector", second.Stdout, err)
	}
}

type embedOutLine struct {
	ID        string    `json:"id"`
	Embedding []float32 `json:"embedding"`
}

// TestEnqueueInputErrors checks an empty input (exit 1, no items) and a
// line that is not UTF-8 (reported as FILE:LINE, skipped).
func TestEnqueueInputErrors(t *testing.T) {
	t.Parallel()
	f := setup(t)
	empty := f.path("empty.jsonl")
	if err := os.WriteFile(empty, []byte("\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := f.enqueue(t, "embed", "--file", empty); r.Code != 1 || !strings.Contains(r.Stderr, "no items") || r.Stdout != "" {
		t.Errorf("empty input: exit %d, stdout %q, stderr %q; want 1 and no items", r.Code, r.Stdout, r.Stderr)
	}
	bad := f.path("latin1.jsonl")
	if err := os.WriteFile(bad, []byte("{\"id\": \"a\", \"text\": \"fine\"}\n{\"id\": \"b\", \"text\": \"caf\xe9\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := f.enqueue(t, "embed", "--file", bad)
	if r.Code != 0 || !strings.Contains(r.Stderr, bad+":2: not valid UTF-8") || !strings.Contains(r.Stderr, "1 items") {
		t.Errorf("invalid UTF-8: exit %d, stderr %q; want line 2 reported and 1 item", r.Code, r.Stderr)
	}
	gen := f.path("gen.jsonl")
	if err := os.WriteFile(gen, []byte("{\"id\": \"q\", \"prompt\": \"caf\xe9\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := f.enqueue(t, "generate", "--file", gen); r.Code != 1 || !strings.Contains(r.Stderr, gen+":1: not valid UTF-8") || !strings.Contains(r.Stderr, "no items") {
		t.Errorf("generate, invalid UTF-8 only: exit %d, stderr %q; want line 1 reported, then no items", r.Code, r.Stderr)
	}
}

// TestWaitInterrupted sends SIGINT to enqueue while it waits for a job
// (no worker runs it): exit 130, with how to follow the job.
func TestWaitInterrupted(t *testing.T) {
	t.Parallel()
	f := setup(t)
	in := f.writeJSONL(t, "docs.jsonl", lines(corpus("sigint", 10))...)
	p := proctest.Start(t, bin["enqueue"], proctest.Environ("REDIS_URL="+f.redis.URL()), "embed", "--file", in, "--wait")
	proctest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() (bool, string) {
		return strings.Contains(p.Stderr.String(), "10 items"), "enqueue has not submitted: " + p.Stderr.String()
	})
	p.Signal(t, syscall.SIGINT)
	if code := p.Wait(t, 10*time.Second); code != 130 {
		t.Errorf("exit %d after SIGINT, want 130\n%s", code, p.Stderr.String())
	}
	// With --wait the results go to stdout: the job ID is in the report.
	id, _, _ := strings.Cut(strings.TrimPrefix(p.Stderr.String()[strings.Index(p.Stderr.String(), "job "):], "job "), ":")
	if want := "enqueue status " + id + " --wait"; id == "" || !strings.Contains(p.Stderr.String(), want) {
		t.Errorf("stderr %q; want the hint %q", p.Stderr.String(), want)
	}
	if st := f.enqueue(t, "status", id, "--json"); !strings.Contains(st.Stdout, `"state":"queued"`) {
		t.Errorf("job after the interrupt: %s; want it still queued", st.Stdout)
	}
}

func firstLine(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l, _, _ := strings.Cut(string(b), "\n")
	return l
}

func lastLines(s string, n int) string {
	ls := nonEmptyLines(s)
	return strings.Join(ls[max(len(ls)-n, 0):], "\n")
}
