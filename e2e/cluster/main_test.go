// Package cluster proves that llmq runs on a Redis Cluster: workers and
// enqueue with REDIS_URL=redis-cluster://... against three cluster nodes
// (redis-server --cluster-enabled yes on free ports, started by the test)
// run a job in each of llmq's queues to the end.
package cluster

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/llmq/llmq/internal/proctest"
)

// bin holds the paths of the commands TestMain builds.
var bin map[string]string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "llmq-cluster-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if bin, err = proctest.Build(ctx, dir, "worker", "enqueue", "simulator"); err != nil {
		fmt.Fprintln(os.Stderr, "building the commands:", err)
		return 1
	}
	return m.Run()
}
