package e2e

import (
	"bufio"
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

// bulkOut is one line of a job's results or errors in the simple format.
type bulkOut struct {
	ID        string    `json:"id"`
	Embedding []float32 `json:"embedding"`
	Model     string    `json:"model"`
	Usage     struct {
		PromptTokens int `json:"prompt_tokens"`
	} `json:"usage"`
	Error *struct {
		Status  int    `json:"status"`
		Message string `json:"message"`
	} `json:"error"`
}

// jobID returns the job ID an enqueue run printed on stdout.
func jobID(t *testing.T, r proctest.Result) string {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("enqueue exit status %d\nstderr:\n%s", r.Code, proctest.TailLines(r.Stderr, 40))
	}
	ids := nonEmptyLines(r.Stdout)
	if len(ids) != 1 {
		t.Fatalf("enqueue printed %q, want one job ID", r.Stdout)
	}
	return ids[0]
}

// readFileJSONL decodes every line of the file into a T, streaming.
func readFileJSONL[T any](t *testing.T, path string, each func(n int, v T)) int {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 16<<20)
	n := 0
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s line %d %.80q: %v", path, n+1, sc.Text(), err)
		}
		each(n, v)
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBulkJob submits a 50,000-line job in which every 25th line repeats
// an earlier text, drains it, exports it and checks every vector bit for
// bit in input order; then submits it again, which enqueues nothing, and
// deletes it.
func TestBulkJob(t *testing.T) {
	t.Parallel()
	const (
		lineCount = 50_000
		dim       = 16
	)
	f := setup(t)
	s := f.startSimulator(t, false, "-dim", fmt.Sprint(dim))
	f.startWorker(t, "OPENAI_BASE_URL="+s.url+"/v1", "OLLAMA_HOST="+s.url, "WORKER_CONCURRENCY=16", "LOG_LEVEL=warn")

	docs := make([]embedLine, lineCount)
	unique := 0
	for i := range docs {
		docs[i] = embedLine{ID: fmt.Sprintf("doc-%05d", i), Text: fmt.Sprintf("document %d about the queue", i)}
		if i%25 == 24 {
			docs[i].Text = docs[i/2].Text
		} else {
			unique++
		}
	}
	in := f.writeJSONL(t, "docs.jsonl", lines(docs)...)
	res := f.enqueue(t, "embed", "--file", in)
	id := jobID(t, res)
	t.Logf("enqueue: %s", strings.TrimSpace(res.Stderr))
	if want := fmt.Sprintf("job %s: %d items (%d unique, %d duplicates)", id, lineCount, unique, lineCount-unique); !strings.Contains(res.Stderr, want) {
		t.Errorf("enqueue stderr lacks %q:\n%s", want, res.Stderr)
	}

	st := f.enqueue(t, "status", id, "--wait")
	if st.Code != 0 || !strings.Contains(st.Stdout, fmt.Sprintf("pending 0, active 0, done %d, failed 0", unique)) {
		t.Fatalf("status --wait: exit %d\nstdout:\n%s\nstderr:\n%s", st.Code, st.Stdout, proctest.TailLines(st.Stderr, 20))
	}
	t.Logf("status:\n%s", st.Stdout)

	out, errs := f.path("results.jsonl"), f.path("errors.jsonl")
	if r := f.enqueue(t, "results", id, "--out", out, "--errors", errs); r.Code != 0 {
		t.Fatalf("results: exit %d\n%s", r.Code, r.Stderr)
	}
	n := readFileJSONL(t, out, func(i int, g bulkOut) {
		if i >= lineCount || g.ID != docs[i].ID {
			t.Fatalf("result %d: id %q, want %q (input order)", i, g.ID, docs[min(i, lineCount-1)].ID)
		}
		if d := diffVector(g.Embedding, simulator.Vector(docs[i].Text, dim)); d != "" {
			t.Errorf("result %s: %s", g.ID, d)
		}
	})
	if n != lineCount {
		t.Errorf("%d results, want %d", n, lineCount)
	}
	if b, _ := os.ReadFile(errs); len(b) != 0 {
		t.Errorf("errors file: %.300s", b)
	}
	if sst := s.stats(t); sst.Inputs != int64(unique) {
		t.Errorf("simulator embedded %d texts, want %d: each unique text once", sst.Inputs, unique)
	}

	before := f.queueInfo(t, "embeddings").Size
	again := f.enqueue(t, "embed", "--file", in)
	if jobID(t, again) != id || !strings.Contains(again.Stderr, "nothing enqueued") {
		t.Errorf("second submission: stdout %q, stderr %q; want the same job, nothing enqueued", again.Stdout, again.Stderr)
	}
	if after := f.queueInfo(t, "embeddings").Size; after != before {
		t.Errorf("queue holds %d tasks after the second submission, %d before", after, before)
	}

	if r := f.enqueue(t, "results", id, "--out", f.path("again.jsonl"), "--delete"); r.Code != 0 || !strings.Contains(r.Stderr, "deleted") {
		t.Fatalf("results --delete: exit %d\n%s", r.Code, r.Stderr)
	}
	if q := f.queueInfo(t, "embeddings"); q.Size != 0 {
		t.Errorf("%d tasks left after --delete", q.Size)
	}
	if r := f.enqueue(t, "status", id); r.Code != 1 || !strings.Contains(r.Stderr, "no such job") {
		t.Errorf("status after delete: exit %d, stderr %q; want 1 and \"no such job\"", r.Code, r.Stderr)
	}
}

