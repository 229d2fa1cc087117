package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/llmq/llmq/tasks"
	"github.com/llmq/llmq/telemetry"
)

// record is one enqueued task, numbered in input order.
type record struct {
	seq     int
	taskID  string
	queue   string
	itemIDs []string
}

// queue sends tasks to Redis from a bounded number of goroutines and
// remembers them for --wait.
type queue struct {
	env       *environment
	rdb       redis.UniversalClient
	client    *asynq.Client
	inspector *asynq.Inspector
	group     *errgroup.Group
	gctx      context.Context

	mu       sync.Mutex
	records  []record
	enqueued int
	existing int
}

// connect returns a client of the configured Redis once it answers.
func connect(ctx context.Context, env *environment) (redis.UniversalClient, error) {
	opt, err := env.cfg.Redis.ConnOpt()
	if err != nil {
		return nil, err
	}
	rdb, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, errors.New("redis: unsupported connection options")
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis unreachable: %w", err)
	}
	return rdb, nil
}

func newQueue(ctx context.Context, env *environment) (*queue, error) {
	rdb, err := connect(ctx, env)
	if err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(env.opts.concurrency, 1))
	return &queue{
		env:       env,
		rdb:       rdb,
		client:    asynq.NewClientFromRedisClient(rdb),
		inspector: asynq.NewInspectorFromRedisClient(rdb),
		group:     g,
		gctx:      gctx,
	}, nil
}

func (q *queue) close() {
	_ = q.client.Close()
	_ = q.inspector.Close()
	_ = q.rdb.Close()
}

// submit enqueues t in the background; it blocks while all goroutines are
// busy and returns the first error any of them met. A task that is already
// queued (same payload, so same ID) is counted, not sent twice. send, the
// task's PRODUCER span, ends when the task is in Redis.
func (q *queue) submit(ctx context.Context, send *telemetry.Send, t *asynq.Task, itemIDs []string) error {
	if err := q.gctx.Err(); err != nil {
		send.End(nil, err)
		return q.group.Wait()
	}
	q.mu.Lock()
	seq := len(q.records)
	q.records = append(q.records, record{seq: seq})
	q.mu.Unlock()
	q.group.Go(func() error {
		info, err := q.client.EnqueueContext(q.gctx, t)
		send.End(info, err)
		existing := false
		switch {
		case errors.Is(err, asynq.ErrTaskIDConflict):
			existing = true
		case err != nil:
			return fmt.Errorf("enqueue task %d: %w", seq+1, err)
		}
		q.mu.Lock()
		defer q.mu.Unlock()
		r := &q.records[seq]
		r.itemIDs = itemIDs
		if existing {
			q.existing++
			r.taskID, r.queue = tasks.ID(t), q.queueOf(t)
		} else {
			q.enqueued++
			r.taskID, r.queue = info.ID, info.Queue
		}
		return nil
	})
	return nil
}

// queueOf is the queue t was sent to.
func (q *queue) queueOf(t *asynq.Task) string {
	switch {
	case q.env.opts.queue != "":
		return q.env.opts.queue
	case t.Type() == tasks.TypeGenerate:
		return tasks.QueueGeneration
	}
	return tasks.QueueEmbeddings
}

// resultWriter writes one finished task's result as JSONL lines.
type resultWriter func(w *bufio.Writer, r record, info *asynq.TaskInfo) error

// finish waits for every submit, reports what was sent and, with --wait,
// follows the tasks to the end and writes their results.
func (q *queue) finish(ctx context.Context, write resultWriter) error {
	if err := q.group.Wait(); err != nil {
		return err
	}
	items := 0
	for _, r := range q.records {
		items += len(r.itemIDs)
	}
	fmt.Fprintf(q.env.stderr, "enqueued %d task(s) with %d item(s)", q.enqueued, items)
	if q.existing > 0 {
		fmt.Fprintf(q.env.stderr, "; %d task(s) were already queued", q.existing)
	}
	fmt.Fprintln(q.env.stderr)
	if !q.env.opts.wait && q.env.opts.out == "" {
		for _, r := range q.records {
			fmt.Fprintln(q.env.stdout, r.taskID)
		}
		return nil
	}
	return q.wait(ctx, write)
}

