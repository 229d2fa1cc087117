// Package redistest runs a private redis-server for the tests of one
// package, so that tests use real Redis and can also stop and restart it.
//
// Each Server listens on a free port of 127.0.0.1, keeps nothing on disk and
// lives in the test's temporary directory; the test's cleanup stops it.
// Nothing here ever connects to the default port 6379 or to a Redis the
// system runs. Package redisserver does the work; this package ties it to a
// test.
package redistest

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/internal/redisserver"
)

// ErrNotFound is returned by Path when no redis-server binary is found.
var ErrNotFound = redisserver.ErrNotFound

// Path locates the redis-server binary: $REDIS_SERVER (a path or a name
// looked up in PATH) if set, else redis-server in PATH, else in /usr/bin or
// /usr/local/bin. It returns ErrNotFound if there is none.
func Path() (string, error) { return redisserver.Path() }

// Server is a redis-server process started by Start. Its methods are safe
// for concurrent use, but Restart, like Start, must be called from the test's
// goroutine because it may call t.Fatal.
type Server struct {
	t   testing.TB
	srv *redisserver.Server
}

// Start starts a private redis-server on a free 127.0.0.1 port, with no
// persistence (--save "" --appendonly no), its directory and log in
// t.TempDir(), and registers t.Cleanup to stop it. It returns once the
// server answers. If redis-server is missing or does not come up within 10
// seconds, Start fails the test (it never skips it), quoting the end of the
// server's log.
func Start(t testing.TB) *Server {
	t.Helper()
	srv, err := redisserver.Start(context.Background(), redisserver.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(srv.Stop)
	return &Server{t: t, srv: srv}
}

// Addr returns the server's address, "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.srv.Addr() }

// URL returns the server's address as a Redis URL, "redis://127.0.0.1:PORT/0".
func (s *Server) URL() string { return s.srv.URL() }

// ConnOpt returns asynq options that connect to the server, database 0.
func (s *Server) ConnOpt() asynq.RedisClientOpt {
	return asynq.RedisClientOpt{Addr: s.Addr()}
}

// Stop stops the server with SIGTERM and waits for it to exit (SIGKILL
// after 10 seconds). Stopping a stopped server does nothing.
func (s *Server) Stop() { s.srv.Stop() }

// Kill stops the server with SIGKILL, as a crash would. Killing a stopped
// server does nothing.
func (s *Server) Kill() { s.srv.Kill() }

// Command sends one command to the server and returns its reply, the text
// of a simple string, bulk string or integer; an error reply is an error.
func (s *Server) Command(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Command(ctx, args...)
}

// Restart stops the server and starts a new one on the same port. The data
// is lost: the server keeps nothing on disk. It fails the test if the port
// cannot be bound again or the server does not come up.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.srv.Restart(context.Background()); err != nil {
		s.t.Fatalf("redistest: %v", err)
	}
}