// TestBulkWorkerKilled kills the worker with SIGKILL halfway through a job
// and starts another: once asynq has reclaimed the dead worker's tasks,
// the job ends with exactly one result per item and its counts add up.
func TestBulkWorkerKilled(t *testing.T) {
	t.Parallel()
	const (
		lineCount = 2_000
		dim       = 8
	)
	f := setup(t)
	s := f.startSimulator(t, false, "-dim", fmt.Sprint(dim), "-latency", "100ms")
	vars := []string{"OPENAI_BASE_URL=" + s.url + "/v1", "OLLAMA_HOST=" + s.url, "WORKER_CONCURRENCY=4", "LOG_LEVEL=warn"}
	first := f.startWorker(t, vars...)

	docs := corpus("kill", lineCount)
	in := f.writeJSONL(t, "docs.jsonl", lines(docs)...)
	id := jobID(t, f.enqueue(t, "embed", "--file", in, "--batch-size", "10"))
	proctest.Eventually(t, 60*time.Second, 50*time.Millisecond, func() (bool, string) {
		r := f.enqueue(t, "status", id, "--json")
		var st struct{ Done, Active int }
		_ = json.Unmarshal([]byte(r.Stdout), &st)
		return st.Done >= lineCount/3 && st.Active > 0, fmt.Sprintf("status %s", r.Stdout)
	})
	first.Signal(t, syscall.SIGKILL)
	first.Wait(t, 10*time.Second)
	killed := time.Now()
	f.startWorker(t, vars...)

	// asynq reclaims a dead worker's tasks once their lease has been
	// expired for 30 s, checking every minute.
	r := proctest.Exec(t, 4*time.Minute, nil, bin["enqueue"], proctest.Environ("REDIS_URL="+f.redis.URL()), "status", id, "--wait")
	if r.Code != 0 {
		t.Fatalf("status --wait: exit %d\n%s", r.Code, proctest.TailLines(r.Stderr, 20))
	}
	t.Logf("finished %s after the kill:\n%s", time.Since(killed).Round(time.Second), r.Stdout)
	if want := fmt.Sprintf("pending 0, active 0, done %d, failed 0", lineCount); !strings.Contains(r.Stdout, want) {
		t.Errorf("status lacks %q", want)
	}
	out := f.path("results.jsonl")
	if r := f.enqueue(t, "results", id, "--out", out); r.Code != 0 {
		t.Fatalf("results: exit %d\n%s", r.Code, r.Stderr)
	}
	seen := map[string]int{}
	n := readFileJSONL(t, out, func(i int, g bulkOut) {
		seen[g.ID]++
		if i < lineCount && g.ID == docs[i].ID {
			if d := diffVector(g.Embedding, simulator.Vector(docs[i].Text, dim)); d != "" {
				t.Errorf("result %s: %s", g.ID, d)
			}
		} else {
			t.Errorf("result %d: id %q out of order", i, g.ID)
		}
	})
	if n != lineCount || len(seen) != lineCount {
		t.Errorf("%d results for %d distinct ids, want %d of each", n, len(seen), lineCount)
	}
	if sst := s.stats(t); sst.Inputs < lineCount {
		t.Errorf("simulator embedded %d texts, fewer than %d", sst.Inputs, lineCount)
	} else {
		t.Logf("simulator embedded %d texts for %d items: %d again after the kill", sst.Inputs, lineCount, sst.Inputs-lineCount)
	}
}

