// Package guard puts one provider's budget, circuit breaker and adaptive
// in-flight limit around each call to it, so that a task handler only
// calls through a Guard and sends a deferred task back to its queue.
//
// Guard.Do runs, in order:
//
//  1. the shared block the provider announced, and the shared
//     requests/tokens budget (package budget: one Redis round trip);
//  2. the circuit breaker (package breaker, per process);
//  3. the adaptive in-flight limit (package inflight, per process; the
//     only step that waits, in line, until ctx ends);
//  4. the call, with a clients.ResponseObserver in its context that
//     records the block any response's rate-limit headers call for;
//  5. the budget's correction from the call's real token usage, the
//     breaker's and the limit's view of the outcome.
//
// When step 1 or 2 says "not now" for at most Config.MaxWait, Do waits
// that long (holding no connection, and no slot of the in-flight limit)
// and tries again; for longer it returns the *clients.DeferredError at
// once. That error is no failure of the task: the consumer's
// asynq.Config.IsFailure returns false for errors.Is(err,
// clients.ErrDeferred) and its RetryDelayFunc returns the error's
// RetryDelay.
//
// A call that fails the provider's way (a 5xx answer, a refused or reset
// connection, a request timeout: what the breaker counts) is no failure of
// the task either. While the breaker is open after it, it comes back as a
// deferral until the next probe (clients.ErrUnavailable); while the
// breaker is closed, in a task run under Patience, as a deferral
// (clients.ErrProviderFailed) whose delay is FailureDelay of how long the
// task has been deferred without pause: 1 s, then as long again as the
// run so far, up to the breaker's longest cool-down. A task whose own
// request makes the provider fail costs a request at about 0, 1, 2, 4, 8
// s... and then one per longest cool-down, until Patience's bound makes
// it a failure.
//
// Guard.Embedder and Guard.Generator wrap a provider client so that the
// task handlers need not change at all.
//
// # Bounded deferral
//
// A task must not be deferred forever (a provider that answers 429 or 5xx
// for good, a breaker that never closes). Patience records, per task ID in
// Redis, when the task was first deferred without pause: once that is
// longer ago than its bound, the deferral is returned as a
// *PatienceError, which does not match clients.ErrDeferred, so the task
// starts to use its retries (and is archived when they run out). asynq
// keeps no state of its own across a task's runs that a handler can
// write, hence the key; it lives as long as the bound plus an hour and is
// deleted by the task's first run that is not deferred. Patience.Middleware
// also puts the task's ID in the run's context (Patience.WithTask), which
// is how Guard.Do finds when the run began.
package guard
