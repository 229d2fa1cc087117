package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/llmq/llmq/breaker"
	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/internal/proctest"
	"github.com/llmq/llmq/internal/testclock"
)

type fixture struct {
	b      *breaker.Breaker
	clock  *testclock.Clock
	log    *proctest.Buffer // written concurrently
	reader *sdkmetric.ManualReader
}

func setup(t *testing.T) fixture {
	t.Helper()
	f := fixture{clock: testclock.New(time.Unix(1_700_000_000, 0)), log: new(proctest.Buffer), reader: sdkmetric.NewManualReader()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(f.reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	b, err := breaker.New("openai", breaker.Config{
		Failures: 3, MinCooldown: 2 * time.Second, MaxCooldown: 10 * time.Second,
		Logger:        slog.New(slog.NewTextHandler(f.log, nil)),
		MeterProvider: mp, Now: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.b = b
	return f
}

var (
	errUnavailable = &clients.APIError{Provider: "openai", StatusCode: 503}
	errRateLimit   = &clients.APIError{Provider: "openai", StatusCode: 429}
)

// call runs one call with result err and fails the test if the breaker
// refuses it.
func (f fixture) call(t *testing.T, err error) {
	t.Helper()
	done, aerr := f.b.Allow()
	if aerr != nil {
		t.Fatalf("Allow: %v (state %+v)", aerr, f.b.Snapshot())
	}
	done(err)
}

// refused asserts that Allow refuses with a wait of want.
func (f fixture) refused(t *testing.T, want time.Duration) {
	t.Helper()
	done, err := f.b.Allow()
	if err == nil {
		done(nil)
		t.Fatalf("Allow let a call through; want it refused for %s", want)
	}
	var de *clients.DeferredError
	if !errors.As(err, &de) || !errors.Is(err, clients.ErrUnavailable) || !errors.Is(err, clients.ErrDeferred) {
		t.Fatalf("Allow: %v, want ErrUnavailable", err)
	}
	if de.Delay != want {
		t.Errorf("Allow: come back in %s, want %s", de.Delay, want)
	}
	if want := fmt.Sprintf("openai: provider unavailable, come back in %s", want); err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
}

func (f fixture) gauge(t *testing.T) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := f.reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "llmq.provider.breaker.state" {
				continue
			}
			g := m.Data.(metricdata.Gauge[int64])
			if len(g.DataPoints) != 1 {
				t.Fatalf("%d data points", len(g.DataPoints))
			}
			if v, _ := g.DataPoints[0].Attributes.Value("gen_ai.provider.name"); v.AsString() != "openai" {
				t.Errorf("gen_ai.provider.name = %q", v.AsString())
			}
			return g.DataPoints[0].Value
		}
	}
	t.Fatal("no llmq.provider.breaker.state")
	return 0
}

func TestTransitions(t *testing.T) {
	f := setup(t)
	if g := f.gauge(t); g != 0 {
		t.Errorf("gauge = %d, want 0 (closed)", g)
	}
	// 4xx, 429 and cancelled calls are not failures; a success resets the run.
	for _, err := range []error{errUnavailable, errUnavailable, nil, errUnavailable, errUnavailable, errRateLimit,
		&clients.APIError{StatusCode: 400}, context.Canceled, errUnavailable} {
		f.call(t, err)
	}
	// The 429 and the 400 are answers (successes), the cancel counts as
	// nothing: one failure in a row remains.
	if s := f.b.Snapshot(); s.State != breaker.Closed || s.ConsecutiveFailures != 1 {
		t.Fatalf("after 503 503 200 503 503 429 400 cancel 503: %+v, want closed with 1 failure in a row", s)
	}
	f.call(t, errUnavailable)
	f.call(t, context.Canceled)
	f.call(t, errUnavailable)
	s := f.b.Snapshot()
	if s.State != breaker.Open || s.Cooldown != 2*time.Second || s.RetryIn != 2*time.Second {
		t.Fatalf("after 3 consecutive failures: %+v, want open for 2s", s)
	}
	if g := f.gauge(t); g != 2 {
		t.Errorf("gauge = %d, want 2 (open)", g)
	}
	f.refused(t, 2*time.Second)
	f.clock.Advance(1500 * time.Millisecond)
	f.refused(t, 500*time.Millisecond)

	// Each failed probe doubles the cool-down, up to 10s.
	for _, want := range []time.Duration{4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
		f.clock.Advance(f.b.Snapshot().RetryIn)
		probe, err := f.b.Allow()
		if err != nil {
			t.Fatalf("probe refused: %v", err)
		}
		if s := f.b.Snapshot(); s.State != breaker.HalfOpen {
			t.Errorf("during the probe: %+v, want half-open", s)
		}
		if g := f.gauge(t); g != 1 {
			t.Errorf("gauge = %d, want 1 (half-open)", g)
		}
		// One probe at a time: others come back after the shortest cool-down.
		f.refused(t, 2*time.Second)
		probe(fmt.Errorf("embed: %w", &net.OpError{Op: "dial", Err: errors.New("connection refused")}))
		if s := f.b.Snapshot(); s.State != breaker.Open || s.Cooldown != want {
			t.Fatalf("after a failed probe: %+v, want open for %s", s, want)
		}
		f.refused(t, want)
	}

	// A successful probe closes it and resets the cool-down.
	f.clock.Advance(10 * time.Second)
	f.call(t, nil)
	if s := f.b.Snapshot(); s.State != breaker.Closed || s.Reopens != 0 {
		t.Fatalf("after a successful probe: %+v, want closed", s)
	}
	for range 3 {
		f.call(t, context.DeadlineExceeded)
	}
	if s := f.b.Snapshot(); s.State != breaker.Open || s.Cooldown != 2*time.Second {
		t.Errorf("open again: %+v, want a 2s cool-down", s)
	}

	// One log line per transition: open, 4 × (half-open, open), half-open,
	// closed, open.
	log := f.log.String()
	for state, want := range map[string]int{"open": 6, "half-open": 5, "closed": 1} {
		if got := strings.Count(log, `msg="provider circuit `+state+`"`); got != want {
			t.Errorf("%d %q lines, want %d:\n%s", got, state, want, log)
		}
	}
	if !strings.Contains(log, "cooldown=10s reopens=4") {
		t.Errorf("log does not name the cool-down:\n%s", log)
	}
}

// TestFailure classifies errors from real connections and answers.
func TestFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + ln.Addr().String()
	_ = ln.Close()

	hung := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			select {
			case <-hung:
			case <-r.Context().Done():
			}
			return
		}
		// Hijack and close: the connection resets before an answer.
		conn, _, _ := w.(http.Hijacker).Hijack()
		_ = conn.Close()
	}))
	defer ts.Close()
	defer close(hung)

	get := func(ctx context.Context, hc *http.Client, url string) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		if err == nil {
			clients.DrainClose(resp.Body)
		}
		return err
	}
	hc := &http.Client{Timeout: 200 * time.Millisecond}
	defer hc.CloseIdleConnections()
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()

	for _, tc := range []struct {
		name    string
		err     error
		failure bool
	}{
		{"connection refused", get(t.Context(), hc, refusedURL), true},
		{"connection closed", get(t.Context(), hc, ts.URL+"/reset"), true},
		{"client timeout", get(t.Context(), hc, ts.URL+"/hang"), true},
		{"caller cancelled", get(cancelled, hc, ts.URL+"/hang"), false},
		{"deadline", fmt.Errorf("embed: %w", context.DeadlineExceeded), true},
		{"500", &clients.APIError{StatusCode: 500}, true},
		{"502", fmt.Errorf("x: %w", &clients.APIError{StatusCode: 502}), true},
		{"429", errRateLimit, false},
		{"400", &clients.APIError{StatusCode: 400}, false},
		{"deferred", clients.Defer("openai", clients.ErrNoBudget, time.Second), false},
		{"bad body", errors.New("decode embeddings: unexpected EOF"), false},
		{"nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil && tc.name != "nil" {
				t.Fatal("the call did not fail")
			}
			if got := breaker.Failure(tc.err); got != tc.failure {
				t.Errorf("Failure(%v) = %v, want %v", tc.err, got, tc.failure)
			}
		})
	}
}