// TestBulkPoisonedInput puts one text the provider rejects into a batch of
// 100: the 99 others get their vectors, and the errors file names the bad
// one with the provider's reason.
func TestBulkPoisonedInput(t *testing.T) {
	t.Parallel()
	const dim = 8
	f := setup(t)
	s := f.startSimulator(t, false, "-dim", fmt.Sprint(dim))
	f.startWorker(t, "OPENAI_BASE_URL="+s.url+"/v1", "OLLAMA_HOST="+s.url, "WORKER_CONCURRENCY=2")
	docs := corpus("poison", 100)
	docs[37].Text += " sim:status=400"
	in := f.writeJSONL(t, "docs.jsonl", lines(docs)...)
	out, errs := f.path("results.jsonl"), f.path("errors.jsonl")
	r := f.enqueue(t, "embed", "--file", in, "--batch-size", "100", "--out", out, "--errors", errs)
	if r.Code != 1 || !strings.Contains(r.Stderr, "1 of 100 items failed") {
		t.Fatalf("exit %d, want 1 and \"1 of 100 items failed\"\n%s", r.Code, r.Stderr)
	}
	n := readFileJSONL(t, out, func(i int, g bulkOut) {
		want := docs[i]
		if i >= 37 {
			want = docs[i+1]
		}
		if g.ID != want.ID {
			t.Errorf("result %d: id %s, want %s", i, g.ID, want.ID)
		} else if d := diffVector(g.Embedding, simulator.Vector(want.Text, dim)); d != "" {
			t.Errorf("result %s: %s", g.ID, d)
		}
	})
	if n != 99 {
		t.Errorf("%d results, want 99", n)
	}
	var bad []bulkOut
	readFileJSONL(t, errs, func(_ int, g bulkOut) { bad = append(bad, g) })
	if len(bad) != 1 || bad[0].ID != docs[37].ID || bad[0].Error == nil || bad[0].Error.Status != 400 || !strings.Contains(bad[0].Error.Message, "HTTP 400") {
		t.Errorf("errors %+v, want one line for %s with the provider's 400", bad, docs[37].ID)
	}
	st := s.stats(t)
	t.Logf("%d embedding requests to isolate 1 bad text among 100", st.ByPath["/v1/embeddings"])
}

// batchRequest is one OpenAI Batch API input line.
type batchRequest struct {
	CustomID string         `json:"custom_id"`
	Method   string         `json:"method"`
	URL      string         `json:"url"`
	Body     map[string]any `json:"body"`
}

