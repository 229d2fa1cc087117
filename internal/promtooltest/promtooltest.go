// Package promtooltest finds Prometheus' promtool for the tests that check
// metrics and alerting rules with it.
package promtooltest

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Path returns the promtool that the module's scripts/ensure-promtool
// finds, or installs, allowing it 8 minutes for the install. It fails the
// test, never skips it, when the script does not name one.
func Path(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("promtooltest: no source path to find scripts/ensure-promtool from")
	}
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "ensure-promtool")
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, script).Output()
	if err != nil {
		t.Fatalf("scripts/ensure-promtool: %v\n%s", err, out)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	path, ok := strings.CutPrefix(first, "promtool: ")
	if !ok {
		t.Fatalf("scripts/ensure-promtool printed %q", out)
	}
	return path
}
