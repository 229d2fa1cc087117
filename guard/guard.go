package guard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/breaker"
	"github.com/llmq/llmq/budget"
	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/inflight"
)

// DefaultMaxWait is Config.MaxWait's default.
const DefaultMaxWait = time.Second

// Config configures a Guard. The zero value of each field means the
// default documented on it, or on the field of the package it configures.
type Config struct {
	// Budget configures the shared budget (Budget.Limit: 0 = no limit).
	Budget budget.Config
	// Breaker configures the circuit breaker. Logger and MeterProvider
	// default to the Guard's.
	Breaker breaker.Config
	// Concurrency configures the in-flight limit; Concurrency.Max, the
	// worker's pool size, is required. Provider and MeterProvider default
	// to the Guard's.
	Concurrency inflight.Config
	// MaxWait is the longest deferral Do waits out itself before it
	// returns the *clients.DeferredError. Default 1s; negative: never wait.
	MaxWait time.Duration
	// Estimate returns the tokens a text is expected to cost, for the
	// budget's reservation. Default: one token per 3 bytes, rounded up.
	// The worker passes tasks.EstimateTokens.
	Estimate func(text string) int
	// MaxOutputTokens is what a generation is assumed to produce when its
	// Options name neither max_tokens nor num_predict. Default 1024.
	MaxOutputTokens int
	// Logger receives the breaker's transitions and errors of Redis that
	// do not stop a call. Default slog.Default().
	Logger *slog.Logger
}

// DefaultMaxOutputTokens is Config.MaxOutputTokens's default.
const DefaultMaxOutputTokens = 1024

// Guard guards the calls to one provider. It is safe for concurrent use.
type Guard struct {
	provider string
	cfg      Config
	budget   *budget.Budget
	breaker  *breaker.Breaker
	limit    *inflight.Limiter
	log      *slog.Logger
}

// New returns provider's Guard, its budget in rdb.
func New(rdb redis.UniversalClient, provider string, cfg Config) (*Guard, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.Estimate == nil {
		cfg.Estimate = func(s string) int { return (len(s) + 2) / 3 }
	}
	if cfg.MaxOutputTokens == 0 {
		cfg.MaxOutputTokens = DefaultMaxOutputTokens
	}
	b, err := budget.New(rdb, provider, cfg.Budget)
	if err != nil {
		return nil, err
	}
	if cfg.Breaker.Logger == nil {
		cfg.Breaker.Logger = cfg.Logger
	}
	if cfg.Breaker.MeterProvider == nil {
		cfg.Breaker.MeterProvider = cfg.Concurrency.MeterProvider
	}
	br, err := breaker.New(provider, cfg.Breaker)
	if err != nil {
		return nil, err
	}
	if cfg.Concurrency.Provider == "" {
		cfg.Concurrency.Provider = provider
	}
	if cfg.Concurrency.MeterProvider == nil {
		cfg.Concurrency.MeterProvider = cfg.Breaker.MeterProvider
	}
	l, err := inflight.New(cfg.Concurrency)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", provider, err)
	}
	return &Guard{provider: provider, cfg: cfg, budget: b, breaker: br, limit: l, log: cfg.Logger}, nil
}

// Call is one provider call. It returns the tokens the provider counted
// (input plus output), or -1 if it did not say.
type Call func(ctx context.Context) (tokens int, err error)

// Do runs call under the guard with an estimated cost of tokens (input
// tokens, plus max_tokens for a generation). It returns call's error, or a
// *clients.DeferredError if the provider cannot take the call now, or
// ctx's error if ctx ended while Do waited.
//
// A call that failed the provider's way (breaker.Failure: a 5xx answer, a
// connection failure, a timeout) is the provider's failure, not the
// task's, and comes back as a deferral that still matches call's error:
//
//   - while the breaker is open after it (the call opened it, failed the
//     probe, or was in flight when it opened): a *clients.DeferredError
//     matching clients.ErrUnavailable, due when the next probe is;
//   - while the breaker is closed, in a task's run (ctx from
//     Patience.WithTask, which Patience.Middleware gives every task): a
//     *clients.DeferredError matching clients.ErrProviderFailed, due after
//     FailureDelay of the time the task has been deferred without pause
//     (or the provider's Retry-After, if longer), or, once that time is
//     past the Patience's bound, a *PatienceError, a failure of the task.
//
// Outside a task's run, or when Redis cannot say when the run began, or
// when ctx has ended (the task's own deadline), a failure while the
// breaker is closed is returned as it is: a failure of the task.
func (g *Guard) Do(ctx context.Context, tokens int, call Call) error {
	res, done, err := g.admit(ctx, tokens)
	if err != nil {
		return err
	}
	release, err := g.limit.Acquire(ctx)
	if err != nil {
		done(context.Canceled) // waited in line: says nothing of the provider
		g.cancel(res)
		return err
	}
	used, err := call(clients.WithResponseObserver(ctx, g.observer(ctx)))
	done(err)
	release(outcome(err))
	if breaker.Failure(err) {
		if s := g.breaker.Snapshot(); s.State == breaker.Open {
			// This failure opened the breaker (or failed its probe, or came
			// while it was open): the provider is unwell, not the task, so
			// the task comes back after the cool-down without using a
			// retry. The error still matches the call's.
			return clients.Defer(g.provider, fmt.Errorf("%w: %w", clients.ErrUnavailable, err), s.RetryIn)
		}
		return g.deferFailure(ctx, err)
	}
	switch {
	case errors.Is(err, clients.ErrInvalidRequest):
		g.cancel(res) // never sent
	case err == nil:
		if cerr := res.Correct(context.WithoutCancel(ctx), used); cerr != nil {
			g.log.WarnContext(ctx, "budget not corrected", slog.String("provider", g.provider), slog.String("error", cerr.Error()))
		}
	}
	return err
}

