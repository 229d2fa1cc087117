package tasks_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	goredis "github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/breaker"
	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/openai"
	"github.com/llmq/llmq/guard"
	"github.com/llmq/llmq/inflight"
	"github.com/llmq/llmq/internal/redistest"
	"github.com/llmq/llmq/simulator"
	"github.com/llmq/llmq/tasks"
)

// guarded is a worker wired as cmd/worker wires one: the OpenAI client
// behind its guard, the patience middleware around the handlers, a real
// Redis and asynq server, and the simulator as the provider.
type guarded struct {
	client    *asynq.Client
	inspector *asynq.Inspector
	sim       *simulator.Simulator
	logs      *logBuffer
	outcomes  sync.Map // task ID → tasks.Outcome of its last run, as asynq got it
}

// setupGuarded starts a guarded worker whose provider is at baseURL (the
// simulator's if empty), with patience bound and the breaker's settings.
func setupGuarded(t *testing.T, baseURL string, bound time.Duration, br breaker.Config) *guarded {
	t.Helper()
	server := redistest.Start(t)
	sim := simulator.New(simulator.Config{Dim: testDim})
	ts := simulator.Start(sim, false)
	t.Cleanup(ts.Close)
	if baseURL == "" {
		baseURL = ts.URL
	}
	hc, _, err := clients.NewHTTPClient(clients.Config{MaxIdleConns: 4, Timeout: 500 * time.Millisecond, ResponseHeaderTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	oa, err := openai.New(hc, openai.Config{BaseURL: baseURL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rdb := goredis.NewClient(&goredis.Options{Addr: server.Addr()})
	t.Cleanup(func() { rdb.Close() })
	g, err := guard.New(rdb, "openai", guard.Config{
		Breaker:     br,
		Concurrency: inflight.Config{Max: 4},
		MaxWait:     -1,
		Logger:      logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := asynq.NewServer(server.ConnOpt(), asynq.Config{
		Concurrency:              4,
		Queues:                   map[string]int{tasks.QueueEmbeddings: 1},
		DelayedTaskCheckInterval: time.Second,
		RetryDelayFunc:           tasks.RetryDelay,
		IsFailure:                tasks.IsFailure,
		ErrorHandler:             tasks.LogError(logger),
		LogLevel:                 asynq.FatalLevel,
	})
	embed := tasks.NewEmbedHandler(map[string]tasks.Embedder{tasks.ProviderOpenAI: g.Embedder(oa)}, logger)
	mux := tasks.NewMux(map[string]asynq.Handler{tasks.TypeEmbed: embed})
	f := &guarded{client: asynq.NewClient(server.ConnOpt()), inspector: asynq.NewInspector(server.ConnOpt()), sim: sim, logs: logs}
	patience := guard.NewPatience(rdb, bound)
	h := patience.Middleware(mux)
	if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		err := h.ProcessTask(ctx, t)
		id, _ := asynq.GetTaskID(ctx)
		f.outcomes.Store(id, tasks.Outcome(ctx, err))
		return err
	})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	t.Cleanup(func() { f.client.Close(); f.inspector.Close() })
	return f
}

// await polls the task until done reports true for it, or fails the test
// after 20 s.
func (f *guarded) await(t *testing.T, id string, done func(*asynq.TaskInfo) bool) *asynq.TaskInfo {
	t.Helper()
	return awaitTask(t, f.inspector, tasks.QueueEmbeddings, id, 20*time.Second, done)
}

// logged returns the LogError records of task id, in order.
func (f *guarded) logged(t *testing.T, id string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(f.logs.String(), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r["task_id"] == id && (r["msg"] == "task failed" || r["msg"] == "task deferred") {
			out = append(out, r)
		}
	}
	return out
}

// TestProviderFailureDeferred: with the breaker closed, a 5xx, a refused
// connection and a request timeout send the task back as a deferral
// that uses no retry, comes back after 1 s, and says why in asynq's last
// error and in a warning; a 400, a 429 and a malformed answer keep their
// outcomes.
func TestProviderFailureDeferred(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	_ = ln.Close()
	deferred := func(i *asynq.TaskInfo) bool { return i.State == asynq.TaskStateRetry }
	archived := func(i *asynq.TaskInfo) bool { return i.State == asynq.TaskStateArchived }
	tests := []struct {
		name         string
		url          string
		text         string
		done         func(*asynq.TaskInfo) bool
		wantOutcome  string
		wantErr      string // a case-blind pattern of asynq's last error
		wantRequests int    // that reached the simulator
		wantLevel    string
		wantDelay    time.Duration // logged; 0: none
	}{
		{"503", "", "sim:status=503 sim:retry_after=0s", deferred, tasks.OutcomeDeferred,
			`^embed 1 texts: openai: provider failed \(breaker closed; deferred 0s so far\): .*HTTP 503.*, come back in 1s$`, 1, "WARN", time.Second},
		{"500", "", "sim:status=500 sim:retry_after=0s", deferred, tasks.OutcomeDeferred, `provider failed .*HTTP 500.*come back in 1s`, 1, "WARN", time.Second},
		{"503 with Retry-After", "", "sim:status=503 sim:retry_after=20s", deferred, tasks.OutcomeDeferred, `provider failed .*HTTP 503.*come back in 20s`, 1, "WARN", 20 * time.Second},
		{"refused connection", refused, "hello", deferred, tasks.OutcomeDeferred, `provider failed .*connection refused.*come back in 1s`, 0, "WARN", time.Second},
		{"request timeout", "", "sim:sleep=2s", deferred, tasks.OutcomeDeferred, `provider failed .*request timeout fired.*come back in 1s`, 1, "WARN", time.Second},
		{"400", "", "sim:status=400", archived, tasks.OutcomeArchived, `HTTP 400`, 1, "WARN", 0},
		{"429", "", "sim:status=429 sim:retry_after=30s", deferred, tasks.OutcomeRateLimited, `HTTP 429`, 1, "WARN", 30 * time.Second},
		{"malformed answer", "", "sim:garbage=1", archived, tasks.OutcomeArchived, `malformed answer: truncated JSON`, 2, "WARN", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setupGuarded(t, tt.url, time.Hour, breaker.Config{MaxCooldown: 8 * time.Second})
			info, err := f.client.Enqueue(embedTask(t, tt.text), asynq.MaxRetry(3))
			if err != nil {
				t.Fatal(err)
			}
			info = f.await(t, info.ID, tt.done)
			if info.Retried != 0 {
				t.Errorf("retried = %d, want 0", info.Retried)
			}
			if !regexp.MustCompile("(?i)" + tt.wantErr).MatchString(info.LastErr) {
				t.Errorf("last error = %q, want it to match %q", info.LastErr, tt.wantErr)
			}
			if got, _ := f.outcomes.Load(info.ID); got != tt.wantOutcome {
				t.Errorf("outcome %v, want %s", got, tt.wantOutcome)
			}
			if tt.wantDelay > 0 {
				// asynq's wait is the delay plus up to 10%.
				if wait := time.Until(info.NextProcessAt); wait > tt.wantDelay*11/10 {
					t.Errorf("next attempt in %s, want within %s", wait, tt.wantDelay*11/10)
				}
			}
			if got := int(f.sim.Stats().Requests); got != tt.wantRequests {
				t.Errorf("provider saw %d requests, want %d", got, tt.wantRequests)
			}
			logs := f.logged(t, info.ID)
			if len(logs) == 0 {
				t.Fatal("nothing logged")
			}
			r := logs[0]
			if r["level"] != tt.wantLevel || r["outcome"] != tt.wantOutcome {
				t.Errorf("logged %v %v, want %s %s", r["level"], r["outcome"], tt.wantLevel, tt.wantOutcome)
			}
			if d, _ := r["delay"].(float64); time.Duration(d) != tt.wantDelay {
				t.Errorf("logged delay %v, want %s", r["delay"], tt.wantDelay)
			}
		})
	}
}

// TestProviderFailureBounded: a task whose own request the provider
// answers 500 for good, the breaker staying closed, is deferred without
// using a retry, each time after a longer delay (1 s, then as long
// again as it has been deferred, up to the breaker's longest cool-down);
// once DEFERRAL_PATIENCE (3 s here) has passed, its failures use its
// retries, and with them used it is archived with an error that names
// the bound and the 500.
func TestProviderFailureBounded(t *testing.T) {
	// A breaker that these few failures do not open.
	f := setupGuarded(t, "", 3*time.Second, breaker.Config{Failures: 100, MaxCooldown: 2 * time.Second})
	info, err := f.client.Enqueue(embedTask(t, "sim:status=500 sim:retry_after=0s"), asynq.MaxRetry(2))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	info = f.await(t, info.ID, func(i *asynq.TaskInfo) bool { return i.State == asynq.TaskStateArchived })
	took := time.Since(start)
	if info.Retried != 2 {
		t.Errorf("retried = %d, want 2", info.Retried)
	}
	if want := `^embed 1 texts: deferred without pause since .*, longer than 3s: openai embeddings: .*HTTP 500`; !regexp.MustCompile(want).MatchString(info.LastErr) {
		t.Errorf("last error %q, want it to match %q", info.LastErr, want)
	}
	var outcomes []any
	var delays []time.Duration
	for _, r := range f.logged(t, info.ID) {
		outcomes = append(outcomes, r["outcome"])
		if r["outcome"] == tasks.OutcomeDeferred {
			d, _ := r["delay"].(float64)
			delays = append(delays, time.Duration(d))
		}
	}
	// Deferred while the run is within 3 s: at 0 (1 s), about 1 s (1 s
	// or a little more), about 2 s or more (2 s, the cap); then two runs
	// that use a retry and the one that is archived.
	if len(delays) < 2 || len(delays) > 4 || len(outcomes) != len(delays)+3 {
		t.Fatalf("logged outcomes %v, want 2 to 4 deferrals, then 2 retries and the archive", outcomes)
	}
	for i, d := range delays {
		switch {
		case i == 0 && d != time.Second:
			t.Errorf("first delay %s, want 1s", d)
		case i > 0 && d < delays[i-1]:
			t.Errorf("delays %v: shrink", delays)
		case d > 2*time.Second:
			t.Errorf("delay %s above the breaker's longest cool-down", d)
		}
	}
	for i, o := range outcomes[len(delays):] {
		if want := []string{tasks.OutcomeRetry, tasks.OutcomeRetry, tasks.OutcomeArchived}[i]; o != want {
			t.Errorf("outcomes %v, want %s after the deferrals", outcomes, want)
		}
	}
	if got := int(f.sim.Stats().Requests); got != len(outcomes) {
		t.Errorf("provider saw %d requests for %d runs", got, len(outcomes))
	}
	t.Logf("archived after %s: deferral delays %v, then %d retries; %d requests; %s", took.Round(100*time.Millisecond), delays, info.Retried, len(outcomes), info.LastErr)
}
