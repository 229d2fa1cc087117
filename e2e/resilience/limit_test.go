package resilience

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSharedRequestLimit: 3 workers share OPENAI_RPM=1200 against a
// provider that enforces 1200 requests per minute. Every 10 s window of
// the provider's log holds at most the rate plus 10%, under 1% of the
// requests are answered 429, and every task completes without a retry.
func TestSharedRequestLimit(t *testing.T) {
	t.Parallel()
	const rpm, n = 1200, 300
	evs, elapsed := runShared(t, "-rpm", "OPENAI_RPM", rpm, n, "rpm")
	checkWindows(t, evs, rpm, false, n)
	t.Logf("%d tasks in %s at %d requests/min (%.1f/s, limit %.1f/s)", n, elapsed.Round(100*time.Millisecond), rpm, float64(n)/elapsed.Seconds(), float64(rpm)/60)
}

// TestSharedTokenLimit: as TestSharedRequestLimit, with OPENAI_TPM=60000
// and texts of 75 tokens (the simulator's count; the worker's estimate is
// 100 before the provider's usage corrects it).
func TestSharedTokenLimit(t *testing.T) {
	t.Parallel()
	const tpm, n = 60000, 200
	evs, elapsed := runShared(t, "-tpm", "OPENAI_TPM", tpm, n, "tpm "+strings.Repeat("x", 270))
	checkWindows(t, evs, tpm, true, n)
	tokens := 0
	for _, e := range evs {
		tokens += e.Tokens
	}
	t.Logf("%d tasks, %d tokens in %s at %d tokens/min (%.0f/s, limit %.0f/s)", n, tokens, elapsed.Round(100*time.Millisecond), tpm, float64(tokens)/elapsed.Seconds(), float64(tpm)/60)
}

// runShared runs n tasks, text i reading prefix and i, through 3 workers
// that share the limit of perMinute that workerVar sets, against a
// simulator that enforces it (simFlag), and checks that every task
// completed once without a retry (checkAllDone). It returns the provider's
// log of embedding requests and how long the job took.
func runShared(t *testing.T, simFlag, workerVar string, perMinute, n int, prefix string) ([]event, time.Duration) {
	t.Helper()
	f := setup(t, simFlag, fmt.Sprint(perMinute))
	for i := range 3 {
		f.startWorker(t, fmt.Sprintf("worker-%d", i+1), "WORKER_CONCURRENCY=4", fmt.Sprintf("%s=%d", workerVar, perMinute))
	}
	start := time.Now()
	ids := f.enqueue(t, n, prefix)
	f.waitCompleted(t, n, time.Minute)
	elapsed := time.Since(start)
	f.checkAllDone(t, ids)
	return f.embedEvents(t), elapsed
}

// checkWindows checks the provider's log of a limited job: at most the
// limit per minute plus 10% in every 10 s window (requests, or tokens),
// 429s under 1% of the n tasks' requests.
func checkWindows(t *testing.T, evs []event, perMinute int, tokens bool, n int) {
	t.Helper()
	limited := 0
	var ok []event
	for _, e := range evs {
		if e.Status == 429 {
			limited++
		} else {
			ok = append(ok, e)
		}
	}
	worst := maxWindow(evs, 10*time.Second, tokens)
	allowed := perMinute / 6 * 11 / 10
	unit := "requests"
	if tokens {
		unit = "tokens"
	}
	t.Logf("provider saw %d requests (%d answered 429); the busiest 10 s window held %d %s, allowed %d", len(evs), limited, worst, unit, allowed)
	if worst > allowed {
		t.Errorf("a 10 s window held %d %s, more than %d (the rate plus 10%%)", worst, unit, allowed)
	}
	if limited*100 >= len(evs) {
		t.Errorf("%d of %d requests answered 429, want under 1%%", limited, len(evs))
	}
	if len(ok) != n {
		t.Errorf("%d requests answered, want %d: one per task", len(ok), n)
	}
}
