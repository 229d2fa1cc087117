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

// PatienceError is a deferral (or a provider's 429, or a call that failed
// the provider's way) of a task that has been deferred without pause
// since Since, longer than the bound. It does not match
// clients.ErrDeferred: the task now uses its retries.
type PatienceError struct {
	// Since is when the task was first deferred without pause.
	Since time.Time
	// Bound is the patience that ran out.
	Bound time.Duration
	// Delay is the deferral's wait, still the right time to come back; for
	// a failed call, the provider's Retry-After if it sent one, else 0
	// (the task's retries then back off as for any failure).
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
// *PatienceError. A *PatienceError (the Guard's, for a failed call past
// the bound) leaves the run going on; any other outcome (nil included)
// ends the task's run of deferrals. A Redis error leaves err unchanged:
// patience is not worth failing a task for.
func (p *Patience) Check(ctx context.Context, taskID string, err error) error {
	if taskID == "" || errors.Is(err, ErrImpatient) {
		return err
	}
	delay, ok := deferral(err)
	if !ok {
		p.rdb.Del(context.WithoutCancel(ctx), key(taskID))
		return err
	}
	first, rerr := p.began(ctx, taskID)
	if rerr != nil || time.Since(first) <= p.bound {
		return err
	}
	return &PatienceError{Since: first, Bound: p.bound, Delay: delay, Msg: err.Error()}
}

func key(taskID string) string { return "llmq:deferred:" + taskID }

// began returns when the task's current run of deferrals began, and
// begins one now if none is under way.
func (p *Patience) began(ctx context.Context, taskID string) (time.Time, error) {
	ctx = context.WithoutCancel(ctx)
	now := time.Now()
	set, err := p.rdb.SetNX(ctx, key(taskID), now.UnixMicro(), p.bound+time.Hour).Result()
	if err != nil {
		return time.Time{}, fmt.Errorf("patience of task %s: %w", taskID, err)
	}
	if set {
		return now, nil
	}
	s, err := p.rdb.Get(ctx, key(taskID)).Result()
	if err != nil {
		return time.Time{}, fmt.Errorf("patience of task %s: %w", taskID, err)
	}
	us, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return now, nil // not ours to fix: the run is taken to begin now
	}
	return time.UnixMicro(us), nil
}

// taskRun is the task whose run a context carries (Patience.WithTask).
type taskRun struct {
	p  *Patience
	id string
}

type taskRunKey struct{}

// WithTask returns a context that lets the Guards called with it defer a
// failed call of task taskID under p (see Guard.Do); Middleware gives it
// to every task it runs.
func (p *Patience) WithTask(ctx context.Context, taskID string) context.Context {
	if taskID == "" {
		return ctx
	}
	return context.WithValue(ctx, taskRunKey{}, taskRun{p: p, id: taskID})
}

func taskRunFrom(ctx context.Context) (taskRun, bool) {
	r, ok := ctx.Value(taskRunKey{}).(taskRun)
	return r, ok
}

// Middleware runs every task with its ID in the context (WithTask), and
// applies Check to the task's outcome.
func (p *Patience) Middleware(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		err := next.ProcessTask(p.WithTask(ctx, id), t)
		return p.Check(ctx, id, err)
	})
}
