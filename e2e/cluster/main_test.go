// Package cluster proves that llmq runs on a Redis Cluster: workers and
// enqueue with REDIS_URL=redis-cluster://... against three cluster nodes
// (redis-server --cluster-enabled yes on free ports, started by the test)
// run a job in each of llmq's queues to the end.
package cluster

import (
	"testing"

	"github.com/llmq/llmq/internal/proctest"
)

// bin holds the paths of the commands TestMain builds.
var bin map[string]string

func TestMain(m *testing.M) {
	proctest.Main(m, &bin, "worker", "enqueue", "simulator")
}
