package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/clients"
)

// ErrInvalidPayload marks a task whose payload can never be run: not JSON,
// no texts, an empty text, too many texts, an unknown provider.
var ErrInvalidPayload = errors.New("invalid payload")

// ErrUnknownType marks a task whose type no handler serves.
var ErrUnknownType = errors.New("unknown task type")

// permanent marks err so that asynq archives the task at once.
func permanent(err error) error {
	return fmt.Errorf("%w (%w)", err, asynq.SkipRetry)
}

// classify marks a provider failure permanent when repeating the request
// cannot help; anything else is left to be retried.
func classify(err error) error {
	var apiErr *clients.APIError
	var streamErr *clients.StreamError
	switch {
	case errors.As(err, &apiErr) && apiErr.Permanent():
		return permanent(err)
	case errors.As(err, &streamErr) && streamErr.Permanent():
		return permanent(err)
	case errors.Is(err, clients.ErrInvalidRequest):
		return permanent(err)
	}
	return err
}

// Backoff bounds for retries without a provider-given delay.
const (
	minRetryDelay = time.Second
	maxRetryDelay = 5 * time.Minute
)

// retryDelayer is an error that says how long to wait:
// *clients.APIError (Retry-After, retry-after-ms), *clients.DeferredError
// (no budget, a provider's block, an open breaker) and
// *guard.PatienceError.
type retryDelayer interface {
	RetryDelay() (time.Duration, bool)
}

// RetryDelay is the asynq.Config.RetryDelayFunc for llmq's tasks. After a
// provider said how long to wait (Retry-After, retry-after-ms), or a
// deferral did (clients.DeferredError), it waits that long plus up to 10%
// jitter, so that the tasks sent back together do not return at the same
// instant. Otherwise it backs off exponentially from 1 s, doubling per
// retry up to 5 min, with jitter between half and the full delay.
func RetryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var rd retryDelayer
	if errors.As(err, &rd) {
		if d, ok := rd.RetryDelay(); ok {
			return d + rand.N(d/10+1)
		}
	}
	d := maxRetryDelay
	if n < 20 {
		d = min(minRetryDelay<<n, maxRetryDelay)
	}
	return d/2 + rand.N(d/2+1)
}

// IsFailure is the asynq.Config.IsFailure for llmq's tasks: a provider's
// rate limit (429 without an exhausted quota) and a deferral (errors.Is
// clients.ErrDeferred: no budget, the provider's announced block, an open
// circuit breaker, a call that failed the provider's way while the
// breaker was closed) are not the task's failure, so the task runs again
// after the delay without using up one of its retries. Every other error
// is a failure. How long a task may go on this way is bounded by
// guard.Patience, whose error is a failure. It asks the same function as
// Outcome.
func IsFailure(err error) bool {
	switch errorOutcome(err) {
	case OutcomeDeferred, OutcomeRateLimited:
		return false
	}
	return true
}

// Outcomes of one run of a task, as asynq acts on them.
const (
	// OutcomeSuccess: the task is done.
	OutcomeSuccess = "success"
	// OutcomeRetry: the run failed and asynq runs the task again after a
	// backoff, using up one of its retries.
	OutcomeRetry = "retry"
	// OutcomeRateLimited: the provider's rate limit; the task runs again
	// after the provider's delay without using up a retry (see IsFailure).
	OutcomeRateLimited = "rate_limited"
	// OutcomeDeferred: the provider was not called (no budget, its
	// announced block, an open circuit breaker), or it failed the call the
	// way an unwell provider does (clients.ErrProviderFailed); the task
	// runs again after the deferral's delay without using up a retry.
	OutcomeDeferred = "deferred"
	// OutcomeArchived: the task failed for good, for a permanent reason or
	// with its retries used up, and is archived.
	OutcomeArchived = "archived"
)

// Outcome tells what asynq does with a task whose run returned err; ctx is
// the run's context, which holds the task's retry counts. It is the one
// place that decides: LogError and the handlers' bookkeeping of failed
// attempts ask it too.
func Outcome(ctx context.Context, err error) string {
	if err == nil {
		return OutcomeSuccess
	}
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	return failureOutcome(err, retried, maxRetry)
}

