package breaker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/metric"

	"github.com/llmq/llmq/internal/instrument"

	"github.com/llmq/llmq/clients"
)

// ScopeName is the instrumentation scope of the breaker's metric.
const ScopeName = "github.com/llmq/llmq/breaker"

// Defaults of Config.
const (
	DefaultFailures    = 5
	DefaultMinCooldown = 2 * time.Second
	DefaultMaxCooldown = time.Minute
)

// State is a breaker's state.
type State string

// The states, as Snapshot and the log show them.
const (
	Closed   State = "closed"
	HalfOpen State = "half-open"
	Open     State = "open"
)

// Config configures a Breaker. The zero value of each field means the
// default documented on it.
type Config struct {
	// Failures is how many consecutive failed calls open the breaker.
	// Default 5.
	Failures int
	// MinCooldown is how long the breaker stays open the first time.
	// Default 2s.
	MinCooldown time.Duration
	// MaxCooldown caps the cool-down, which doubles each time a probe
	// fails. Default 1m.
	MaxCooldown time.Duration
	// Logger receives one line per transition. Default slog.Default().
	Logger *slog.Logger
	// MeterProvider receives the llmq.provider.breaker.state gauge.
	// Default: the global one.
	MeterProvider metric.MeterProvider
	// Now is the clock of the cool-downs. Default time.Now.
	Now func() time.Time
}

// Snapshot is a breaker's state at one moment, for /stats.
type Snapshot struct {
	Provider string `json:"provider"`
	State    State  `json:"state"`
	// ConsecutiveFailures counts failed calls since the last success.
	ConsecutiveFailures int `json:"consecutive_failures"`
	// Reopens counts the failed probes since the breaker last closed.
	Reopens int `json:"reopens"`
	// Cooldown is the current (or last) cool-down; RetryIn the time left
	// until the next probe while open.
	Cooldown time.Duration `json:"cooldown_ns"`
	RetryIn  time.Duration `json:"retry_in_ns"`
}

// Breaker is one provider's circuit breaker, safe for concurrent use.
type Breaker struct {
	provider string
	cfg      Config
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]

	mu        sync.Mutex
	state     State
	reopens   int
	cooldown  time.Duration
	openUntil time.Time
}

// New returns provider's breaker and registers its gauge.
func New(provider string, cfg Config) (*Breaker, error) {
	switch {
	case provider == "":
		return nil, errors.New("breaker: provider must not be empty")
	case cfg.Failures < 0:
		return nil, fmt.Errorf("breaker: Failures must not be negative, got %d", cfg.Failures)
	case cfg.MinCooldown < 0 || cfg.MaxCooldown < 0:
		return nil, errors.New("breaker: cool-downs must not be negative")
	}
	if cfg.Failures == 0 {
		cfg.Failures = DefaultFailures
	}
	if cfg.MinCooldown == 0 {
		cfg.MinCooldown = DefaultMinCooldown
	}
	if cfg.MaxCooldown == 0 {
		cfg.MaxCooldown = max(DefaultMaxCooldown, cfg.MinCooldown)
	}
	if cfg.MaxCooldown < cfg.MinCooldown {
		return nil, fmt.Errorf("breaker: MaxCooldown (%s) must not be below MinCooldown (%s)", cfg.MaxCooldown, cfg.MinCooldown)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b := &Breaker{provider: provider, cfg: cfg, state: Closed}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        provider,
		MaxRequests: 1,
		// The cool-down is timed here, with cfg.Now; gobreaker's own open
		// state ends at once, and Allow keeps callers away from it until
		// the cool-down is over.
		Timeout:       time.Nanosecond,
		ReadyToTrip:   func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(cfg.Failures) },
		IsSuccessful:  func(err error) bool { return !Failure(err) },
		IsExcluded:    Excluded,
		OnStateChange: b.onStateChange,
	})
	if err := b.observe(cfg.MeterProvider); err != nil {
		return nil, err
	}
	return b, nil
}

// Failure reports whether err says the provider is unwell: a connection
// failure or reset, a timeout, or a 5xx answer. Other answers, 4xx and
// 429 included, show a provider that works.
func Failure(err error) bool {
	if err == nil || Excluded(err) {
		return false
	}
	var apiErr *clients.APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode >= http.StatusInternalServerError
	}
	var urlErr *url.Error
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &urlErr) || errors.As(err, &netErr)
}

