package job_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/ollama"
	"github.com/llmq/llmq/clients/openai"
	"github.com/llmq/llmq/internal/redistest"
	"github.com/llmq/llmq/job"
	"github.com/llmq/llmq/simulator"
	"github.com/llmq/llmq/tasks"
)

const dim = 8

// setup starts Redis, the simulator and an in-process asynq server that
// runs the embed handler with a job Recorder, as cmd/worker wires them.
func setup(t *testing.T) redis.UniversalClient {
	t.Helper()
	return setupProvider(t, nil)
}

// setupProvider is setup with the simulator's handler wrapped by wrap,
// unless it is nil.
func setupProvider(t *testing.T, wrap func(http.Handler) http.Handler) redis.UniversalClient {
	t.Helper()
	srvRedis := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srvRedis.Addr()})
	t.Cleanup(func() { rdb.Close() })
	stop, err := startWorker(rdb, dim, wrap)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return rdb
}

// startWorker starts the simulator, with vectors of dim dimensions, and an
// in-process asynq server on rdb that runs the embed handler with a job
// Recorder, as cmd/worker wires them; wrap, unless nil, wraps the
// simulator's handler. stop ends both.
func startWorker(rdb redis.UniversalClient, dim int, wrap func(http.Handler) http.Handler) (stop func(), err error) {
	sim := simulator.New(simulator.Config{Dim: dim})
	var ts *httptest.Server
	if wrap == nil {
		ts = simulator.Start(sim, false)
	} else {
		ts = httptest.NewServer(wrap(sim))
	}
	hc, _, err := clients.NewHTTPClient(clients.Config{MaxIdleConns: 4, Timeout: 5 * time.Second})
	if err != nil {
		ts.Close()
		return nil, err
	}
	oa, err := openai.New(hc, openai.Config{BaseURL: ts.URL + "/v1"})
	if err != nil {
		ts.Close()
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ol, err := ollama.New(hc, ollama.Config{Host: ts.URL})
	if err != nil {
		ts.Close()
		return nil, err
	}
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{Concurrency: 4, LogLevel: asynq.FatalLevel,
		Queues: map[string]int{tasks.QueueEmbeddings: 1, tasks.QueueGeneration: 1}, RetryDelayFunc: tasks.RetryDelay, IsFailure: tasks.IsFailure})
	h := tasks.NewEmbedHandler(map[string]tasks.Embedder{tasks.ProviderOpenAI: oa}, logger, tasks.WithJobs(job.NewRecorder(rdb)))
	g := tasks.NewGenerateHandler(map[string]tasks.Generator{tasks.ProviderOllama: ol}, logger,
		tasks.WithCompleter(oa), tasks.WithGenerateJobs(job.NewRecorder(rdb)))
	if err := srv.Start(tasks.NewMux(map[string]asynq.Handler{tasks.TypeEmbed: h, tasks.TypeGenerate: g})); err != nil {
		ts.Close()
		return nil, err
	}
	return func() {
		srv.Shutdown()
		hc.CloseIdleConnections()
		ts.Close()
	}, nil
}