// pollInterval is how often --wait asks Redis for the tasks' states.
const pollInterval = 100 * time.Millisecond

// wait polls the tasks until each has completed or been archived, writing
// results in input order as they become available.
func (q *queue) wait(ctx context.Context, write resultWriter) error {
	var out io.Writer = q.env.stdout
	if q.env.opts.out != "-" && q.env.opts.out != "" {
		f, err := os.Create(q.env.opts.out)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	w := bufio.NewWriterSize(out, 256<<10)
	done := make([]*asynq.TaskInfo, len(q.records))
	next, failed := 0, 0
	for next < len(q.records) {
		progressed := false
		for i := next; i < len(q.records); i++ {
			if done[i] != nil {
				continue
			}
			r := q.records[i]
			info, err := q.inspector.GetTaskInfo(r.queue, r.taskID)
			if err != nil {
				return fmt.Errorf("task %s: %w", r.taskID, err)
			}
			switch info.State {
			case asynq.TaskStateCompleted, asynq.TaskStateArchived:
				done[i] = info
				progressed = true
			}
		}
		for next < len(q.records) && done[next] != nil {
			r, info := q.records[next], done[next]
			if info.State == asynq.TaskStateArchived {
				failed++
				fmt.Fprintf(q.env.stderr, "task %s failed (items %v): %s\n", r.taskID, abbreviate(r.itemIDs), info.LastErr)
			} else if err := write(w, r, info); err != nil {
				return err
			}
			done[next] = nil // let the result be collected
			next++
		}
		if next == len(q.records) {
			break
		}
		if !progressed {
			select {
			case <-ctx.Done():
				_ = w.Flush()
				return ctx.Err()
			case <-time.After(pollInterval):
			}
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d task(s) failed", failed, len(q.records))
	}
	return nil
}

func abbreviate(ids []string) []string {
	if len(ids) > 5 {
		return append(ids[:5:5], "...")
	}
	return ids
}

// embedOut is one line of embed results.
type embedOut struct {
	ID        string    `json:"id"`
	Embedding []float32 `json:"embedding"`
	Model     string    `json:"model"`
}

func writeEmbedResults(w *bufio.Writer, r record, info *asynq.TaskInfo) error {
	res, err := tasks.DecodeEmbedResult(info.Result)
	if err != nil {
		return fmt.Errorf("task %s: %w", r.taskID, err)
	}
	if len(res.Vectors) != len(r.itemIDs) {
		return fmt.Errorf("task %s: %d vectors for %d items", r.taskID, len(res.Vectors), len(r.itemIDs))
	}
	enc := json.NewEncoder(w)
	for i, id := range r.itemIDs {
		if err := enc.Encode(embedOut{ID: id, Embedding: res.Vectors[i], Model: res.Model}); err != nil {
			return err
		}
	}
	return nil
}

// generateOut is one line of generate results.
type generateOut struct {
	ID           string `json:"id"`
	Model        string `json:"model"`
	Text         string `json:"text"`
	DoneReason   string `json:"done_reason,omitempty"`
	InputTokens  int    `json:"input_tokens"`
	OutputTokens int    `json:"output_tokens"`
}

func writeGenerateResults(w *bufio.Writer, r record, info *asynq.TaskInfo) error {
	g, err := tasks.DecodeGenerateResult(info.Result)
	if err != nil {
		return fmt.Errorf("task %s: %w", r.taskID, err)
	}
	return json.NewEncoder(w).Encode(generateOut{
		ID: r.itemIDs[0], Model: g.Model, Text: g.Text, DoneReason: g.DoneReason,
		InputTokens: g.InputTokens, OutputTokens: g.OutputTokens,
	})
}