// Excluded reports whether err says nothing about the provider: the
// caller gave up (context.Canceled) or the call was never made (a
// *clients.DeferredError).
func Excluded(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, clients.ErrDeferred)
}

// Allow asks to call the provider. If the breaker lets the call through
// it returns done, which the caller must call with the call's error (nil
// for success). Otherwise it returns a *clients.DeferredError matching
// clients.ErrUnavailable, with the time until the next probe.
func (b *Breaker) Allow() (done func(err error), err error) {
	b.mu.Lock()
	if b.state == Open {
		if wait := b.openUntil.Sub(b.cfg.Now()); wait > 0 {
			b.mu.Unlock()
			return nil, clients.Defer(b.provider, clients.ErrUnavailable, wait)
		}
	}
	b.mu.Unlock()
	d, err := b.cb.Allow()
	if err != nil {
		// A probe is under way (or just failed): come back after the
		// shortest cool-down.
		b.mu.Lock()
		wait := max(b.openUntil.Sub(b.cfg.Now()), b.cfg.MinCooldown)
		b.mu.Unlock()
		return nil, clients.Defer(b.provider, clients.ErrUnavailable, wait)
	}
	return d, nil
}

// onStateChange runs inside gobreaker, under its lock.
func (b *Breaker) onStateChange(_ string, from, to gobreaker.State) {
	b.mu.Lock()
	now := b.cfg.Now()
	var attrs []slog.Attr
	switch to {
	case gobreaker.StateOpen:
		if from == gobreaker.StateHalfOpen {
			b.reopens++
		} else {
			b.reopens = 0
		}
		b.cooldown = b.cfg.MinCooldown
		for range b.reopens {
			if b.cooldown >= b.cfg.MaxCooldown {
				break
			}
			b.cooldown *= 2
		}
		b.cooldown = min(b.cooldown, b.cfg.MaxCooldown)
		b.openUntil = now.Add(b.cooldown)
		b.state = Open
		attrs = []slog.Attr{slog.Duration("cooldown", b.cooldown), slog.Int("reopens", b.reopens)}
	case gobreaker.StateHalfOpen:
		b.state = HalfOpen
	case gobreaker.StateClosed:
		b.state = Closed
		b.reopens = 0
		b.cooldown = 0
	}
	state := b.state
	b.mu.Unlock()
	b.cfg.Logger.LogAttrs(context.Background(), slog.LevelWarn, "provider circuit "+string(state),
		append([]slog.Attr{slog.String("provider", b.provider), slog.String("from", stateName(from))}, attrs...)...)
}

func stateName(s gobreaker.State) string {
	switch s {
	case gobreaker.StateOpen:
		return string(Open)
	case gobreaker.StateHalfOpen:
		return string(HalfOpen)
	}
	return string(Closed)
}

// MaxCooldown returns the longest cool-down, Config.MaxCooldown with its
// default filled in.
func (b *Breaker) MaxCooldown() time.Duration { return b.cfg.MaxCooldown }

// Snapshot returns the breaker's state now.
func (b *Breaker) Snapshot() Snapshot {
	failures := int(b.cb.Counts().ConsecutiveFailures)
	b.mu.Lock()
	defer b.mu.Unlock()
	s := Snapshot{Provider: b.provider, State: b.state, ConsecutiveFailures: failures, Reopens: b.reopens, Cooldown: b.cooldown}
	if b.state == Open {
		s.RetryIn = max(b.openUntil.Sub(b.cfg.Now()), 0)
	}
	return s
}

// stateValue is the gauge's value of each state.
func stateValue(s State) int64 {
	switch s {
	case HalfOpen:
		return 1
	case Open:
		return 2
	}
	return 0
}

// observe registers llmq.provider.breaker.state: 0 closed, 1 half-open,
// 2 open, with gen_ai.provider.name.
func (b *Breaker) observe(mp metric.MeterProvider) error {
	err := instrument.ProviderGauges(instrument.Meter(mp, ScopeName), b.provider,
		instrument.Gauge{Name: "llmq.provider.breaker.state", Unit: "{state}",
			Description: "State of the provider's circuit breaker in this process: 0 closed, 1 half-open, 2 open.",
			Read: func() int64 {
				b.mu.Lock()
				defer b.mu.Unlock()
				return stateValue(b.state)
			}})
	if err != nil {
		return fmt.Errorf("breaker metrics: %w", err)
	}
	return nil
}
