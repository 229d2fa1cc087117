package redistest

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestStart(t *testing.T) {
	s := Start(t)

	if got, err := command(s, "PING"); err != nil || got != "PONG" {
		t.Fatalf("PING = %q, %v", got, err)
	}
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") || strings.HasSuffix(s.Addr(), ":0") || strings.HasSuffix(s.Addr(), ":6379") {
		t.Errorf("Addr() = %q", s.Addr())
	}
	if want := "redis://" + s.Addr() + "/0"; s.URL() != want {
		t.Errorf("URL() = %q, want %q", s.URL(), want)
	}
	if opt := s.ConnOpt(); opt.Addr != s.Addr() || opt.DB != 0 {
		t.Errorf("ConnOpt() = %+v", opt)
	}

	for _, tt := range []struct{ param, want string }{
		{"save", ""},
		{"appendonly", "no"},
		{"bind", "127.0.0.1"},
		{"dir", s.srv.Dir()},
	} {
		t.Run(tt.param, func(t *testing.T) {
			if got := configGet(t, s, tt.param); got != tt.want {
				t.Errorf("CONFIG GET %s = %q, want %q", tt.param, got, tt.want)
			}
		})
	}
	if _, err := os.Stat(s.srv.Dir() + "/redis.log"); err != nil {
		t.Errorf("log not in the test's directory: %v", err)
	}
}

// configGet reads one configuration parameter with go-redis, which also
// checks that ConnOpt works for a real client.
func configGet(t *testing.T, s *Server, param string) string {
	t.Helper()
	rdb := s.ConnOpt().MakeRedisClient().(*redis.Client)
	defer rdb.Close()
	m, err := rdb.ConfigGet(t.Context(), param).Result()
	if err != nil {
		t.Fatalf("CONFIG GET %s: %v", param, err)
	}
	return m[param]
}

func TestRestart(t *testing.T) {
	s := Start(t)
	addr := s.Addr()
	if _, err := command(s, "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() { // Addr is safe to call while the server restarts
		defer close(readerDone)
		for {
			select {
			case <-stop:
				return
			default:
				_ = s.Addr()
			}
		}
	}()
	s.Restart()
	close(stop)
	<-readerDone
	if s.Addr() != addr {
		t.Errorf("Addr() after Restart = %q, want %q", s.Addr(), addr)
	}
	if got, err := command(s, "PING"); err != nil || got != "PONG" {
		t.Fatalf("PING after Restart = %q, %v", got, err)
	}
	if got, err := command(s, "EXISTS", "k"); err != nil || got != "0" {
		t.Errorf("EXISTS k after Restart = %q, %v; want 0 (data lost)", got, err)
	}
}

func TestStop(t *testing.T) {
	s := Start(t)
	s.Stop()
	if _, err := command(s, "PING"); err == nil {
		t.Error("PING answered after Stop")
	}
	s.Stop() // idempotent

	s.Restart() // starts a stopped server again
	if got, err := command(s, "PING"); err != nil || got != "PONG" {
		t.Errorf("PING after Stop and Restart = %q, %v", got, err)
	}
}

func TestParallelServers(t *testing.T) {
	var (
		mu    sync.Mutex
		addrs = map[string]string{}
	)
	for i := range 4 {
		t.Run(fmt.Sprint("server", i), func(t *testing.T) {
			t.Parallel()
			s := Start(t)
			if _, err := command(s, "SET", "owner", t.Name()); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if other, dup := addrs[s.Addr()]; dup {
				t.Errorf("%s and %s both got %s", other, t.Name(), s.Addr())
			}
			addrs[s.Addr()] = t.Name()
			// Each server holds only its own data.
			if got, err := command(s, "GET", "owner"); err != nil || got != t.Name() {
				t.Errorf("GET owner = %q, %v", got, err)
			}
		})
	}
}

// TestStartFailsWithoutServer checks that a missing redis-server fails the
// test with the install hint rather than skipping it.
func TestStartFailsWithoutServer(t *testing.T) {
	t.Setenv("REDIS_SERVER", t.TempDir()+"/no-such-redis-server")
	rec := startRecorded(t)
	if rec.skipped {
		t.Error("Start skipped the test")
	}
	if !strings.Contains(rec.fatal, "REDIS_SERVER") {
		t.Errorf("Start failed with %q, want it to name REDIS_SERVER", rec.fatal)
	}
	if !strings.Contains(ErrNotFound.Error(), "make deps") || !strings.Contains(ErrNotFound.Error(), "set REDIS_SERVER") {
		t.Errorf("ErrNotFound = %q, want install instructions", ErrNotFound)
	}
}

// recorder is a testing.TB whose Fatal and Skip record and end the goroutine
// instead of ending the test.
type recorder struct {
	testing.TB
	fatal   string
	skipped bool
}

func (r *recorder) Helper()                   {}
func (r *recorder) Fatal(args ...any)         { r.fatal = fmt.Sprint(args...); runtime.Goexit() }
func (r *recorder) Fatalf(f string, a ...any) { r.fatal = fmt.Sprintf(f, a...); runtime.Goexit() }
func (r *recorder) Skip(...any)               { r.skipped = true; runtime.Goexit() }
func (r *recorder) Skipf(string, ...any)      { r.skipped = true; runtime.Goexit() }
func (r *recorder) SkipNow()                  { r.skipped = true; runtime.Goexit() }

// startRecorded calls Start with a recorder, in a goroutine of its own for
// Fatal and Skip to end, and returns the recorder once it has returned.
func startRecorded(t *testing.T) *recorder {
	rec := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(rec)
	}()
	<-done
	return rec
}

// TestStartReportsLog checks that a server that dies at start fails the test
// with the end of its output.
func TestStartReportsLog(t *testing.T) {
	script := t.TempDir() + "/redis-server"
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho 'FATAL CONFIG FILE ERROR' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REDIS_SERVER", script)
	rec := startRecorded(t)
	if !strings.Contains(rec.fatal, "exited at start") || !strings.Contains(rec.fatal, "FATAL CONFIG FILE ERROR") {
		t.Errorf("Start failed with %q, want the server's output", rec.fatal)
	}
}

// command sends one command to s and returns its reply.
func command(s *Server, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return s.srv.Command(ctx, args...)
}
