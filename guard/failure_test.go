package guard_test

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/breaker"
	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/guard"
)

func TestFailureDelay(t *testing.T) {
	for _, tc := range []struct {
		name          string
		ran, maxDelay time.Duration
		want          time.Duration
	}{
		{"first failure", 0, time.Minute, time.Second},
		{"within the first second", 400 * time.Millisecond, time.Minute, time.Second},
		{"as long again as the run", 5 * time.Second, time.Minute, 5 * time.Second},
		{"capped", 10 * time.Minute, time.Minute, time.Minute},
		{"a cap below the first", 10 * time.Second, 200 * time.Millisecond, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := guard.FailureDelay(tc.ran, tc.maxDelay); got != tc.want {
				t.Errorf("FailureDelay(%s, %s) = %s, want %s", tc.ran, tc.maxDelay, got, tc.want)
			}
		})
	}
}

// patience returns a Patience with bound on the fixture's Redis.
func (f fixture) patience(t *testing.T, bound time.Duration) (*guard.Patience, *redis.Client) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: f.redis.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return guard.NewPatience(rdb, bound), rdb
}

// TestFailedCallDeferred: in a task's run, a call that fails the
// provider's way while the breaker is closed (a 503, a refused
// connection, a request timeout) is a deferral that still matches the
// call's error; a 400 and a 429 are what they were, and so is a failure
// outside a task's run.
func TestFailedCallDeferred(t *testing.T) {
	f := setup(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	_ = ln.Close()
	for _, tc := range []struct {
		name      string
		url       string // the provider; the simulator if empty
		text      string
		noRun     bool // called outside a task's run
		wantDefer bool
		wantDelay time.Duration
		wantErr   error  // the call's error the result must match, if any
		wantAPI   int    // the status of the *clients.APIError it must hold, if any
		wantMsg   string // part of its message
	}{
		{name: "503", text: "sim:status=503 sim:retry_after=0s", wantDefer: true, wantDelay: time.Second, wantAPI: 503,
			wantMsg: "openai: provider failed (breaker closed; deferred 0s so far): openai embeddings: openai: HTTP 503"},
		{name: "500", text: "sim:status=500 sim:retry_after=0s", wantDefer: true, wantDelay: time.Second, wantAPI: 500},
		{name: "503 with Retry-After", text: "sim:status=503 sim:retry_after=5s", wantDefer: true, wantDelay: 5 * time.Second, wantAPI: 503},
		{name: "refused connection", url: refused, text: "hello", wantDefer: true, wantDelay: time.Second, wantMsg: "connection refused"},
		{name: "request timeout", text: "sim:sleep=3s", wantDefer: true, wantDelay: time.Second, wantErr: clients.ErrRequestTimeout,
			wantMsg: "request timeout fired"},
		{name: "400", text: "sim:status=400", wantAPI: 400},
		{name: "408", text: "sim:status=408 sim:retry_after=0s", wantAPI: 408},
		{name: "503 outside a task's run", text: "sim:status=503 sim:retry_after=0s", noRun: true, wantAPI: 503},
		// Last: its block holds every later call to the provider.
		{name: "429", text: "sim:status=429 sim:retry_after=100ms", wantAPI: 429},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, rdb := f.patience(t, time.Minute)
			url := tc.url
			if url == "" {
				url = f.url
			}
			// A breaker of its own that one failure does not open.
			g, e := f.worker(t, url, guard.Config{MaxWait: -1, Breaker: breaker.Config{Failures: 3, MaxCooldown: 8 * time.Second}})
			ctx := t.Context()
			if !tc.noRun {
				ctx = p.WithTask(ctx, "task-"+tc.name)
			}
			err := embed(ctx, e, tc.text)
			if err == nil {
				t.Fatal("call succeeded")
			}
			var de *clients.DeferredError
			if deferred := errors.As(err, &de); deferred != tc.wantDefer || errors.Is(err, clients.ErrDeferred) != tc.wantDefer {
				t.Fatalf("%v: deferred %v, want %v", err, deferred, tc.wantDefer)
			}
			if tc.wantDefer {
				if !errors.Is(err, clients.ErrProviderFailed) || errors.Is(err, clients.ErrUnavailable) {
					t.Errorf("%v: want ErrProviderFailed only", err)
				}
				if de.Delay != tc.wantDelay {
					t.Errorf("delay %s, want %s", de.Delay, tc.wantDelay)
				}
				// The run of deferrals began with it.
				if n, _ := rdb.Exists(ctx, "llmq:deferred:task-"+tc.name).Result(); n != 1 {
					t.Errorf("no run of deferrals recorded")
				}
			}
			var apiErr *clients.APIError
			if tc.wantAPI != 0 && (!errors.As(err, &apiErr) || apiErr.StatusCode != tc.wantAPI) {
				t.Errorf("%v: want it to hold HTTP %d", err, tc.wantAPI)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("%v: want it to match %v", err, tc.wantErr)
			}
			if tc.wantMsg != "" && !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("%q does not say %q", err, tc.wantMsg)
			}
			if s := g.Snapshot(ctx); s.Breaker.State != breaker.Closed {
				t.Errorf("breaker %s, want closed", s.Breaker.State)
			}
		})
	}
}

