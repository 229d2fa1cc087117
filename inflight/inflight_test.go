package inflight_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/llmq/llmq/inflight"
	"github.com/llmq/llmq/internal/testclock"
)

// saturating is an HTTP server that serves capacity requests at a time,
// each in service, and queues the rest: its latency grows with the
// requests in flight beyond capacity.
func saturating(t *testing.T, capacity int, service time.Duration) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	slots := make(chan struct{}, capacity)
	var served atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		time.Sleep(service)
		<-slots
		served.Add(1)
	}))
	t.Cleanup(ts.Close)
	return ts, &served
}

// TestConverges drives 40 callers through the limiter against a server
// that serves 8 at a time: from the floor and from the pool size, the
// limit settles near the server's capacity, not at either end.
func TestConverges(t *testing.T) {
	const (
		capacity = 8
		callers  = 40
		run      = 2 * time.Second
	)
	for _, initial := range []int{1, callers} {
		t.Run(map[int]string{1: "from the floor", callers: "from the pool size"}[initial], func(t *testing.T) {
			ts, served := saturating(t, capacity, 20*time.Millisecond)
			l, err := inflight.New(inflight.Config{Max: callers, Initial: initial, Provider: "sim"})
			if err != nil {
				t.Fatal(err)
			}
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: callers}}
			defer hc.CloseIdleConnections()
			ctx, cancel := context.WithTimeout(t.Context(), run)
			defer cancel()
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				limits []int
			)
			for range callers {
				wg.Go(func() {
					for {
						release, err := l.Acquire(ctx)
						if err != nil {
							return
						}
						req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL, nil)
						resp, err := hc.Do(req)
						if err != nil {
							release(inflight.Ignore)
							return
						}
						_ = resp.Body.Close()
						release(inflight.Success)
					}
				})
			}
			// Sample the limit over the last half of the run.
			wg.Go(func() {
				time.Sleep(run / 2)
				for ctx.Err() == nil {
					mu.Lock()
					limits = append(limits, l.Limit())
					mu.Unlock()
					time.Sleep(20 * time.Millisecond)
				}
			})
			wg.Wait()
			slices.Sort(limits)
			median := limits[len(limits)/2]
			s := l.Snapshot()
			t.Logf("served %d; limit over the second half: min %d, median %d, max %d; short RTT %s, min RTT %s",
				served.Load(), limits[0], median, limits[len(limits)-1], s.ShortRTT.Round(time.Millisecond), s.MinRTT.Round(time.Millisecond))
			if median < capacity || median > 3*capacity {
				t.Errorf("median limit %d, want between the capacity %d and %d", median, capacity, 3*capacity)
			}
			if s.InFlight != 0 || s.Waiting != 0 {
				t.Errorf("after the run: %+v, want nothing in flight or waiting", s)
			}
		})
	}
}

// round runs one round of calls at the limit, each taking rtt.
func round(t *testing.T, l *inflight.Limiter, c *testclock.Clock, rtt time.Duration, o inflight.Outcome) {
	t.Helper()
	n := l.Limit()
	releases := make([]func(inflight.Outcome), n)
	for i := range n {
		r, err := l.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		releases[i] = r
	}
	c.Advance(rtt)
	for _, r := range releases {
		r(o)
	}
}