func writeFile(t testing.TB, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func wait(t testing.TB, rdb redis.UniversalClient, id string) *job.Status {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := job.GetStatus(context.Background(), rdb, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Finished {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not finished: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestJobLifecycle submits a job with duplicates, a multi-text Batch API
// line and a poisoned text, and checks its counts, both export formats,
// resubmission and deletion.
func TestJobLifecycle(t *testing.T) {
	rdb := setup(t)
	ctx := context.Background()
	req := func(id, input string) string {
		return fmt.Sprintf(`{"custom_id": %q, "method": "POST", "url": "/v1/embeddings", "body": {"model": "m", "input": %s}}`, id, input)
	}
	path := writeFile(t,
		req("a", `"alpha"`), req("b", `["beta", "gamma"]`), req("c", `"alpha"`),
		req("d", `"bad sim:status=400"`), req("e", `"epsilon"`), req("b2", `["beta", "gamma"]`))
	sub := job.NewSubmission(rdb, job.Spec{Path: path, BatchSize: 3})
	sum, err := sub.Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Items != 6 || sum.Unique != 4 || sum.Batches != 2 || sum.Format != job.FormatBatch || sum.Model != "m" {
		t.Fatalf("summary %+v", sum)
	}
	st := wait(t, rdb, sum.ID)
	if st.Done != 3 || st.Failed != 1 || st.Active != 0 || st.Pending != 0 {
		t.Errorf("counts %+v, want 3 done, 1 failed", st.Counters)
	}

	// A batch reported again, as after a redelivery, is not counted twice.
	rec := job.NewRecorder(rdb)
	ref := tasks.JobRef{ID: sum.ID, Batch: 0}
	if err := errors.Join(rec.BatchStarted(ctx, ref, 2), rec.BatchFinished(ctx, ref, 2, 0)); err != nil {
		t.Fatal(err)
	}
	if again := wait(t, rdb, sum.ID); again.Counters.Done != st.Counters.Done || again.Active != 0 {
		t.Errorf("counts after a repeated batch %+v, want %+v", again.Counters, st.Counters)
	}

	var out, errs bytes.Buffer
	es, err := job.Export(ctx, rdb, st, job.ExportOptions{Out: &out, Errors: &errs})
	if err != nil {
		t.Fatal(err)
	}
	if es.Results != 5 || es.Failed != 1 || es.Duplicates != 2 {
		t.Errorf("export %+v, want 5 results, 1 failed, 2 duplicates", es)
	}
	var ids []string
	for _, o := range decodeLines[embeddingLine[[]float32]](t, out.String()) {
		ids = append(ids, fmt.Sprintf("%s:%d", o.CustomID, len(o.Response.Body.Data)))
		if o.CustomID == "c" && fmt.Sprint(o.Response.Body.Data[0].Embedding) != fmt.Sprint(simulator.Vector("alpha", dim)) {
			t.Errorf("duplicate c: vector differs from alpha's")
		}
	}
	if got := strings.Join(ids, " "); got != "a:1 b:2 c:1 e:1 b2:2" {
		t.Errorf("output custom_ids:texts %q, want input order", got)
	}
	if !strings.Contains(errs.String(), `"custom_id":"d","response":{"status_code":400`) {
		t.Errorf("errors %s", errs.String())
	}

	out.Reset()
	if _, err := job.Export(ctx, rdb, st, job.ExportOptions{Out: &out, Format: job.FormatSimple}); err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(out.String(), "\n"); !strings.HasPrefix(first, `{"id":"a","embedding":[`) {
		t.Errorf("simple format line %q", first)
	}

	again, err := job.NewSubmission(rdb, job.Spec{Path: path, BatchSize: 3}).Run(ctx, nil)
	if err != nil || !again.Resubmitted || again.ID != sum.ID {
		t.Errorf("resubmission %+v, %v; want the same job, resubmitted", again, err)
	}
	if _, err := job.NewSubmission(rdb, job.Spec{Path: path, BatchSize: 2, ID: sum.ID}).Run(ctx, nil); !errors.Is(err, job.ErrConflict) {
		t.Errorf("same ID, other settings: %v, want ErrConflict", err)
	}
	if err := job.Delete(ctx, rdb, st); err != nil {
		t.Fatal(err)
	}
	if _, err := job.GetStatus(ctx, rdb, sum.ID); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("status after delete: %v, want ErrNotFound", err)
	}
	if keys := append(rdb.Keys(ctx, "llmq:*").Val(), rdb.Keys(ctx, "asynq:{embeddings}:t:*").Val()...); len(keys) > 0 {
		t.Errorf("keys left after delete: %v", keys)
	}
}

// TestStrict checks that a strict submission with a bad line enqueues
// nothing and reports the line.
func TestStrict(t *testing.T) {
	rdb := setup(t)
	path := writeFile(t, `{"id": "a", "text": "ok"}`, `{"id": "a", "text": "same id"}`)
	var bad []string
	_, err := job.NewSubmission(rdb, job.Spec{Path: path, Strict: true}).Run(context.Background(), func(le *job.LineError) {
		bad = append(bad, le.Error())
	})
	if !errors.Is(err, job.ErrStrict) || len(bad) != 1 || bad[0] != `line 2: duplicate id "a"` {
		t.Errorf("err %v, bad lines %q; want ErrStrict and line 2's duplicate id", err, bad)
	}
	ctx := context.Background()
	if keys := append(rdb.Keys(ctx, "llmq:*").Val(), rdb.Keys(ctx, "asynq:{embeddings}:*").Val()...); len(keys) > 0 {
		t.Errorf("keys after a strict refusal: %v", keys)
	}
}
