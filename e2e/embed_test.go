package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/llmq/llmq/internal/proctest"
	"github.com/llmq/llmq/simulator"
)

// TestEmbedFile embeds a 600-line file through a TLS simulator and checks
// every vector bit for bit, and that the worker's tasks shared a handful of
// connections.
func TestEmbedFile(t *testing.T) {
	t.Parallel()
	const (
		lineCount   = 600
		dim         = 64
		batchSize   = 8 // 75 tasks, more than the worker runs at once
		concurrency = 16
		model       = "e2e-embedding-model"
	)
	f := setup(t)
	s := f.startSimulator(t, true, "-dim", fmt.Sprint(dim), "-latency", "5ms")
	w := f.startWorker(t,
		"OPENAI_BASE_URL="+s.url+"/v1",
		"OPENAI_API_KEY=sk-e2e-test",
		"OPENAI_EMBEDDING_MODEL="+model,
		// Nothing listens there: every connection the simulator counts is
		// the OpenAI client's.
		"OLLAMA_HOST=http://"+proctest.FreeAddr(t),
		fmt.Sprintf("WORKER_CONCURRENCY=%d", concurrency),
		"SSL_CERT_FILE="+s.certFile,
	)

	docs := corpus("doc", lineCount)
	in := f.writeJSONL(t, "docs.jsonl", lines(docs)...)
	out := f.path("results.jsonl")
	res := f.enqueue(t, "embed", "--file", in, "--batch-size", fmt.Sprint(batchSize), "--wait", "--out", out)
	if res.Code != 0 {
		t.Fatalf("enqueue exit status %d, want 0\nstderr:\n%s", res.Code, res.Stderr)
	}
	taskCount := (lineCount + batchSize - 1) / batchSize
	if want := fmt.Sprintf(": %d items (%d unique, 0 duplicates), %d tasks (%d new, 0 already queued)", lineCount, lineCount, taskCount, taskCount); !strings.Contains(res.Stderr, want) {
		t.Errorf("enqueue stderr %q, want it to contain %q", res.Stderr, want)
	}
	if ids := nonEmptyLines(res.Stdout); len(ids) != 1 || !strings.Contains(res.Stderr, "job "+ids[0]+": ") {
		t.Errorf("enqueue --out wrote %.200q to stdout, want the job ID alone", res.Stdout)
	}

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := readJSONL[embedOut](t, string(b))
	if len(got) != lineCount {
		t.Fatalf("%d results, want %d", len(got), lineCount)
	}
	seen := make(map[string]bool, len(got))
	for i, g := range got {
		if seen[g.ID] {
			t.Errorf("line %d: id %s seen twice", i+1, g.ID)
		}
		seen[g.ID] = true
		if g.ID != docs[i].ID {
			t.Errorf("line %d: id %s, want %s (input order)", i+1, g.ID, docs[i].ID)
			continue
		}
		if g.Model != model {
			t.Errorf("line %d: model %q, want %q", i+1, g.Model, model)
		}
		if d := diffVector(g.Embedding, simulator.Vector(docs[i].Text, dim)); d != "" {
			t.Errorf("line %d (%s): %s", i+1, g.ID, d)
		}
	}

	st := s.stats(t)
	pool := w.stats(t)["openai"]
	t.Logf("simulator: %d connection(s) from the worker, %d requests (%d embeddings), %d inputs; worker openai pool: %d opened, %d open, %d requests",
		st.Connections, st.Requests, st.ByPath["/v1/embeddings"], st.Inputs, pool.ConnsOpened, pool.ConnsOpen, pool.Requests)
	if st.Inputs != lineCount {
		t.Errorf("simulator embedded %d inputs, want %d", st.Inputs, lineCount)
	}
	if st.Requests < int64(taskCount) || st.ByPath["/v1/embeddings"] != int64(taskCount) {
		t.Errorf("simulator saw %d requests, %d of them embeddings; want %d embeddings, one per task",
			st.Requests, st.ByPath["/v1/embeddings"], taskCount)
	}
	if st.Connections < 1 || st.Connections > concurrency {
		t.Errorf("simulator accepted %d connections from the worker, want 1 to %d (the worker's concurrency)", st.Connections, concurrency)
	}
	if pool.ConnsOpened != st.Connections {
		t.Errorf("worker says it opened %d connections, simulator accepted %d", pool.ConnsOpened, st.Connections)
	}
	if pool.Requests != st.Requests {
		t.Errorf("worker says it sent %d requests, simulator received %d", pool.Requests, st.Requests)
	}
}

