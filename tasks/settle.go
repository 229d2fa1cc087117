package tasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/clients"
)

// DefaultSettleWait is SettleWithRedis's bound when it is given 0.
const DefaultSettleWait = 20 * time.Second

// settlePoll is how often SettleWithRedis pings a Redis that did not
// answer.
const settlePoll = 250 * time.Millisecond

// redisRetryDelay is when a task whose run met a Redis outage runs again.
const redisRetryDelay = time.Second

// ErrRedisUnavailable is the reason of a deferral returned for a task
// whose run failed while Redis did not answer.
var ErrRedisUnavailable = errors.New("redis unavailable")

// redisDeferral is a failed run during a Redis outage: a deferral (it
// matches clients.ErrDeferred and ErrRedisUnavailable) that still matches
// the run's own error.
type redisDeferral struct{ err error }

func (e *redisDeferral) Error() string {
	return fmt.Sprintf("%v while Redis did not answer; come back in %s", e.err, redisRetryDelay)
}

func (e *redisDeferral) Unwrap() []error {
	return []error{clients.ErrDeferred, ErrRedisUnavailable, e.err}
}

// RetryDelay returns when the task runs again.
func (e *redisDeferral) RetryDelay() (time.Duration, bool) { return redisRetryDelay, true }

// SettleWithRedis returns middleware that hands a task's outcome to asynq
// only once Redis answers a PING, waiting at most maxWait
// (DefaultSettleWait if 0; keep it below asynq's 30 s lease).
//
// Why: asynq v0.26 cannot record an outcome that failed to reach Redis.
// Its retries of Done, Retry and the like run with a context that was
// cancelled when the first try returned, so a task finished during a
// Redis outage sits "active" until its lease runs out, is taken back by
// the once-a-minute recoverer, runs again and uses a retry. While this
// middleware waits, the task is still running for asynq, whose heartbeat
// extends its lease as soon as Redis answers; asynq then records the
// outcome directly.
//
// A run that failed (without asynq.SkipRetry) while Redis did not answer
// most likely failed for that reason (a job counter or a result that
// could not be written); it comes back as a deferral (clients.ErrDeferred,
// ErrRedisUnavailable) that does not use a retry and runs again after a
// second. A run that succeeded stays a success.
//
// It costs one PING per task while Redis is healthy.
func SettleWithRedis(rdb redis.UniversalClient, maxWait time.Duration) func(asynq.Handler) asynq.Handler {
	if maxWait <= 0 {
		maxWait = DefaultSettleWait
	}
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			err := next.ProcessTask(ctx, t)
			if ping(rdb) {
				return err
			}
			deadline := time.Now().Add(maxWait)
			for time.Now().Before(deadline) {
				time.Sleep(settlePoll)
				if ping(rdb) {
					break
				}
			}
			if err != nil && !errors.Is(err, asynq.SkipRetry) && !errors.Is(err, clients.ErrDeferred) {
				return &redisDeferral{err: err}
			}
			return err
		})
	}
}

// ping reports whether Redis answers. Not the task's context: its
// deadline may have passed.
func ping(rdb redis.UniversalClient) bool {
	ctx, cancel := context.WithTimeout(context.Background(), settlePoll)
	defer cancel()
	return rdb.Ping(ctx).Err() == nil
}