// TestGradient: flat latency grows the limit, rising latency and
// overload shrink it, and it stays within its bounds.
func TestGradient(t *testing.T) {
	c := testclock.New(time.Unix(1_700_000_000, 0))
	l, err := inflight.New(inflight.Config{Min: 2, Max: 64, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	for range 30 {
		round(t, l, c, 10*time.Millisecond, inflight.Success)
	}
	if got := l.Limit(); got != 64 {
		t.Errorf("after 30 rounds at a flat 10ms: limit %d, want the pool size 64", got)
	}
	for range 3 {
		round(t, l, c, 40*time.Millisecond, inflight.Success)
	}
	high := l.Limit()
	if high >= 64 || high < 2 {
		t.Errorf("after latency rose to 4x: limit %d, want below 64", high)
	}
	for range 20 {
		round(t, l, c, 40*time.Millisecond, inflight.Overload)
	}
	if got := l.Limit(); got != 2 {
		t.Errorf("after 20 overloaded rounds: limit %d, want the floor 2", got)
	}
	// Ignored calls change nothing; a barely used limit does not grow.
	for range 10 {
		r, _ := l.Acquire(t.Context())
		c.Advance(time.Millisecond)
		r(inflight.Ignore)
	}
	if got := l.Limit(); got != 2 {
		t.Errorf("after ignored calls: limit %d, want 2", got)
	}
}

// TestFixed: with Min equal to Max the limit does not move, whatever
// the latency or the outcome: PROVIDER_MIN_INFLIGHT=WORKER_CONCURRENCY is
// a fixed limit.
func TestFixed(t *testing.T) {
	for _, tt := range []struct {
		name    string
		rtt     time.Duration
		outcome inflight.Outcome
	}{
		{"flat latency", 10 * time.Millisecond, inflight.Success},
		{"rising latency", 400 * time.Millisecond, inflight.Success},
		{"overload", 10 * time.Millisecond, inflight.Overload},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := testclock.New(time.Unix(1_700_000_000, 0))
			l, err := inflight.New(inflight.Config{Min: 8, Max: 8, Initial: 8, Now: c.Now})
			if err != nil {
				t.Fatal(err)
			}
			round(t, l, c, 10*time.Millisecond, inflight.Success)
			for range 20 {
				round(t, l, c, tt.rtt, tt.outcome)
			}
			if got := l.Limit(); got != 8 {
				t.Errorf("limit %d, want 8", got)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	l, err := inflight.New(inflight.Config{Max: 32, Initial: 32})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		r, _ := l.Acquire(t.Context())
		r(inflight.Overload)
	}
	// 32 · 0.9^10 = 11.2
	if got := l.Limit(); got != 11 {
		t.Errorf("after 10 overloads from 32: limit %d, want 11", got)
	}
}

// TestAcquireWaits: callers over the limit wait in line without spinning,
// a caller's context ends its wait, and no slot is lost.
func TestAcquireWaits(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	l, err := inflight.New(inflight.Config{Max: 2, Initial: 2, Provider: "openai", MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	r1, _ := l.Acquire(t.Context())
	r2, _ := l.Acquire(t.Context())

	start := time.Now() // before the deadline is set, which is from now
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire over the limit: %v, want the context's deadline", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 2*time.Second {
		t.Errorf("Acquire gave up after %s, want at its deadline, 50ms", d)
	}

	// In line: first come, first served.
	var (
		order []int
		mu    sync.Mutex
		wg    sync.WaitGroup
		hold  = make(chan struct{})
	)
	served := func() int { mu.Lock(); defer mu.Unlock(); return len(order) }
	for i := range 3 {
		wg.Go(func() {
			r, err := l.Acquire(t.Context())
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			<-hold
			r(inflight.Ignore)
		})
		for l.Snapshot().Waiting != i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	if got := gauges(t, reader); got["llmq.provider.concurrency.inflight"] != 2 || got["llmq.provider.concurrency.limit"] != 2 {
		t.Errorf("gauges = %v, want 2 in flight at a limit of 2", got)
	}
	r1(inflight.Ignore)
	r1(inflight.Ignore) // a second call frees nothing more
	for served() != 1 {
		time.Sleep(time.Millisecond)
	}
	if s := l.Snapshot(); s.InFlight != 2 || s.Waiting != 2 {
		t.Errorf("after one release: %+v, want 2 in flight and 2 waiting", s)
	}
	r2(inflight.Ignore)
	for served() != 2 {
		time.Sleep(time.Millisecond)
	}
	close(hold)
	wg.Wait()
	if !slices.Equal(order, []int{0, 1, 2}) {
		t.Errorf("served in order %v, want [0 1 2]", order)
	}
	if s := l.Snapshot(); s.InFlight != 0 || s.Waiting != 0 {
		t.Errorf("at the end: %+v", s)
	}

	// Many callers, half of them giving up: every slot comes back.
	for range 200 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), time.Duration(time.Now().UnixNano()%3)*time.Millisecond)
			defer cancel()
			if r, err := l.Acquire(ctx); err == nil {
				time.Sleep(time.Millisecond)
				r(inflight.Ignore)
			}
		})
	}
	wg.Wait()
	if s := l.Snapshot(); s.InFlight != 0 || s.Waiting != 0 || s.Limit != 2 {
		t.Errorf("after 200 callers, some giving up: %+v, want nothing in flight", s)
	}
}

func gauges(t *testing.T, reader *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
				if v, _ := dp.Attributes.Value("gen_ai.provider.name"); v.AsString() == "openai" {
					got[m.Name] = dp.Value
				}
			}
		}
	}
	return got
}

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		cfg  inflight.Config
		want string
	}{
		{inflight.Config{}, "Max must be at least 1, got 0"},
		{inflight.Config{Max: 4, Min: 5}, "Min must be between 1 and Max (4), got 5"},
		{inflight.Config{Max: 4, Initial: 9}, "Initial must be between Min (1) and Max (4), got 9"},
		{inflight.Config{Max: 4, Tolerance: 0.5}, "Tolerance must be at least 1"},
		{inflight.Config{Max: 4, Smoothing: 2}, "Smoothing must be in (0, 1]"},
		{inflight.Config{Max: 4, Backoff: 1}, "Backoff must be in (0, 1)"},
	} {
		if _, err := inflight.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v): %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
