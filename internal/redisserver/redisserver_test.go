package redisserver

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func start(t *testing.T, args ...string) *Server {
	t.Helper()
	s, err := Start(t.Context(), Config{Dir: t.TempDir(), Args: args})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func do(t *testing.T, s *Server, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	got, err := s.Command(ctx, args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return got
}

func TestStart(t *testing.T) {
	s := start(t, "--maxmemory-policy", "noeviction")
	if got := do(t, s, "PING"); got != "PONG" {
		t.Fatalf("PING = %q", got)
	}
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") || s.port == 0 || s.port == DefaultPort {
		t.Errorf("Addr() = %q", s.Addr())
	}
	if want := "redis://" + s.Addr() + "/0"; s.URL() != want {
		t.Errorf("URL() = %q, want %q", s.URL(), want)
	}
	if v, err := s.Version(t.Context()); err != nil || !strings.Contains(v, ".") {
		t.Errorf("Version() = %q, %v", v, err)
	}
	if s.Bin() == "" {
		t.Error("Bin() is empty")
	}
	info := do(t, s, "INFO", "persistence")
	if !strings.Contains(info, "aof_enabled:0") {
		t.Errorf("append-only file enabled:\n%s", info)
	}
	if _, err := os.Stat(s.Dir() + "/redis.log"); err != nil {
		t.Errorf("log not in the server's directory: %v", err)
	}
	// Extra arguments reach the server.
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr()})
	defer rdb.Close()
	for param, want := range map[string]string{"maxmemory-policy": "noeviction", "save": "", "bind": "127.0.0.1", "dir": s.Dir()} {
		m, err := rdb.ConfigGet(t.Context(), param).Result()
		if err != nil || m[param] != want {
			t.Errorf("CONFIG GET %s = %q, %v; want %q", param, m[param], err, want)
		}
	}
}

func TestStartNeedsDir(t *testing.T) {
	if _, err := Start(t.Context(), Config{}); err == nil {
		t.Error("Start without Dir succeeded")
	}
}

func TestStopAndRestart(t *testing.T) {
	s := start(t)
	do(t, s, "SET", "k", "v")
	addr := s.Addr()
	s.Stop()
	s.Stop() // idempotent
	if _, err := s.Command(t.Context(), "PING"); err == nil {
		t.Error("PING answered after Stop")
	}
	if err := s.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s.Addr() != addr {
		t.Errorf("Addr() after Restart = %q, want %q", s.Addr(), addr)
	}
	if got := do(t, s, "EXISTS", "k"); got != "0" {
		t.Errorf("EXISTS k after Restart = %q, want 0 (data lost)", got)
	}
}

func TestStartErrors(t *testing.T) {
	t.Run("not found", func(t *testing.T) {
		t.Setenv("REDIS_SERVER", t.TempDir()+"/no-such-redis-server")
		if _, err := Start(t.Context(), Config{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "REDIS_SERVER") {
			t.Errorf("Start error = %v, want one naming REDIS_SERVER", err)
		}
	})
	t.Run("exits at start", func(t *testing.T) {
		script := t.TempDir() + "/redis-server"
		if err := os.WriteFile(script, []byte("#!/bin/sh\necho 'FATAL CONFIG FILE ERROR' >&2\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := Start(t.Context(), Config{Dir: t.TempDir(), Bin: script})
		if err == nil || !strings.Contains(err.Error(), "exited at start") || !strings.Contains(err.Error(), "FATAL CONFIG FILE ERROR") {
			t.Errorf("Start error = %v, want the server's output", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		script := t.TempDir() + "/redis-server"
		if err := os.WriteFile(script, []byte("#!/bin/sh\nexec sleep 30\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := Start(ctx, Config{Dir: t.TempDir(), Bin: script}); !errors.Is(err, context.Canceled) {
			t.Errorf("Start error = %v, want context.Canceled", err)
		}
	})
}

func TestPath(t *testing.T) {
	t.Run("found", func(t *testing.T) {
		path, err := Path()
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path); err != nil || fi.IsDir() {
			t.Errorf("Path() = %q: %v", path, err)
		}
	})
	t.Run("REDIS_SERVER", func(t *testing.T) {
		want, err := Path()
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("REDIS_SERVER", want)
		if got, err := Path(); err != nil || got != want {
			t.Errorf("Path() = %q, %v; want %q", got, err, want)
		}
	})
	t.Run("REDIS_SERVER missing", func(t *testing.T) {
		t.Setenv("REDIS_SERVER", t.TempDir()+"/no-such-redis-server")
		if _, err := Path(); err == nil || !strings.Contains(err.Error(), "REDIS_SERVER=") {
			t.Errorf("Path() error = %v, want one naming REDIS_SERVER", err)
		}
	})
	t.Run("not found", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		saved := searchDirs
		searchDirs = []string{t.TempDir()}
		t.Cleanup(func() { searchDirs = saved })
		if _, err := Path(); !errors.Is(err, ErrNotFound) {
			t.Errorf("Path() error = %v, want ErrNotFound", err)
		}
	})
}

// TestPortInUse checks that a port taken between freePort and the server's
// bind is reported as ErrAddrInUse, which makes Start pick another.
func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	bin, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{bin: bin, dir: t.TempDir(), port: l.Addr().(*net.TCPAddr).Port}
	t.Cleanup(s.Stop)

	s.mu.Lock()
	err = s.startLocked(t.Context())
	s.mu.Unlock()
	if !errors.Is(err, ErrAddrInUse) {
		t.Errorf("start on a taken port: %v, want ErrAddrInUse", err)
	}
}
