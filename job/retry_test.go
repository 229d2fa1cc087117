package job_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/job"
	"github.com/llmq/llmq/simulator"
	"github.com/llmq/llmq/tasks"
)

// flaky wraps the simulator: while failing is set, a request holding
// "flaky" is answered 400 and one holding "locked" 401, as a provider
// would; it counts the requests that hold "alpha".
type flaky struct {
	failing atomic.Bool
	alpha   atomic.Int64
}

func (f *flaky) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(body, []byte("alpha")) {
			f.alpha.Add(1)
		}
		status := 0
		switch {
		case !f.failing.Load():
		case bytes.Contains(body, []byte("locked")):
			status = http.StatusUnauthorized
		case bytes.Contains(body, []byte("flaky")):
			status = http.StatusBadRequest
		}
		if status != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"message":"refused (%d)","type":"invalid_request_error","param":null,"code":null}}`, status)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// TestRetry fails a job's second batch as a whole (401) and one text of
// its first batch (400), then retries it once the provider accepts them:
// the archived batch runs again whole, the completed one only its failed
// text, and the export holds one result per item, every vector right.
func TestRetry(t *testing.T) {
	f := &flaky{}
	f.failing.Store(true)
	rdb := setupProvider(t, f.wrap)
	ctx := context.Background()
	req := func(id, input string) string {
		return fmt.Sprintf(`{"custom_id": %q, "method": "POST", "url": "/v1/embeddings", "body": {"model": "m", "input": %s}}`, id, input)
	}
	texts := map[string][]string{"a": {"alpha"}, "b": {"beta", "flaky gamma"}, "c": {"delta"}, "d": {"locked epsilon", "zeta"}}
	path := writeFile(t, req("a", `"alpha"`), req("b", `["beta", "flaky gamma"]`), req("c", `"delta"`), req("d", `["locked epsilon", "zeta"]`))
	sum, err := job.NewSubmission(rdb, job.Spec{Path: path, BatchSize: 3}).Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Batches != 2 {
		t.Fatalf("%d batches, want 2", sum.Batches)
	}
	st := wait(t, rdb, sum.ID)
	if st.Done != 1 || st.Failed != 3 || st.State() != job.StateFailed {
		t.Fatalf("first run: %+v, state %s; want 1 done, 3 failed", st.Counters, st.State())
	}

	alphaSent := f.alpha.Load()
	f.failing.Store(false)
	rs, err := job.Retry(ctx, rdb, sum.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Archived != 1 || rs.Partial != 1 || rs.Items != 3 {
		t.Errorf("retry %+v, want 1 archived batch, 1 partial, 3 items", rs)
	}
	st = wait(t, rdb, sum.ID)
	if st.Done != 4 || st.Failed != 0 || st.Active != 0 || st.State() != job.StateDone {
		t.Errorf("after retry: %+v, state %s; want 4 done", st.Counters, st.State())
	}
	if n := f.alpha.Load(); n != alphaSent {
		t.Errorf("alpha was sent %d times by the retry, want none: a partial retry sends only the failed texts", n-alphaSent)
	}

	var out, errs bytes.Buffer
	es, err := job.Export(ctx, rdb, st, job.ExportOptions{Out: &out, Errors: &errs})
	if err != nil {
		t.Fatal(err)
	}
	if es.Results != 4 || es.Failed != 0 || errs.Len() != 0 || es.InputTokens == 0 {
		t.Errorf("export %+v, errors %q; want 4 results with tokens, none failed", es, errs.String())
	}
	var order []string
	for _, o := range decodeLines[embeddingLine[[]float32]](t, out.String()) {
		order = append(order, o.CustomID)
		want := texts[o.CustomID]
		if len(o.Response.Body.Data) != len(want) {
			t.Errorf("%s: %d vectors, want %d", o.CustomID, len(o.Response.Body.Data), len(want))
			continue
		}
		for i, d := range o.Response.Body.Data {
			if fmt.Sprint(d.Embedding) != fmt.Sprint(simulator.Vector(want[i], dim)) {
				t.Errorf("%s text %d: vector is not that of %q", o.CustomID, i, want[i])
			}
		}
	}
	if got := strings.Join(order, " "); got != "a b c d" {
		t.Errorf("export order %q, want a b c d", got)
	}

	// Nothing failed: nothing to retry.
	if again, err := job.Retry(ctx, rdb, sum.ID, nil); err != nil || again.Batches() != 0 {
		t.Errorf("second retry %+v, %v; want nothing sent", again, err)
	}
	if err := job.Delete(ctx, rdb, st); err != nil {
		t.Fatal(err)
	}
	if keys := rdb.Keys(ctx, "llmq:*").Val(); len(keys) > 0 {
		t.Errorf("keys left after delete: %v", keys)
	}
}

// TestRetryRefused checks the jobs Retry refuses.
func TestRetryRefused(t *testing.T) {
	rdb := setup(t)
	ctx := context.Background()
	if _, err := job.Retry(ctx, rdb, "nope", nil); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("unknown job: %v, want ErrNotFound", err)
	}
	sum, err := job.NewSubmission(rdb, job.Spec{Path: writeFile(t, `{"id": "a", "text": "one"}`)}).Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, rdb, sum.ID)
	if _, err := job.Cancel(ctx, rdb, sum.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := job.Retry(ctx, rdb, sum.ID, nil); !errors.Is(err, job.ErrCancelled) {
		t.Errorf("cancelled job: %v, want ErrCancelled", err)
	}
}

// TestTaskSetReplacesArchived sends a task that fails for good (401), then
// the same task again once the provider accepts it: the archived task is
// replaced and runs again, and the result is the new run's.
func TestTaskSetReplacesArchived(t *testing.T) {
	f := &flaky{}
	f.failing.Store(true)
	rdb := setupProvider(t, f.wrap)
	ctx := context.Background()
	const text = "locked text"
	send := func() (*job.TaskSetSummary, *asynq.TaskInfo) {
		t.Helper()
		set := job.NewTaskSet(ctx, rdb, nil, "", 1)
		err := set.Add(ctx, tasks.TypeEmbed, []string{"1"}, func(headers map[string]string) (*asynq.Task, error) {
			return tasks.NewEmbedTaskWithHeaders(tasks.EmbedPayload{Texts: []string{text}}, headers)
		})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := set.Wait()
		if err != nil {
			t.Fatal(err)
		}
		var got *asynq.TaskInfo
		if err := set.Follow(ctx, func(_ job.Task, info *asynq.TaskInfo) error { got = info; return nil }); err != nil {
			t.Fatal(err)
		}
		return sum, got
	}
	sum, info := send()
	if sum.Enqueued != 1 || info.State != asynq.TaskStateArchived {
		t.Fatalf("first send: %+v, task %s; want enqueued and archived", sum, info.State)
	}
	f.failing.Store(false)
	sum, info = send()
	if sum.Enqueued != 1 || sum.Replaced != 1 || sum.Existing != 0 || info.State != asynq.TaskStateCompleted {
		t.Fatalf("second send: %+v, task %s (%s); want the archived task replaced and completed", sum, info.State, info.LastErr)
	}
	res, err := tasks.DecodeEmbedResult(info.Result)
	if err != nil || fmt.Sprint(res.Vectors[0]) != fmt.Sprint(simulator.Vector(text, dim)) {
		t.Errorf("result %v, %v; want the text's vector", res, err)
	}
	// Completed now: sending it again follows the completed task.
	if sum, info = send(); sum.Existing != 1 || sum.Replaced != 0 || info.State != asynq.TaskStateCompleted {
		t.Errorf("third send: %+v, task %s; want the completed task kept", sum, info.State)
	}
}
