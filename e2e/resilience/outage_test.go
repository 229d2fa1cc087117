package resilience

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llmq/llmq/tasks"
)

// breakerVars are the short cool-downs the outage tests run with.
var breakerVars = []string{"BREAKER_FAILURES=3", "BREAKER_MIN_COOLDOWN=2s", "BREAKER_MAX_COOLDOWN=8s", "WORKER_CONCURRENCY=4"}

const (
	outageWorkers     = 2
	outageConcurrency = 4
	outageFailures    = 3
	outageFor         = 30 * time.Second
)

func TestOutage503(t *testing.T)    { t.Parallel(); testOutage(t, "503") }
func TestOutageRefuse(t *testing.T) { t.Parallel(); testOutage(t, "refuse") }

// testOutage: 2 workers run 600 tasks against a provider that answers in
// 100 ms; after 100 tasks it fails for 30 s (503s, or refused
// connections). Each worker's breaker opens after 3 failures and probes
// once per cool-down (2 s, doubling to 8 s), so the provider sees a
// handful of requests per worker in the whole outage; the tasks wait
// without using a single retry (the failures before a breaker opens are
// deferrals too), none is archived, and the job completes soon after the
// provider returns.
func testOutage(t *testing.T, mode string) {
	const n = 600
	f := setup(t, "-latency", "100ms")
	var ws []*worker
	for i := range outageWorkers {
		ws = append(ws, f.startWorker(t, fmt.Sprintf("worker-%d", i+1), breakerVars...))
	}
	// Baseline after a warm-up round, with the pool at its working size.
	warm := f.enqueue(t, 20, "warm-"+mode)
	f.waitCompleted(t, len(warm), 30*time.Second)
	var base []resources
	for _, w := range ws {
		base = append(base, w.resources(t))
	}

	ids := append(warm, f.enqueue(t, n, mode)...)
	// And at its busiest, while the job runs before the fault: a pool
	// may keep what it opened then.
	for f.completed() < len(warm)+100 {
		for i, w := range ws {
			base[i] = base[i].max(w.resources(t))
		}
		time.Sleep(100 * time.Millisecond)
	}
	before := make([]int64, len(ws))
	for i, w := range ws {
		before[i] = w.stats(t).Requests
	}
	doneBefore := f.completed()
	f.outage(t, mode, outageFor)
	down := time.Now()
	// Until the provider is back: watch the breakers open.
	opened := make([]bool, len(ws))
	for time.Since(down) < outageFor-500*time.Millisecond {
		for i, w := range ws {
			if w.stats(t).Guard.Breaker.State == "open" {
				opened[i] = true
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	for time.Since(down) < outageFor {
		time.Sleep(10 * time.Millisecond)
	}
	during := make([]int64, len(ws))
	for i, w := range ws {
		during[i] = w.stats(t).Requests - before[i]
	}
	doneDuring := f.completed() - doneBefore
	back := time.Now()
	end := f.waitCompleted(t, len(ids), time.Minute)
	f.checkNoArchive(t, ids)

	// Per worker: the requests in flight as the outage began, the
	// failures that open the breaker, then one probe per cool-down (2,
	// 4, 8, 8, 8 s in 30 s: 5), and one of slack.
	perWorker := int64(outageConcurrency + outageFailures + 5 + 1)
	for i, w := range ws {
		if !opened[i] {
			t.Errorf("%s: breaker never seen open during the outage", w.name)
		}
		if during[i] > perWorker {
			t.Errorf("%s sent %d requests during the %s outage, want at most %d", w.name, during[i], outageFor, perWorker)
		}
	}
	// No failure uses a retry: those before a breaker opens are deferred
	// as the ones after it are.
	retried := f.retried(t, ids)
	if retried != 0 {
		t.Errorf("%d tasks used a retry, want 0", retried)
	}
	// Each breaker opened after BREAKER_FAILURES in a row: the ones
	// before were deferred with the breaker closed, and logged so.
	deferredFailures := 0
	for _, w := range ws {
		n := strings.Count(w.proc.Stderr.String(), "provider failed (breaker closed")
		if n < outageFailures-1 {
			t.Errorf("%s logged %d failures deferred with the breaker closed, want at least %d", w.name, n, outageFailures-1)
		}
		deferredFailures += n
	}
	if doneDuring > 0 {
		t.Logf("%d tasks completed during the outage (answered just before it)", doneDuring)
	}
	t.Logf("outage %s for %s: requests during it per worker %v (bound %d; %d tasks were waiting); tasks that used a retry: %d (%d failures deferred with the breaker closed); none archived; job completed %s after the provider returned",
		mode, outageFor, during, perWorker, len(ids)-doneBefore, retried, deferredFailures, end.Sub(back).Round(100*time.Millisecond))
	for i, w := range ws {
		w.checkBaseline(t, base[i])
	}
}

// retried counts the tasks of ids that used a retry.
func (f *fixture) retried(t *testing.T, ids []string) int {
	t.Helper()
	n := 0
	for _, id := range slices.Clone(ids) {
		ti, err := f.inspector.GetTaskInfo(tasks.QueueEmbeddings, id)
		if err != nil {
			t.Fatalf("task %s: %v", id, err)
		}
		if ti.Retried > 0 {
			n++
		}
	}
	return n
}
