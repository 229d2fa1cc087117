package budget_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// A copy of the test binary started by TestSharedAcrossProcesses runs
	// one worker and exits.
	if addr := os.Getenv(workerEnv); addr != "" {
		os.Exit(workerMain(addr))
	}
	goleak.VerifyTestMain(m)
}
