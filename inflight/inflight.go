package inflight

import (
	"container/list"
	"context"

	"fmt"
	"math"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/llmq/llmq/internal/instrument"
)

// ScopeName is the instrumentation scope of the limiter's metrics.
const ScopeName = "github.com/llmq/llmq/inflight"

// Defaults of Config.
const (
	DefaultMin       = 1
	DefaultTolerance = 1.5
	DefaultSmoothing = 0.2
	DefaultBackoff   = 0.9
)

// shortWeight is the moving average's weight of a new sample; epoch is
// the number of samples of one minimum.
const (
	shortWeight = 2.0 / (10 + 1)
	epoch       = 1000
)

// Outcome is what a finished call tells the limiter.
type Outcome int

const (
	// Success: the provider answered; its latency is a sample.
	Success Outcome = iota
	// Overload: the provider pushed back (429) or timed out; the limit
	// shrinks.
	Overload
	// Ignore: the call says nothing about the provider's load (it was
	// cancelled, or failed before it was sent).
	Ignore
)

// Config configures a Limiter. The zero value of each field means the
// default documented on it.
type Config struct {
	// Max is the highest limit: the worker's pool size (its concurrency).
	// Required.
	Max int
	// Min is the lowest limit. Default 1.
	Min int
	// Initial is the starting limit. Default Min.
	Initial int
	// Tolerance is how much the latency may grow over its long-run
	// average before the limit shrinks. Default 1.5.
	Tolerance float64
	// Smoothing is how fast the limit moves to its target, in (0, 1].
	// Default 0.2.
	Smoothing float64
	// Backoff multiplies the limit on each Overload, in (0, 1). Default 0.9.
	Backoff float64
	// Provider names the provider in the metrics (gen_ai.provider.name).
	Provider string
	// MeterProvider receives llmq.provider.concurrency.limit and
	// llmq.provider.concurrency.inflight. Default: the global one.
	MeterProvider metric.MeterProvider
	// Now is the clock latencies are measured with. Default time.Now.
	Now func() time.Time
}

// Snapshot is a limiter's state at one moment, for /stats.
type Snapshot struct {
	Provider string `json:"provider"`
	Limit    int    `json:"limit"`
	InFlight int    `json:"in_flight"`
	Waiting  int    `json:"waiting"`
	// ShortRTT is the moving average of the latency, MinRTT the no-load
	// latency it is compared with.
	ShortRTT time.Duration `json:"short_rtt_ns"`
	MinRTT   time.Duration `json:"min_rtt_ns"`
}

// Limiter is one provider's adaptive in-flight limit, safe for concurrent
// use.
type Limiter struct {
	cfg Config

	mu       sync.Mutex
	limit    float64
	inflight int
	waiters  list.List // of *waiter, first in line first
	short    float64   // seconds
	minPrev  float64   // seconds: shortest call of the previous epoch
	minCur   float64   // seconds: shortest call of this epoch
	samples  int
}

type waiter struct {
	ready   chan struct{}
	granted bool
}

