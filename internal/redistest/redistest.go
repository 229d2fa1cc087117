// Package redistest runs a private redis-server for the tests of one
// package, so that tests use real Redis and can also stop and restart it.
//
// Each Server listens on a free port of 127.0.0.1, keeps nothing on disk and
// lives in the test's temporary directory; the test's cleanup stops it.
// Nothing here ever connects to the default port 6379 or to a Redis the
// system runs.
package redistest

import (
	"bufio"
	"bytes"
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

	"github.com/hibiken/asynq"
)

// ErrNotFound is returned by Path when no redis-server binary is found.
var ErrNotFound = errors.New("redis-server not found: run 'make deps' (installs Debian's redis-server) or set REDIS_SERVER")

// Tuning of Start and Stop.
const (
	// readyTimeout bounds the wait for a started server to answer.
	readyTimeout = 10 * time.Second
	// stopTimeout bounds the wait after SIGTERM before SIGKILL.
	stopTimeout = 10 * time.Second
	// portAttempts is how many free ports Start tries when another process
	// binds the port it picked before redis-server does.
	portAttempts = 5
	// restartAttempts is how many times Restart tries to bind its port again.
	restartAttempts = 20
	// probeTimeout bounds one readiness probe.
	probeTimeout = 250 * time.Millisecond
	// defaultRedisPort is the port a system Redis listens on: never used.
	defaultRedisPort = 6379
)

// searchDirs are where Path looks when redis-server is not in PATH.
var searchDirs = []string{"/usr/bin", "/usr/local/bin"}

// Path locates the redis-server binary: $REDIS_SERVER (a path or a name
// looked up in PATH) if set, else redis-server in PATH, else in /usr/bin or
// /usr/local/bin. It returns ErrNotFound if there is none.
func Path() (string, error) {
	if p := os.Getenv("REDIS_SERVER"); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("REDIS_SERVER=%s: not an executable file: %w", p, err)
		}
		return path, nil
	}
	if path, err := exec.LookPath("redis-server"); err == nil {
		return path, nil
	}
	for _, dir := range searchDirs {
		if path, err := exec.LookPath(filepath.Join(dir, "redis-server")); err == nil {
			return path, nil
		}
	}
	return "", ErrNotFound
}

// Server is a redis-server process started by Start. Its methods are safe
// for concurrent use, but Restart, like Start, must be called from the test's
// goroutine because it may call t.Fatal.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int

	// args returns the arguments that come before the common ones, for a
	// replica or a sentinel (see sentinel.go); nil for a plain server.
	args func(port int) ([]string, error)

	mu   sync.Mutex
	cmd  *exec.Cmd     // nil when stopped
	done chan struct{} // closed when cmd has exited
}

// Start starts a private redis-server on a free 127.0.0.1 port, with no
// persistence (--save "" --appendonly no), its directory and log in
// t.TempDir(), and registers t.Cleanup to stop it. It returns once the
// server answers. If redis-server is missing or does not come up within 10
// seconds, Start fails the test (it never skips it), quoting the end of the
// server's log.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	return start(t, &Server{t: t, bin: bin, dir: t.TempDir()})
}

// start starts s on a free port.
func start(t testing.TB, s *Server) *Server {
	t.Helper()
	t.Cleanup(s.Stop)

	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		s.port = port // s is not shared yet: Addr may read port without the lock
		err = s.startLocked()
		if err == nil {
			return s
		}
		if !errors.Is(err, errAddrInUse) || attempt == portAttempts {
			t.Fatalf("redistest: %v", err)
		}
	}
}

// Addr returns the server's address, "127.0.0.1:PORT".
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// URL returns the server's address as a Redis URL, "redis://127.0.0.1:PORT/0".
func (s *Server) URL() string {
	return "redis://" + s.Addr() + "/0"
}

// ConnOpt returns asynq options that connect to the server, database 0.
func (s *Server) ConnOpt() asynq.RedisClientOpt {
	return asynq.RedisClientOpt{Addr: s.Addr()}
}

// Stop stops the server with SIGTERM and waits for it to exit (SIGKILL
// after 10 seconds). Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

// Restart stops the server and starts a new one on the same port. The data
// is lost: the server keeps nothing on disk. It fails the test if the port
// cannot be bound again or the server does not come up.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
	var err error
	for range restartAttempts {
		if err = s.startLocked(); !errors.Is(err, errAddrInUse) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}

var errAddrInUse = errors.New("address already in use")

// startLocked starts redis-server on s.port and waits until it answers.
func (s *Server) startLocked() error {
	port := s.port
	logPath := filepath.Join(s.dir, "redis.log")
	var logStart int64 // where this start's lines begin in the shared log
	if fi, err := os.Stat(logPath); err == nil {
		logStart = fi.Size()
	}
	out, err := os.OpenFile(filepath.Join(s.dir, "redis.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer out.Close() // the child has its own copy

	var first []string
	if s.args != nil {
		if first, err = s.args(port); err != nil {
			return err
		}
	}
	cmd := exec.Command(s.bin, append(first,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--logfile", logPath,
		"--daemonize", "no",
	)...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done

	addr := s.Addr()
	deadline := time.Now().Add(readyTimeout)
	var stranger bool // a server answered, with another process id
	for {
		select {
		case <-done:
			s.cmd = nil
			if log, err := os.ReadFile(logPath); err == nil && int64(len(log)) >= logStart &&
				bytes.Contains(log[logStart:], []byte("Address already in use")) {
				return fmt.Errorf("port %d: %w", port, errAddrInUse)
			}
			return fmt.Errorf("redis-server exited at start (%v); log:\n%s", cmd.ProcessState, s.logTail())
		default:
		}
		// The server answering must be ours, not one that holds the port.
		if info, err := command(addr, probeTimeout, "INFO", "server"); err == nil {
			if strings.Contains(info, "\nprocess_id:"+strconv.Itoa(cmd.Process.Pid)+"\r") {
				return nil
			}
			stranger = true
		}
		if time.Now().After(deadline) {
			s.stopLocked()
			hint := ""
			if stranger {
				hint = " (another process answered there; if REDIS_SERVER is a wrapper script, it must exec redis-server)"
			}
			return fmt.Errorf("redis-server did not answer on %s within %v%s; log:\n%s", addr, readyTimeout, hint, s.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server with SIGKILL, as a crash would, and waits for it
// to exit. Killing a stopped server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// logTail returns the last lines the server wrote to its log and output.
func (s *Server) logTail() string {
	var b strings.Builder
	for _, name := range []string{"redis.out", "redis.log"} {
		data, _ := os.ReadFile(filepath.Join(s.dir, name))
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) > 20 {
			lines = lines[len(lines)-20:]
		}
		if len(lines) == 1 && lines[0] == "" {
			continue
		}
		fmt.Fprintf(&b, "==> %s <==\n%s\n", name, strings.Join(lines, "\n"))
	}
	return b.String()
}

// freePort returns a port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if port != defaultRedisPort {
			return port, nil
		}
	}
}

// command sends one command to addr and returns its reply: the text of a
// simple string, bulk string or integer. An error reply is an error. The
// whole exchange must end within timeout.
func command(addr string, timeout time.Duration, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	var req bytes.Buffer
	fmt.Fprintf(&req, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write(req.Bytes()); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("bulk reply %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}
