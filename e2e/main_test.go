package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bin holds the paths of the binaries TestMain builds.
var bin struct {
	worker, enqueue, simulator, demo string
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "llmq-e2e-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := build(dir); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	bin.worker = filepath.Join(dir, "worker")
	bin.enqueue = filepath.Join(dir, "enqueue")
	bin.simulator = filepath.Join(dir, "simulator")
	bin.demo = filepath.Join(dir, "demo")
	return m.Run()
}

// build compiles the binaries into dir from the module root. When the
// tests run with -race, so are the binaries built, and every process's
// stderr is checked for data race reports when its test ends.
func build(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	args := []string{"build"}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "-o", dir+string(filepath.Separator), "./cmd/worker", "./cmd/enqueue", "./cmd/simulator", "./cmd/demo")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the binaries failed: go %s (in %s): %w\n%s", strings.Join(args, " "), root, err, out)
	}
	return nil
}
