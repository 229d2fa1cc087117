package budget_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/budget"
	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/internal/redistest"
)

// The shared-rate scenario: 3000 requests per minute (50/s) with a 50 ms
// burst (2.5 requests), so every 1 s window may see at most 52.5.
const (
	sharedRPM   = 3000
	sharedBurst = 50 * time.Millisecond
	perWorker   = 30
	workerEnv   = "BUDGET_TEST_WORKER"
)

func client(t *testing.T, srv *redistest.Server) redis.UniversalClient {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func newBudget(t *testing.T, rdb redis.UniversalClient, provider string, cfg budget.Config) *budget.Budget {
	t.Helper()
	b, err := budget.New(rdb, provider, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// work reserves n times, waiting out each deferral, and returns the time of
// each admission.
func work(ctx context.Context, b *budget.Budget, n, tokens int) ([]time.Time, error) {
	var at []time.Time
	for len(at) < n {
		_, err := b.Reserve(ctx, tokens)
		var de *clients.DeferredError
		switch {
		case err == nil:
			at = append(at, time.Now())
		case errors.As(err, &de):
			select {
			case <-time.After(de.Delay):
			case <-ctx.Done():
				return at, ctx.Err()
			}
		default:
			return at, err
		}
	}
	return at, nil
}

// workerMain is a worker process: it reserves perWorker requests of the
// shared budget and prints each admission time (µs since the epoch).
func workerMain(addr string) int {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	b, err := budget.New(rdb, "shared", budget.Config{Limit: budget.Limit{RequestsPerMinute: sharedRPM}, Burst: sharedBurst})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	at, err := work(ctx, b, perWorker, 0)
	for _, t := range at {
		fmt.Println(t.UnixMicro())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// maxInWindow returns the most admissions in any window of w.
func maxInWindow(at []time.Time, w time.Duration) int {
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	most, j := 0, 0
	for i := range at {
		for at[i].Sub(at[j]) >= w {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

// TestSharedAcrossProcesses runs two worker processes and three in-process
// workers, each with its own Redis client, on one budget: every 1 s window
// sees at most the rate + 10%, and all work is admitted.
func TestSharedAcrossProcesses(t *testing.T) {
	srv := redistest.Start(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu  sync.Mutex
		all []time.Time
		wg  sync.WaitGroup
	)
	start := time.Now()
	for i := range 2 {
		cmd := exec.CommandContext(t.Context(), exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), workerEnv+"="+srv.Addr())
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			var got []time.Time
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				us, err := strconv.ParseInt(strings.TrimSpace(sc.Text()), 10, 64)
				if err != nil {
					t.Errorf("process %d: %q", i, sc.Text())
					continue
				}
				got = append(got, time.UnixMicro(us))
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("process %d: %v", i, err)
			}
			if len(got) != perWorker {
				t.Errorf("process %d: %d admitted, want %d", i, len(got), perWorker)
			}
			mu.Lock()
			all = append(all, got...)
			mu.Unlock()
		})
	}
	for i := range 3 {
		b := newBudget(t, client(t, srv), "shared", budget.Config{Limit: budget.Limit{RequestsPerMinute: sharedRPM}, Burst: sharedBurst})
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			got, err := work(ctx, b, perWorker, 0)
			if err != nil {
				t.Errorf("worker %d: %v", i, err)
			}
			mu.Lock()
			all = append(all, got...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	const total = 5 * perWorker
	if len(all) != total {
		t.Fatalf("%d admitted, want %d", len(all), total)
	}
	// Any 2 s window may see 100 plus the 2.5 of the burst; the admission
	// times are taken by each worker after Redis's answer, which adds a
	// little jitter.
	rate := float64(sharedRPM) / 60
	if most, limit := maxInWindow(all, 2*time.Second), int(2*rate*1.1); most > limit {
		t.Errorf("%d admitted in one 2s window, want at most %d (rate %.0f/s + 10%%)", most, limit, rate)
	}
	// 150 requests at 50/s, less the burst, take at least 2.9 s.
	if least := time.Duration((total - 3) / rate * float64(time.Second)); elapsed < least {
		t.Errorf("%d admitted in %s, faster than the rate allows (%s)", total, elapsed, least)
	}
	t.Logf("%d requests from 5 workers in %s; busiest 2s window: %d", total, elapsed.Round(time.Millisecond), maxInWindow(all, 2*time.Second))
}

// TestTokens spends a tokens-per-minute budget with corrections: the
// admitted rate follows the real usage, not the estimate.
func TestTokens(t *testing.T) {
	srv := redistest.Start(t)
	for _, tc := range []struct {
		name              string
		estimate, actual  int
		wantCallsPerSec   float64
		correctOrCancelFn string
	}{
		// 6000 tokens/min is 100 tokens/s.
		{"refund", 20, 10, 10, "correct"},
		{"charge", 5, 20, 5, "correct"},
		{"exact", 10, 10, 10, "correct"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				calls int
				spent []time.Time // one entry per token actually used
			)
			const run = 1500 * time.Millisecond
			for range 3 {
				b := newBudget(t, client(t, srv), "tpm-"+tc.name, budget.Config{Limit: budget.Limit{TokensPerMinute: 6000}, Burst: 100 * time.Millisecond})
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(t.Context(), run)
					defer cancel()
					for ctx.Err() == nil {
						r, err := b.Reserve(ctx, tc.estimate)
						var de *clients.DeferredError
						if errors.As(err, &de) {
							select {
							case <-time.After(de.Delay):
							case <-ctx.Done():
							}
							continue
						}
						if err != nil {
							if ctx.Err() == nil {
								t.Error(err)
							}
							return
						}
						now := time.Now()
						if err := r.Correct(context.Background(), tc.actual); err != nil {
							t.Error(err)
							return
						}
						if r.Tokens() != tc.actual {
							t.Errorf("Tokens() = %d after Correct(%d)", r.Tokens(), tc.actual)
						}
						mu.Lock()
						calls++
						for range tc.actual {
							spent = append(spent, now)
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			want := tc.wantCallsPerSec * run.Seconds()
			if got := float64(calls); got < want*0.85 || got > want*1.15+2 {
				t.Errorf("%d calls in %s, want about %.0f", calls, run, want)
			}
			if most := maxInWindow(spent, time.Second); most > 110+tc.actual {
				t.Errorf("%d tokens used in one 1s window, want at most 110 (+ one call's %d)", most, tc.actual)
			}
		})
	}
}

func TestReserveDefers(t *testing.T) {
	srv := redistest.Start(t)
	rdb := client(t, srv)
	// 60 requests per minute with a 1 s burst: one request at a time.
	b := newBudget(t, rdb, "defers", budget.Config{Limit: budget.Limit{RequestsPerMinute: 60}})
	ctx := t.Context()
	r, err := b.Reserve(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Reserve(ctx, 0)
	var de *clients.DeferredError
	if !errors.As(err, &de) || !errors.Is(err, clients.ErrNoBudget) || !errors.Is(err, clients.ErrDeferred) {
		t.Fatalf("second Reserve: %v, want ErrNoBudget", err)
	}
	if de.Delay < 900*time.Millisecond || de.Delay > time.Second || de.Provider != "defers" {
		t.Errorf("deferred %+v, want about 1s for defers", de)
	}
	// The cancelled reservation's request is given back at once.
	if err := r.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Reserve(ctx, 0); err != nil {
		t.Errorf("Reserve after Cancel: %v", err)
	}

	// A call costing more tokens than the burst goes through when the
	// bucket is full; the next waits until its cost is earned back.
	tb := newBudget(t, rdb, "big", budget.Config{Limit: budget.Limit{TokensPerMinute: 600}}) // 10/s, burst 10
	if _, err := tb.Reserve(ctx, 30); err != nil {
		t.Fatalf("Reserve(30) on a full bucket: %v", err)
	}
	_, err = tb.Reserve(ctx, 1)
	if !errors.As(err, &de) || de.Delay < 1900*time.Millisecond || de.Delay > 2100*time.Millisecond {
		t.Errorf("Reserve(1) after 30 of 10/s: %v, want a wait of about 2.1s", err)
	}

	// No limit: always admitted, nothing kept in Redis.
	free := newBudget(t, rdb, "free", budget.Config{})
	for range 100 {
		r, err := free.Reserve(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Correct(ctx, 10); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := rdb.Exists(ctx, "llmq:budget:{free}:rpm", "llmq:budget:{free}:tpm").Result(); err != nil || n != 0 {
		t.Errorf("keys of an unlimited budget: %d, %v", n, err)
	}
}

func TestNewValidates(t *testing.T) {
	srv := redistest.Start(t)
	rdb := client(t, srv)
	for _, tc := range []struct {
		name     string
		rdb      redis.UniversalClient
		provider string
		cfg      budget.Config
		want     string
	}{
		{"nil client", nil, "openai", budget.Config{}, "nil Redis client"},
		{"no provider", rdb, "", budget.Config{}, "provider must not be empty"},
		{"negative rpm", rdb, "openai", budget.Config{Limit: budget.Limit{RequestsPerMinute: -1}}, "openai requests per minute must not be negative, got -1"},
		{"negative tpm", rdb, "openai", budget.Config{Limit: budget.Limit{TokensPerMinute: -5}}, "openai tokens per minute must not be negative, got -5"},
		{"negative burst", rdb, "openai", budget.Config{Burst: -time.Second}, "Burst must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := budget.New(tc.rdb, tc.provider, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want %q", err, tc.want)
			}
		})
	}
}

// TestBlockShared: a block recorded through one client holds every
// client's Reserve, and a shorter block never shortens it.
func TestBlockShared(t *testing.T) {
	srv := redistest.Start(t)
	ctx := t.Context()
	a := newBudget(t, client(t, srv), "openai", budget.Config{})
	b := newBudget(t, client(t, srv), "openai", budget.Config{})
	other := newBudget(t, client(t, srv), "ollama", budget.Config{})

	if d, err := a.Block(ctx, 600*time.Millisecond); err != nil || d != 600*time.Millisecond {
		t.Fatalf("Block(600ms) = %v, %v", d, err)
	}
	_, err := b.Reserve(ctx, 0)
	var de *clients.DeferredError
	if !errors.As(err, &de) || !errors.Is(err, clients.ErrRateBlocked) || de.Delay > 600*time.Millisecond || de.Delay < 500*time.Millisecond {
		t.Fatalf("Reserve while blocked: %v, want ErrRateBlocked for about 600ms", err)
	}
	if _, err := other.Reserve(ctx, 0); err != nil {
		t.Errorf("another provider's Reserve: %v", err)
	}
	// Shorter: the longer block stays.
	if d, err := b.Block(ctx, 100*time.Millisecond); err != nil || d < 400*time.Millisecond {
		t.Errorf("Block(100ms) during a 600ms block = %v, %v; want the 600ms block kept", d, err)
	}
	time.Sleep(200 * time.Millisecond)
	// At most 400ms are left; fewer if the sleep overran on a busy machine.
	if d, err := a.BlockedFor(ctx); err != nil || d <= 0 || d > 400*time.Millisecond {
		t.Errorf("BlockedFor after 200ms = %v, %v; want at most 400ms, still blocked", d, err)
	}
	// Longer: extends.
	if d, err := b.Block(ctx, 800*time.Millisecond); err != nil || d != 800*time.Millisecond {
		t.Errorf("Block(800ms) = %v, %v", d, err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		_, err := a.Reserve(ctx, 0)
		if err == nil {
			break
		}
		if !errors.As(err, &de) || time.Now().After(deadline) {
			t.Fatalf("Reserve after the block: %v", err)
		}
		time.Sleep(de.Delay)
	}
	if d, err := a.BlockedFor(ctx); err != nil || d != 0 {
		t.Errorf("BlockedFor after the block = %v, %v", d, err)
	}
}

// TestCluster: each provider's keys hash to one slot, so the scripts run
// on a Redis Cluster.
func TestCluster(t *testing.T) {
	nodes := redistest.StartCluster(t, 3)
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.Addr())
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := t.Context()
	for _, p := range []string{"openai", "ollama", "a", "b"} {
		b := newBudget(t, rdb, p, budget.Config{Limit: budget.Limit{RequestsPerMinute: 60, TokensPerMinute: 6000}})
		r, err := b.Reserve(ctx, 50)
		if err != nil {
			t.Fatalf("%s: Reserve: %v", p, err)
		}
		if err := r.Correct(ctx, 20); err != nil {
			t.Fatalf("%s: Correct: %v", p, err)
		}
		if _, err := b.Reserve(ctx, 1); !errors.Is(err, clients.ErrNoBudget) {
			t.Errorf("%s: second Reserve: %v, want ErrNoBudget", p, err)
		}
		if err := r.Cancel(ctx); err != nil {
			t.Fatalf("%s: Cancel: %v", p, err)
		}
		if _, err := b.Block(ctx, time.Second); err != nil {
			t.Fatalf("%s: Block: %v", p, err)
		}
		if _, err := b.Reserve(ctx, 1); !errors.Is(err, clients.ErrRateBlocked) {
			t.Errorf("%s: Reserve while blocked: %v, want ErrRateBlocked", p, err)
		}
	}
}
