package scaling

import (
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/internal/proctest"
	"github.com/llmq/llmq/internal/redistest"
	"github.com/llmq/llmq/tasks"
)

// fixture is one test's Redis, simulator and scratch directory.
type fixture struct {
	dir       string
	redis     *redistest.Server
	inspector *asynq.Inspector
	simURL    string
}

func setup(t *testing.T, latency time.Duration) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), redis: redistest.Start(t)}
	f.inspector = asynq.NewInspector(f.redis.ConnOpt())
	t.Cleanup(func() { _ = f.inspector.Close() })
	// Short vectors keep the 20,000 results small: the test is about who
	// runs which task, not about vectors.
	_, f.simURL = proctest.StartSimulator(t, bin["simulator"], "-latency", latency.String(), "-dim", "8")
	return f
}

// worker is a running worker process and the provider requests it had sent
// when the job started (its start-up warm-up request).
type worker struct {
	name     string
	proc     *proctest.Process
	addr     string
	baseline int64
}

func (f *fixture) startWorker(t *testing.T, name string, vars ...string) *worker {
	t.Helper()
	p, addr := proctest.StartWorker(t, bin["worker"], proctest.WorkerVars(f.redis.URL(), f.simURL,
		append([]string{"LOG_LEVEL=info", "WORKER_POLL_INTERVAL=50ms"}, vars...)...)...)
	w := &worker{name: name, proc: p, addr: addr}
	w.baseline = w.requests(t)
	return w
}

// requests is the number of requests the worker has sent to the OpenAI
// endpoint, read from its /stats: one per embedding task it ran.
func (w *worker) requests(t *testing.T) int64 {
	t.Helper()
	var stats map[string]struct {
		Requests int64 `json:"requests"`
	}
	proctest.GetJSON(t, http.DefaultClient, "http://"+w.addr+"/stats", &stats)
	return stats["openai"].Requests
}

// tasksRun is how many embedding tasks the worker has sent to the provider
// since the job started.
func (w *worker) tasksRun(t *testing.T) int64 { return w.requests(t) - w.baseline }

// simStats reads the simulator's counters.
func (f *fixture) simStats(t *testing.T) (inputs, embedRequests int64, byStatus map[string]int64) {
	t.Helper()
	var st struct {
		Inputs   int64            `json:"inputs"`
		ByPath   map[string]int64 `json:"by_path"`
		ByStatus map[string]int64 `json:"by_status"`
	}
	proctest.GetJSON(t, http.DefaultClient, f.simURL+"/stats", &st)
	return st.Inputs, st.ByPath["/v1/embeddings"], st.ByStatus
}

// startJob runs "enqueue embed --file items --batch-size 10 --wait" in the
// background; the job is done when the process exits.
func (f *fixture) startJob(t *testing.T, items string) (*proctest.Process, string) {
	t.Helper()
	out := filepath.Join(f.dir, "results.jsonl")
	p := proctest.Start(t, bin["enqueue"], proctest.Environ("REDIS_URL="+f.redis.URL()),
		"embed", "--file", items, "--batch-size", "10", "--concurrency", "32", "--wait", "--out", out)
	return p, out
}

// TestThreeWorkersShareAJob: 3 workers drain a 20,000-item job (2,000
// tasks of 10 items). Every item is embedded once — the simulator answered
// exactly 20,000 inputs in 2,000 requests — and each worker ran at least
// 20% of the tasks, counted by the provider requests it sent.
func TestThreeWorkersShareAJob(t *testing.T) {
	const items, batch = 20_000, 10
	const taskCount = items / batch
	f := setup(t, 40*time.Millisecond)
	var workers []*worker
	for i := range 3 {
		workers = append(workers, f.startWorker(t, fmt.Sprintf("worker-%d", i+1), "WORKER_CONCURRENCY=8"))
	}

	job, out := f.startJob(t, proctest.WriteItems(t, f.dir, items))
	if code := job.Wait(t, 8*time.Minute); code != 0 {
		t.Fatalf("enqueue --wait exited %d:\n%s", code, job.Stderr.String())
	}
	proctest.CheckResults(t, out, items)

	inputs, requests, byStatus := f.simStats(t)
	if inputs != items || requests != taskCount {
		t.Errorf("simulator embedded %d inputs in %d requests (statuses %v), want %d in %d: every item once", inputs, requests, byStatus, items, taskCount)
	}
	var total int64
	shares := make([]string, len(workers))
	for i, w := range workers {
		n := w.tasksRun(t)
		total += n
		share := float64(n) / taskCount
		shares[i] = fmt.Sprintf("%s %d tasks (%.1f%%)", w.name, n, 100*share)
		if share < 0.20 {
			t.Errorf("%s ran %d of %d tasks (%.1f%%), want at least 20%%", w.name, n, taskCount, 100*share)
		}
	}
	if total != taskCount {
		t.Errorf("workers sent %d embedding requests in all, want %d", total, taskCount)
	}
	t.Logf("per-worker shares of %d tasks (%d items): %s", taskCount, items, strings.Join(shares, ", "))
}

