package batchapi

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/llmq/llmq/internal/proctest"
)

// TestReplicaKilled creates a batch through one API replica and kills it
// (SIGKILL) while the batch is validated and submitted; a second replica
// takes over the batch once the first one's lease lapses, and every
// request ends with exactly one result.
func TestReplicaKilled(t *testing.T) {
	f := setup(t)
	a, baseA := f.startAPI(t)
	_, baseB := f.startAPI(t)
	ca, cb := sdk(baseA, keyA), sdk(baseB, keyA)
	const n = 20000
	var lines []string
	for i := range n {
		lines = append(lines, request(fmt.Sprintf("r%d", i), fmt.Sprintf("text number %d", i)))
	}
	in := upload(t, ca, writeLines(t, lines...))
	b := create(t, ca, in.ID, "24h")
	a.Signal(t, syscall.SIGKILL)
	a.Wait(t, 5*time.Second)
	start := time.Now()
	if now, err := cb.Batches.Get(t.Context(), b.ID); err == nil {
		t.Logf("at the kill the batch was %s", now.Status)
	}
	b = poll(t, cb, b.ID, 90*time.Second, openai.BatchStatusCompleted, openai.BatchStatusFailed)
	if b.Status != openai.BatchStatusCompleted || b.RequestCounts.Completed != n || b.RequestCounts.Failed != 0 {
		t.Fatalf("batch %s %+v, want %d completed", b.Status, b.RequestCounts, n)
	}
	t.Logf("the second replica finished the batch %s after the first was killed", time.Since(start).Round(time.Millisecond))
	out := content(t, cb, b.OutputFileID)
	if len(out) != n {
		t.Fatalf("%d output lines, want %d", len(out), n)
	}
	for i, l := range out {
		if l.CustomID != fmt.Sprintf("r%d", i) {
			t.Fatalf("output line %d is %s, want r%d", i+1, l.CustomID, i)
		}
	}
}

// TestFiftyThousand runs a 50,000-request embedding batch end to end at
// the default task size (128 texts), and logs the time from upload to the
// last byte of the output file. It asserts results, not speed.
func TestFiftyThousand(t *testing.T) {
	f := setup(t, "WORKER_CONCURRENCY=32")
	api, base := f.startAPI(t, "API_BATCH_SIZE=128")
	c := sdk(base, keyA)
	const n = 50000
	var lines []string
	for i := range n {
		lines = append(lines, request(fmt.Sprintf("r%d", i), fmt.Sprintf("passage %d of the corpus", i)))
	}
	path := writeLines(t, lines...)
	start := time.Now()
	b := create(t, c, upload(t, c, path).ID, "24h")
	b = poll(t, c, b.ID, 120*time.Second, openai.BatchStatusCompleted, openai.BatchStatusFailed)
	done := time.Since(start)
	out := content(t, c, b.OutputFileID)
	all := time.Since(start)
	if b.Status != openai.BatchStatusCompleted || len(out) != n || out[n-1].CustomID != fmt.Sprintf("r%d", n-1) {
		t.Fatalf("batch %s with %d output lines, want %d", b.Status, len(out), n)
	}
	of, err := c.Files.Get(t.Context(), b.OutputFileID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("50,000 requests: completed %s after the upload began, output (%d MB) downloaded at %s (race detector: %v); api peak RSS %s",
		done.Round(time.Millisecond), of.Bytes>>20, all.Round(time.Millisecond), proctest.Race, peakRSS(api))
}
