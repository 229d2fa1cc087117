package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmq/llmq/internal/proctest"
)

// TestDemo runs the demo binary as `make demo` does, once with a private
// redis-server and once with the embedded Redis it falls back to when
// redis-server is not installed, and
// checks its summary: every vector verified, one connection for all
// requests.
func TestDemo(t *testing.T) {
	tests := []struct {
		name      string
		redis     string // the demo's -redis flag
		wantRedis string
	}{
		{"private redis-server", "server", "private redis-server"},
		{"embedded redis", "embedded", "embedded Redis (miniredis)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "results.jsonl")
			r := proctest.Exec(t, 2*time.Minute, nil, bin["demo"], proctest.Environ(),
				"-redis", tt.redis, "-dim", "16", "-latency", "2ms", "-out", out)
			if r.Code != 0 {
				t.Fatalf("demo exited %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, proctest.TailLines(r.Stderr, 40))
			}
			for _, want := range []string{
				tt.wantRedis,
				"1500 in 12 tasks",
				"HTTP requests:     13 (12 embedding requests + 1 warm-up)",
				"TCP connections:   1 opened by the worker, 1 accepted by the simulator",
				"1500 vectors, each checked against the simulator",
			} {
				if !strings.Contains(r.Stdout, want) {
					t.Errorf("summary lacks %q:\n%s", want, r.Stdout)
				}
			}
		})
	}
}