// TestFailureDelayGrows: a task whose calls keep failing while the
// breaker stays closed waits 1 s, then as long again as it has been
// deferred, up to the breaker's longest cool-down; past the patience
// bound the failure is a *guard.PatienceError, a failure of the task,
// until a run that is not deferred starts over.
func TestFailureDelayGrows(t *testing.T) {
	f := setup(t)
	p, rdb := f.patience(t, 3*time.Second)
	_, e := f.worker(t, f.url, guard.Config{MaxWait: -1, Breaker: breaker.Config{Failures: 10, MaxCooldown: 2 * time.Second}})
	ctx := p.WithTask(t.Context(), "t1")
	start := time.Now()
	call := func(at time.Duration) error {
		t.Helper()
		time.Sleep(time.Until(start.Add(at)))
		err := embed(ctx, e, "sim:status=500 sim:retry_after=0s")
		// As Patience.Middleware does after each run.
		return p.Check(ctx, "t1", err)
	}
	for _, tc := range []struct {
		at             time.Duration
		minDel, maxDel time.Duration
	}{
		{0, time.Second, time.Second},
		{1500 * time.Millisecond, 1400 * time.Millisecond, 1800 * time.Millisecond},
		{2500 * time.Millisecond, 2 * time.Second, 2 * time.Second},
	} {
		err := call(tc.at)
		var de *clients.DeferredError
		if !errors.As(err, &de) || de.Delay < tc.minDel || de.Delay > tc.maxDel {
			t.Fatalf("at %s: %v, want a deferral of %s to %s", tc.at, err, tc.minDel, tc.maxDel)
		}
	}
	for _, at := range []time.Duration{3200 * time.Millisecond, 3300 * time.Millisecond} {
		err := call(at)
		var pe *guard.PatienceError
		if !errors.As(err, &pe) || errors.Is(err, clients.ErrDeferred) || pe.Bound != 3*time.Second {
			t.Fatalf("at %s: %v, want a PatienceError", at, err)
		}
		if d, ok := pe.RetryDelay(); ok {
			t.Errorf("RetryDelay = %s, want none: the task's retries back off", d)
		}
		if !strings.Contains(pe.Error(), "longer than 3s: openai embeddings: openai: HTTP 500") {
			t.Errorf("%q does not name the bound and the failure", pe)
		}
	}
	if err := p.Check(ctx, "t1", nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.Exists(ctx, "llmq:deferred:t1").Result(); n != 0 {
		t.Errorf("run kept after a success")
	}
	err := embed(ctx, e, "sim:status=500 sim:retry_after=0s")
	var de *clients.DeferredError
	if !errors.As(err, &de) || de.Delay != time.Second {
		t.Errorf("after a success: %v, want a deferral of 1s", err)
	}
	if got := f.sim.Stats().Requests; got != 6 {
		t.Errorf("provider saw %d requests, want 6", got)
	}
}
