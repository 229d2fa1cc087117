package redistest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmq/llmq/internal/redisserver"
)

// startWith starts a redis-server with cfg (Dir defaults to a new
// t.TempDir()) and registers t.Cleanup to stop it.
func startWith(t testing.TB, cfg redisserver.Config) *Server {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	srv, err := redisserver.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(srv.Stop)
	return &Server{t: t, srv: srv}
}

// StartReplica starts a private redis-server, like Start, that replicates
// primary. It returns once the replica answers, which may be before its
// first synchronisation has finished: see WaitSynced.
func StartReplica(t testing.TB, primary *Server) *Server {
	t.Helper()
	host, port := splitAddr(t, primary.Addr())
	return startWith(t, redisserver.Config{Args: []string{"--replicaof", host, port}})
}

// Sentinel timing: a master that does not answer for SentinelDownAfter is
// taken as down, and a failover that has not finished within
// sentinelFailoverTimeout is tried again.
const (
	SentinelDownAfter       = time.Second
	sentinelFailoverTimeout = 10 * time.Second
)

// StartSentinel starts a redis-server in sentinel mode (redis-server
// sentinel.conf --sentinel) on a free port that monitors primary as master,
// with quorum sentinels needed to agree that it is down. Its configuration
// file, which the sentinel rewrites as it learns of replicas and other
// sentinels, lives in its own t.TempDir().
func StartSentinel(t testing.TB, master string, primary *Server, quorum int) *Server {
	t.Helper()
	dir := t.TempDir()
	host, port := splitAddr(t, primary.Addr())
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s %[4]d\n"+
		"sentinel down-after-milliseconds %[1]s %[5]d\n"+
		"sentinel failover-timeout %[1]s %[6]d\n"+
		"sentinel parallel-syncs %[1]s 1\n",
		master, host, port, quorum, SentinelDownAfter.Milliseconds(), sentinelFailoverTimeout.Milliseconds())
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatalf("redistest: write sentinel configuration: %v", err)
	}
	return startWith(t, redisserver.Config{Dir: dir, ConfigFile: conf, Args: []string{"--sentinel"}})
}

// WaitSynced waits up to timeout until the server, a replica, has a working
// link to its primary and has applied everything the primary has written,
// and fails the test otherwise.
func (s *Server) WaitSynced(t testing.TB, primary *Server, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		pinfo, perr := primary.Command("INFO", "replication")
		rinfo, rerr := s.Command("INFO", "replication")
		if perr == nil && rerr == nil && infoField(rinfo, "master_link_status") == "up" &&
			infoField(pinfo, "master_repl_offset") == infoField(rinfo, "slave_repl_offset") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: replica %s not in sync with %s after %s (%v, %v):\n%s", s.Addr(), primary.Addr(), timeout, perr, rerr, rinfo)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// infoField returns the value of name in an INFO reply.
func infoField(info, name string) string {
	for line := range strings.Lines(info) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == name {
			return v
		}
	}
	return ""
}

func splitAddr(t testing.TB, addr string) (host, port string) {
	t.Helper()
	host, port, ok := strings.Cut(addr, ":")
	if !ok {
		t.Fatalf("redistest: address %q has no port", addr)
	}
	return host, port
}