// failureOutcome follows asynq v0.26's processor (handleFailedMessage): a
// task whose retries are used up, or whose error wraps SkipRetry, is
// archived, whatever IsFailure says of the error; only then does IsFailure
// tell a retry that uses up one of the task's retries from one that does
// not. So a rate limit on a task's last attempt archives it.
func failureOutcome(err error, retried, maxRetry int) string {
	if retried >= maxRetry {
		return OutcomeArchived
	}
	return errorOutcome(err)
}

// errorOutcome is what err alone makes of a task with retries left: the
// one decision that failureOutcome and IsFailure share.
func errorOutcome(err error) string {
	var apiErr *clients.APIError
	switch {
	case errors.Is(err, asynq.SkipRetry):
		return OutcomeArchived
	case errors.Is(err, clients.ErrDeferred):
		return OutcomeDeferred
	case errors.As(err, &apiErr) && apiErr.RateLimited():
		return OutcomeRateLimited
	}
	return OutcomeRetry
}

// Mux routes tasks to handlers by exact type. Unlike asynq.ServeMux alone,
// a task of an unknown type is archived at once with ErrUnknownType
// instead of being retried.
type Mux struct {
	mux *asynq.ServeMux
}

// NewMux returns a Mux serving the handlers, keyed by task type.
func NewMux(handlers map[string]asynq.Handler) *Mux {
	m := &Mux{mux: asynq.NewServeMux()}
	for typ, h := range handlers {
		m.mux.Handle(typ, h)
	}
	return m
}

// Use adds middleware, as asynq.ServeMux.Use does.
func (m *Mux) Use(mws ...asynq.MiddlewareFunc) { m.mux.Use(mws...) }

// ProcessTask runs the handler registered for t's type. An error that a
// timeout caused names which one fired: the task's (ErrTaskTimeout) or a
// request's (clients.ErrRequestTimeout, which the provider clients mark).
func (m *Mux) ProcessTask(ctx context.Context, t *asynq.Task) error {
	if _, pattern := m.mux.Handler(t); pattern != t.Type() {
		return permanent(fmt.Errorf("%w %q", ErrUnknownType, t.Type()))
	}
	return nameTimeout(ctx, m.mux.ProcessTask(ctx, t))
}

// ErrTaskTimeout marks a run that its task's own deadline ended (asynq's
// Timeout or Deadline option of the task).
var ErrTaskTimeout = errors.New("task timeout")

// nameTimeout marks err with ErrTaskTimeout when ctx, the task's, ran out.
func nameTimeout(ctx context.Context, err error) error {
	if err == nil || !errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, ErrTaskTimeout) {
		return err
	}
	if d, ok := ctx.Deadline(); ok {
		return fmt.Errorf("%w fired (deadline %s): %w", ErrTaskTimeout, d.UTC().Format(time.RFC3339), err)
	}
	return fmt.Errorf("%w fired: %w", ErrTaskTimeout, err)
}

// LogError returns an asynq.ErrorHandler that logs each failed attempt
// with the task's id, type, queue and retry count, its Outcome (retry,
// rate_limited, deferred or archived) and, when the error names one, the
// delay before the next attempt (RetryDelay adds up to 10% to it).
// Deferrals, which are routine under a budget or an open breaker, are
// logged at debug level, except a deferred call that failed
// (clients.ErrProviderFailed), which is a warning as failures are. It logs
// neither payloads nor results.
func LogError(logger *slog.Logger) asynq.ErrorHandler {
	return asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
		id, _ := asynq.GetTaskID(ctx)
		queue, _ := asynq.GetQueueName(ctx)
		retried, _ := asynq.GetRetryCount(ctx)
		maxRetry, _ := asynq.GetMaxRetry(ctx)
		outcome := failureOutcome(err, retried, maxRetry)
		level, msg := slog.LevelWarn, "task failed"
		if outcome == OutcomeDeferred {
			msg = "task deferred"
			if !errors.Is(err, clients.ErrProviderFailed) {
				level = slog.LevelDebug
			}
		}
		attrs := []slog.Attr{slog.String("task_id", id), slog.String("type", t.Type()), slog.String("queue", queue),
			slog.Int("retried", retried), slog.Int("max_retry", maxRetry), slog.String("outcome", outcome)}
		var rd retryDelayer
		if outcome != OutcomeArchived && errors.As(err, &rd) {
			if d, ok := rd.RetryDelay(); ok {
				attrs = append(attrs, slog.Duration("delay", d))
			}
		}
		logger.LogAttrs(ctx, level, msg, append(attrs, slog.String("error", err.Error()))...)
	})
}
