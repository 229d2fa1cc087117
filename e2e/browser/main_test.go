// Package browser tests the dashboard the way an operator meets it: it
// builds cmd/dashboard, runs it against a private redis-server holding
// llmq tasks, and opens it in a real headless Chromium (Debian's package;
// scripts/ensure-chromium installs it). It checks that the browser gets
// nothing without credentials, that with them the queues page lists llmq's
// queues with the right task counts and the pending tasks page shows
// payload summaries instead of their texts, and saves screenshots of both
// to out/test-artifacts/dashboard.png and dashboard-pending.png.
package browser

import (
	"testing"

	"github.com/llmq/llmq/internal/proctest"
)

// bin holds the paths of the commands TestMain builds.
var bin map[string]string

func TestMain(m *testing.M) {
	proctest.Main(m, &bin, "dashboard")
}
