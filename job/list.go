package job

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// State is a job's state in one word, derived from its Status.
type State string

// Job states, in the order a job goes through them.
const (
	// StateSubmitting: batches are still being enqueued.
	StateSubmitting State = "submitting"
	// StateQueued: every batch is enqueued and none has started.
	StateQueued State = "queued"
	// StateRunning: some batch has started and some is left.
	StateRunning State = "running"
	// StateCancelling: cancelled, with batches still running.
	StateCancelling State = "cancelling"
	// StateDone: every item finished, none failed.
	StateDone State = "done"
	// StateFailed: every item finished, some failed.
	StateFailed State = "failed"
	// StateCancelled: cancelled, and nothing runs any more; the items
	// that did not run are reported as cancelled (or expired).
	StateCancelled State = "cancelled"
)

// State returns the job's state.
func (s *Status) State() State {
	switch {
	case s.CancelReason != "" && s.Finished:
		return StateCancelled
	case s.CancelReason != "":
		return StateCancelling
	case s.Submitting:
		return StateSubmitting
	case s.Finished && s.Failed > 0:
		return StateFailed
	case s.Finished:
		return StateDone
	case s.Started == 0 && s.Active == 0:
		return StateQueued
	}
	return StateRunning
}

// Age is the time since the job was created.
func (s *Status) Age(now time.Time) time.Duration {
	return now.Sub(time.UnixMilli(s.Created))
}

// ListOptions filter and bound List.
type ListOptions struct {
	// States keeps only the jobs in one of these states; empty keeps all.
	States []State
	// Limit is the most jobs returned, the newest first; 0 returns all.
	Limit int
}

// List returns the jobs Redis knows, the newest first. It finds them by
// scanning the keyspace for job manifests (SCAN, on every master of a
// Redis Cluster), so its cost grows with the number of keys, not of jobs:
// it is meant for a person's "which jobs are there", not for a hot path.
func List(ctx context.Context, rdb redis.UniversalClient, opts ListOptions) ([]*Status, error) {
	var mu sync.Mutex
	var ids []string
	scan := func(ctx context.Context, c redis.Cmdable) error {
		it := c.ScanType(ctx, 0, "llmq:job:{*}", 1000, "hash").Iterator()
		for it.Next(ctx) {
			k := it.Val()
			if !strings.HasSuffix(k, "}") {
				continue
			}
			mu.Lock()
			ids = append(ids, strings.TrimSuffix(strings.TrimPrefix(k, "llmq:job:{"), "}"))
			mu.Unlock()
		}
		return it.Err()
	}
	var err error
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, rdb)
	}
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	out := make([]*Status, 0, len(ids))
	for _, id := range ids {
		st, err := GetStatus(ctx, rdb, id)
		if err != nil {
			continue // deleted or expired since the scan
		}
		if len(opts.States) > 0 && !slices.Contains(opts.States, st.State()) {
			continue
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b *Status) int {
		if a.Created != b.Created {
			return cmp.Compare(b.Created, a.Created)
		}
		return strings.Compare(a.ID, b.ID)
	})
	if opts.Limit > 0 && len(out) > opts.Limit {
		out = out[:opts.Limit]
	}
	return out, nil
}
