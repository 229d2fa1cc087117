package clients

import (
	"errors"
	"fmt"
	"time"
)

// ErrDeferred matches every DeferredError: the call was not made because
// the provider cannot take it now, or it failed the way a provider fails
// while unwell (ErrProviderFailed). It is not the task's failure: the task
// should run again after the error's delay without using a retry.
var ErrDeferred = errors.New("deferred")

// The reasons a call is deferred; each DeferredError matches exactly one
// of them as well as ErrDeferred.
var (
	// ErrNoBudget: the shared requests- or tokens-per-minute budget is
	// spent until the delay has passed.
	ErrNoBudget = errors.New("no budget")
	// ErrRateBlocked: the provider said (in its rate-limit headers or a
	// 429) that its limit is spent, and every worker waits for the reset.
	ErrRateBlocked = errors.New("rate limit spent")
	// ErrUnavailable: the provider's circuit breaker is open after failed
	// calls; the next probe is due after the delay.
	ErrUnavailable = errors.New("provider unavailable")
	// ErrProviderFailed: the call was sent and failed the provider's way
	// (a 5xx answer, a refused or reset connection, a request timeout)
	// while its circuit breaker was closed; the delay grows with how long
	// the task has been deferred without pause.
	ErrProviderFailed = errors.New("provider failed")
)

// DeferredError says "not now: come back after Delay". Code that sends a
// task back to its queue treats it as no failure of the task (see
// errors.Is(err, ErrDeferred)) and waits RetryDelay.
type DeferredError struct {
	// Provider names the provider ("openai", "ollama").
	Provider string
	// Reason is, or wraps, ErrNoBudget, ErrRateBlocked, ErrUnavailable or
	// ErrProviderFailed; a call that failed as its provider's breaker
	// opened has ErrUnavailable wrapping the call's error, one that failed
	// while the breaker was closed ErrProviderFailed wrapping it.
	Reason error
	// Delay is how long to wait before trying again; at least 1ms.
	Delay time.Duration
}

// Defer returns a DeferredError for provider, with delay raised to 1ms.
func Defer(provider string, reason error, delay time.Duration) *DeferredError {
	return &DeferredError{Provider: provider, Reason: reason, Delay: max(delay, time.Millisecond)}
}

func (e *DeferredError) Error() string {
	return fmt.Sprintf("%s: %v, come back in %s", e.Provider, e.Reason, e.Delay.Round(time.Millisecond))
}

// Unwrap makes the error match ErrDeferred and its Reason.
func (e *DeferredError) Unwrap() []error { return []error{ErrDeferred, e.Reason} }

// RetryDelay returns Delay: the same method as APIError's, so one
// interface finds the wait in either.
func (e *DeferredError) RetryDelay() (time.Duration, bool) { return e.Delay, true }
