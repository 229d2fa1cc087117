package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// processTimeout is the longest any started process may live; a test that
// runs into it has hung.
const processTimeout = 3 * time.Minute

// output collects what a process writes to one of its streams.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// firstLine returns the first complete line written, if there is one.
func (o *output) firstLine() (string, bool) {
	line, _, ok := strings.Cut(o.String(), "\n")
	return line, ok
}

// process is a binary running in the background for one test.
type process struct {
	name   string
	cmd    *exec.Cmd
	stdout output
	stderr output
	done   chan struct{} // closed once the process has exited
}

// startProcess starts path with args and exactly the environment env. The
// process is killed, if still running, when the test ends; its stderr is
// logged if the test failed.
func startProcess(t *testing.T, path string, env []string, args ...string) *process {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), processTimeout)
	p := &process{name: baseName(path), done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, path, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", p.name, err)
	}
	go func() {
		_ = p.cmd.Wait() // the exit status is read from ProcessState
		cancel()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
		}
		<-p.done
		checkRaces(t, p.name, p.stderr.String())
		if t.Failed() {
			t.Logf("%s stderr:\n%s", p.name, tail(p.stderr.String(), 60))
		}
	})
	return p
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to timeout for the process to exit and returns its exit
// status.
func (p *process) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("%s still running after %s", p.name, timeout)
		return -1
	}
}

// signal sends sig to the process.
func (p *process) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s: %v", p.name, err)
	}
}

// result is the outcome of a process run to its end.
type result struct {
	stdout, stderr string
	code           int
}

// runProcess runs path with args and the environment env to its end (at
// most timeout) and returns what it wrote and its exit status.
func runProcess(t *testing.T, timeout time.Duration, path string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stdout, stderr output
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %s: still running after %s\nstderr:\n%s", baseName(path), strings.Join(args, " "), timeout, tail(stderr.String(), 40))
	case err != nil && !errors.As(err, &exitErr):
		t.Fatalf("run %s: %v", baseName(path), err)
	}
	checkRaces(t, baseName(path), stderr.String())
	return result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// checkRaces fails the test if a race-enabled binary reported a data race.
func checkRaces(t *testing.T, name, stderr string) {
	t.Helper()
	if i := strings.Index(stderr, "WARNING: DATA RACE"); i >= 0 {
		t.Errorf("%s reported a data race:\n%s", name, tail(stderr[i:], 80))
	}
}

// managedVars are the variables the binaries read, and SSL_CERT_*: a test
// sets them itself and never inherits them.
var managedVars = []string{
	"REDIS_", "OPENAI_", "OLLAMA_", "WORKER_", "LOG_", "RESULT_", "SSL_CERT_",
	"SHUTDOWN_TIMEOUT", "HTTP_ADDR",
}

// environ returns the test process's environment without the managed
// variables, followed by vars ("NAME=value"). REDIS_URL points at a port
// nothing listens on unless vars set it, so that no binary ever falls back
// to its default, a Redis on 127.0.0.1:6379 that is not the test's.
func environ(vars ...string) []string {
	env := []string{"REDIS_URL=redis://127.0.0.1:1/0"}
	if raceEnabled && os.Getenv("GORACE") == "" {
		// A race-enabled binary sleeps 1 s on exit by default.
		env = append(env, "GORACE=atexit_sleep_ms=100")
	}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		managed := false
		for _, m := range managedVars {
			if strings.HasPrefix(name, m) {
				managed = true
				break
			}
		}
		if !managed {
			env = append(env, kv)
		}
	}
	return append(env, vars...) // exec.Cmd uses the last of duplicate names
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

func baseName(path string) string {
	return path[strings.LastIndexByte(path, '/')+1:]
}
