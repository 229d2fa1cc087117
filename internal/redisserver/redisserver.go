// Package redisserver starts private redis-server processes for the tests,
// the demo and the benchmarks.
//
// Each Server listens on a free port of 127.0.0.1, keeps nothing on disk
// (--save "" --appendonly no) and lives in a directory its caller owns.
// Nothing here ever connects to the default port 6379 or to a Redis the
// system runs.
package redisserver

import (
	"bufio"
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
	"time"
)

// ErrNotFound is returned by Path when no redis-server binary is found.
var ErrNotFound = errors.New("redis-server not found: run 'make deps' (installs Debian's redis-server) or set REDIS_SERVER")

// ErrAddrInUse is wrapped by the error of a start that lost its port to
// another process; Start then tries another port.
var ErrAddrInUse = errors.New("address already in use")

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
	// DefaultPort is the port a system Redis listens on: never used.
	DefaultPort = 6379
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

// Config configures Start.
type Config struct {
	// Dir is the server's working directory, where its log (redis.log) and
	// output (redis.out) go. Required; it must exist.
	Dir string
	// Bin is the redis-server binary. Default: Path().
	Bin string
	// Args are appended to the command line, e.g.
	// {"--maxmemory-policy", "noeviction"}.
	Args []string
	// ConfigFile, if set, is passed to redis-server as its first argument,
	// before the options: a sentinel (Args holding "--sentinel") needs a
	// configuration file it can rewrite.
	ConfigFile string
}

// Server is a redis-server process started by Start. Its methods are safe
// for concurrent use.
type Server struct {
	bin        string
	dir        string
	args       []string
	configFile string
	port       int // set before the Server is shared, then never changed

	mu   sync.Mutex
	cmd  *exec.Cmd     // nil when stopped
	done chan struct{} // closed when cmd has exited
}

// Start starts a private redis-server on a free 127.0.0.1 port and returns
// once it answers. If redis-server is missing it returns an error wrapping
// ErrNotFound; if the server exits or does not answer within 10 seconds,
// the error quotes the end of its log. On Linux the server is killed when
// the calling process dies without stopping it.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("redisserver: Config.Dir is required")
	}
	bin := cfg.Bin
	if bin == "" {
		var err error
		if bin, err = Path(); err != nil {
			return nil, err
		}
	}
	s := &Server{bin: bin, dir: cfg.Dir, args: cfg.Args, configFile: cfg.ConfigFile}
	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s.port = port // s is not shared yet
		err = s.startLocked(ctx)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, ErrAddrInUse) || attempt == portAttempts {
			return nil, err
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

// Dir returns the server's directory.
func (s *Server) Dir() string { return s.dir }

// Bin returns the path of the redis-server binary.
func (s *Server) Bin() string { return s.bin }

// Stop stops the server with SIGTERM and waits for it to exit (SIGKILL
// after 10 seconds). Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
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

// FreePort returns a port of 127.0.0.1 that was free a moment ago, never
// DefaultPort: for a second port a server needs, such as a cluster bus.
func FreePort() (int, error) { return freePort() }

// Restart stops the server and starts a new one on the same port. The data
// is lost: the server keeps nothing on disk.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
	var err error
	for range restartAttempts {
		if err = s.startLocked(ctx); !errors.Is(err, ErrAddrInUse) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	return nil
}

// Command sends one command to the server and returns its reply: the text
// of a simple string, bulk string or integer. An error reply is an error.
// It needs no client library, for probes and set-up.
func (s *Server) Command(ctx context.Context, args ...string) (string, error) {
	timeout := probeTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	return command(s.Addr(), timeout, args...)
}

// Version returns the server's redis_version, e.g. "7.0.15".
func (s *Server) Version(ctx context.Context) (string, error) {
	info, err := s.Command(ctx, "INFO", "server")
	if err != nil {
		return "", fmt.Errorf("redis version: %w", err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v, nil
		}
	}
	return "", errors.New("redis version: not in INFO server")
}

// startLocked starts redis-server on s.port and waits until it answers.
func (s *Server) startLocked(ctx context.Context) error {
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

	args := []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--logfile", logPath,
		"--daemonize", "no",
	}
	if s.configFile != "" {
		args = append([]string{s.configFile}, args...)
	}
	cmd := exec.Command(s.bin, append(args, s.args...)...)
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
				return fmt.Errorf("port %d: %w", port, ErrAddrInUse)
			}
			return fmt.Errorf("redis-server exited at start (%v); log:\n%s", cmd.ProcessState, s.LogTail())
		default:
		}
		// The server answering must be ours, not one that holds the port.
		if info, err := command(addr, probeTimeout, "INFO", "server"); err == nil {
			if strings.Contains(info, "\nprocess_id:"+strconv.Itoa(cmd.Process.Pid)+"\r") {
				return nil
			}
			stranger = true
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			s.stopLocked()
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("redis-server on %s: %w", addr, err)
			}
			hint := ""
			if stranger {
				hint = " (another process answered there; if REDIS_SERVER is a wrapper script, it must exec redis-server)"
			}
			return fmt.Errorf("redis-server did not answer on %s within %v%s; log:\n%s", addr, readyTimeout, hint, s.LogTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
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

// LogTail returns the last lines the server wrote to its log and output.
func (s *Server) LogTail() string {
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
		if port != DefaultPort {
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