var requeuedRE = regexp.MustCompile(`Pushed task id=(\S+) back to queue`)

// TestWorkersJoinAndLeave: while 2 workers run a job, a third starts and
// takes tasks, then one of the first two gets SIGTERM with running tasks
// that cannot finish within its SHUTDOWN_TIMEOUT (1ms, against the
// simulator's 300ms per request). It exits 0 after putting them back on
// the queue, the others run them, and every item gets its result.
func TestWorkersJoinAndLeave(t *testing.T) {
	const items, batch = 4_000, 10
	const taskCount = items / batch
	f := setup(t, 300*time.Millisecond)
	a := f.startWorker(t, "worker-a", "WORKER_CONCURRENCY=4")
	b := f.startWorker(t, "worker-b", "WORKER_CONCURRENCY=4", "SHUTDOWN_TIMEOUT=1ms")
	job, out := f.startJob(t, proctest.WriteItems(t, f.dir, items))

	completed := func() int {
		info, err := f.inspector.GetQueueInfo(tasks.QueueEmbeddings)
		if err != nil {
			return 0
		}
		return info.Completed
	}
	proctest.Eventually(t, 2*time.Minute, 50*time.Millisecond, func() (bool, string) {
		return completed() >= taskCount/5, fmt.Sprintf("%d of %d tasks completed", completed(), taskCount)
	})

	// A third worker joins mid-job and takes tasks.
	c := f.startWorker(t, "worker-c", "WORKER_CONCURRENCY=4")
	proctest.Eventually(t, time.Minute, 50*time.Millisecond, func() (bool, string) {
		n := c.tasksRun(t)
		return n >= 5, fmt.Sprintf("worker-c has run %d tasks", n)
	})
	if done := completed(); done >= taskCount {
		t.Fatalf("job finished (%d tasks) before worker-b could be stopped mid-job", done)
	}

	// Worker b leaves mid-job, with tasks running.
	active := f.activeTasksOf(t, b.proc.Cmd.Process.Pid)
	bRan := b.tasksRun(t)
	b.proc.Signal(t, syscall.SIGTERM)
	if code := b.proc.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("worker-b exited %d after SIGTERM", code)
	}
	var requeued []string
	for _, m := range requeuedRE.FindAllStringSubmatch(b.proc.Stderr.String(), -1) {
		requeued = append(requeued, m[1])
	}
	if len(requeued) == 0 {
		t.Fatalf("worker-b (running %d tasks at SIGTERM) handed no task back:\n%s", active, b.proc.Stderr.String())
	}

	if code := job.Wait(t, 5*time.Minute); code != 0 {
		t.Fatalf("enqueue --wait exited %d:\n%s", code, job.Stderr.String())
	}
	proctest.CheckResults(t, out, items)
	for _, id := range requeued {
		info, err := f.inspector.GetTaskInfo(tasks.QueueEmbeddings, id)
		if err != nil || info.State != asynq.TaskStateCompleted || info.Retried != 0 {
			t.Errorf("handed-back task %s: %+v, %v; want completed without a retry", id, info, err)
		}
	}
	// Items are embedded once, except those of handed-back tasks whose
	// request the simulator may have answered just before worker-b gave up.
	inputs, _, byStatus := f.simStats(t)
	if inputs < items || inputs > items+int64(batch*len(requeued)) {
		t.Errorf("simulator embedded %d inputs (statuses %v), want %d plus at most %d of the %d handed-back tasks",
			inputs, byStatus, items, batch*len(requeued), len(requeued))
	}
	t.Logf("worker-a ran %d tasks, worker-b %d before SIGTERM (handed back %d it was running), worker-c (joined after %d) %d",
		a.tasksRun(t), bRan, len(requeued), taskCount/5, c.tasksRun(t))
}

// activeTasksOf returns how many tasks the worker process pid is running,
// as asynq's server registry in Redis tells.
func (f *fixture) activeTasksOf(t *testing.T, pid int) int {
	t.Helper()
	servers, err := f.inspector.Servers()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		if s.PID == pid {
			return len(s.ActiveWorkers)
		}
	}
	t.Fatalf("no asynq server with pid %d in Redis", pid)
	return 0
}
