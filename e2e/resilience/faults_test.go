package resilience

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/internal/proctest"
	"github.com/llmq/llmq/tasks"
)

// TestPermanent429: a provider that answers one task 429 for good. The
// task is deferred without using a retry until DEFERRAL_PATIENCE (2 s
// here) has passed; then each deferral uses a retry, and with its 2
// retries used the task is archived, its error naming the bound and the
// 429. The worker stays well and runs other tasks meanwhile.
func TestPermanent429(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.startWorker(t, "worker", "WORKER_CONCURRENCY=2", "DEFERRAL_PATIENCE=2s")
	task, err := tasks.NewEmbedTask(tasks.EmbedPayload{Texts: []string{"limited for good sim:status=429 sim:retry_after=500ms"}}, asynq.MaxRetry(2))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	info, err := f.client.Enqueue(task)
	if err != nil {
		t.Fatal(err)
	}
	ok := f.enqueue(t, 5, "beside the limited task")
	var ti *asynq.TaskInfo
	proctest.Eventually(t, 30*time.Second, 100*time.Millisecond, func() (bool, string) {
		ti, err = f.inspector.GetTaskInfo(tasks.QueueEmbeddings, info.ID)
		if err != nil {
			return false, err.Error()
		}
		return ti.State == asynq.TaskStateArchived, fmt.Sprintf("task %v, retried %d: %s", ti.State, ti.Retried, ti.LastErr)
	})
	took := time.Since(start)
	if ti.Retried != 2 || !strings.Contains(ti.LastErr, "deferred without pause since") || !strings.Contains(ti.LastErr, "longer than 2s") || !strings.Contains(ti.LastErr, "HTTP 429") && !strings.Contains(ti.LastErr, "rate limit spent") {
		t.Errorf("archived task: retried %d, last error %q; want 2 retries and the patience bound with the 429", ti.Retried, ti.LastErr)
	}
	limited := 0
	for _, e := range f.embedEvents(t) {
		if e.Status == 429 {
			limited++
		}
	}
	if max := int(took/(500*time.Millisecond)) + 1; limited > max {
		t.Errorf("provider answered %d 429s in %s, more than one per Retry-After (%d)", limited, took, max)
	}
	for _, id := range ok {
		if ti, err := f.inspector.GetTaskInfo(tasks.QueueEmbeddings, id); err != nil || ti.State != asynq.TaskStateCompleted {
			t.Errorf("task beside it: %+v, %v", ti, err)
		}
	}
	t.Logf("permanent 429: archived after %s with %d retries, %d requests answered 429: %s", took.Round(100*time.Millisecond), ti.Retried, limited, ti.LastErr)
	_ = w
}

// TestHungProvider: a provider that accepts requests and never answers.
// With OPENAI_TIMEOUT=2s the worker frees each slot at 2 s (its in-flight
// count drops to 0); the timed-out request is the provider's failure, so
// the task is deferred without using a retry, and the deferral's warning
// (and the task's last error) says the request timeout fired; once the
// provider answers again the tasks complete.
func TestHungProvider(t *testing.T) {
	t.Parallel()
	f := setup(t)
	// A fixed in-flight limit of 2, so that both tasks hang at once.
	w := f.startWorker(t, "worker", "WORKER_CONCURRENCY=2", "PROVIDER_MIN_INFLIGHT=2", "OPENAI_TIMEOUT=2s")
	warm := f.enqueue(t, 4, "warm-hang")
	f.waitCompleted(t, len(warm), 20*time.Second)
	base := w.resources(t)

	f.outage(t, "hang", 6*time.Second)
	ids := append(warm, f.enqueue(t, 2, "hung")...)
	var sent time.Time
	proctest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() (bool, string) {
		n := w.stats(t).Guard.Concurrency.InFlight
		sent = time.Now()
		return n == 2, fmt.Sprintf("%d calls in flight", n)
	})
	proctest.Eventually(t, 5*time.Second, 20*time.Millisecond, func() (bool, string) {
		n := w.stats(t).Guard.Concurrency.InFlight
		return n == 0, fmt.Sprintf("%d calls in flight", n)
	})
	freed := time.Since(sent)
	if freed < 1500*time.Millisecond || freed > 3500*time.Millisecond {
		t.Errorf("slots freed %s after the calls were sent, want about the 2s request timeout", freed)
	}
	f.waitCompleted(t, len(ids), 30*time.Second)
	stderr := w.proc.Stderr.String()
	var timedOut []string
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, `msg="task deferred"`) && strings.Contains(line, "provider failed") && strings.Contains(line, "request timeout fired") {
			timedOut = append(timedOut, line)
		}
	}
	if len(timedOut) < 2 {
		t.Errorf("%d deferrals say the request timeout fired, want one per hung task at least:\n%s", len(timedOut), proctest.TailLines(stderr, 20))
	}
	if strings.Contains(stderr, "task timeout fired") {
		t.Errorf("an error blames the task's timeout:\n%s", proctest.TailLines(stderr, 20))
	}
	if n := f.retried(t, ids); n != 0 {
		t.Errorf("%d tasks used a retry, want 0: a request timeout is deferred", n)
	}
	t.Logf("hung provider: slots freed %s after sending, at the 2s request timeout; %d timed-out requests deferred, no retry used; all tasks completed after it answered again", freed.Round(10*time.Millisecond), len(timedOut))
	if len(timedOut) > 0 {
		t.Logf("first: %s", timedOut[0])
	}
	w.checkBaseline(t, base)
}

