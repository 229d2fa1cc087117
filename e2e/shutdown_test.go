package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/internal/proctest"
	"github.com/llmq/llmq/job"
	"github.com/llmq/llmq/simulator"
	"github.com/llmq/llmq/tasks"
)

// TestSIGTERMLosesNoTask stops a busy worker with SIGTERM: it finishes what
// it can within SHUTDOWN_TIMEOUT, puts the rest back without using a
// retry, and exits 0; a second worker then completes every task.
func TestSIGTERMLosesNoTask(t *testing.T) {
	t.Parallel()
	const (
		taskCount = 40
		// slowCount tasks take longer than SHUTDOWN_TIMEOUT, so the first
		// worker must hand them back.
		slowCount = 2
		dim       = 8
		queue     = tasks.QueueEmbeddings
	)
	f := setup(t)
	s := f.startSimulator(t, false, "-latency", "300ms", "-dim", fmt.Sprint(dim))
	vars := []string{
		"OPENAI_BASE_URL=" + s.url + "/v1",
		"OLLAMA_HOST=" + s.url,
		"WORKER_CONCURRENCY=4",
		"SHUTDOWN_TIMEOUT=5s",
	}
	first := f.startWorker(t, vars...)

	docs := corpus("term", taskCount)
	for i := range slowCount {
		docs[i].Text += " sim:sleep=7s"
	}
	var ids []string
	for _, part := range [][]embedLine{docs[:slowCount], docs[slowCount:]} {
		file := f.writeJSONL(t, fmt.Sprintf("part-%d.jsonl", len(ids)), lines(part)...)
		res := f.enqueue(t, "embed", "--file", file, "--batch-size", "1")
		if res.Code != 0 {
			t.Fatalf("enqueue exit status %d\nstderr:\n%s", res.Code, res.Stderr)
		}
		// A job of one-text batches: its tasks are JOB:0, JOB:1, ...
		jobID := strings.TrimSpace(res.Stdout)
		for n := range part {
			ids = append(ids, job.TaskID(jobID, n))
		}
		if len(ids) == slowCount {
			proctest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() (bool, string) {
				q := f.queueInfo(t, queue)
				return q.Active == slowCount, fmt.Sprintf("%d active tasks, want the %d slow ones", q.Active, slowCount)
			})
		}
	}

	proctest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() (bool, string) {
		q := f.queueInfo(t, queue)
		return q.Completed > 0, "no task completed yet"
	})
	first.Signal(t, syscall.SIGTERM)
	signalled := time.Now()
	if code := first.Wait(t, 20*time.Second); code != 0 {
		t.Fatalf("worker exit status %d after SIGTERM, want 0", code)
	}
	q := f.queueInfo(t, queue)
	t.Logf("first worker exited %s after SIGTERM: %d completed, %d pending, %d active, %d retry",
		time.Since(signalled).Round(10*time.Millisecond), q.Completed, q.Pending, q.Active, q.Retry)
	if q.Active != 0 || q.Retry != 0 || q.Archived != 0 {
		t.Errorf("after shutdown: %d active, %d retry, %d archived tasks; want none", q.Active, q.Retry, q.Archived)
	}
	for _, id := range ids[:slowCount] {
		if info := f.taskInfo(t, queue, id); info.State != asynq.TaskStatePending || info.Retried != 0 {
			t.Errorf("slow task %s is %s, retried %d; want pending again, retried 0", id, info.State, info.Retried)
		}
	}

	f.startWorker(t, vars...)
	proctest.Eventually(t, 60*time.Second, 50*time.Millisecond, func() (bool, string) {
		q := f.queueInfo(t, queue)
		return q.Completed == taskCount && q.Archived == 0 && q.Pending+q.Active+q.Retry == 0,
			fmt.Sprintf("%d completed, %d archived, %d pending, %d active, %d retry",
				q.Completed, q.Archived, q.Pending, q.Active, q.Retry)
	})
	for i, id := range ids {
		info := f.taskInfo(t, queue, id)
		if info.State != asynq.TaskStateCompleted || info.Retried != 0 {
			t.Errorf("task %s is %s, retried %d; want completed, retried 0", id, info.State, info.Retried)
			continue
		}
		res, err := tasks.DecodeEmbedResult(info.Result)
		if err != nil {
			t.Errorf("task %s: %v", id, err)
			continue
		}
		if len(res.Vectors) != 1 {
			t.Errorf("task %s: %d vectors, want 1", id, len(res.Vectors))
			continue
		}
		if d := diffVector(res.Vectors[0], simulator.Vector(docs[i].Text, dim)); d != "" {
			t.Errorf("task %s (%s): %s", id, docs[i].ID, d)
		}
	}
}
