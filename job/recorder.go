package job

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/tasks"
)

// Recorder keeps the progress counters of jobs in Redis for the embed
// handler (it is a tasks.JobRecorder). Each batch is counted once however
// often it runs: the :done bitmap's SETBIT returns the old bit, and only
// the first finish of a batch adds its items to done and failed. The
// :run bitmap does the same for the active count. A batch of a job that
// Redis no longer knows is not counted.
type Recorder struct {
	rdb redis.Scripter
	now func() time.Time
}

var _ tasks.JobRecorder = (*Recorder)(nil)

// NewRecorder returns a Recorder writing to rdb.
func NewRecorder(rdb redis.Scripter) *Recorder {
	return &Recorder{rdb: rdb, now: time.Now}
}

// KEYS: manifest, sent, run, done, dups. ARGV: batch, items, now (ms).
var startScript = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
if redis.call("GETBIT", KEYS[4], ARGV[1]) == 1 then return 0 end
if redis.call("SETBIT", KEYS[3], ARGV[1], 1) == 0 then
	redis.call("HINCRBY", KEYS[1], "active", ARGV[2])
end
redis.call("HSETNX", KEYS[1], "started_ms", ARGV[3])
return 1
`)

// ARGV: batch, items, failed, now (ms).
var finishScript = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
if redis.call("SETBIT", KEYS[4], ARGV[1], 1) == 1 then return 0 end
if redis.call("SETBIT", KEYS[3], ARGV[1], 0) == 1 then
	redis.call("HINCRBY", KEYS[1], "active", -tonumber(ARGV[2]))
end
redis.call("HINCRBY", KEYS[1], "done", tonumber(ARGV[2]) - tonumber(ARGV[3]))
redis.call("HINCRBY", KEYS[1], "failed", ARGV[3])
redis.call("HSETNX", KEYS[1], "started_ms", ARGV[4])
redis.call("HSET", KEYS[1], "updated_ms", ARGV[4])
local ttl = tonumber(redis.call("HGET", KEYS[1], "retention_s") or "0")
if ttl > 0 then
	for i = 1, #KEYS do redis.call("EXPIRE", KEYS[i], ttl) end
end
return 1
`)

// ARGV: batch, items.
var releaseScript = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
if redis.call("GETBIT", KEYS[4], ARGV[1]) == 1 then return 0 end
if redis.call("SETBIT", KEYS[3], ARGV[1], 0) == 1 then
	redis.call("HINCRBY", KEYS[1], "active", -tonumber(ARGV[2]))
end
return 1
`)

// BatchStarted counts the batch's items as active.
func (r *Recorder) BatchStarted(ctx context.Context, j tasks.JobRef, items int) error {
	return r.run(ctx, startScript, j.ID, j.Batch, items, r.now().UnixMilli())
}

// BatchFinished counts the batch's items as done or failed.
func (r *Recorder) BatchFinished(ctx context.Context, j tasks.JobRef, items, failed int) error {
	return r.run(ctx, finishScript, j.ID, j.Batch, items, failed, r.now().UnixMilli())
}

// BatchReleased stops counting the batch's items as active.
func (r *Recorder) BatchReleased(ctx context.Context, j tasks.JobRef, items int) error {
	return r.run(ctx, releaseScript, j.ID, j.Batch, items)
}

func (r *Recorder) run(ctx context.Context, s *redis.Script, id string, args ...any) error {
	if err := s.Run(ctx, r.rdb, keys(id), args...).Err(); err != nil && err != redis.Nil {
		return fmt.Errorf("job %s: %w", id, err)
	}
	return nil
}
