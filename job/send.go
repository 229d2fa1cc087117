package job

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/llmq/llmq/tasks"
	"github.com/llmq/llmq/telemetry"
)

// Enqueued is what Enqueue did with one task.
type Enqueued struct {
	// Task is the task that build made.
	Task *asynq.Task
	// Info is asynq's record of the task just enqueued; nil when Existed.
	Info *asynq.TaskInfo
	// Existed is true when asynq still held a task of the same ID
	// (asynq.ErrTaskIDConflict): nothing was sent, and that is no error.
	Existed bool
	// Replaced is true when the task took the place of an archived task of
	// the same ID (TaskSet does that; Enqueue never does).
	Replaced bool
}

// Enqueue is the one way llmq's producers send a task. It starts the
// task's PRODUCER span (producer.StartTo, named for the queue), has build make the task with the
// span's headers, enqueues it and ends the span with the outcome. A task
// whose ID asynq already holds counts as already queued, not as an error.
func Enqueue(ctx context.Context, client *asynq.Client, producer *telemetry.Producer, taskType string,
	build func(headers map[string]string) (*asynq.Task, error)) (Enqueued, error) {
	ctx, p, err := prepare(ctx, producer, taskType, build)
	if err != nil {
		return Enqueued{}, err
	}
	return p.enqueue(ctx, client)
}

// prepared is a task built under its PRODUCER span, not yet enqueued.
type prepared struct {
	send *telemetry.Send
	task *asynq.Task
}

// prepare is the first half of Enqueue: it starts the span and builds the
// task, ending the span if build fails. The context it returns holds the
// span.
func prepare(ctx context.Context, producer *telemetry.Producer, taskType string,
	build func(headers map[string]string) (*asynq.Task, error)) (context.Context, *prepared, error) {
	// The span is named for the type's default queue; End renames it if
	// asynq put the task elsewhere. A task already queued keeps the name.
	ctx, send := producer.StartTo(ctx, tasks.QueueFor(taskType), taskType)
	t, err := build(send.Headers())
	if err != nil {
		send.End(nil, err)
		return ctx, nil, err
	}
	return ctx, &prepared{send: send, task: t}, nil
}

// enqueue is the second half of Enqueue: it sends the task and ends its
// span.
func (p *prepared) enqueue(ctx context.Context, client *asynq.Client) (Enqueued, error) {
	info, err := client.EnqueueContext(ctx, p.task)
	p.send.End(info, err)
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return Enqueued{Task: p.task, Existed: true}, nil
	case err != nil:
		return Enqueued{}, err
	}
	return Enqueued{Task: p.task, Info: info}, nil
}

// sender runs enqueues from a bounded number of goroutines and counts
// what they did; the first error stops the rest.
type sender struct {
	g   *errgroup.Group
	ctx context.Context

	mu                 sync.Mutex
	enqueued, existing int
}

func newSender(ctx context.Context, concurrency int) *sender {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(concurrency, 1))
	return &sender{g: g, ctx: gctx}
}

