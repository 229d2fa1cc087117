package job_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/llmq/llmq/internal/redistest"
	"github.com/llmq/llmq/job"
)

// TestCancel cancels a job while four of its twelve batches run: the
// eight queued ones are removed, the running ones finish with results, and
// the errors export reports the others as cancelled.
func TestCancel(t *testing.T) {
	rdb := setup(t)
	ctx := context.Background()
	var lines []string
	for i := range 12 {
		lines = append(lines, fmt.Sprintf(`{"custom_id": "r%d", "method": "POST", "url": "/v1/embeddings", "body": {"model": "m", "input": "text %d sim:sleep=1500ms"}}`, i, i))
	}
	sum, err := job.NewSubmission(rdb, job.Spec{Path: writeFile(t, lines...), BatchSize: 1}).Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := job.GetStatus(ctx, rdb, sum.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Active == 4 {
			if st.State() != job.StateRunning {
				t.Errorf("state %s while running, want running", st.State())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("4 batches never ran at once: %+v", st.Counters)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cs, err := job.Cancel(ctx, rdb, sum.ID, job.ReasonCancelled)
	if err != nil {
		t.Fatal(err)
	}
	if cs.Removed != 8 || cs.Items != 8 || cs.Running != 4 || cs.Reason != job.ReasonCancelled {
		t.Errorf("cancel %+v, want 8 removed, 4 running", cs)
	}
	st, err := job.GetStatus(ctx, rdb, sum.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Finished || st.State() != job.StateCancelling || st.CancelledAt == 0 {
		t.Errorf("status right after cancel: state %s, finished %v; want cancelling", st.State(), st.Finished)
	}
	// Again, with another reason: nothing changes.
	if again, err := job.Cancel(ctx, rdb, sum.ID, job.ReasonExpired); err != nil || again.Removed != 0 || again.Reason != job.ReasonCancelled {
		t.Errorf("second cancel %+v, %v; want nothing removed, the first reason kept", again, err)
	}
	st = wait(t, rdb, sum.ID)
	if st.Done != 4 || st.Cancelled != 8 || st.Failed != 0 || st.State() != job.StateCancelled {
		t.Errorf("final %+v state %s, want 4 done, 8 cancelled", st.Counters, st.State())
	}
	var out, errs bytes.Buffer
	es, err := job.Export(ctx, rdb, st, job.ExportOptions{Out: &out, Errors: &errs})
	if err != nil {
		t.Fatal(err)
	}
	if es.Results != 4 || es.Failed != 8 || es.InputTokens == 0 {
		t.Errorf("export %+v, want 4 results (with tokens), 8 failed", es)
	}
	if n := strings.Count(errs.String(), `"code":"batch_cancelled","message":"`+job.CancelledMessage+`"`); n != 8 {
		t.Errorf("%d cancelled lines in the errors export, want 8:\n%s", n, errs.String())
	}
	for i := range 12 {
		id := fmt.Sprintf(`"custom_id":"r%d"`, i)
		if strings.Contains(errs.String(), id) == strings.Contains(out.String(), id) {
			t.Errorf("r%d is in neither or both exports", i)
		}
	}
	if err := job.Delete(ctx, rdb, st); err != nil {
		t.Fatal(err)
	}
	if keys := rdb.Keys(ctx, "llmq:*").Val(); len(keys) > 0 {
		t.Errorf("keys left after delete: %v", keys)
	}
}

// TestCancelUnknown checks the error for a job Redis does not know.
func TestCancelUnknown(t *testing.T) {
	rdb := setup(t)
	if _, err := job.Cancel(context.Background(), rdb, "nope", ""); err == nil || !strings.Contains(err.Error(), "no such job") {
		t.Errorf("cancel of an unknown job: %v, want ErrNotFound", err)
	}
}

// TestCancelConcurrent cancels a job from several callers at once, as two
// API replicas may: every batch is counted once, and the export still
// finds each removed batch's items to report them as cancelled.
func TestCancelConcurrent(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	const n = 60
	var lines []string
	for i := range n {
		lines = append(lines, fmt.Sprintf(`{"id": "c%d", "text": "text %d"}`, i, i))
	}
	sum, err := job.NewSubmission(rdb, job.Spec{Path: writeFile(t, lines...), BatchSize: 1}).Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var g errgroup.Group
	for range 6 {
		g.Go(func() error {
			_, err := job.Cancel(ctx, rdb, sum.ID, job.ReasonCancelled)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	st, err := job.GetStatus(ctx, rdb, sum.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Cancelled != n || !st.Finished {
		t.Fatalf("after the cancels: %+v, finished %t; want %d cancelled", st.Counters, st.Finished, n)
	}
	var out, errs bytes.Buffer
	es, err := job.Export(ctx, rdb, st, job.ExportOptions{Out: &out, Errors: &errs})
	if err != nil {
		t.Fatal(err)
	}
	if es.Results != 0 || es.Failed != n || strings.Count(errs.String(), job.CancelledMessage) != n {
		t.Errorf("export %+v, want %d cancelled items:\n%s", es, n, errs.String())
	}
}
