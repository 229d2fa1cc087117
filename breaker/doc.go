// Package breaker holds a circuit breaker per provider: after a run of
// failed calls (connection failures, timeouts, 5xx answers) it stops
// calls to the provider for a cool-down, then lets one probe through.
//
// The state machine is github.com/sony/gobreaker/v2's two-step breaker
// (consecutive failures trip it; half-open admits one probe; the probe's
// success closes it, its failure opens it again). This package adds what
// gobreaker does not have: a cool-down that doubles with each re-open
// after a failed probe, from Config.MinCooldown to Config.MaxCooldown, and
// is reset by a success; an error that says how long until the next
// probe (a *clients.DeferredError matching clients.ErrUnavailable); the
// classification of errors (Failure); a Snapshot for /stats; a gauge per
// provider; and one log line per transition.
//
// # Per process
//
// The state is kept per process, not in Redis: each worker probes on its
// own, so an outage costs each worker Config.Failures calls to open and
// then one probe per cool-down, a handful per worker. Sharing it would save
// those few calls but make every call depend on one more Redis round trip,
// and a worker cut off from the provider alone (its network, its DNS)
// would stop every other worker.
package breaker