// goSend runs send in the background; it blocks while every goroutine is
// busy. After a failure, send runs with an ended context.
func (s *sender) goSend(send func(ctx context.Context) (existed bool, err error)) {
	s.g.Go(func() error {
		existed, err := send(s.ctx)
		if err != nil {
			return err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if existed {
			s.existing++
		} else {
			s.enqueued++
		}
		return nil
	})
}

// wait waits for every send; it returns the first error and the counts of
// tasks enqueued and of tasks found already queued.
func (s *sender) wait() (enqueued, existing int, err error) {
	err = s.g.Wait()
	return s.enqueued, s.existing, err
}

// Task is one task of a TaskSet.
type Task struct {
	// ID and Queue name the task in asynq.
	ID, Queue string
	// Items are the caller's IDs of what the task carries.
	Items []string
}

// TaskSet enqueues independent tasks — not a bulk job — from a bounded
// number of goroutines, then follows them to their results in the order
// they were added. Tasks keep the IDs their constructors give them
// (tasks.ID), so adding a task that is still queued or kept counts it as
// already queued and follows the one asynq holds.
type TaskSet struct {
	client    *asynq.Client
	inspector *asynq.Inspector
	producer  *telemetry.Producer
	queue     string
	sender    *sender

	mu       sync.Mutex
	tasks    []Task
	replaced int
}

// NewTaskSet returns a TaskSet that sends through rdb, which the caller
// owns and closes, at most concurrency tasks at a time; ctx bounds the
// sending. queue is the queue the tasks are sent to when their options
// name one, empty for their type's (tasks.QueueFor). A task whose ID
// asynq holds archived (it failed for good) is replaced by the new one and
// runs again; one still queued, running or completed is followed as it is.
func NewTaskSet(ctx context.Context, rdb redis.UniversalClient, producer *telemetry.Producer, queue string, concurrency int) *TaskSet {
	if producer == nil {
		producer = telemetry.NewProducer(telemetry.Providers{})
	}
	// The client and the inspector share rdb: nothing of theirs to close.
	return &TaskSet{
		client:    asynq.NewClientFromRedisClient(rdb),
		inspector: asynq.NewInspectorFromRedisClient(rdb),
		producer:  producer,
		queue:     queue,
		sender:    newSender(ctx, concurrency),
	}
}

// Add builds the task with build (see Enqueue) and enqueues it in the
// background; items are the caller's IDs of its contents. It returns
// build's error at once, blocks while every goroutine is busy, and returns
// the first error a send met.
func (s *TaskSet) Add(ctx context.Context, taskType string, items []string, build func(headers map[string]string) (*asynq.Task, error)) error {
	if err := s.sender.ctx.Err(); err != nil {
		_, _, err := s.sender.wait()
		return err
	}
	_, p, err := prepare(ctx, s.producer, taskType, build)
	if err != nil {
		return err
	}
	s.mu.Lock()
	seq := len(s.tasks)
	s.tasks = append(s.tasks, Task{Items: items})
	s.mu.Unlock()
	s.sender.goSend(func(ctx context.Context) (bool, error) {
		e, err := p.enqueueReplacing(ctx, s.client, s.inspector, s.queueOf(p.task))
		if err != nil {
			return false, fmt.Errorf("enqueue task %d: %w", seq+1, err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if e.Replaced {
			s.replaced++
		}
		r := &s.tasks[seq]
		if e.Existed {
			r.ID, r.Queue = tasks.ID(e.Task), s.queueOf(e.Task)
		} else {
			r.ID, r.Queue = e.Info.ID, e.Info.Queue
		}
		return e.Existed, nil
	})
	return nil
}

// queueOf is the queue t was sent to.
func (s *TaskSet) queueOf(t *asynq.Task) string {
	if s.queue != "" {
		return s.queue
	}
	return tasks.QueueFor(t.Type())
}

// TaskSetSummary is what a TaskSet sent.
type TaskSetSummary struct {
	// Tasks are the tasks in the order they were added.
	Tasks []Task
	// Enqueued and Existing count the tasks sent now and those that were
	// already queued. Replaced counts those among Enqueued that took the
	// place of an archived task of the same ID.
	Enqueued, Existing, Replaced int
}

// Wait waits until every added task is in Redis.
func (s *TaskSet) Wait() (*TaskSetSummary, error) {
	enqueued, existing, err := s.sender.wait()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return &TaskSetSummary{Tasks: s.tasks, Enqueued: enqueued, Existing: existing, Replaced: s.replaced}, nil
}

// FollowInterval is how often Follow asks Redis for the tasks' states
// while none has finished.
const FollowInterval = 100 * time.Millisecond

// Follow polls the sent tasks (call Wait first) until each has completed
// or been archived, and calls done for each in the order they were added,
// as soon as it and those before it have finished. It returns done's first
// error, or ctx's.
func (s *TaskSet) Follow(ctx context.Context, done func(Task, *asynq.TaskInfo) error) error {
	s.mu.Lock()
	all := s.tasks
	s.mu.Unlock()
	finished := make([]*asynq.TaskInfo, len(all))
	next := 0
	for next < len(all) {
		progressed := false
		for i := next; i < len(all); i++ {
			if finished[i] != nil {
				continue
			}
			info, err := s.inspector.GetTaskInfo(all[i].Queue, all[i].ID)
			if err != nil {
				return fmt.Errorf("task %s: %w", all[i].ID, err)
			}
			switch info.State {
			case asynq.TaskStateCompleted, asynq.TaskStateArchived:
				finished[i] = info
				progressed = true
			}
		}
		for next < len(all) && finished[next] != nil {
			if err := done(all[next], finished[next]); err != nil {
				return err
			}
			finished[next] = nil // let the result be collected
			next++
		}
		if next == len(all) || progressed {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(FollowInterval):
		}
	}
	return nil
}
