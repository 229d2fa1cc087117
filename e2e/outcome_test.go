package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/simulator"
	"github.com/llmq/llmq/tasks"
)

// TestWaitReportsArchivedTask has the provider reject one of two texts:
// enqueue --wait prints the other's result, names the failed task and its
// reason, and exits 1.
func TestWaitReportsArchivedTask(t *testing.T) {
	t.Parallel()
	f := setup(t)
	s := f.startSimulator(t, false, "-dim", "16")
	f.startWorker(t, "OPENAI_BASE_URL="+s.url+"/v1", "OLLAMA_HOST="+s.url, "WORKER_CONCURRENCY=2")

	const good, bad = "a text the provider takes", "a text the provider refuses sim:status=400"
	res := f.enqueue(t, "embed", "--text", good, "--text", bad, "--batch-size", "1", "--dimensions", "16", "--wait")
	if res.Code != 1 {
		t.Fatalf("exit status %d, want 1\nstdout:\n%s\nstderr:\n%s", res.Code, res.Stdout, res.Stderr)
	}
	got := readJSONL[embedOut](t, res.Stdout)
	if len(got) != 1 || got[0].ID != "1" {
		t.Fatalf("results %+v, want the first text's alone", got)
	}
	if d := diffVector(got[0].Embedding, simulator.Vector(good, 16)); d != "" {
		t.Errorf("first text: %s", d)
	}
	for _, want := range []string{"failed (items [2])", "HTTP 400", "1 of 2 task(s) failed"} {
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr does not contain %q:\n%s", want, res.Stderr)
		}
	}

	archived, err := f.inspector.ListArchivedTasks(tasks.QueueEmbeddings)
	if err != nil {
		t.Fatal(err)
	}
	if len(archived) != 1 || archived[0].Retried != 0 {
		t.Fatalf("archived tasks %+v, want one, never retried", archived)
	}
	if st := s.stats(t); st.ByPath["/v1/embeddings"] != 2 {
		t.Errorf("simulator saw %d embedding requests, want 2: a 400 is not retried", st.ByPath["/v1/embeddings"])
	}
}

// TestTransientFaultsAreRetried runs 40 one-text tasks against a simulator
// that fails 30% of requests at random: every task still completes with the
// right vector, each failed request sent again. Neither rate limits nor
// server errors use up a task's retries: both are the provider's, and the
// task is deferred (within DEFERRAL_PATIENCE).
func TestTransientFaultsAreRetried(t *testing.T) {
	t.Parallel()
	const textCount, dim = 40, 8
	// faultSeed fixes which requests fail. With it, after the worker's two
	// warm-up requests, 10 of the 40 first attempts fail and the 20
	// requests after them succeed, so each failed task is run again once.
	// Any seed passes; an unlucky one chains failures of one task, each
	// costing a backoff plus up to 5 s until asynq moves retries back to
	// their queue, and the test takes a minute instead of seconds.
	const faultSeed = "2470"
	tests := []struct {
		name    string
		simArgs []string
		status  string // the status of the injected failures
	}{
		{"rate limited", []string{"-rate-limit-rate", "0.3", "-retry-after", "200ms"}, "429"},
		{"server errors", []string{"-error-rate", "0.3"}, "500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			s := f.startSimulator(t, false, append([]string{"-dim", fmt.Sprint(dim), "-seed", faultSeed}, tt.simArgs...)...)
			f.startWorker(t, "OPENAI_BASE_URL="+s.url+"/v1", "OLLAMA_HOST="+s.url, "WORKER_CONCURRENCY=8")

			docs := corpus("flaky", textCount)
			in := f.writeJSONL(t, "docs.jsonl", lines(docs)...)
			res := f.enqueue(t, "embed", "--file", in, "--batch-size", "1", "--wait")
			if res.Code != 0 {
				t.Fatalf("exit status %d, want 0\nstderr:\n%s", res.Code, res.Stderr)
			}
			got := readJSONL[embedOut](t, res.Stdout)
			if len(got) != textCount {
				t.Fatalf("%d results, want %d", len(got), textCount)
			}
			for i, g := range got {
				if g.ID != docs[i].ID {
					t.Errorf("result %d: id %s, want %s", i, g.ID, docs[i].ID)
				} else if d := diffVector(g.Embedding, simulator.Vector(docs[i].Text, dim)); d != "" {
					t.Errorf("result %s: %s", g.ID, d)
				}
			}

			completed, err := f.inspector.ListCompletedTasks(tasks.QueueEmbeddings, asynq.PageSize(2*textCount))
			if err != nil {
				t.Fatal(err)
			}
			retried := 0
			for _, c := range completed {
				retried += c.Retried
			}
			st := s.stats(t)
			extra := st.ByPath["/v1/embeddings"] - textCount
			t.Logf("%d completed tasks; simulator answered %d embedding requests, %d of all requests with %s; retries used: %d",
				len(completed), st.ByPath["/v1/embeddings"], st.ByStatus[tt.status], tt.status, retried)
			switch {
			case len(completed) != textCount:
				t.Errorf("%d completed tasks, want %d", len(completed), textCount)
			case extra <= 0 || st.ByStatus[tt.status] == 0:
				t.Errorf("simulator answered %d embedding requests, none failed with %s: nothing was retried", st.ByPath["/v1/embeddings"], tt.status)
			case retried != 0:
				t.Errorf("%d answers %s used %d retries, want none: they are deferred", extra, tt.status, retried)
			}
		})
	}
}

// TestPermanentFailuresAreArchived enqueues tasks that can never succeed
// straight into the embeddings queue: each is archived on its first run
// with a readable reason.
func TestPermanentFailuresAreArchived(t *testing.T) {
	t.Parallel()
	f := setup(t)
	s := f.startSimulator(t, false, "-dim", "8")
	f.startWorker(t, "OPENAI_BASE_URL="+s.url+"/v1", "OLLAMA_HOST="+s.url, "WORKER_CONCURRENCY=4")
	client := f.client(t)

	rejected, err := tasks.NewEmbedTask(tasks.EmbedPayload{Texts: []string{"refused sim:status=422"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		task *asynq.Task
		want []string // in LastErr
	}{
		{"unknown task type", asynq.NewTask("report:send", []byte(`{}`)), []string{"unknown task type", `"report:send"`}},
		{"malformed payload", asynq.NewTask(tasks.TypeEmbed, []byte(`{"texts": "x"`)), []string{"invalid payload", "not JSON"}},
		{"payload of the wrong shape", asynq.NewTask(tasks.TypeEmbed, []byte(`{"texts": "x"}`)), []string{"invalid payload", `field "texts"`}},
		{"no texts", asynq.NewTask(tasks.TypeEmbed, []byte(`{"texts": []}`)), []string{"invalid payload", "no texts"}},
		{"provider refuses", rejected, []string{"HTTP 422"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := client.Enqueue(tt.task, asynq.Queue(tasks.QueueEmbeddings), asynq.MaxRetry(5))
			if err != nil {
				t.Fatal(err)
			}
			info = f.waitTaskState(t, info.Queue, info.ID, asynq.TaskStateArchived, 20*time.Second)
			if info.Retried != 0 {
				t.Errorf("retried %d times before it was archived, want 0", info.Retried)
			}
			for _, want := range tt.want {
				if !strings.Contains(info.LastErr, want) {
					t.Errorf("last error %q does not contain %q", info.LastErr, want)
				}
			}
			t.Logf("last error: %s", info.LastErr)
		})
	}
}
