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
	dir, err := os.MkdirTemp("", "llmq-failover-bin-")
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