// MinFailureDelay is FailureDelay's least wait: the first after a failed
// call.
const MinFailureDelay = time.Second

// FailureDelay is the wait after a call that failed the provider's way
// while its breaker was closed, for a task deferred without pause for
// ran: as long again as the task has been deferred (so the run's calls go
// at about 0, 1, 2, 4, 8 s... after its start), at least MinFailureDelay
// and at most maxDelay (the breaker's longest cool-down,
// BREAKER_MAX_COOLDOWN), or MinFailureDelay if maxDelay is shorter.
func FailureDelay(ran, maxDelay time.Duration) time.Duration {
	return min(max(ran, MinFailureDelay), max(maxDelay, MinFailureDelay))
}

// deferFailure returns err, a call's failure the provider's way while the
// breaker is closed, as Do documents.
func (g *Guard) deferFailure(ctx context.Context, err error) error {
	run, ok := taskRunFrom(ctx)
	if !ok || ctx.Err() != nil {
		return err
	}
	since, rerr := run.p.began(ctx, run.id)
	if rerr != nil {
		g.log.WarnContext(ctx, "failed call not deferred", slog.String("provider", g.provider), slog.String("error", rerr.Error()))
		return err
	}
	ran := time.Since(since)
	var after time.Duration // the provider's Retry-After, if any
	var apiErr *clients.APIError
	if errors.As(err, &apiErr) {
		after = apiErr.RetryAfter
	}
	if ran > run.p.bound {
		return &PatienceError{Since: since, Bound: run.p.bound, Delay: after, Msg: err.Error()}
	}
	delay := max(FailureDelay(ran, g.breaker.MaxCooldown()), after)
	return clients.Defer(g.provider, fmt.Errorf("%w (breaker closed; deferred %s so far): %w",
		clients.ErrProviderFailed, ran.Round(100*time.Millisecond), err), delay)
}

// admit takes budget and the breaker's permission, waiting out deferrals
// up to MaxWait in all.
func (g *Guard) admit(ctx context.Context, tokens int) (*budget.Reservation, func(error), error) {
	var waited time.Duration
	for {
		res, err := g.budget.Reserve(ctx, tokens)
		if err == nil {
			var done func(error)
			done, err = g.breaker.Allow()
			if err == nil {
				return res, done, nil
			}
			g.cancel(res)
		}
		var de *clients.DeferredError
		if !errors.As(err, &de) || g.cfg.MaxWait < 0 || waited+de.Delay > g.cfg.MaxWait {
			return nil, nil, err
		}
		t := time.NewTimer(de.Delay)
		select {
		case <-t.C:
			waited += de.Delay
		case <-ctx.Done():
			t.Stop()
			return nil, nil, ctx.Err()
		}
	}
}

func (g *Guard) cancel(res *budget.Reservation) {
	if err := res.Cancel(context.Background()); err != nil {
		g.log.Warn("budget not given back", slog.String("provider", g.provider), slog.String("error", err.Error()))
	}
}

// observer records the block a response calls for.
func (g *Guard) observer(ctx context.Context) clients.ResponseObserver {
	return func(status int, h http.Header) {
		if budget.BlockFor(status, h, time.Now()) <= 0 {
			return
		}
		d, err := g.budget.Observe(context.WithoutCancel(ctx), status, h)
		if err != nil {
			g.log.WarnContext(ctx, "provider block not recorded", slog.String("provider", g.provider), slog.String("error", err.Error()))
			return
		}
		g.log.InfoContext(ctx, "provider rate limit spent: every worker waits", slog.String("provider", g.provider),
			slog.Int("status", status), slog.Duration("blocked_for", d))
	}
}

// outcome is what err tells the in-flight limit.
func outcome(err error) inflight.Outcome {
	var apiErr *clients.APIError
	var netErr net.Error
	switch {
	case err == nil:
		return inflight.Success
	case errors.As(err, &apiErr):
		if apiErr.RateLimited() {
			return inflight.Overload
		}
		if apiErr.StatusCode < http.StatusInternalServerError {
			return inflight.Success // answered, in its usual time
		}
		return inflight.Ignore
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return inflight.Overload
	}
	return inflight.Ignore
}

// Snapshot is a Guard's state, for /stats.
type Snapshot struct {
	Provider string       `json:"provider"`
	Limit    budget.Limit `json:"budget"`
	// BlockedFor is what is left of the provider's announced block.
	BlockedFor  time.Duration     `json:"blocked_for_ns"`
	Breaker     breaker.Snapshot  `json:"breaker"`
	Concurrency inflight.Snapshot `json:"concurrency"`
	// Error says why BlockedFor could not be read, if it could not.
	Error string `json:"error,omitempty"`
}

// Snapshot returns the guard's state now; BlockedFor costs one Redis
// round trip.
func (g *Guard) Snapshot(ctx context.Context) Snapshot {
	s := Snapshot{Provider: g.provider, Limit: g.budget.Limit(), Breaker: g.breaker.Snapshot(), Concurrency: g.limit.Snapshot()}
	d, err := g.budget.BlockedFor(ctx)
	if err != nil {
		s.Error = err.Error()
	}
	s.BlockedFor = d
	return s
}

// Provider returns the provider's name.
func (g *Guard) Provider() string { return g.provider }
