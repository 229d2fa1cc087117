package tasks_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	goredis "github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/ollama"
	"github.com/llmq/llmq/clients/openai"
	"github.com/llmq/llmq/internal/proctest"
	"github.com/llmq/llmq/internal/redistest"
	"github.com/llmq/llmq/simulator"
	"github.com/llmq/llmq/tasks"
)

// The provider clients satisfy the interfaces the handlers declare.
var (
	_ tasks.Embedder  = (*openai.Client)(nil)
	_ tasks.Embedder  = (*ollama.Client)(nil)
	_ tasks.Generator = (*ollama.Client)(nil)
	_ tasks.Completer = (*openai.Client)(nil)
)

// fixture is a real Redis, the simulator and an asynq server running
// llmq's handlers through pooled clients, wired as cmd/worker wires them.
type fixture struct {
	client    *asynq.Client
	inspector *asynq.Inspector
	sim       *simulator.Simulator
	rdb       goredis.UniversalClient
	jobs      *jobLog
	logs      *logBuffer
	outcomes  sync.Map // task ID → tasks.Outcome of its last run
}

// logBuffer collects the worker's JSON log lines.
type logBuffer struct{ proctest.Buffer }

// records returns the log records with the given message.
func (b *logBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(b.String(), "\n") {
		if len(line) == 0 {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

const testDim = 32

func setup(t *testing.T) *fixture {
	t.Helper()
	server := redistest.Start(t)
	sim := simulator.New(simulator.Config{Dim: testDim})
	ts := simulator.Start(sim, false)
	t.Cleanup(ts.Close)

	// The header timeout is longer than the whole request's, so that a slow
	// answer always fails with the client's timeout, not a race of the two.
	hc, _, err := clients.NewHTTPClient(clients.Config{MaxIdleConns: 4, Timeout: 500 * time.Millisecond, ResponseHeaderTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	oa, err := openai.New(hc, openai.Config{BaseURL: ts.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	ol, err := ollama.New(hc, ollama.Config{Host: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	rdb := goredis.NewClient(&goredis.Options{Addr: server.Addr()})
	t.Cleanup(func() { rdb.Close() })
	srv := asynq.NewServer(server.ConnOpt(), asynq.Config{
		Concurrency:      4,
		Queues:           map[string]int{tasks.QueueEmbeddings: 1, tasks.QueueGeneration: 1},
		RetryDelayFunc:   tasks.RetryDelay,
		IsFailure:        tasks.IsFailure,
		ErrorHandler:     tasks.LogError(logger),
		LogLevel:         asynq.FatalLevel,
		GroupAggregator:  asynq.GroupAggregatorFunc(tasks.AggregateItems),
		GroupMaxSize:     32,
		GroupGracePeriod: time.Second,
	})
	jobs := &jobLog{}
	embed := tasks.NewEmbedHandler(map[string]tasks.Embedder{tasks.ProviderOpenAI: oa, tasks.ProviderOllama: ol}, logger,
		tasks.WithJobs(jobs), tasks.WithItemResults(rdb))
	mux := tasks.NewMux(map[string]asynq.Handler{
		tasks.TypeEmbed:     embed,
		tasks.TypeEmbedItem: embed,
		tasks.TypeGenerate: tasks.NewGenerateHandler(map[string]tasks.Generator{tasks.ProviderOllama: ol}, logger,
			tasks.WithCompleter(oa), tasks.WithGenerateJobs(jobs)),
	})
	f := &fixture{client: asynq.NewClient(server.ConnOpt()), inspector: asynq.NewInspector(server.ConnOpt()), sim: sim, rdb: rdb, jobs: jobs, logs: logs}
	mux.Use(func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			err := next.ProcessTask(ctx, t)
			id, _ := asynq.GetTaskID(ctx)
			f.outcomes.Store(id, tasks.Outcome(ctx, err))
			return err
		})
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	t.Cleanup(func() { f.client.Close(); f.inspector.Close() })
	return f
}

func (f *fixture) enqueue(t *testing.T, task *asynq.Task) *asynq.TaskInfo {
	t.Helper()
	info, err := f.client.Enqueue(task)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// await polls the task until done reports true for it, or fails the test
// after 15 s.
func (f *fixture) await(t *testing.T, queue, id string, done func(*asynq.TaskInfo) bool) *asynq.TaskInfo {
	t.Helper()
	return awaitTask(t, f.inspector, queue, id, 15*time.Second, done)
}

// awaitTask polls the task until done says it is, and fails the test
// after timeout.
func awaitTask(t *testing.T, insp *asynq.Inspector, queue, id string, timeout time.Duration, done func(*asynq.TaskInfo) bool) *asynq.TaskInfo {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		info, err := insp.GetTaskInfo(queue, id)
		if err != nil {
			t.Fatal(err)
		}
		if done(info) {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s still %v (retried %d, last error %q)", id, info.State, info.Retried, info.LastErr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// complete enqueues task and waits until it has completed.
func (f *fixture) complete(t *testing.T, task *asynq.Task) *asynq.TaskInfo {
	t.Helper()
	info := f.enqueue(t, task)
	return f.await(t, info.Queue, info.ID, inState(asynq.TaskStateCompleted))
}

// embed runs an embedding task of p to completion and returns its result.
func (f *fixture) embed(t *testing.T, p tasks.EmbedPayload) *tasks.EmbedResult {
	t.Helper()
	return runTask(t, f, p, tasks.NewEmbedTask, tasks.DecodeEmbedResult)
}

// generate runs a generation task of p to completion and returns its
// result.
func (f *fixture) generate(t *testing.T, p tasks.GeneratePayload) *tasks.GenerateResult {
	t.Helper()
	return runTask(t, f, p, tasks.NewGenerateTask, tasks.DecodeGenerateResult)
}

// runTask runs the task newTask makes of p to completion and returns its
// result as decode reads it.
func runTask[P, R any](t *testing.T, f *fixture, p P, newTask func(P, ...asynq.Option) (*asynq.Task, error), decode func([]byte) (R, error)) R {
	t.Helper()
	task, err := newTask(p)
	if err != nil {
		t.Fatal(err)
	}
	res, err := decode(f.complete(t, task).Result)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func inState(s asynq.TaskState) func(*asynq.TaskInfo) bool {
	return func(i *asynq.TaskInfo) bool { return i.State == s }
}

func TestEmbedTaskCompletes(t *testing.T) {
	f := setup(t)
	tests := []struct {
		name     string
		provider string
	}{
		{"openai", tasks.ProviderOpenAI},
		{"ollama", tasks.ProviderOllama},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			texts := []string{"first " + tt.name, "second " + tt.name, "third " + tt.name}
			task, err := tasks.NewEmbedTask(tasks.EmbedPayload{Provider: tt.provider, Texts: texts})
			if err != nil {
				t.Fatal(err)
			}
			info := f.enqueue(t, task)
			if info.ID != tasks.ID(task) {
				t.Errorf("task ID = %s, want the content ID %s", info.ID, tasks.ID(task))
			}
			info = f.await(t, info.Queue, info.ID, inState(asynq.TaskStateCompleted))
			res, err := tasks.DecodeEmbedResult(info.Result)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Vectors) != len(texts) {
				t.Fatalf("%d vectors for %d texts", len(res.Vectors), len(texts))
			}
			for i, text := range texts {
				want := simulator.Vector(text, testDim)
				for j := range want {
					if math.Float32bits(res.Vectors[i][j]) != math.Float32bits(want[j]) {
						t.Fatalf("vector %d differs from the simulator's at %d", i, j)
					}
				}
			}
			if res.InputTokens == 0 {
				t.Error("input tokens not recorded")
			}
		})
	}
}

func TestGenerateTaskCompletes(t *testing.T) {
	f := setup(t)
	tests := []struct {
		name    string
		payload tasks.GeneratePayload
		input   string // what the simulator completes
	}{
		{"prompt", tasks.GeneratePayload{Prompt: "why is the sky blue"}, "why is the sky blue"},
		{"prompt streamed", tasks.GeneratePayload{Prompt: "why is the sea blue", Stream: true}, "why is the sea blue"},
		{"chat streamed", tasks.GeneratePayload{Messages: []clients.Message{{Role: "user", Content: "hello there"}}, Stream: true}, "hello there"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := f.generate(t, tt.payload)
			if want := strings.Join(simulator.Completion(tt.input, simulator.DefaultTokens), ""); g.Text != want {
				t.Errorf("text = %q, want %q", g.Text, want)
			}
			if g.OutputTokens != simulator.DefaultTokens {
				t.Errorf("output tokens = %d, want %d", g.OutputTokens, simulator.DefaultTokens)
			}
		})
	}
}

// TestFailureOutcomes runs one task per failure class through the real
// stack and checks where asynq puts it: archived at once (no retry used),
// or scheduled for a retry after the expected delay.
func TestFailureOutcomes(t *testing.T) {
	f := setup(t)
	archived := func(i *asynq.TaskInfo) bool { return i.State == asynq.TaskStateArchived }
	retrying := func(i *asynq.TaskInfo) bool { return i.State == asynq.TaskStateRetry }
	tests := []struct {
		name        string
		task        *asynq.Task
		done        func(*asynq.TaskInfo) bool
		wantRetried int
		wantErr     string
		minDelay    time.Duration // retries: least time until the next attempt
	}{
		{"400", embedTask(t, "sim:status=400"), archived, 0, "HTTP 400", 0},
		{"401", embedTask(t, "sim:status=401"), archived, 0, "HTTP 401", 0},
		{"403", embedTask(t, "sim:status=403"), archived, 0, "HTTP 403", 0},
		{"404", embedTask(t, "sim:status=404"), archived, 0, "HTTP 404", 0},
		{"422", embedTask(t, "sim:status=422"), archived, 0, "HTTP 422", 0},
		{"insufficient quota", embedTask(t, "sim:code=insufficient_quota"), archived, 0, "insufficient_quota", 0},
		{"malformed payload", asynq.NewTask(tasks.TypeEmbed, []byte(`{"texts": "x"`)), archived, 0, "invalid payload: not JSON", 0},
		{"wrong payload type", asynq.NewTask(tasks.TypeEmbed, []byte(`{"texts": "x"}`)), archived, 0, `field "texts"`, 0},
		{"empty text", asynq.NewTask(tasks.TypeEmbed, []byte(`{"texts": ["a", ""]}`)), archived, 0, "text 1 is empty", 0},
		{"unknown provider", asynq.NewTask(tasks.TypeEmbed, []byte(`{"provider": "acme", "texts": ["a"]}`)), archived, 0, `unknown provider "acme"`, 0},
		{"unknown task type", asynq.NewTask("embedding:delete", []byte(`{}`)), archived, 0, `unknown task type "embedding:delete"`, 0},
		{"429 keeps its retries", embedTask(t, "sim:status=429 sim:retry_after=30s"), retrying, 0, "HTTP 429", 29 * time.Second},
		{"503 with retry-after", embedTask(t, "sim:status=503 sim:retry_after=20s"), retrying, 1, "HTTP 503", 19 * time.Second},
		{"500 backs off", embedTask(t, "sim:status=500 sim:retry_after=0s"), retrying, 1, "HTTP 500", 0},
		{"408", embedTask(t, "sim:status=408 sim:retry_after=10s"), retrying, 1, "HTTP 408", 9 * time.Second},
		{"request timeout", embedTask(t, "sim:sleep=5s"), func(i *asynq.TaskInfo) bool { return i.Retried >= 1 }, 1, "request timeout fired", 0},
		{"malformed response", embedTask(t, "sim:garbage=1"), archived, 0, "malformed answer: truncated JSON", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			info, err := f.client.Enqueue(tt.task, asynq.Queue(tasks.QueueEmbeddings), asynq.MaxRetry(3))
			if err != nil {
				t.Fatal(err)
			}
			enqueued := time.Now()
			info = f.await(t, info.Queue, info.ID, tt.done)
			if info.Retried < tt.wantRetried || (tt.wantRetried == 0 && info.Retried != 0) {
				t.Errorf("retried = %d, want %d", info.Retried, tt.wantRetried)
			}
			// wantErr is a case-blind pattern.
			if !regexp.MustCompile("(?i)" + tt.wantErr).MatchString(info.LastErr) {
				t.Errorf("last error = %q, want it to match %q", info.LastErr, tt.wantErr)
			}
			if tt.minDelay > 0 {
				if wait := info.NextProcessAt.Sub(enqueued); wait < tt.minDelay {
					t.Errorf("next attempt in %v, want at least %v", wait, tt.minDelay)
				}
			}
			if strings.Contains(info.LastErr, "sim:") {
				t.Errorf("last error shows the input text: %q", info.LastErr)
			}
		})
	}
}

// TestOutcomesAgree runs failed attempts through a real asynq server and
// checks that what asynq did with the task (its state and retry count),
// tasks.Outcome, the outcome LogError logs and the job bookkeeping of the
// failed attempt all tell the same story. A rate limit on a task's last
// attempt is the case they once disagreed on: asynq archives it, so the
// batch must be counted as failed, not handed back for a retry that never
// comes.
func TestOutcomesAgree(t *testing.T) {
	f := setup(t)
	tests := []struct {
		name        string
		text        string
		maxRetry    int
		wantState   asynq.TaskState
		wantRetried int
		wantOutcome string
	}{
		{"rate limit on the last attempt", "sim:status=429 sim:retry_after=30s", 0, asynq.TaskStateArchived, 0, tasks.OutcomeArchived},
		{"rate limit with retries left", "sim:status=429 sim:retry_after=30s", 3, asynq.TaskStateRetry, 0, tasks.OutcomeRateLimited},
		{"server error on the last attempt", "sim:status=500 sim:retry_after=30s", 0, asynq.TaskStateArchived, 0, tasks.OutcomeArchived},
		{"server error with retries left", "sim:status=500 sim:retry_after=30s", 3, asynq.TaskStateRetry, 1, tasks.OutcomeRetry},
		{"permanent error with retries left", "sim:status=401", 3, asynq.TaskStateArchived, 0, tasks.OutcomeArchived},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ref := tasks.JobRef{ID: "agree", Batch: i}
			task, err := tasks.NewEmbedTask(tasks.EmbedPayload{Texts: []string{tt.name + " " + tt.text}, Job: &ref}, asynq.MaxRetry(tt.maxRetry))
			if err != nil {
				t.Fatal(err)
			}
			info := f.enqueue(t, task)
			info = f.await(t, info.Queue, info.ID, func(i *asynq.TaskInfo) bool {
				return i.State == asynq.TaskStateArchived || i.State == asynq.TaskStateRetry
			})
			if info.State != tt.wantState || info.Retried != tt.wantRetried {
				t.Fatalf("asynq left the task %v after %d retries, want %v after %d", info.State, info.Retried, tt.wantState, tt.wantRetried)
			}
			if got, _ := f.outcomes.Load(info.ID); got != tt.wantOutcome {
				t.Errorf("tasks.Outcome = %v, want %s", got, tt.wantOutcome)
			}
			var logged []any
			for _, r := range f.logs.records(t, "task failed") {
				if r["task_id"] == info.ID {
					logged = append(logged, r["outcome"])
				}
			}
			if len(logged) != 1 || logged[0] != tt.wantOutcome {
				t.Errorf("LogError logged outcomes %v, want [%s]", logged, tt.wantOutcome)
			}
			finished, ok := f.jobs.finishedOf(ref)
			switch {
			case tt.wantOutcome == tasks.OutcomeArchived && (!ok || finished != [2]int{1, 1}):
				t.Errorf("archived job batch finished with %v (reported: %v), want 1 item, 1 failed", finished, ok)
			case tt.wantOutcome != tasks.OutcomeArchived && ok:
				t.Errorf("job batch to be retried was counted finished: %v", finished)
			case tt.wantOutcome != tasks.OutcomeArchived && f.jobs.releasedOf(ref) != 1:
				t.Errorf("job batch to be retried released %d items, want 1", f.jobs.releasedOf(ref))
			}
		})
	}
}

func embedTask(t *testing.T, text string) *asynq.Task {
	t.Helper()
	task, err := tasks.NewEmbedTask(tasks.EmbedPayload{Texts: []string{"a text " + text}})
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// TestResultIsCompact checks the stored size of an embedding result: 4
// bytes per dimension plus a small header.
func TestResultIsCompact(t *testing.T) {
	f := setup(t)
	texts := []string{"one", "two"}
	task, err := tasks.NewEmbedTask(tasks.EmbedPayload{Texts: texts})
	if err != nil {
		t.Fatal(err)
	}
	info := f.complete(t, task)
	vectorBytes := 4 * testDim * len(texts)
	if len(info.Result) < vectorBytes || len(info.Result) > vectorBytes+64 {
		t.Errorf("result is %d bytes, want %d plus a header under 64", len(info.Result), vectorBytes)
	}
	asJSON, _ := json.Marshal(simulator.Vector("one", testDim))
	t.Logf("stored result: %d bytes for %d vectors of %d dimensions (one vector as JSON text: %d bytes)",
		len(info.Result), len(texts), testDim, len(asJSON))
}
