// Package batchapi tests cmd/api end to end: the official OpenAI Go and
// Node SDKs against bin/api, bin/worker and bin/simulator on a private
// redis-server, as users run them.
package batchapi

import (
	"testing"

	"github.com/llmq/llmq/internal/proctest"
)

var bin map[string]string

func TestMain(m *testing.M) {
	proctest.Main(m, &bin, "api", "worker", "simulator")
}
