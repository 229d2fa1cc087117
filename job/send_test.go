package job_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/llmq/llmq/internal/redistest"
	"github.com/llmq/llmq/job"
	"github.com/llmq/llmq/tasks"
	"github.com/llmq/llmq/telemetry"
)

// TestTaskSet sends independent tasks through a real worker, one of them
// twice and one the worker archives, and follows them in the order they
// were added.
func TestTaskSet(t *testing.T) {
	rdb := setup(t)
	ctx := context.Background()
	set := job.NewTaskSet(ctx, rdb, telemetry.NewProducer(telemetry.Providers{}), "", 2)
	texts := []string{"first", "second sim:status=401", "third", "first"}
	for i, text := range texts {
		err := set.Add(ctx, tasks.TypeEmbed, []string{text}, func(headers map[string]string) (*asynq.Task, error) {
			if headers[telemetry.HeaderEnqueuedAt] == "" {
				t.Errorf("task %d: no producer headers", i)
			}
			return tasks.NewEmbedTaskWithHeaders(tasks.EmbedPayload{Texts: []string{text}}, headers)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := set.Add(ctx, tasks.TypeEmbed, []string{"empty"}, func(headers map[string]string) (*asynq.Task, error) {
		return tasks.NewEmbedTaskWithHeaders(tasks.EmbedPayload{Texts: []string{""}}, headers)
	})
	if !errors.Is(err, tasks.ErrInvalidPayload) {
		t.Errorf("Add of an invalid payload: %v, want ErrInvalidPayload at once", err)
	}
	sum, err := set.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Enqueued != 3 || sum.Existing != 1 || len(sum.Tasks) != 4 {
		t.Fatalf("enqueued %d, existing %d, %d tasks; want 3, 1 and 4", sum.Enqueued, sum.Existing, len(sum.Tasks))
	}
	if sum.Tasks[3].ID != sum.Tasks[0].ID || sum.Tasks[3].Queue != tasks.QueueEmbeddings {
		t.Errorf("the task sent again is %+v, want the first one, %+v", sum.Tasks[3], sum.Tasks[0])
	}
	var followed []string
	err = set.Follow(ctx, func(task job.Task, info *asynq.TaskInfo) error {
		followed = append(followed, task.Items[0]+":"+info.State.String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "first:completed second sim:status=401:archived third:completed first:completed"
	if got := strings.Join(followed, " "); got != want {
		t.Errorf("followed %q, want %q", got, want)
	}
}

// TestEnqueueAlreadyQueued checks that Enqueue reports a task whose ID
// asynq holds as already queued, without an error.
func TestEnqueueAlreadyQueued(t *testing.T) {
	rdb := setup(t)
	ctx := context.Background()
	client := asynq.NewClientFromRedisClient(rdb)
	producer := telemetry.NewProducer(telemetry.Providers{})
	build := func(headers map[string]string) (*asynq.Task, error) {
		return tasks.NewEmbedTaskWithHeaders(tasks.EmbedPayload{Texts: []string{"once"}}, headers, asynq.Queue("idle"))
	}
	first, err := job.Enqueue(ctx, client, producer, tasks.TypeEmbed, build)
	if err != nil || first.Existed || first.Info == nil {
		t.Fatalf("first Enqueue: %+v, %v", first, err)
	}
	again, err := job.Enqueue(ctx, client, producer, tasks.TypeEmbed, build)
	if err != nil || !again.Existed || again.Info != nil || tasks.ID(again.Task) != first.Info.ID {
		t.Fatalf("second Enqueue: %+v, %v; want it already queued as %s", again, err, first.Info.ID)
	}
}

// TestEnqueueSpanNames checks that the PRODUCER span of a task is named
// for its queue, also when the task was already queued, so that the two
// cases group together in a tracing backend.
func TestEnqueueSpanNames(t *testing.T) {
	srv := redistest.Start(t)
	client := asynq.NewClient(srv.ConnOpt())
	t.Cleanup(func() { client.Close() })
	rec := tracetest.NewSpanRecorder()
	producer := telemetry.NewProducer(telemetry.Providers{TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))})
	build := func(headers map[string]string) (*asynq.Task, error) {
		return tasks.NewEmbedTaskWithHeaders(tasks.EmbedPayload{Texts: []string{"span names"}}, headers)
	}
	for i, wantExisted := range []bool{false, true} {
		got, err := job.Enqueue(context.Background(), client, producer, tasks.TypeEmbed, build)
		if err != nil {
			t.Fatal(err)
		}
		if got.Existed != wantExisted {
			t.Errorf("enqueue %d: existed %t, want %t", i, got.Existed, wantExisted)
		}
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	for i, s := range spans {
		already := false
		for _, kv := range s.Attributes() {
			if kv.Key == telemetry.AlreadyQueuedKey {
				already = kv.Value.AsBool()
			}
		}
		if s.Name() != "send "+tasks.QueueEmbeddings || already != (i == 1) {
			t.Errorf("span %d: %q, already queued %t; want %q, %t", i, s.Name(), already, "send "+tasks.QueueEmbeddings, i == 1)
		}
	}
}
