// Package proctest builds the module's commands and runs them as processes
// in tests: started with a clean environment, their output captured,
// stopped by the test's cleanup, and never outliving the test binary.
package proctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/llmq/llmq/internal/redisserver"
)

// Build compiles the module's commands named in cmds ("worker" for
// ./cmd/worker, ...) into dir and returns their paths by name. When the
// test binary was built with -race, so are the commands, and Process
// reports data races they print.
func Build(ctx context.Context, dir string, cmds ...string) (map[string]string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	args := []string{"build"}
	if Race {
		args = append(args, "-race")
	}
	args = append(args, "-o", dir+string(filepath.Separator))
	paths := make(map[string]string, len(cmds))
	for _, c := range cmds {
		args = append(args, "./cmd/"+c)
		paths[c] = filepath.Join(dir, c)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go %s (in %s): %w\n%s", strings.Join(args, " "), root, err, out)
	}
	return paths, nil
}

// Main is the whole of a TestMain that needs built commands: it builds
// cmds into a temporary directory (see Build), sets *bin to their paths,
// runs the tests, removes the directory and exits with the tests' status
// (1 if the commands do not build).
func Main(m *testing.M, bin *map[string]string, cmds ...string) {
	os.Exit(run(m, bin, cmds...))
}

func run(m *testing.M, bin *map[string]string, cmds ...string) int {
	dir, err := os.MkdirTemp("", "llmq-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if *bin, err = Build(ctx, dir, cmds...); err != nil {
		fmt.Fprintln(os.Stderr, "building the commands:", err)
		return 1
	}
	return m.Run()
}

// Environ returns the test process's environment without llmq's own
// variables, Redis or provider settings and SSL_CERT_*, plus vars
// ("NAME=value"; the last of duplicate names counts). REDIS_URL points at
// a port nothing listens on unless vars set it, so that no command falls
// back to its default, a Redis on 127.0.0.1:6379 that is not the test's.
// Race-built commands exit without the race detector's 1 s sleep.
func Environ(vars ...string) []string {
	env := []string{"REDIS_URL=redis://127.0.0.1:1/0"}
	if Race && os.Getenv("GORACE") == "" {
		env = append(env, "GORACE=atexit_sleep_ms=100")
	}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if isOwnVar(name) {
			continue
		}
		env = append(env, kv)
	}
	return append(env, vars...)
}

func isOwnVar(name string) bool {
	for _, p := range []string{"REDIS_", "OPENAI_", "OLLAMA_", "WORKER_", "DASHBOARD_", "LOG_", "SIMULATOR_", "RESULT_", "GROUP_", "SSL_CERT_"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	switch name {
	case "HTTP_ADDR", "SHUTDOWN_TIMEOUT", "RESULT_RETENTION":
		return true
	}
	return false
}

// Buffer is an io.Writer safe for concurrent use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Len returns the number of bytes written so far.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// Process is a running command.
type Process struct {
	Name   string
	Cmd    *exec.Cmd
	Stdout Buffer
	Stderr Buffer
	done   chan struct{}
}

// Start starts bin with env and args. The test's cleanup kills the process
// if it still runs, and fails the test if its output reports a data race.
// Its output is logged when the test fails.
func Start(t testing.TB, bin string, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{Name: filepath.Base(bin), done: make(chan struct{})}
	p.Cmd = exec.Command(bin, args...)
	p.Cmd.Env = env
	p.Cmd.Stdout, p.Cmd.Stderr = &p.Stdout, &p.Stderr
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		_ = p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.Exited() {
			_ = p.Cmd.Process.Kill()
			<-p.done
		}
		checkRaces(t, fmt.Sprintf("%s (pid %d)", p.Name, p.Cmd.Process.Pid), p.Stderr.String())
		if t.Failed() {
			t.Logf("%s (pid %d) stderr, last 4 kB:\n%s", p.Name, p.Cmd.Process.Pid, tail(p.Stderr.String(), 4096))
		}
	})
	return p
}

// checkRaces fails the test if a race-built command's stderr reports a
// data race.
func checkRaces(t testing.TB, name, stderr string) {
	t.Helper()
	if i := strings.Index(stderr, "WARNING: DATA RACE"); i >= 0 {
		t.Errorf("%s reported a data race:\n%s", name, tail(stderr[i:], 8192))
	}
}

// Result is what a command run to its end wrote, and its exit status.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Exec runs bin with env and args to its end, with stdin (nil: none) as
// its standard input, and returns what it wrote and its exit status. It
// fails the test if the command runs longer than timeout, cannot start, or
// reports a data race.
func Exec(t testing.TB, timeout time.Duration, stdin io.Reader, bin string, env []string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stdout, stderr Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Stdin = stdin
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	name := filepath.Base(bin)
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %s: still running after %s\nstderr:\n%s", name, strings.Join(args, " "), timeout, tail(stderr.String(), 4096))
	case err != nil && !errors.As(err, &exitErr):
		t.Fatalf("run %s: %v", name, err)
	}
	checkRaces(t, name, stderr.String())
	return Result{Stdout: stdout.String(), Stderr: stderr.String(), Code: cmd.ProcessState.ExitCode()}
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s to %s: %v", sig, p.Name, err)
	}
}

// Wait waits up to timeout for the process to end and returns its exit
// status. It fails the test if the process is still running then.
func (p *Process) Wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.Cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("%s still running after %s; stderr:\n%s", p.Name, timeout, tail(p.Stderr.String(), 4096))
		return -1
	}
}

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago
// (redisserver.FreePort).
func FreeAddr(t testing.TB) string {
	t.Helper()
	port, err := redisserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// Eventually calls cond every interval until it returns true, and fails the
// test with cond's last explanation if it has not within timeout.
func Eventually(t testing.TB, timeout, interval time.Duration, cond func() (ok bool, why string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, why)
		}
		time.Sleep(interval)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// TailLines returns the last n lines of s, after a "..." line if it cut
// any, for a test's failure message.
func TailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
