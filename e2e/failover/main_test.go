// Package failover proves that llmq's workers survive a Redis failover:
// with REDIS_URL=redis-sentinel://... they follow the master that Redis
// Sentinel promotes after the old one dies, and every task of the job
// completes.
//
// The test starts a master, a replica and three sentinels (redis-server
// --sentinel) on free ports, builds cmd/worker, cmd/enqueue and
// cmd/simulator and runs them as processes.
package failover

import (
	"testing"

	"github.com/llmq/llmq/internal/proctest"
)

// bin holds the paths of the commands TestMain builds.
var bin map[string]string

func TestMain(m *testing.M) {
	proctest.Main(m, &bin, "worker", "enqueue", "simulator")
}
