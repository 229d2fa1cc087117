package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/job"
	"github.com/llmq/llmq/tasks"
)

// connect returns a client of the configured Redis once it answers.
func connect(ctx context.Context, env *environment) (redis.UniversalClient, error) {
	rdb, err := env.cfg.Redis.Open()
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis unreachable: %w", err)
	}
	return rdb, nil
}

// queue is the set of tasks one command sends, with the Redis client it
// sends them through.
type queue struct {
	env *environment
	rdb redis.UniversalClient
	*job.TaskSet
}

func newQueue(ctx context.Context, env *environment) (*queue, error) {
	rdb, err := connect(ctx, env)
	if err != nil {
		return nil, err
	}
	return &queue{env: env, rdb: rdb, TaskSet: job.NewTaskSet(ctx, rdb, env.producer, env.opts.queue, env.opts.concurrency)}, nil
}

func (q *queue) close() { _ = q.rdb.Close() }

// resultWriter writes one finished task's result as JSONL lines.
type resultWriter func(w *bufio.Writer, t job.Task, info *asynq.TaskInfo) error

// finish waits for every task to be sent, reports what was sent and, with
// --wait, follows the tasks to the end and writes their results.
func (q *queue) finish(ctx context.Context, write resultWriter) error {
	sum, err := q.Wait()
	if err != nil {
		return err
	}
	items := 0
	for _, t := range sum.Tasks {
		items += len(t.Items)
	}
	if items == 0 {
		return job.ErrNoItems
	}
	fmt.Fprintf(q.env.stderr, "enqueued %d task(s) with %d item(s)", sum.Enqueued, items)
	if sum.Existing > 0 {
		fmt.Fprintf(q.env.stderr, "; %d task(s) were already queued", sum.Existing)
	}
	if sum.Replaced > 0 {
		fmt.Fprintf(q.env.stderr, "; %d failed task(s) replaced to run again", sum.Replaced)
	}
	fmt.Fprintln(q.env.stderr)
	if !q.env.opts.wait && q.env.opts.out == "" {
		for _, t := range sum.Tasks {
			fmt.Fprintln(q.env.stdout, t.ID)
		}
		return nil
	}
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
	failed := 0
	err = q.Follow(ctx, func(t job.Task, info *asynq.TaskInfo) error {
		if info.State == asynq.TaskStateArchived {
			failed++
			fmt.Fprintf(q.env.stderr, "task %s failed (items %v): %s\n", t.ID, abbreviate(t.Items), info.LastErr)
			return nil
		}
		return write(w, t, info)
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return fmt.Errorf("interrupted; the %d task(s) keep running, and sending the same input again follows them: %w", len(sum.Tasks), err)
	}
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d task(s) failed", failed, len(sum.Tasks))
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

func writeEmbedResults(w *bufio.Writer, r job.Task, info *asynq.TaskInfo) error {
	res, err := tasks.DecodeEmbedResult(info.Result)
	if err != nil {
		return fmt.Errorf("task %s: %w", r.ID, err)
	}
	if len(res.Vectors) != len(r.Items) {
		return fmt.Errorf("task %s: %d vectors for %d items", r.ID, len(res.Vectors), len(r.Items))
	}
	enc := json.NewEncoder(w)
	for i, id := range r.Items {
		if err := enc.Encode(embedOut{ID: id, Embedding: res.Vectors[i], Model: res.Model}); err != nil {
			return err
		}
	}
	return nil
}

// generateOut is one line of generate results, as a generation job's
// simple output writes it.
type generateOut struct {
	ID           string `json:"id"`
	Model        string `json:"model"`
	Text         string `json:"text"`
	FinishReason string `json:"finish_reason"`
	Usage        struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

func writeGenerateResults(w *bufio.Writer, r job.Task, info *asynq.TaskInfo) error {
	g, err := tasks.DecodeGenerateResult(info.Result)
	if err != nil {
		return fmt.Errorf("task %s: %w", r.ID, err)
	}
	out := generateOut{ID: r.Items[0], Model: g.Model, Text: g.Text, FinishReason: g.FinishReason}
	out.Usage.PromptTokens, out.Usage.CompletionTokens = g.InputTokens, g.OutputTokens
	out.Usage.TotalTokens = g.InputTokens + g.OutputTokens
	return json.NewEncoder(w).Encode(out)
}
