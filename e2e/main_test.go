package e2e

import (
	"testing"

	"github.com/llmq/llmq/internal/proctest"
)

// bin holds the paths of the commands TestMain builds, by name. When the
// tests run with -race, so are the commands built, and every process's
// stderr is checked for data race reports (see proctest).
var bin map[string]string

func TestMain(m *testing.M) {
	proctest.Main(m, &bin, "worker", "enqueue", "simulator", "demo")
}
