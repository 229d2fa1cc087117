package version

import (
	"context"
	"debug/buildinfo"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// commands are the module's binaries; each answers --version.
var commands = []string{"bench", "dashboard", "demo", "enqueue", "simulator", "worker"}

// build compiles every command into a new directory with extra go build
// arguments and returns the directory.
func build(t *testing.T, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	args := append([]string{"build", "-o", dir + string(filepath.Separator)}, extra...)
	for _, c := range commands {
		args = append(args, "../../cmd/"+c)
	}
	if out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return dir
}

func versionOf(t *testing.T, path string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), path, "--version")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("%s --version: %v, stderr %q", path, err, stderr.String())
	}
	return string(out)
}

func TestBinariesPrintBuildInfo(t *testing.T) {
	dir := build(t)
	for _, c := range commands {
		path := filepath.Join(dir, c)
		bi, err := buildinfo.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if bi.Path != "github.com/llmq/llmq/cmd/"+c {
			t.Errorf("%s: build info of %s", c, bi.Path)
		}
		want := c + " " + fromBuildInfo(bi).String() + "\n"
		if got := versionOf(t, path); got != want {
			t.Errorf("%s --version = %q, want %q (from its build info)", c, got, want)
		}
	}
}

func TestBinariesPrintStampedVersion(t *testing.T) {
	const pkg = "github.com/llmq/llmq/internal/version"
	dir := build(t, "-ldflags", "-X "+pkg+".stampedVersion=v1.2.3-rc.1 -X "+pkg+".stampedRevision=0123456789abcdef -X "+pkg+".stampedTime=2026-12-03T07:00:00Z")
	goVersion := strings.TrimSpace(mustOutput(t, "go", "env", "GOVERSION"))
	for _, c := range commands {
		want := c + " v1.2.3-rc.1 (revision 0123456789abcdef, 2026-12-03T07:00:00Z) " + goVersion + "\n"
		if got := versionOf(t, filepath.Join(dir, c)); got != want {
			t.Errorf("%s --version = %q, want %q", c, got, want)
		}
	}
}

func mustOutput(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), name, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out)
}
