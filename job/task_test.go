package job

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/internal/redistest"
)

// TestReadTaskMatchesInspector checks that readTask returns what asynq's
// Inspector.GetTaskInfo does for tasks in each state the export meets:
// completed with a result, archived with an error, retrying, scheduled and
// pending, with headers and a unique key in their messages; and that a
// missing task is asynq.ErrTaskNotFound.
func TestReadTaskMatchesInspector(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	const queue = "readtask"
	client := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)

	result := bytes.Repeat([]byte{0, 1, 2, 0xff}, 4096)
	worker := asynq.NewServerFromRedisClient(rdb, asynq.Config{Concurrency: 2, LogLevel: asynq.FatalLevel,
		Queues: map[string]int{queue: 1}, RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return time.Hour }})
	mux := asynq.NewServeMux()
	mux.HandleFunc("ok", func(_ context.Context, task *asynq.Task) error {
		_, err := task.ResultWriter().Write(result)
		return err
	})
	mux.HandleFunc("fail", func(context.Context, *asynq.Task) error {
		return fmt.Errorf("bad input: %w", asynq.SkipRetry)
	})
	mux.HandleFunc("retry", func(context.Context, *asynq.Task) error { return errors.New("try again") })
	if err := worker.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer worker.Shutdown()

	type task struct {
		id    string
		typ   string
		opts  []asynq.Option
		state asynq.TaskState
	}
	all := []task{
		{"done", "ok", []asynq.Option{asynq.Retention(time.Hour)}, asynq.TaskStateCompleted},
		{"failed", "fail", []asynq.Option{asynq.MaxRetry(3)}, asynq.TaskStateArchived},
		{"retrying", "retry", []asynq.Option{asynq.MaxRetry(3), asynq.Timeout(time.Minute)}, asynq.TaskStateRetry},
		{"later", "ok", []asynq.Option{asynq.ProcessIn(time.Hour), asynq.Unique(time.Hour)}, asynq.TaskStateScheduled},
	}
	for _, tk := range all {
		opts := append([]asynq.Option{asynq.Queue(queue), asynq.TaskID(tk.id)}, tk.opts...)
		task := asynq.NewTaskWithHeaders(tk.typ, []byte(`{"texts":["`+tk.id+`"]}`), map[string]string{"traceparent": "00-x"})
		if _, err := client.EnqueueContext(ctx, task, opts...); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, tk := range all {
		for {
			info, err := insp.GetTaskInfo(queue, tk.id)
			if err != nil {
				t.Fatal(err)
			}
			if info.State == tk.state {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("task %s is %s, want %s", tk.id, info.State, tk.state)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// A pending task, which the paused queue keeps so.
	if err := insp.PauseQueue(queue); err != nil {
		t.Fatal(err)
	}
	if _, err := client.EnqueueContext(ctx, asynq.NewTask("ok", []byte("{}")), asynq.Queue(queue), asynq.TaskID("waiting")); err != nil {
		t.Fatal(err)
	}
	all = append(all, task{id: "waiting", state: asynq.TaskStatePending})

	for _, tk := range all {
		t.Run(tk.id, func(t *testing.T) {
			want, err := insp.GetTaskInfo(queue, tk.id)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readTask(ctx, rdb, queue, tk.id)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != want.ID || got.Queue != want.Queue || got.State != want.State || got.LastErr != want.LastErr ||
				!bytes.Equal(got.Payload, want.Payload) || !bytes.Equal(got.Result, want.Result) {
				t.Errorf("readTask = {%s %s %s %q payload %q, %d result bytes}, GetTaskInfo = {%s %s %s %q payload %q, %d result bytes}",
					got.ID, got.Queue, got.State, got.LastErr, got.Payload, len(got.Result),
					want.ID, want.Queue, want.State, want.LastErr, want.Payload, len(want.Result))
			}
			if tk.state == asynq.TaskStateArchived && got.LastErr == "" {
				t.Error("archived task without its error")
			}
			if tk.state == asynq.TaskStateCompleted && !bytes.Equal(got.Result, result) {
				t.Errorf("completed task: %d result bytes, want %d", len(got.Result), len(result))
			}
		})
	}
	if _, err := readTask(ctx, rdb, queue, "missing"); !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Errorf("missing task: %v, want asynq.ErrTaskNotFound", err)
	}
}

// TestDecodeTaskMessageMalformed checks that a truncated message is an
// error, not a panic or a short payload.
func TestDecodeTaskMessageMalformed(t *testing.T) {
	for _, b := range [][]byte{{0x12}, {0x12, 0x05, 'a'}, {0x3a, 0x80}, {0xff}} {
		if _, _, err := decodeTaskMessage(b); err == nil {
			t.Errorf("decodeTaskMessage(%x): no error", b)
		}
	}
}