// TestReenqueueIsIdempotent enqueues the same file twice and checks that
// the second run finds the job submitted and the work is done once.
func TestReenqueueIsIdempotent(t *testing.T) {
	t.Parallel()
	const lineCount, batchSize = 50, 10
	const taskCount = lineCount / batchSize
	tests := []struct {
		name string
		// workerFirst runs the worker before the first enqueue, so that the
		// second one meets completed tasks rather than pending ones.
		workerFirst bool
	}{
		{"while pending", false},
		{"after completion", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			s := f.startSimulator(t, false, "-dim", "8")
			startWorker := func() {
				f.startWorker(t, "OPENAI_BASE_URL="+s.url+"/v1", "OLLAMA_HOST="+s.url, "WORKER_CONCURRENCY=4")
			}
			docs := corpus("again", lineCount)
			in := f.writeJSONL(t, "docs.jsonl", lines(docs)...)
			args := []string{"embed", "--file", in, "--batch-size", fmt.Sprint(batchSize), "--dimensions", "8"}
			if tt.workerFirst {
				startWorker()
				args = append(args, "--wait")
			}

			first := f.enqueue(t, args...)
			second := f.enqueue(t, args...)
			for i, r := range []proctest.Result{first, second} {
				if r.Code != 0 {
					t.Fatalf("run %d: exit status %d\nstderr:\n%s", i+1, r.Code, r.Stderr)
				}
			}
			if want := fmt.Sprintf("%d tasks (%d new, 0 already queued)", taskCount, taskCount); !strings.Contains(first.Stderr, want) {
				t.Errorf("first run stderr %q, want %q", first.Stderr, want)
			}
			if want := fmt.Sprintf("was submitted before (%d items in %d tasks): nothing enqueued", lineCount, taskCount); !strings.Contains(second.Stderr, want) {
				t.Errorf("second run stderr %q, want %q", second.Stderr, want)
			}
			// Both runs print the same job ID, or the same results.
			if first.Stdout != second.Stdout {
				t.Errorf("runs printed different output:\nfirst:\n%.300s\nsecond:\n%.300s", first.Stdout, second.Stdout)
			}
			if !tt.workerFirst {
				if ids := nonEmptyLines(first.Stdout); len(ids) != 1 {
					t.Errorf("first run printed %q, want one job ID", first.Stdout)
				}
				startWorker()
				proctest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
					q := f.queueInfo(t, "embeddings")
					return q.Completed == taskCount, fmt.Sprintf("%d of %d tasks completed", q.Completed, taskCount)
				})
			} else if n := len(readJSONL[embedOut](t, second.Stdout)); n != lineCount {
				t.Errorf("second run printed %d results, want %d", n, lineCount)
			}

			if q := f.queueInfo(t, "embeddings"); q.Completed != taskCount || q.Size != q.Completed {
				t.Errorf("queue: %d completed, %d tasks in all; want %d, all completed", q.Completed, q.Size, taskCount)
			}
			st := s.stats(t)
			if st.Inputs != lineCount || st.ByPath["/v1/embeddings"] != taskCount {
				t.Errorf("simulator embedded %d inputs in %d requests, want %d in %d: the work was not done exactly once",
					st.Inputs, st.ByPath["/v1/embeddings"], lineCount, taskCount)
			}
		})
	}
}
