package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/llmq/llmq/tasks"
	"github.com/llmq/llmq/telemetry"
)

// ErrCancelled is returned by Retry for a job that was cancelled: the
// items a cancellation kept from running stay cancelled.
var ErrCancelled = errors.New("job cancelled")

// ErrSubmitting is returned by Retry for a job whose batches are still
// being enqueued.
var ErrSubmitting = errors.New("job still being submitted")

// RetrySummary is what Retry did.
type RetrySummary struct {
	// Archived counts the batches that had failed as a whole and run
	// again; Partial those that completed with some items failed, whose
	// failed texts alone run again. Items counts the failed items of both.
	Archived, Partial, Items int
}

// Batches is the number of batches Retry sent again.
func (s *RetrySummary) Batches() int { return s.Archived + s.Partial }

// KEYS: keys(id). ARGV: batch, done, failed. Uncounts a finished batch
// once: what BatchFinished added for it, done and failed items.
var resetScript = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
if redis.call("SETBIT", KEYS[4], ARGV[1], 0) == 0 then return 0 end
redis.call("HINCRBY", KEYS[1], "done", 0 - tonumber(ARGV[2]))
redis.call("HINCRBY", KEYS[1], "failed", 0 - tonumber(ARGV[3]))
return 1
`)

// Retry runs a job's failed items again, under the same job ID and task
// IDs: each batch that failed as a whole (its task archived) is sent
// again as it was, and each batch that completed with some texts failed
// is sent again with only those texts to embed (tasks.JobRef.Redo); its
// other texts keep their vectors, which Retry keeps in Redis for the
// worker to merge into. The retried batches count as pending again, so
// the job is no longer Finished until they have run, and Export then
// writes one result per item, as before.
//
// Batches still queued or running are left alone, so Retry may run while
// the job does. It is idempotent: a batch sent again and not yet run is
// not sent twice, and a Retry stopped half-way is finished by the next.
// It returns ErrNotFound, ErrSubmitting or ErrCancelled for a job it
// cannot retry. A nil producer reports to the global OpenTelemetry
// providers.
func Retry(ctx context.Context, rdb redis.UniversalClient, id string, producer *telemetry.Producer) (*RetrySummary, error) {
	st, err := GetStatus(ctx, rdb, id)
	if err != nil {
		return nil, err
	}
	switch {
	case st.CancelReason != "":
		return nil, fmt.Errorf("%w: %s (%s)", ErrCancelled, id, st.CancelReason)
	case st.Submitting:
		return nil, fmt.Errorf("%w: %s", ErrSubmitting, id)
	}
	if producer == nil {
		producer = telemetry.NewProducer(telemetry.Providers{})
	}
	done, err := rdb.Get(ctx, key(id, keyDone)).Bytes()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("retry job %s: %w", id, err)
	}
	r := &retrier{rdb: rdb, st: st, done: done, producer: producer,
		insp: asynq.NewInspectorFromRedisClient(rdb), client: asynq.NewClientFromRedisClient(rdb)}
	sum := &RetrySummary{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for seq := range st.Batches {
		g.Go(func() error {
			kind, items, err := r.batch(gctx, seq)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			switch kind {
			case retriedArchived:
				sum.Archived++
			case retriedPartial:
				sum.Partial++
			}
			sum.Items += items
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if sum.Batches() > 0 && st.Retention > 0 {
		_, err := rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			expire(ctx, pipe, id, time.Duration(st.Retention)*time.Second)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("retry job %s: %w", id, err)
		}
	}
	return sum, nil
}

// What Retry did with one batch.
const (
	retriedNone = iota
	retriedArchived
	retriedPartial
)

type retrier struct {
	rdb      redis.UniversalClient
	st       *Status
	done     []byte // the :done bitmap when Retry began
	producer *telemetry.Producer
	insp     *asynq.Inspector
	client   *asynq.Client
}

// batch sends batch seq again if it failed, in whole or in part, and
// returns what it did and the failed items it sent again.
func (r *retrier) batch(ctx context.Context, seq int) (int, int, error) {
	id, tid := r.st.ID, TaskID(r.st.ID, seq)
	rk := key(id, keyRetry)
	info, err := r.insp.GetTaskInfo(r.st.Queue, tid)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		// A Retry may have stopped between deleting the task and sending it
		// again: its payload is kept.
		if bit(r.done, seq) {
			return retriedNone, 0, nil
		}
		raw, err := r.rdb.HGet(ctx, rk, strconv.Itoa(seq)).Bytes()
		if errors.Is(err, redis.Nil) {
			return retriedNone, 0, nil
		}
		if err != nil {
			return 0, 0, fmt.Errorf("retry job %s batch %d: %w", id, seq, err)
		}
		var p tasks.EmbedPayload
		if err := json.Unmarshal(raw, &p); err != nil {
			return 0, 0, fmt.Errorf("retry job %s batch %d: payload: %w", id, seq, err)
		}
		kind := retriedArchived
		if p.Job != nil && len(p.Job.Redo) > 0 {
			kind = retriedPartial
		}
		return kind, 0, r.send(ctx, seq, p)
	case err != nil:
		return 0, 0, fmt.Errorf("retry job %s batch %d: %w", id, seq, err)
	}
	var p tasks.EmbedPayload
	if err := json.Unmarshal(info.Payload, &p); err != nil {
		return 0, 0, fmt.Errorf("retry job %s batch %d: payload: %w", id, seq, err)
	}
	if p.Job == nil {
		return 0, 0, fmt.Errorf("retry job %s batch %d: task %s is no job batch", id, seq, tid)
	}
	items := p.Job.Len(len(p.Texts))
	var kind, doneItems, failedItems int
	switch info.State {
	case asynq.TaskStateArchived:
		kind, failedItems = retriedArchived, items
	case asynq.TaskStateCompleted:
		res, err := tasks.DecodeEmbedResult(info.Result)
		if err != nil {
			return 0, 0, fmt.Errorf("retry job %s batch %d: %w", id, seq, err)
		}
		if len(res.Errors) == 0 {
			return retriedNone, 0, nil
		}
		if len(res.Vectors) != len(p.Texts) {
			return 0, 0, fmt.Errorf("retry job %s batch %d: %d results for %d texts", id, seq, len(res.Vectors), len(p.Texts))
		}
		redo := make([]int, len(res.Errors))
		for i, e := range res.Errors {
			redo[i] = e.Index
		}
		p.Job.Redo = redo
		kind, failedItems = retriedPartial, countFailedItems(redo, p.Job.Counts)
		doneItems = items - failedItems
		// The result the failed texts are merged into, kept before the task
		// that holds it is deleted.
		if err := r.rdb.HSet(ctx, rk, strconv.Itoa(seq)+".result", info.Result).Err(); err != nil {
			return 0, 0, fmt.Errorf("retry job %s batch %d: %w", id, seq, err)
		}
	default:
		return retriedNone, 0, nil // queued or running
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return 0, 0, fmt.Errorf("retry job %s batch %d: %w", id, seq, err)
	}
	if err := r.rdb.HSet(ctx, rk, strconv.Itoa(seq), raw).Err(); err != nil {
		return 0, 0, fmt.Errorf("retry job %s batch %d: %w", id, seq, err)
	}
	if err := resetScript.Run(ctx, r.rdb, keys(id), seq, doneItems, failedItems).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return 0, 0, fmt.Errorf("retry job %s batch %d: %w", id, seq, err)
	}
	if err := r.insp.DeleteTask(r.st.Queue, tid); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
		return 0, 0, fmt.Errorf("retry job %s batch %d: %w", id, seq, err)
	}
	return kind, failedItems, r.send(ctx, seq, p)
}

// send enqueues batch seq with payload p under its task ID.
func (r *retrier) send(ctx context.Context, seq int, p tasks.EmbedPayload) error {
	retention := time.Duration(r.st.Retention) * time.Second
	if retention <= 0 {
		retention = tasks.DefaultRetention
	}
	_, err := Enqueue(ctx, r.client, r.producer, tasks.TypeEmbed, func(headers map[string]string) (*asynq.Task, error) {
		return tasks.NewEmbedTaskWithHeaders(p, headers, asynq.TaskID(TaskID(r.st.ID, seq)),
			asynq.Queue(r.st.Queue), asynq.Retention(retention))
	})
	if err != nil {
		return fmt.Errorf("retry job %s batch %d: %w", r.st.ID, seq, err)
	}
	return nil
}

// countFailedItems counts the items, of counts texts each (nil: one), that
// hold at least one of the failed texts.
func countFailedItems(failed []int, counts []int) int {
	if len(counts) == 0 {
		return len(failed)
	}
	n, start, k := 0, 0, 0
	for _, c := range counts {
		hit := false
		for k < len(failed) && failed[k] < start+c {
			hit = true
			k++
		}
		if hit {
			n++
		}
		start += c
	}
	return n
}

// KeptResult returns the result that Retry kept for a batch whose failed
// texts run again (tasks.JobResultKeeper).
func (r *Recorder) KeptResult(ctx context.Context, j tasks.JobRef) ([]byte, error) {
	c, ok := r.rdb.(redis.Cmdable)
	if !ok {
		return nil, errors.New("kept result: the recorder's Redis client cannot read hashes")
	}
	b, err := c.HGet(ctx, key(j.ID, keyRetry), strconv.Itoa(j.Batch)+".result").Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("%w: no kept result for job %s batch %d (expired or deleted)", tasks.ErrInvalidPayload, j.ID, j.Batch)
	}
	if err != nil {
		return nil, fmt.Errorf("kept result: %w", err)
	}
	return b, nil
}
