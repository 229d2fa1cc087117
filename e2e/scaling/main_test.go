// Package scaling proves that llmq scales out: several worker processes on
// one Redis drain one job, each taking a fair share, every item processed
// once; a worker started mid-job joins, and a worker stopped with SIGTERM
// mid-job hands its running tasks back without losing any.
//
// The tests build cmd/worker, cmd/enqueue and cmd/simulator and run them as
// processes against a private redis-server and the provider simulator.
package scaling

import (
	"testing"

	"github.com/llmq/llmq/internal/proctest"
)

// bin holds the paths of the commands TestMain builds.
var bin map[string]string

func TestMain(m *testing.M) {
	proctest.Main(m, &bin, "worker", "enqueue", "simulator")
}
