package failover

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/internal/proctest"
	"github.com/llmq/llmq/internal/redistest"
	"github.com/llmq/llmq/tasks"
)

const masterName = "llmq"

// TestSentinelFailover runs a 3,000-item job (300 tasks) on two workers
// connected through three sentinels, kills the Redis master with SIGKILL
// once a third of the tasks are done, and checks that the sentinels
// promote the replica, that the workers keep running against it, and that
// every task completes with its result: nothing lost. Tasks whose
// completion the old master had not yet passed to the replica run again
// (at-least-once); the test reports how many.
func TestSentinelFailover(t *testing.T) {
	const items, batch = 3_000, 10
	const taskCount = items / batch
	dir := t.TempDir()

	primary := redistest.Start(t)
	replica := redistest.StartReplica(t, primary)
	var sentinels []string
	for range 3 {
		sentinels = append(sentinels, redistest.StartSentinel(t, masterName, primary, 2).Addr())
	}
	redisURL := "redis-sentinel://" + strings.Join(sentinels, ",") + "/0?master=" + masterName
	failoverOpt := asynq.RedisFailoverClientOpt{MasterName: masterName, SentinelAddrs: sentinels}
	inspector := asynq.NewInspector(failoverOpt)
	t.Cleanup(func() { _ = inspector.Close() })
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinels[0]})
	t.Cleanup(func() { _ = sc.Close() })
	master := func() string {
		a, err := sc.GetMasterAddrByName(t.Context(), masterName).Result()
		if err != nil {
			return "(" + err.Error() + ")"
		}
		return strings.Join(a, ":")
	}
	if got := master(); got != primary.Addr() {
		t.Fatalf("sentinels name %s as master, want %s", got, primary.Addr())
	}

	// The job is in Redis, and on the replica, before any worker starts.
	itemsFile := proctest.WriteItems(t, dir, items)
	env := proctest.Environ("REDIS_URL=" + redisURL)
	enq := proctest.Start(t, bin["enqueue"], env, "embed", "--file", itemsFile, "--batch-size", "10")
	if code := enq.Wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("enqueue exited %d:\n%s", code, enq.Stderr.String())
	}
	replica.WaitSynced(t, primary, 30*time.Second)

	_, simURL := proctest.StartSimulator(t, bin["simulator"], "-latency", "100ms", "-dim", "8")
	var workers []*proctest.Process
	for range 2 {
		w, _ := proctest.StartWorker(t, bin["worker"], proctest.WorkerVars(redisURL, simURL,
			"WORKER_CONCURRENCY=4", "WORKER_POLL_INTERVAL=50ms", "LOG_LEVEL=info")...)
		workers = append(workers, w)
	}

	var info *asynq.QueueInfo
	queueInfo := func() (bool, string) {
		i, err := inspector.GetQueueInfo(tasks.QueueEmbeddings)
		if err != nil {
			return false, "queue info: " + err.Error()
		}
		info = i
		return true, ""
	}
	proctest.Eventually(t, 2*time.Minute, 50*time.Millisecond, func() (bool, string) {
		if ok, why := queueInfo(); !ok {
			return false, why
		}
		return info.Completed >= taskCount/3, fmt.Sprintf("%d of %d tasks completed", info.Completed, taskCount)
	})
	doneBefore := info.Completed
	if doneBefore >= taskCount {
		t.Fatal("the job finished before the master could be killed")
	}

	killed := time.Now()
	primary.Kill()
	proctest.Eventually(t, time.Minute, 100*time.Millisecond, func() (bool, string) {
		m := master()
		return m == replica.Addr(), "sentinels name " + m + " as master, want the replica " + replica.Addr()
	})
	promoted := time.Since(killed)

	// Every task completes on the new master. The tasks running at the kill
	// fail to record their outcome on the dead master; asynq v0.26 retries
	// such writes with a context that is already cancelled, so these tasks
	// wait in the active list until their lease (30s) expires and asynq's
	// recoverer (every minute) sends them back to run again: typically two
	// minutes.
	proctest.Eventually(t, 4*time.Minute, 200*time.Millisecond, func() (bool, string) {
		if ok, why := queueInfo(); !ok {
			return false, why
		}
		return info.Completed == taskCount, fmt.Sprintf("after the failover: %d of %d tasks completed, %d pending, %d active, %d retry, %d archived",
			info.Completed, taskCount, info.Pending, info.Active, info.Retry, info.Archived)
	})
	if info.Archived != 0 || info.Size != taskCount {
		t.Errorf("queue after the job: %d tasks, %d archived; want %d, none archived", info.Size, info.Archived, taskCount)
	}
	for i, w := range workers {
		if w.Exited() {
			t.Errorf("worker %d exited (%v) during the failover", i+1, w.Cmd.ProcessState)
		}
	}

	// The same job again finds the job known, every item done, and writes
	// the results.
	out := filepath.Join(dir, "results.jsonl")
	again := proctest.Start(t, bin["enqueue"], env, "embed", "--file", itemsFile, "--batch-size", "10", "--wait", "--out", out)
	if code := again.Wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("enqueue --wait exited %d:\n%s", code, again.Stderr.String())
	}
	for _, want := range []string{"was submitted before", "nothing enqueued", fmt.Sprintf("%d done, 0 failed", items)} {
		if !strings.Contains(again.Stderr.String(), want) {
			t.Errorf("enqueue of the same job again said:\n%s\nwant %q: the job known, every item done", again.Stderr.String(), want)
		}
	}
	proctest.CheckResults(t, out, items)

	inputs := simInputs(t, simURL)
	t.Logf("failover: master %s killed (SIGKILL) after %d of %d tasks; sentinels promoted %s within %s; all %d tasks completed, 0 archived, %d items results present; %d task(s) ran twice (%d inputs embedded for %d items)",
		primary.Addr(), doneBefore, taskCount, replica.Addr(), promoted.Round(100*time.Millisecond), taskCount, items,
		(inputs-items)/batch, inputs, items)
}

func simInputs(t *testing.T, simURL string) int64 {
	t.Helper()
	var st struct {
		Inputs int64 `json:"inputs"`
	}
	proctest.GetJSON(t, http.DefaultClient, simURL+"/stats", &st)
	return st.Inputs
}
