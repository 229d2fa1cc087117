// Package scaling proves that llmq scales out: several worker processes on
// one Redis drain one job, each taking a fair share, every item processed
// once; a worker started mid-job joins, and a worker stopped with SIGTERM
// mid-job hands its running tasks back without losing any.
//
// The tests build cmd/worker, cmd/enqueue and cmd/simulator and run them as
// processes against a private redis-server and the provider simulator.
package scaling

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
	dir, err := os.MkdirTemp("", "llmq-scaling-bin-")
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