// New returns a Limiter and registers its metrics.
func New(cfg Config) (*Limiter, error) {
	if cfg.Min == 0 {
		cfg.Min = DefaultMin
	}
	if cfg.Initial == 0 {
		cfg.Initial = cfg.Min
	}
	if cfg.Tolerance == 0 {
		cfg.Tolerance = DefaultTolerance
	}
	if cfg.Smoothing == 0 {
		cfg.Smoothing = DefaultSmoothing
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	switch {
	case cfg.Max < 1:
		return nil, fmt.Errorf("inflight: Max must be at least 1, got %d", cfg.Max)
	case cfg.Min < 1 || cfg.Min > cfg.Max:
		return nil, fmt.Errorf("inflight: Min must be between 1 and Max (%d), got %d", cfg.Max, cfg.Min)
	case cfg.Initial < cfg.Min || cfg.Initial > cfg.Max:
		return nil, fmt.Errorf("inflight: Initial must be between Min (%d) and Max (%d), got %d", cfg.Min, cfg.Max, cfg.Initial)
	case cfg.Tolerance < 1:
		return nil, fmt.Errorf("inflight: Tolerance must be at least 1, got %g", cfg.Tolerance)
	case cfg.Smoothing <= 0 || cfg.Smoothing > 1:
		return nil, fmt.Errorf("inflight: Smoothing must be in (0, 1], got %g", cfg.Smoothing)
	case cfg.Backoff <= 0 || cfg.Backoff >= 1:
		return nil, fmt.Errorf("inflight: Backoff must be in (0, 1), got %g", cfg.Backoff)
	}
	l := &Limiter{cfg: cfg, limit: float64(cfg.Initial)}
	if err := l.observe(); err != nil {
		return nil, err
	}
	return l, nil
}

// Acquire waits for a slot under the limit, in line with the other
// callers, and returns the function that frees it: call it exactly once
// with the call's Outcome. It returns ctx's error if ctx ends first.
func (l *Limiter) Acquire(ctx context.Context) (release func(Outcome), err error) {
	l.mu.Lock()
	if l.waiters.Len() == 0 && l.inflight < l.current() {
		l.inflight++
		r := l.releaser(l.inflight)
		l.mu.Unlock()
		return r, nil
	}
	w := &waiter{ready: make(chan struct{})}
	e := l.waiters.PushBack(w)
	l.mu.Unlock()

	select {
	case <-w.ready:
		l.mu.Lock()
		r := l.releaser(l.inflight)
		l.mu.Unlock()
		return r, nil
	case <-ctx.Done():
		l.mu.Lock()
		defer l.mu.Unlock()
		if w.granted {
			// Granted as ctx ended: hand the slot on.
			l.inflight--
		} else {
			l.waiters.Remove(e)
		}
		l.wake()
		return nil, ctx.Err()
	}
}

// current is the limit as a whole number of slots. Call with mu held.
func (l *Limiter) current() int { return int(l.limit) }

// wake grants slots to waiters in line while there is room. Call with mu
// held.
func (l *Limiter) wake() {
	for l.waiters.Len() > 0 && l.inflight < l.current() {
		w := l.waiters.Remove(l.waiters.Front()).(*waiter)
		w.granted = true
		l.inflight++
		close(w.ready)
	}
}

func (l *Limiter) releaser(inflight int) func(Outcome) {
	start := l.cfg.Now()
	var once sync.Once
	return func(o Outcome) {
		once.Do(func() {
			rtt := l.cfg.Now().Sub(start)
			l.mu.Lock()
			defer l.mu.Unlock()
			l.inflight--
			l.update(o, rtt, inflight)
			l.wake()
		})
	}
}

// update applies one sample. Call with mu held.
func (l *Limiter) update(o Outcome, rtt time.Duration, inflight int) {
	switch o {
	case Ignore:
		return
	case Overload:
		l.limit = max(float64(l.cfg.Min), l.limit*l.cfg.Backoff)
		return
	}
	s := max(rtt.Seconds(), 1e-6)
	if l.samples == 0 {
		l.short, l.minCur, l.minPrev = s, s, s
	}
	l.samples++
	l.short += shortWeight * (s - l.short)
	l.minCur = min(l.minCur, s)
	if l.samples%epoch == 0 {
		l.minPrev, l.minCur = l.minCur, s
	}
	if float64(inflight)*2 < l.limit {
		return
	}
	gradient := max(0.5, min(1, l.cfg.Tolerance*l.minRTT()/l.short))
	target := l.limit*gradient + math.Sqrt(l.limit)
	l.limit = l.limit*(1-l.cfg.Smoothing) + target*l.cfg.Smoothing
	l.limit = max(float64(l.cfg.Min), min(float64(l.cfg.Max), l.limit))
}

// minRTT is the no-load latency. Call with mu held.
func (l *Limiter) minRTT() float64 { return min(l.minPrev, l.minCur) }

// Limit returns the current limit.
func (l *Limiter) Limit() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.current()
}

// Snapshot returns the limiter's state now.
func (l *Limiter) Snapshot() Snapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Snapshot{
		Provider: l.cfg.Provider, Limit: l.current(), InFlight: l.inflight, Waiting: l.waiters.Len(),
		ShortRTT: time.Duration(l.short * float64(time.Second)), MinRTT: time.Duration(l.minRTT() * float64(time.Second)),
	}
}

// observe registers the gauges llmq.provider.concurrency.limit and
// llmq.provider.concurrency.inflight, with gen_ai.provider.name.
func (l *Limiter) observe() error {
	err := instrument.ProviderGauges(instrument.Meter(l.cfg.MeterProvider, ScopeName), l.cfg.Provider,
		instrument.Gauge{Name: "llmq.provider.concurrency.limit", Unit: "{request}",
			Description: "Adaptive limit on the provider requests in flight in this process.",
			Read:        func() int64 { return int64(l.Snapshot().Limit) }},
		instrument.Gauge{Name: "llmq.provider.concurrency.inflight", Unit: "{request}",
			Description: "Provider requests in flight in this process under the adaptive limit.",
			Read:        func() int64 { return int64(l.Snapshot().InFlight) }})
	if err != nil {
		return fmt.Errorf("inflight metrics: %w", err)
	}
	return nil
}
