package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/llmq/llmq/internal/proctest"
)

// TestConfigErrors runs the binaries with bad or missing configuration and
// with --help: a bad variable is named in one line on stderr.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	closedRedis := "REDIS_URL=redis://" + proctest.FreeAddr(t) + "/0" // nothing listens there
	workerVars := []string{
		"REDIS_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_EMBEDDING_MODEL",
		"OPENAI_MAX_CONNS", "OPENAI_MAX_IDLE_CONNS", "OPENAI_TIMEOUT",
		"OLLAMA_HOST", "OLLAMA_MODEL", "OLLAMA_EMBEDDING_MODEL",
		"OLLAMA_MAX_CONNS", "OLLAMA_MAX_IDLE_CONNS", "OLLAMA_TIMEOUT",
		"WORKER_CONCURRENCY", "WORKER_QUEUES", "SHUTDOWN_TIMEOUT", "WORKER_POLL_INTERVAL", "HTTP_ADDR",
		"LOG_LEVEL", "LOG_FORMAT",
	}
	tests := []struct {
		name     string
		binary   string
		args     []string
		vars     []string
		wantCode int
		// wantStderr, when set, must be on the one line stderr holds.
		wantStderr []string
		// wantStdout must all appear on stdout.
		wantStdout []string
	}{
		{
			name: "worker queue weight not a number", binary: bin["worker"],
			vars:     []string{closedRedis, "WORKER_QUEUES=embeddings=x"},
			wantCode: 2, wantStderr: []string{"WORKER_QUEUES", `"x"`},
		},
		{
			name: "worker negative connection cap", binary: bin["worker"],
			vars:     []string{closedRedis, "OPENAI_MAX_CONNS=-1"},
			wantCode: 2, wantStderr: []string{"OPENAI_MAX_CONNS", "negative"},
		},
		{
			name: "worker bad duration", binary: bin["worker"],
			vars:     []string{closedRedis, "SHUTDOWN_TIMEOUT=soon"},
			wantCode: 2, wantStderr: []string{"SHUTDOWN_TIMEOUT", "duration"},
		},
		{
			name: "enqueue redis unreachable", binary: bin["enqueue"],
			args: []string{"embed", "--text", "hello"}, vars: []string{closedRedis},
			wantCode: 1, wantStderr: []string{"redis"},
		},
		{
			name: "worker help", binary: bin["worker"], args: []string{"--help"},
			wantCode: 0, wantStdout: workerVars,
		},
		{
			name: "enqueue help", binary: bin["enqueue"], args: []string{"--help"},
			wantCode: 0, wantStdout: []string{"embed", "generate", "REDIS_URL", "RESULT_RETENTION", "LOG_LEVEL", "LOG_FORMAT"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := proctest.Exec(t, 30*time.Second, nil, tt.binary, proctest.Environ(tt.vars...), tt.args...)
			if res.Code != tt.wantCode {
				t.Errorf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", res.Code, tt.wantCode, res.Stdout, res.Stderr)
			}
			if tt.wantStderr != nil {
				lines := nonEmptyLines(res.Stderr)
				if len(lines) != 1 {
					t.Fatalf("stderr has %d lines, want 1:\n%s", len(lines), res.Stderr)
				}
				for _, want := range tt.wantStderr {
					if !strings.Contains(lines[0], want) {
						t.Errorf("stderr %q does not contain %q", lines[0], want)
					}
				}
			}
			for _, want := range tt.wantStdout {
				if !strings.Contains(res.Stdout, want) {
					t.Errorf("stdout does not mention %s:\n%s", want, res.Stdout)
				}
			}
		})
	}
}
