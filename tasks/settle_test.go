package tasks_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	goredis "github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/internal/redisserver"
	"github.com/llmq/llmq/tasks"
)

// TestSettleWithRedis reproduces a Redis restart under running tasks: a
// redis-server with AOF stops while five tasks run, their handlers return
// during the outage (one of them failing to write to Redis), and Redis
// starts again on the same port. Without the middleware asynq cannot
// record their outcomes (they sit active until the recoverer takes them,
// a minute or more later, and each uses a retry); with it every task is
// recorded within seconds of Redis's return, none uses a retry, and the
// one whose write failed runs once more.
func TestSettleWithRedis(t *testing.T) {
	ctx := t.Context()
	srv, err := redisserver.Start(ctx, redisserver.Config{Dir: t.TempDir(), Args: []string{"--appendonly", "yes", "--appendfsync", "always"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	conn := asynq.RedisClientOpt{Addr: srv.Addr()}
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })

	const n = 5
	var started, runs atomic.Int32
	handler := asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		started.Add(1)
		defer runs.Add(1)
		select {
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
		if string(task.Payload()) == "write" {
			// A result that must reach Redis, like a job's counters.
			if err := rdb.Set(context.Background(), "settle:written", "1", 0).Err(); err != nil {
				return err
			}
		}
		return nil
	})
	server := asynq.NewServer(conn, asynq.Config{
		Concurrency: n, LogLevel: asynq.FatalLevel, DelayedTaskCheckInterval: time.Second,
		RetryDelayFunc: tasks.RetryDelay, IsFailure: tasks.IsFailure,
	})
	if err := server.Start(tasks.SettleWithRedis(rdb, 20*time.Second)(handler)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(server.Shutdown)
	client := asynq.NewClient(conn)
	t.Cleanup(func() { _ = client.Close() })
	inspector := asynq.NewInspector(conn)
	t.Cleanup(func() { _ = inspector.Close() })
	for i := range n {
		payload := "plain"
		if i == 0 {
			payload = "write"
		}
		if _, err := client.Enqueue(asynq.NewTask("settle", []byte(payload)), asynq.Retention(time.Hour), asynq.MaxRetry(3)); err != nil {
			t.Fatal(err)
		}
	}
	for started.Load() < n {
		time.Sleep(10 * time.Millisecond)
	}
	srv.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for runs.Load() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := runs.Load(); got != n {
		t.Fatalf("%d handlers returned during the outage, want %d", got, n)
	}
	time.Sleep(time.Second) // Redis stays away a while after the last handler returned
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	var completed []*asynq.TaskInfo
	for time.Since(back) < 10*time.Second {
		completed, err = inspector.ListCompletedTasks("default")
		if err == nil && len(completed) == n {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	recovery := time.Since(back)
	if len(completed) != n {
		t.Fatalf("%d of %d tasks completed %s after Redis's return (err %v)", len(completed), n, recovery, err)
	}
	t.Logf("all %d tasks completed %s after Redis answered again", n, recovery.Round(10*time.Millisecond))
	for _, ti := range completed {
		if ti.Retried != 0 {
			t.Errorf("task %s (%s) used %d retries", ti.ID, ti.Payload, ti.Retried)
		}
	}
	if got := runs.Load(); got != n+1 {
		t.Errorf("handlers ran %d times, want %d: each once, and once more the one whose write failed", got, n+1)
	}
	if v, _ := rdb.Get(ctx, "settle:written").Result(); v != "1" {
		t.Errorf("the failed write was not done again: %q", v)
	}
}

// TestSettleKeepsOutcomes: with Redis answering, the middleware returns the
// handler's error as it is; during an outage a failure becomes a deferral
// that still matches it, and a permanent failure stays permanent.
func TestSettleKeepsOutcomes(t *testing.T) {
	srv, err := redisserver.Start(t.Context(), redisserver.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	boom := errors.New("boom")
	skip := errors.Join(boom, asynq.SkipRetry)
	run := func(ret error) error {
		h := tasks.SettleWithRedis(rdb, 600*time.Millisecond)(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return ret }))
		return h.ProcessTask(context.Background(), asynq.NewTask("x", nil))
	}
	if err := run(boom); err != boom {
		t.Errorf("Redis up: %v, want the handler's error", err)
	}
	srv.Stop()
	start := time.Now()
	err = run(boom)
	if !errors.Is(err, clients.ErrDeferred) || !errors.Is(err, tasks.ErrRedisUnavailable) || !errors.Is(err, boom) || tasks.IsFailure(err) {
		t.Errorf("Redis down: %v, want a deferral matching the handler's error", err)
	}
	if d := time.Since(start); d < 600*time.Millisecond || d > 2*time.Second {
		t.Errorf("waited %s for Redis, want about 600ms", d)
	}
	if d := tasks.RetryDelay(0, err, nil); d < time.Second || d > 1100*time.Millisecond {
		t.Errorf("RetryDelay = %s", d)
	}
	if err := run(skip); err != skip {
		t.Errorf("permanent failure: %v", err)
	}
	if err := run(nil); err != nil {
		t.Errorf("success: %v", err)
	}
}