// ready returns /readyz's status, or 0 if it does not answer.
func (w *worker) ready() int {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + w.addr + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRedisRestart: Redis (AOF on) stops for 10 s while a worker runs a
// job, and starts again on the same port. /readyz answers 503, then 200;
// every task completes once with its result, none uses a retry, and the
// job completes soon after Redis is back.
func TestRedisRestart(t *testing.T) {
	t.Parallel()
	const n = 200
	f := setup(t, "-latency", "200ms")
	w := f.startWorker(t, "worker", "WORKER_CONCURRENCY=4")
	warm := f.enqueue(t, 8, "warm-redis")
	f.waitCompleted(t, len(warm), 20*time.Second)
	base := w.resources(t)
	ids := append(warm, f.enqueue(t, n, "redis")...)
	f.waitCompleted(t, len(warm)+20, 30*time.Second)

	f.redis.Stop()
	stopped := time.Now()
	proctest.Eventually(t, 5*time.Second, 100*time.Millisecond, func() (bool, string) {
		s := w.ready()
		return s == http.StatusServiceUnavailable, fmt.Sprintf("/readyz %d", s)
	})
	time.Sleep(10*time.Second - time.Since(stopped))
	if err := f.redis.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	proctest.Eventually(t, 10*time.Second, 100*time.Millisecond, func() (bool, string) {
		s := w.ready()
		return s == http.StatusOK, fmt.Sprintf("/readyz %d", s)
	})
	ready := time.Since(back)
	end := f.waitCompleted(t, len(ids), time.Minute)
	f.checkAllDone(t, ids)
	requests := len(f.embedEvents(t))
	// The rest of the job, at the worker's pace, is part of the time.
	t.Logf("Redis down %s: /readyz 200 %s after Redis answered; job completed %s after; %d tasks, %d provider requests (%d extra)",
		back.Sub(stopped).Round(100*time.Millisecond), ready.Round(10*time.Millisecond), end.Sub(back).Round(100*time.Millisecond), len(ids), requests, requests-len(ids))
	if requests < len(ids) {
		t.Errorf("provider saw %d requests for %d tasks", requests, len(ids))
	}
	w.checkBaseline(t, base)
}

// TestWorkerKilled: of two workers running a job, one gets SIGKILL. asynq
// takes its running tasks back when their lease has run out (its
// recoverer looks once a minute), the other worker runs them, and every
// item gets exactly one result.
func TestWorkerKilled(t *testing.T) {
	t.Parallel()
	const items = 400
	f := setup(t, "-latency", "200ms")
	a := f.startWorker(t, "worker-a", "WORKER_CONCURRENCY=4")
	b := f.startWorker(t, "worker-b", "WORKER_CONCURRENCY=4")
	in := proctest.WriteItems(t, f.dir, items)
	out := filepath.Join(f.dir, "results.jsonl")
	job := proctest.Start(t, bin["enqueue"], proctest.Environ("REDIS_URL="+f.redis.URL()),
		"embed", "--file", in, "--batch-size", "2", "--wait", "--out", out)
	f.waitCompleted(t, 30, 30*time.Second)
	a.proc.Signal(t, syscall.SIGKILL)
	killed := time.Now()
	if code := job.Wait(t, 3*time.Minute); code != 0 {
		t.Fatalf("enqueue --wait exited %d:\n%s", code, job.Stderr.String())
	}
	done := time.Since(killed)
	proctest.CheckResults(t, out, items)
	info, err := f.inspector.GetQueueInfo(tasks.QueueEmbeddings)
	if err != nil {
		t.Fatal(err)
	}
	if info.Archived != 0 {
		t.Errorf("%d tasks archived", info.Archived)
	}
	requests := len(f.embedEvents(t))
	t.Logf("worker SIGKILL: job of %d items (%d tasks) done %s after the kill; %d provider requests (%d extra: the killed worker's running tasks, run again); worker-b sent %d",
		items, items/2, done.Round(100*time.Millisecond), requests, requests-items/2, b.stats(t).Requests)
}
