package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"golang.org/x/sync/errgroup"

	"github.com/llmq/llmq/tasks"
)

// queue is the queue every scenario uses.
const queue = tasks.QueueEmbeddings

// queueKey is the key of one of asynq's per-queue sets (asynq's
// internal/base names them so): completed, retry, archived.
func queueKey(q, set string) string { return "asynq:{" + q + "}:" + set }

// pause stops servers from taking tasks from the queue, so that a run can
// fill it and then start the clock when it resumes.
func (e *env) pause() error { return e.pauseQueue(queue) }

func (e *env) pauseQueue(q string) error {
	ins := asynq.NewInspector(e.connOpt())
	defer ins.Close()
	if err := ins.PauseQueue(q); err != nil {
		return fmt.Errorf("pause queue: %w", err)
	}
	return nil
}

func (e *env) resumeQueue(q string) error {
	ins := asynq.NewInspector(e.connOpt())
	defer ins.Close()
	if err := ins.UnpauseQueue(q); err != nil {
		return fmt.Errorf("resume queue: %w", err)
	}
	return nil
}

// enqueueTasks puts n embedding tasks of per texts each into the queue,
// from 16 goroutines. Texts are "<prefix> <task>.<text>", distinct across
// runs that use distinct prefixes.
func (e *env) enqueueTasks(ctx context.Context, n, per int, prefix string) error {
	return e.enqueueEach(ctx, n, func(i int) (*asynq.Task, error) {
		return tasks.NewEmbedTask(tasks.EmbedPayload{Texts: texts(prefix, i, per)})
	})
}

// enqueueEach enqueues task(i) for i from 0 to n-1, from 16 goroutines.
func (e *env) enqueueEach(ctx context.Context, n int, task func(i int) (*asynq.Task, error)) error {
	client := asynq.NewClient(e.connOpt())
	defer client.Close()
	var next atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	for range 16 {
		g.Go(func() error {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return ctx.Err()
				}
				t, err := task(i)
				if err != nil {
					return err
				}
				if _, err := client.EnqueueContext(ctx, t); err != nil {
					return fmt.Errorf("enqueue: %w", err)
				}
			}
		})
	}
	return g.Wait()
}

// texts returns the per texts of task i.
func texts(prefix string, i, per int) []string {
	out := make([]string, per)
	for j := range out {
		out[j] = fmt.Sprintf("%s %d.%d: the quick brown fox jumps over the lazy dog", prefix, i, j)
	}
	return out
}

// checkEvery is how often waitCompleted asks Redis; it bounds the error of
// a measured duration.
const checkEvery = 5 * time.Millisecond

// errTasksFailed reports tasks that did not complete.
var errTasksFailed = errors.New("tasks failed")

// waitCompleted returns when n tasks of the queue have completed, with the
// time it noticed. A task waiting for a retry or archived fails the run,
// quoting its error: a benchmark of failing tasks measures nothing.
func (e *env) waitCompleted(ctx context.Context, n int64, timeout time.Duration) (time.Time, error) {
	return e.waitQueueCompleted(ctx, queue, n, timeout)
}

// waitQueueCompleted is waitCompleted for queue q.
func (e *env) waitQueueCompleted(ctx context.Context, q string, n int64, timeout time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(checkEvery)
	defer tick.Stop()
	for {
		pipe := e.rdb.Pipeline()
		done := pipe.ZCard(ctx, queueKey(q, "completed"))
		retry := pipe.ZCard(ctx, queueKey(q, "retry"))
		archived := pipe.ZCard(ctx, queueKey(q, "archived"))
		if _, err := pipe.Exec(ctx); err != nil {
			return time.Time{}, fmt.Errorf("wait for tasks (%d of %d done): %w", done.Val(), n, err)
		}
		now := time.Now()
		if done.Val() >= n {
			return now, nil
		}
		if retry.Val()+archived.Val() > 0 {
			return time.Time{}, fmt.Errorf("%w: %d to retry, %d archived: %s", errTasksFailed, retry.Val(), archived.Val(), e.lastError(q))
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("wait for tasks: %d of %d done: %w", done.Val(), n, ctx.Err())
		case <-tick.C:
		}
	}
}

// lastError is the error of one failed task, for a failure message.
func (e *env) lastError(q string) string {
	ins := asynq.NewInspector(e.connOpt())
	defer ins.Close()
	for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){ins.ListRetryTasks, ins.ListArchivedTasks} {
		if ts, err := list(q, asynq.PageSize(1)); err == nil && len(ts) > 0 {
			return ts[0].LastErr
		}
	}
	return "no error recorded"
}
