// Package resilience runs llmq's worker through the faults of a provider
// and of Redis, as processes: a shared rate limit across workers (requests
// and tokens per minute), provider outages (503 and refused connections),
// a provider that answers 429 for good, a provider that hangs, a Redis
// restart and a killed worker. Each test asserts exact outcomes (nothing
// lost, nothing archived, no retry used where none may be) and logs the
// figures RELIABILITY.md quotes; after each fault the worker's file
// descriptors and goroutines return to their baseline.
//
// Cool-downs, limits and timeouts are short (set through the worker's
// environment) so that the whole package runs in about two minutes; its
// tests run in parallel.
package resilience

import (
	"testing"

	"github.com/llmq/llmq/internal/proctest"
)

// bin holds the paths of the commands TestMain builds.
var bin map[string]string

func TestMain(m *testing.M) {
	proctest.Main(m, &bin, "worker", "enqueue", "simulator")
}