// TestRealClock opens and probes with the real clock and real waits.
func TestRealClock(t *testing.T) {
	b, err := breaker.New("ollama", breaker.Config{Failures: 1, MinCooldown: 50 * time.Millisecond, MaxCooldown: 200 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	done, err := b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	done(errUnavailable)
	var probes []time.Time
	start := time.Now()
	for len(probes) < 4 {
		done, err := b.Allow()
		var de *clients.DeferredError
		if errors.As(err, &de) {
			time.Sleep(de.Delay)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		probes = append(probes, time.Now())
		done(errUnavailable)
	}
	// Cool-downs 100, 200, 200 ms after the first 50.
	gaps := []time.Duration{probes[0].Sub(start)}
	for i := 1; i < len(probes); i++ {
		gaps = append(gaps, probes[i].Sub(probes[i-1]))
	}
	for i, want := range []time.Duration{50, 100, 200, 200} {
		want *= time.Millisecond
		if gaps[i] < want || gaps[i] > want+100*time.Millisecond {
			t.Errorf("gap %d = %s, want %s", i, gaps[i], want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		provider string
		cfg      breaker.Config
		want     string
	}{
		{"", breaker.Config{}, "provider must not be empty"},
		{"p", breaker.Config{Failures: -1}, "Failures must not be negative"},
		{"p", breaker.Config{MinCooldown: -time.Second}, "cool-downs must not be negative"},
		{"p", breaker.Config{MinCooldown: time.Minute, MaxCooldown: time.Second}, "MaxCooldown (1s) must not be below MinCooldown (1m0s)"},
	} {
		if _, err := breaker.New(tc.provider, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q, %+v): %v, want %q", tc.provider, tc.cfg, err, tc.want)
		}
	}
}

func TestMaxCooldown(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  breaker.Config
		want time.Duration
	}{
		{"default", breaker.Config{}, breaker.DefaultMaxCooldown},
		{"raised to the first cool-down", breaker.Config{MinCooldown: 2 * time.Minute}, 2 * time.Minute},
		{"set", breaker.Config{MaxCooldown: 8 * time.Second}, 8 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := breaker.New("p", tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := b.MaxCooldown(); got != tc.want {
				t.Errorf("MaxCooldown() = %s, want %s", got, tc.want)
			}
		})
	}
}
