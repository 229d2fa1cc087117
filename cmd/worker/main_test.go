package main

import (
	"testing"

	"github.com/llmq/llmq/internal/proctest"
)

// bin holds the paths of the commands TestMain builds, by name.
var bin map[string]string

// TestMain builds the worker and enqueue commands (with -race when the
// tests run with it): the tests here run them as processes, and fail when
// one reports a data race.
func TestMain(m *testing.M) {
	proctest.Main(m, &bin, "worker", "enqueue")
}
