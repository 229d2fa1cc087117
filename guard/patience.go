package guard

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/clients"
)

// DefaultPatience is Patience's default bound.
const DefaultPatience = 30 * time.Minute

// ErrImpatient matches every PatienceError.
var ErrImpatient = errors.New("deferred too long")

// PatienceError is a deferral (or a provider's 429) of a task that has
// been deferred without pause since Since, longer than the bound. It does
// not match clients.ErrDeferred: the task now uses its retries.
type PatienceError struct {
	// Since is when the task was first deferred without pause.
	Since time.Time
	// Bound is the patience that ran out.
	Bound time.Duration
	// Delay is the deferral's wait, still the right time to come back.
	Delay time.Duration
	// Msg is the deferral's message.
	Msg string
}

func (e *PatienceError) Error() string {
	return fmt.Sprintf("deferred without pause since %s, longer than %s: %s", e.Since.UTC().Format(time.RFC3339), e.Bound, e.Msg)
}

// Unwrap makes the error match ErrImpatient only.
func (e *PatienceError) Unwrap() error { return ErrImpatient }

// RetryDelay returns the deferral's wait.
func (e *PatienceError) RetryDelay() (time.Duration, bool) { return e.Delay, e.Delay > 0 }

// Patience bounds how long a task may be deferred without pause; see the
// package documentation. Keys: llmq:deferred:<task ID>.
type Patience struct {
	rdb   redis.UniversalClient
	bound time.Duration
}

// NewPatience returns a Patience with bound (DefaultPatience if 0).
func NewPatience(rdb redis.UniversalClient, bound time.Duration) *Patience {
	if bound <= 0 {
		bound = DefaultPatience
	}
	return &Patience{rdb: rdb, bound: bound}
}

// deferral returns the wait err asks for if err is a deferral: a
// *clients.DeferredError or a provider's 429.
func deferral(err error) (time.Duration, bool) {
	var de *clients.DeferredError
	if errors.As(err, &de) {
		return de.Delay, true
	}
	var apiErr *clients.APIError
	if errors.As(err, &apiErr) && apiErr.RateLimited() {
		return apiErr.RetryAfter, true
	}
	return 0, false
}

// Check returns err unchanged, except for a deferral of a task deferred
// without pause for longer than the bound, which becomes a
// *PatienceError. Any other outcome (nil included) ends the task's run of
// deferrals. A Redis error leaves err unchanged: patience is not worth
// failing a task for.
func (p *Patience) Check(ctx context.Context, taskID string, err error) error {
	if taskID == "" {
		return err
	}
	key := "llmq:deferred:" + taskID
	ctx = context.WithoutCancel(ctx)
	delay, ok := deferral(err)
	if !ok {
		p.rdb.Del(ctx, key)
		return err
	}
	now := time.Now()
	ttl := p.bound + time.Hour
	first := now
	set, rerr := p.rdb.SetNX(ctx, key, now.UnixMicro(), ttl).Result()
	if rerr != nil || set {
		return err
	}
	s, rerr := p.rdb.Get(ctx, key).Result()
	if rerr != nil {
		return err
	}
	if us, perr := strconv.ParseInt(s, 10, 64); perr == nil {
		first = time.UnixMicro(us)
	}
	if now.Sub(first) <= p.bound {
		return err
	}
	return &PatienceError{Since: first, Bound: p.bound, Delay: delay, Msg: err.Error()}
}

// Middleware applies Check to every task's outcome, with the task's ID.
func (p *Patience) Middleware(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		err := next.ProcessTask(ctx, t)
		id, _ := asynq.GetTaskID(ctx)
		return p.Check(ctx, id, err)
	})
}
