package resilience

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/internal/proctest"
	"github.com/llmq/llmq/internal/redisserver"
	"github.com/llmq/llmq/tasks"
)

// fixture is one test's Redis (with AOF, so that it can restart without
// losing the queue), simulator and scratch directory.
type fixture struct {
	dir       string
	redis     *redisserver.Server
	client    *asynq.Client
	inspector *asynq.Inspector
	simURL    string
	adminURL  string
}

func setup(t *testing.T, simArgs ...string) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir()}
	rdir := filepath.Join(f.dir, "redis")
	if err := os.Mkdir(rdir, 0o700); err != nil {
		t.Fatal(err)
	}
	srv, err := redisserver.Start(context.Background(), redisserver.Config{Dir: rdir, Args: []string{"--appendonly", "yes", "--appendfsync", "always"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	f.redis = srv
	conn := asynq.RedisClientOpt{Addr: srv.Addr()}
	f.client = asynq.NewClient(conn)
	f.inspector = asynq.NewInspector(conn)
	t.Cleanup(func() { _ = f.client.Close(); _ = f.inspector.Close() })
	admin := proctest.FreeAddr(t)
	_, f.simURL = proctest.StartSimulator(t, bin["simulator"], append([]string{"-dim", "8", "-admin-addr", admin}, simArgs...)...)
	f.adminURL = "http://" + admin
	return f
}

// worker is a running worker process.
type worker struct {
	name string
	proc *proctest.Process
	addr string
}

func (f *fixture) startWorker(t *testing.T, name string, vars ...string) *worker {
	t.Helper()
	p, addr := proctest.StartWorker(t, bin["worker"], proctest.WorkerVars(f.redis.URL(), f.simURL,
		append([]string{"LOG_LEVEL=info", "WORKER_POLL_INTERVAL=50ms"}, vars...)...)...)
	return &worker{name: name, proc: p, addr: addr}
}

// stats is the worker's /stats entry for OpenAI.
type stats struct {
	Requests int64 `json:"requests"`
	Guard    struct {
		Breaker struct {
			State string `json:"state"`
		} `json:"breaker"`
		Concurrency struct {
			Limit    int `json:"limit"`
			InFlight int `json:"in_flight"`
		} `json:"concurrency"`
	} `json:"guard"`
}

func (w *worker) stats(t *testing.T) stats {
	t.Helper()
	var s map[string]stats
	proctest.GetJSON(t, http.DefaultClient, "http://"+w.addr+"/stats", &s)
	return s["openai"]
}

// resources are what a leak would grow: open file descriptors
// (/proc/PID/fd) and goroutines (go_goroutines on /metrics).
type resources struct{ fds, goroutines int }

func (r resources) max(o resources) resources {
	return resources{fds: max(r.fds, o.fds), goroutines: max(r.goroutines, o.goroutines)}
}

func (w *worker) resources(t *testing.T) resources {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", w.proc.Cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + w.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	g := -1
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			g = int(f)
		}
	}
	if g < 0 {
		t.Fatal("no go_goroutines on /metrics")
	}
	return resources{fds: len(ents), goroutines: g}
}

// checkBaseline waits until the worker's descriptors and goroutines are
// back to base, give or take the slack of an idle pool (connections kept
// for reuse come and go).
func (w *worker) checkBaseline(t *testing.T, base resources) {
	t.Helper()
	const fdSlack, goSlack = 4, 8
	var now resources
	deadline := time.Now().Add(15 * time.Second)
	for {
		now = w.resources(t)
		if now.fds <= base.fds+fdSlack && now.goroutines <= base.goroutines+goSlack {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%s leaks: %d fds and %d goroutines, baseline %d and %d", w.name, now.fds, now.goroutines, base.fds, base.goroutines)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%s resources: baseline %d fds, %d goroutines; after the fault %d fds, %d goroutines", w.name, base.fds, base.goroutines, now.fds, now.goroutines)
}

// enqueue enqueues n one-text embedding tasks, text i reading prefix and
// i, and returns their IDs.
func (f *fixture) enqueue(t *testing.T, n int, prefix string, opts ...asynq.Option) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		task, err := tasks.NewEmbedTask(tasks.EmbedPayload{Texts: []string{fmt.Sprintf("%s %d: a text to embed", prefix, i)}}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		info, err := f.client.Enqueue(task)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = info.ID
	}
	return ids
}