// batchOutput is one OpenAI Batch API output line.
type batchOutput struct {
	ID       string `json:"id"`
	CustomID string `json:"custom_id"`
	Response *struct {
		StatusCode int `json:"status_code"`
		Body       struct {
			Data []struct {
				Index     int       `json:"index"`
				Embedding []float32 `json:"embedding"`
			} `json:"data"`
			Model string `json:"model"`
			Usage struct {
				PromptTokens int `json:"prompt_tokens"`
			} `json:"usage"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		} `json:"body"`
	} `json:"response"`
	Error any `json:"error"`
}

// TestBulkBatchFormat round-trips an OpenAI Batch API file: output lines
// carry the requests' custom_ids with their vectors, an input array gets
// one vector per text, a poisoned request lands in the errors file in the
// Batch API's error shape, and a line for another endpoint is reported
// with its line number. With --strict, the same file enqueues nothing.
func TestBulkBatchFormat(t *testing.T) {
	t.Parallel()
	const (
		model = "text-embedding-3-small"
		dim   = 12
		count = 300
	)
	f := setup(t)
	s := f.startSimulator(t, false, "-dim", "64")
	f.startWorker(t, "OPENAI_BASE_URL="+s.url+"/v1", "OLLAMA_HOST="+s.url, "WORKER_CONCURRENCY=4")

	var reqs []batchRequest
	inputs := map[string][]string{}
	for i := range count {
		id := fmt.Sprintf("request-%d", i)
		var input any = fmt.Sprintf("batch text %d", i)
		texts := []string{input.(string)}
		switch {
		case i%50 == 7:
			texts = []string{fmt.Sprintf("first of %d", i), fmt.Sprintf("second of %d", i)}
			input = texts
		case i == 101:
			texts[0] += " sim:status=400"
			input = texts[0]
		}
		inputs[id] = texts
		reqs = append(reqs, batchRequest{CustomID: id, Method: "POST", URL: "/v1/embeddings",
			Body: map[string]any{"model": model, "input": input, "dimensions": dim}})
	}
	wrong := batchRequest{CustomID: "chat-1", Method: "POST", URL: "/v1/chat/completions", Body: map[string]any{"model": model}}
	all := append(lines(reqs[:150]), wrong)
	all = append(all, lines(reqs[150:])...)
	in := f.writeJSONL(t, "batch.jsonl", all...)

	strict := f.enqueue(t, "embed", "--file", in, "--strict")
	if strict.Code != 1 || !strings.Contains(strict.Stderr, "batch.jsonl:151: unsupported url \"/v1/chat/completions\"") ||
		!strings.Contains(strict.Stderr, "nothing enqueued") {
		t.Errorf("--strict: exit %d, stderr:\n%s\nwant 1, line 151 reported and nothing enqueued", strict.Code, strict.Stderr)
	}
	if q, err := f.inspector.Queues(); err != nil || len(q) != 0 {
		t.Errorf("--strict created queues %v (%v): something was enqueued", q, err)
	}

	out, errs := f.path("output.jsonl"), f.path("errors.jsonl")
	r := f.enqueue(t, "embed", "--file", in, "--out", out, "--errors", errs)
	if r.Code != 1 || !strings.Contains(r.Stderr, "batch.jsonl:151: unsupported url") {
		t.Fatalf("exit %d, want 1 (one request failed) and line 151 reported\n%s", r.Code, r.Stderr)
	}
	next := 0
	n := readFileJSONL(t, out, func(i int, o batchOutput) {
		if next == 101 {
			next++
		}
		want := reqs[next]
		next++
		if o.CustomID != want.CustomID || o.Response == nil || o.Response.StatusCode != 200 || o.Error != nil || !strings.HasPrefix(o.ID, "batch_req_") {
			t.Fatalf("output %d: %+v, want custom_id %s answered 200", i, o, want.CustomID)
		}
		texts := inputs[want.CustomID]
		if len(o.Response.Body.Data) != len(texts) || o.Response.Body.Model != model {
			t.Fatalf("output %s: %d vectors of model %q, want %d of %q", o.CustomID, len(o.Response.Body.Data), o.Response.Body.Model, len(texts), model)
		}
		for k, d := range o.Response.Body.Data {
			if d.Index != k {
				t.Errorf("output %s: data[%d] has index %d", o.CustomID, k, d.Index)
			}
			if diff := diffVector(d.Embedding, simulator.Vector(texts[k], dim)); diff != "" {
				t.Errorf("output %s[%d]: %s", o.CustomID, k, diff)
			}
		}
	})
	if n != count-1 {
		t.Errorf("%d output lines, want %d", n, count-1)
	}
	var bad []batchOutput
	readFileJSONL(t, errs, func(_ int, o batchOutput) { bad = append(bad, o) })
	if len(bad) != 1 || bad[0].CustomID != "request-101" || bad[0].Response == nil || bad[0].Response.StatusCode != 400 ||
		bad[0].Response.Body.Error == nil || !strings.Contains(bad[0].Response.Body.Error.Message, "HTTP 400") {
		t.Errorf("errors file %+v, want request-101 answered 400 with the provider's error", bad)
	}
}
