package job_test

import (
	"context"
	"testing"
	"time"

	"github.com/llmq/llmq/job"
)

// TestList lists two jobs, newest first, with their states, and filters
// them by state.
func TestList(t *testing.T) {
	rdb := setup(t)
	ctx := context.Background()
	a, err := job.NewSubmission(rdb, job.Spec{Path: writeFile(t, `{"id": "1", "text": "one"}`)}).Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, rdb, a.ID)
	time.Sleep(5 * time.Millisecond) // distinct creation times
	b, err := job.NewSubmission(rdb, job.Spec{Path: writeFile(t, `{"id": "1", "text": "two"}`, `{"id": "2", "text": "bad sim:status=400"}`)}).Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, rdb, b.ID)
	// Keys that are not manifests are not jobs.
	rdb.Set(ctx, "llmq:job:{x}:sent", "", 0)

	all, err := job.List(ctx, rdb, job.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].ID != b.ID || all[1].ID != a.ID {
		t.Fatalf("list %v, want [%s %s]", ids(all), b.ID, a.ID)
	}
	if all[0].State() != job.StateFailed || all[1].State() != job.StateDone {
		t.Errorf("states %s %s, want failed done", all[0].State(), all[1].State())
	}
	if age := all[1].Age(time.Now()); age <= 0 || age > time.Minute {
		t.Errorf("age %v", age)
	}
	done, err := job.List(ctx, rdb, job.ListOptions{States: []job.State{job.StateDone}})
	if err != nil || len(done) != 1 || done[0].ID != a.ID {
		t.Errorf("done jobs %v, %v; want [%s]", ids(done), err, a.ID)
	}
	one, err := job.List(ctx, rdb, job.ListOptions{Limit: 1})
	if err != nil || len(one) != 1 || one[0].ID != b.ID {
		t.Errorf("limit 1: %v, %v; want the newest", ids(one), err)
	}
}

func ids(sts []*job.Status) []string {
	var out []string
	for _, s := range sts {
		out = append(out, s.ID)
	}
	return out
}