// completed returns how many embedding tasks have completed.
func (f *fixture) completed() int {
	info, err := f.inspector.GetQueueInfo(tasks.QueueEmbeddings)
	if err != nil {
		return -1
	}
	return info.Completed
}

// waitCompleted waits until n tasks have completed, and returns when.
func (f *fixture) waitCompleted(t *testing.T, n int, timeout time.Duration) time.Time {
	t.Helper()
	proctest.Eventually(t, timeout, 50*time.Millisecond, func() (bool, string) {
		info, err := f.inspector.GetQueueInfo(tasks.QueueEmbeddings)
		if err != nil {
			return false, err.Error()
		}
		return info.Completed >= n, fmt.Sprintf("%d of %d completed (%d pending, %d active, %d retry, %d archived)",
			info.Completed, n, info.Pending, info.Active, info.Retry, info.Archived)
	})
	return time.Now()
}

// checkNoArchive checks that the embeddings queue holds as many
// completed tasks as ids and none archived.
func (f *fixture) checkNoArchive(t *testing.T, ids []string) {
	t.Helper()
	info, err := f.inspector.GetQueueInfo(tasks.QueueEmbeddings)
	if err != nil {
		t.Fatal(err)
	}
	if info.Archived != 0 || info.Completed != len(ids) {
		t.Errorf("%d completed, %d archived; want %d and 0", info.Completed, info.Archived, len(ids))
	}
}

// checkAllDone checks that every task in ids completed once, with a
// vector, without using a retry, and that none is archived.
func (f *fixture) checkAllDone(t *testing.T, ids []string) {
	t.Helper()
	f.checkNoArchive(t, ids)
	retried := 0
	for _, id := range ids {
		ti, err := f.inspector.GetTaskInfo(tasks.QueueEmbeddings, id)
		if err != nil {
			t.Fatalf("task %s: %v", id, err)
		}
		if ti.State != asynq.TaskStateCompleted {
			t.Errorf("task %s is %v (%s)", id, ti.State, ti.LastErr)
			continue
		}
		if ti.Retried != 0 {
			retried++
		}
		res, err := tasks.DecodeEmbedResult(ti.Result)
		if err != nil || len(res.Vectors) != 1 || len(res.Vectors[0]) != 8 {
			t.Errorf("task %s: result %v, %v", id, res, err)
		}
	}
	if retried != 0 {
		t.Errorf("%d of %d tasks used a retry", retried, len(ids))
	}
}

// event is one of the simulator's /_sim/events.
type event struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"`
	Path   string    `json:"path"`
	Status int       `json:"status"`
	Tokens int       `json:"tokens"`
}

// embedEvents returns the simulator's embedding requests.
func (f *fixture) embedEvents(t *testing.T) []event {
	t.Helper()
	var body struct {
		Events []event `json:"events"`
	}
	proctest.GetJSON(t, http.DefaultClient, f.adminURL+"/_sim/events", &body)
	var out []event
	for _, e := range body.Events {
		if e.Kind == "request" && e.Path == "/v1/embeddings" {
			out = append(out, e)
		}
	}
	return out
}

// outage switches the simulator's outage mode for d.
func (f *fixture) outage(t *testing.T, mode string, d time.Duration) {
	t.Helper()
	resp, err := http.Post(fmt.Sprintf("%s/_sim/outage?mode=%s&for=%s", f.adminURL, mode, d), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("outage %s: HTTP %d", mode, resp.StatusCode)
	}
}

// maxWindow returns the most events (or their tokens, if tokens) in any
// window of length w that starts at an event.
func maxWindow(evs []event, w time.Duration, tokens bool) int {
	best := 0
	j, sum := 0, 0
	for i := range evs {
		for j < len(evs) && evs[j].Time.Sub(evs[i].Time) < w {
			if tokens {
				sum += evs[j].Tokens
			} else {
				sum++
			}
			j++
		}
		best = max(best, sum)
		if tokens {
			sum -= evs[i].Tokens
		} else {
			sum--
		}
	}
	return best
}
