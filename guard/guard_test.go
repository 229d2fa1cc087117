package guard_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/breaker"
	"github.com/llmq/llmq/budget"
	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/openai"
	"github.com/llmq/llmq/guard"
	"github.com/llmq/llmq/inflight"
	"github.com/llmq/llmq/internal/redistest"
	"github.com/llmq/llmq/simulator"
)

type fixture struct {
	redis *redistest.Server
	sim   *simulator.Simulator
	url   string
}

func setup(t *testing.T) fixture {
	t.Helper()
	sim := simulator.New(simulator.Config{Dim: 8})
	ts := simulator.Start(sim, false)
	t.Cleanup(ts.Close)
	return fixture{redis: redistest.Start(t), sim: sim, url: ts.URL}
}

// worker builds what one worker process has: its own Redis client, its
// pooled HTTP client, an OpenAI client and the guard around it.
func (f fixture) worker(t *testing.T, baseURL string, cfg guard.Config) (*guard.Guard, guard.Embedder) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: f.redis.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	hc, _, err := clients.NewHTTPClient(clients.Config{Provider: "openai", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	oa, err := openai.New(hc, openai.Config{BaseURL: baseURL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Concurrency.Max == 0 {
		cfg.Concurrency.Max = 8
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	g, err := guard.New(rdb, "openai", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g, g.Embedder(oa)
}

func embed(ctx context.Context, e guard.Embedder, texts ...string) error {
	_, err := e.Embed(ctx, clients.EmbedRequest{Input: texts})
	return err
}

// TestSharedBudget: three workers share 600 requests per minute; the
// provider sees only admitted requests and all of them are done.
func TestSharedBudget(t *testing.T) {
	f := setup(t)
	const perWorker = 8
	start := time.Now()
	var wg sync.WaitGroup
	for w := range 3 {
		_, e := f.worker(t, f.url, guard.Config{Budget: budget.Config{Limit: budget.Limit{RequestsPerMinute: 600}}, MaxWait: -1})
		wg.Go(func() {
			for done := 0; done < perWorker; {
				err := embed(t.Context(), e, "hello")
				var de *clients.DeferredError
				switch {
				case err == nil:
					done++
				case errors.As(err, &de) && errors.Is(err, clients.ErrNoBudget):
					time.Sleep(de.Delay)
				default:
					t.Errorf("worker %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if got := f.sim.Stats().Requests; got != 3*perWorker {
		t.Errorf("provider saw %d requests, want %d", got, 3*perWorker)
	}
	// 10/s with a burst of 10: 24 requests take at least 1.4 s.
	if elapsed < 1400*time.Millisecond {
		t.Errorf("24 requests in %s, faster than 600/min allows", elapsed)
	}
}

// TestTokensCorrected: a reservation far above the real usage is corrected
// at once, so the next call is not held back by the estimate.
func TestTokensCorrected(t *testing.T) {
	f := setup(t)
	// 600 tokens/min (10/s, a burst of 10); every text is estimated at 200.
	_, e := f.worker(t, f.url, guard.Config{
		Budget:   budget.Config{Limit: budget.Limit{TokensPerMinute: 600}},
		Estimate: func(string) int { return 200 },
	})
	if err := embed(t.Context(), e, "hi"); err != nil {
		t.Fatal(err)
	}
	// Uncorrected, the next call would wait 20 s; corrected to the
	// provider's count (1 token), it waits 0.1 s, within MaxWait.
	start := time.Now()
	if err := embed(t.Context(), e, "hi"); err != nil {
		t.Fatalf("second call: %v", err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("second call waited %s", d)
	}
}

// TestProviderBlockShared: a 429 seen by one worker holds every worker
// until its Retry-After has passed, without a request.
func TestProviderBlockShared(t *testing.T) {
	f := setup(t)
	_, a := f.worker(t, f.url, guard.Config{})
	_, b := f.worker(t, f.url, guard.Config{MaxWait: -1})
	err := embed(t.Context(), a, "sim:status=429 sim:retry_after=800ms")
	var apiErr *clients.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 {
		t.Fatalf("call answered 429: %v", err)
	}
	err = embed(t.Context(), b, "hello")
	var de *clients.DeferredError
	if !errors.As(err, &de) || !errors.Is(err, clients.ErrRateBlocked) || de.Delay < 600*time.Millisecond || de.Delay > 800*time.Millisecond {
		t.Fatalf("other worker's call: %v, want ErrRateBlocked for about 800ms", err)
	}
	if got := f.sim.Stats().Requests; got != 1 {
		t.Errorf("provider saw %d requests, want 1", got)
	}
	time.Sleep(de.Delay)
	if err := embed(t.Context(), b, "hello"); err != nil {
		t.Errorf("after the block: %v", err)
	}
}

// TestBreaker: 503s, then refused connections, open the breaker; while it
// is open no request is sent; a successful probe closes it.
func TestBreaker(t *testing.T) {
	f := setup(t)
	cfg := guard.Config{MaxWait: -1, Breaker: breaker.Config{Failures: 3, MinCooldown: 300 * time.Millisecond, MaxCooldown: time.Second}}
	g, e := f.worker(t, f.url, cfg)
	for i := range 3 {
		err := embed(t.Context(), e, "sim:status=503")
		var apiErr *clients.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 {
			t.Fatalf("503 not returned: %v", err)
		}
		// The third opens the breaker: it is the provider's failure, not
		// the task's.
		if deferred := errors.Is(err, clients.ErrUnavailable) && errors.Is(err, clients.ErrDeferred); deferred != (i == 2) {
			t.Errorf("503 number %d: %v, deferred %v", i+1, err, deferred)
		}
	}
	err := embed(t.Context(), e, "hello")
	var de *clients.DeferredError
	if !errors.As(err, &de) || !errors.Is(err, clients.ErrUnavailable) {
		t.Fatalf("call after 3 503s: %v, want ErrUnavailable", err)
	}
	if s := g.Snapshot(t.Context()); s.Breaker.State != breaker.Open || s.Error != "" {
		t.Errorf("snapshot %+v, want open", s)
	}
	if got := f.sim.Stats().Requests; got != 3 {
		t.Errorf("provider saw %d requests, want 3", got)
	}
	time.Sleep(de.Delay)
	if err := embed(t.Context(), e, "hello"); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if s := g.Snapshot(t.Context()); s.Breaker.State != breaker.Closed {
		t.Errorf("after the probe: %+v, want closed", s.Breaker)
	}

	// A provider that refuses connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "http://" + ln.Addr().String()
	_ = ln.Close()
	g2, e2 := f.worker(t, gone, cfg)
	for i := range 3 {
		if err := embed(t.Context(), e2, "hello"); err == nil || errors.Is(err, clients.ErrDeferred) != (i == 2) {
			t.Fatalf("refused connection %d: %v", i+1, err)
		}
	}
	if err := embed(t.Context(), e2, "hello"); !errors.Is(err, clients.ErrUnavailable) {
		t.Errorf("after 3 refused connections: %v, want ErrUnavailable", err)
	}
	if s := g2.Snapshot(t.Context()); s.Breaker.State != breaker.Open {
		t.Errorf("snapshot %+v, want open", s.Breaker)
	}
}

// TestWaitInLine: a call that gives up waiting for a slot of the in-flight
// limit gives its budget back.
func TestWaitInLine(t *testing.T) {
	f := setup(t)
	// 120 requests per minute: a burst of 2.
	g, e := f.worker(t, f.url, guard.Config{MaxWait: -1,
		Budget:      budget.Config{Limit: budget.Limit{RequestsPerMinute: 120}},
		Concurrency: inflight.Config{Max: 1}})
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := embed(t.Context(), e, "sim:sleep=400ms"); err != nil {
			t.Error(err)
		}
	})
	for g.Snapshot(t.Context()).Concurrency.InFlight != 1 {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := embed(ctx, e, "hello"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("call waiting in line: %v, want its deadline", err)
	}
	wg.Wait()
	if err := embed(t.Context(), e, "hello"); err != nil {
		t.Errorf("call after a given-back reservation: %v", err)
	}
	if s := g.Snapshot(t.Context()); s.Breaker.State != breaker.Closed || s.Concurrency.InFlight != 0 {
		t.Errorf("snapshot %+v", s)
	}
}

func TestPatience(t *testing.T) {
	f := setup(t)
	rdb := redis.NewClient(&redis.Options{Addr: f.redis.Addr()})
	defer rdb.Close()
	p := guard.NewPatience(rdb, 200*time.Millisecond)
	ctx := t.Context()
	deferred := clients.Defer("openai", clients.ErrUnavailable, 5*time.Second)
	limited := &clients.APIError{Provider: "openai", StatusCode: http.StatusTooManyRequests, RetryAfter: time.Second}

	if err := p.Check(ctx, "t1", deferred); err != deferred {
		t.Fatalf("first deferral: %v", err)
	}
	if err := p.Check(ctx, "t1", limited); err != limited {
		t.Fatalf("a 429 within the bound: %v", err)
	}
	time.Sleep(250 * time.Millisecond)
	err := p.Check(ctx, "t1", deferred)
	var pe *guard.PatienceError
	if !errors.As(err, &pe) || !errors.Is(err, guard.ErrImpatient) || errors.Is(err, clients.ErrDeferred) {
		t.Fatalf("deferral past the bound: %v, want a PatienceError that is no deferral", err)
	}
	if d, ok := pe.RetryDelay(); !ok || d != 5*time.Second {
		t.Errorf("RetryDelay = %v, %v", d, ok)
	}
	if time.Since(pe.Since) < 250*time.Millisecond {
		t.Errorf("Since = %v", pe.Since)
	}
	// Another task is not affected; a run that is not deferred resets.
	if err := p.Check(ctx, "t2", deferred); err != deferred {
		t.Errorf("other task: %v", err)
	}
	other := errors.New("boom")
	if err := p.Check(ctx, "t1", other); err != other {
		t.Errorf("failure: %v", err)
	}
	if err := p.Check(ctx, "t1", deferred); err != deferred {
		t.Errorf("deferral after a pause: %v", err)
	}
	if err := p.Check(ctx, "t1", nil); err != nil {
		t.Errorf("success: %v", err)
	}
	if n, _ := rdb.Exists(ctx, "llmq:deferred:t1").Result(); n != 0 {
		t.Errorf("key kept after success")
	}
}
