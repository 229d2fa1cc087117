package config

import (
	"fmt"
	"time"
)

// Resilience configures how the worker treats a provider that pushes back
// or fails: the circuit breaker, the adaptive in-flight limit, how long a
// task may be deferred, and the wait for Redis before a task's outcome is
// handed to asynq. The shared budgets are OPENAI_RPM, OPENAI_TPM,
// OLLAMA_RPM and OLLAMA_TPM (see OpenAI and Ollama).
type Resilience struct {
	// BreakerFailures is how many consecutive failed calls to a provider
	// (connection failures, 5xx answers, timeouts) open its circuit
	// breaker. Default 5.
	BreakerFailures int `env:"BREAKER_FAILURES" envDefault:"5" help:"consecutive failed provider calls that open its circuit breaker"`
	// BreakerMinCooldown is how long an opened breaker keeps tasks away
	// from the provider before one probe; it doubles after each failed
	// probe up to BreakerMaxCooldown. Default 2s.
	BreakerMinCooldown time.Duration `env:"BREAKER_MIN_COOLDOWN" envDefault:"2s" help:"first cool-down of an open circuit breaker before one probe"`
	// BreakerMaxCooldown caps the breaker's cool-down, and the delay of a
	// task whose call failed while the breaker was closed. Default 1m.
	BreakerMaxCooldown time.Duration `env:"BREAKER_MAX_COOLDOWN" envDefault:"1m" help:"longest cool-down of an open circuit breaker, and longest delay after a failed call"`
	// MinInflight is the floor of each provider's adaptive in-flight
	// limit, which moves between it and WORKER_CONCURRENCY; set it to
	// WORKER_CONCURRENCY for a fixed limit. Default 1.
	MinInflight int `env:"PROVIDER_MIN_INFLIGHT" envDefault:"1" help:"floor of the adaptive limit on provider calls in flight (WORKER_CONCURRENCY: fixed)"`
	// MaxWait is the longest wait for budget, or for a provider's announced
	// block to end, that a task waits out in the worker (holding no
	// connection); a longer one sends the task back to its queue with that
	// delay, without using a retry. 0 never waits. Default 1s.
	MaxWait time.Duration `env:"PROVIDER_MAX_WAIT" envDefault:"1s" help:"longest budget wait spent in the worker before the task goes back to its queue (0: none)"`
	// DeferralPatience bounds how long a task may be deferred (no budget,
	// provider rate limit, open breaker, a call that failed the provider's
	// way) without pause before its deferrals start to use its retries.
	// Default 30m.
	DeferralPatience time.Duration `env:"DEFERRAL_PATIENCE" envDefault:"30m" help:"time a task may be deferred without pause before deferrals use its retries"`
	// RedisSettleWait is how long a finished task waits for Redis to answer
	// before its outcome goes to asynq, so that a task finished during a
	// short Redis outage is recorded once Redis is back instead of waiting
	// for its lease to expire; at most 25s, inside asynq's 30s lease. 0
	// turns the wait off. Default 20s.
	RedisSettleWait time.Duration `env:"REDIS_SETTLE_WAIT" envDefault:"20s" help:"longest wait for Redis before a finished task's outcome is recorded (0-25s; 0: off)"`
}

// maxSettleWait keeps RedisSettleWait inside asynq's 30 s lease, less the
// 5 s between its extensions.
const maxSettleWait = 25 * time.Second

// Validate reports the first unusable field as an *Error.
func (c Resilience) Validate() error {
	switch {
	case c.BreakerFailures < 1:
		return errorf("BREAKER_FAILURES", fmt.Sprintf("must be at least 1 (got %d)", c.BreakerFailures))
	case c.BreakerMinCooldown <= 0:
		return errorf("BREAKER_MIN_COOLDOWN", fmt.Sprintf("must be positive (got %s)", c.BreakerMinCooldown))
	case c.BreakerMaxCooldown < c.BreakerMinCooldown:
		return errorf("BREAKER_MAX_COOLDOWN", fmt.Sprintf("must not be below BREAKER_MIN_COOLDOWN (got %s < %s)", c.BreakerMaxCooldown, c.BreakerMinCooldown))
	case c.MinInflight < 1:
		return errorf("PROVIDER_MIN_INFLIGHT", fmt.Sprintf("must be at least 1 (got %d)", c.MinInflight))
	case c.MaxWait < 0:
		return errorf("PROVIDER_MAX_WAIT", fmt.Sprintf("must not be negative (got %s)", c.MaxWait))
	case c.DeferralPatience <= 0:
		return errorf("DEFERRAL_PATIENCE", fmt.Sprintf("must be positive (got %s)", c.DeferralPatience))
	case c.RedisSettleWait < 0 || c.RedisSettleWait > maxSettleWait:
		return errorf("REDIS_SETTLE_WAIT", fmt.Sprintf("must be between 0 and %s (got %s)", maxSettleWait, c.RedisSettleWait))
	}
	return nil
}

// validateWith checks the fields bounded by the worker's settings.
func (c Resilience) validateWith(w Worker) error {
	if c.MinInflight > w.Concurrency && w.Concurrency >= 1 {
		return errorf("PROVIDER_MIN_INFLIGHT", fmt.Sprintf("must not exceed WORKER_CONCURRENCY (got %d > %d)", c.MinInflight, w.Concurrency))
	}
	return nil
}
