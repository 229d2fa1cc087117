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
)

// CancelReason says why a job was cancelled; the errors export names it
// for every item that did not run.
type CancelReason string

// Reasons to cancel a job.
const (
	// ReasonCancelled is a cancellation asked for by the job's owner.
	ReasonCancelled CancelReason = "cancelled"
	// ReasonExpired is a job that ran out of its time (the Batch API's
	// completion window).
	ReasonExpired CancelReason = "expired"
)

// Messages of the items that a cancellation kept from running, as the
// errors export writes them. In the Batch API format their error codes
// are batch_cancelled and batch_expired.
const (
	CancelledMessage = "cancelled before it ran"
	ExpiredMessage   = "not run before the batch expired"
)

// Message returns the errors export's message for an item that the
// cancellation kept from running.
func (r CancelReason) Message() string {
	if r == ReasonExpired {
		return ExpiredMessage
	}
	return CancelledMessage
}

// failCode is the Batch API error code of a batch that failed as a whole
// for reason: batch_cancelled and batch_expired for items a cancellation
// kept from running, batch_failed otherwise.
func failCode(reason string) string {
	switch reason {
	case CancelledMessage:
		return "batch_cancelled"
	case ExpiredMessage:
		return "batch_expired"
	}
	return "batch_failed"
}

// CancelSummary is what Cancel did.
type CancelSummary struct {
	// Removed counts the batches taken out of the queue unrun, and Items
	// their items; Running counts the batches that were running and are
	// left to finish.
	Removed, Items, Running int
	// Reason is the job's cancel reason: the first Cancel's, if it was
	// cancelled before.
	Reason CancelReason
}

// KEYS: manifest, sent, run, done, dups, cancelled. ARGV: batch, items.
// Counts a removed batch once, as finished with its items cancelled.
var cancelScript = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
if redis.call("SETBIT", KEYS[4], ARGV[1], 1) == 1 then return 0 end
if redis.call("SETBIT", KEYS[3], ARGV[1], 0) == 1 then
	redis.call("HINCRBY", KEYS[1], "active", -tonumber(ARGV[2]))
end
redis.call("HINCRBY", KEYS[1], "cancelled", ARGV[2])
return 1
`)

// Cancel cancels a job: its batches still queued (pending, scheduled or
// waiting for a retry) are removed from the queue, those running finish
// and keep their results, and the job's status then records the reason
// (Status.CancelReason). Once the running batches are done the job is
// Finished, and Export writes every item that did not run to the errors
// output with reason.Message() (in the Batch API format, with the code
// batch_cancelled or batch_expired).
//
// Cancel is idempotent: a job cancelled again keeps its first reason and
// time, and batches removed before are not counted twice. A job still
// being submitted has only the batches sent so far cancelled: call Cancel
// again once its submission has ended. A finished job is left as it is,
// with the reason recorded. It returns ErrNotFound for an unknown job.
func Cancel(ctx context.Context, rdb redis.UniversalClient, id string, reason CancelReason) (*CancelSummary, error) {
	if reason == "" {
		reason = ReasonCancelled
	}
	m, _, err := Load(ctx, rdb, id)
	if err != nil {
		return nil, err
	}
	mk := key(id, keyManifest)
	_, err = rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HSetNX(ctx, mk, "cancel_reason", string(reason))
		pipe.HSetNX(ctx, mk, "cancelled_ms", time.Now().UnixMilli())
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cancel job %s: %w", id, err)
	}
	if r, err := rdb.HGet(ctx, mk, "cancel_reason").Result(); err == nil {
		reason = CancelReason(r)
	}
	sent, err := rdb.Get(ctx, key(id, keySent)).Bytes()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("cancel job %s: %w", id, err)
	}
	done, err := rdb.Get(ctx, key(id, keyDone)).Bytes()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("cancel job %s: %w", id, err)
	}
	sum := &CancelSummary{Reason: reason}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for seq := 0; seq < 8*len(sent); seq++ {
		if !bit(sent, seq) || bit(done, seq) {
			continue
		}
		g.Go(func() error {
			removed, items, err := cancelBatch(gctx, rdb, insp, m, seq)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if removed {
				sum.Removed++
				sum.Items += items
			} else if items < 0 {
				sum.Running++
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return sum, nil
}

// cancelBatch removes batch seq from the queue unless it runs or has
// finished. It returns whether it removed it and its items; items is -1
// for a batch that is running.
func cancelBatch(ctx context.Context, rdb redis.UniversalClient, insp *asynq.Inspector, m *Manifest, seq int) (bool, int, error) {
	tid := TaskID(m.ID, seq)
	info, err := insp.GetTaskInfo(m.Queue, tid)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return false, 0, nil
	case err != nil:
		return false, 0, fmt.Errorf("cancel job %s batch %d: %w", m.ID, seq, err)
	}
	switch info.State {
	case asynq.TaskStateActive:
		return false, -1, nil
	case asynq.TaskStateCompleted, asynq.TaskStateArchived:
		return false, 0, nil
	}
	var p tasks.EmbedPayload
	if err := json.Unmarshal(info.Payload, &p); err != nil {
		return false, 0, fmt.Errorf("cancel job %s batch %d: payload: %w", m.ID, seq, err)
	}
	items := len(p.Texts)
	if p.Job != nil {
		items = p.Job.Len(len(p.Texts))
	}
	// Keep the payload first: the export needs the items' IDs.
	ck := key(m.ID, keyCancelled)
	if err := rdb.HSet(ctx, ck, strconv.Itoa(seq), info.Payload).Err(); err != nil {
		return false, 0, fmt.Errorf("cancel job %s batch %d: %w", m.ID, seq, err)
	}
	if m.Retention > 0 {
		rdb.Expire(ctx, ck, time.Duration(m.Retention)*time.Second)
	}
	if err := insp.DeleteTask(m.Queue, tid); err != nil {
		if errors.Is(err, asynq.ErrTaskNotFound) {
			// Another Cancel removed it in the meantime, and counts it:
			// the payload it kept, the same as ours, stays for the export.
			return false, 0, nil
		}
		// It started in the meantime: it is not cancelled.
		rdb.HDel(ctx, ck, strconv.Itoa(seq))
		return false, -1, nil
	}
	if err := cancelScript.Run(ctx, rdb, keys(m.ID), seq, items).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return false, 0, fmt.Errorf("cancel job %s batch %d: %w", m.ID, seq, err)
	}
	return true, items, nil
}

// cancelledTask stands in for the task of a batch that Cancel removed:
// its payload, kept by Cancel, and a failure that names the reason.
func cancelledTask(ctx context.Context, rdb redis.UniversalClient, st *Status, seq int) (*asynq.TaskInfo, error) {
	raw, err := rdb.HGet(ctx, key(st.ID, keyCancelled), strconv.Itoa(seq)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("job %s batch %d: %w", st.ID, seq, asynq.ErrTaskNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("job %s batch %d: %w", st.ID, seq, err)
	}
	return &asynq.TaskInfo{ID: TaskID(st.ID, seq), Queue: st.Queue, Payload: raw,
		State: asynq.TaskStateArchived, LastErr: st.CancelReason.Message()}, nil
}

// bit reports whether bit n of a Redis bitmap is set (Redis numbers bits
// from the most significant of each byte).
func bit(b []byte, n int) bool {
	return n/8 < len(b) && b[n/8]&(0x80>>(n%8)) != 0
}
