package redistest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// StartReplica starts a private redis-server, like Start, that replicates
// primary. It returns once the replica answers, which may be before its
// first synchronisation has finished: see WaitSynced.
func StartReplica(t testing.TB, primary *Server) *Server {
	t.Helper()
	bin, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	primaryPort := strconv.Itoa(primary.port)
	return start(t, &Server{t: t, bin: bin, dir: t.TempDir(), args: func(int) ([]string, error) {
		return []string{"--replicaof", "127.0.0.1", primaryPort}, nil
	}})
}

// Sentinel timing: a master that does not answer for SentinelDownAfter is
// taken as down, and a failover that has not finished within
// sentinelFailoverTimeout is tried again.
const (
	SentinelDownAfter       = time.Second
	sentinelFailoverTimeout = 10 * time.Second
)

// StartSentinel starts a redis-server in sentinel mode (redis-server
// --sentinel) on a free port that monitors primary as master, with quorum
// sentinels needed to agree that it is down. Its configuration file, which
// the sentinel rewrites as it learns of replicas and other sentinels, lives
// in its own t.TempDir().
func StartSentinel(t testing.TB, master string, primary *Server, quorum int) *Server {
	t.Helper()
	bin, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	primaryPort := primary.port
	return start(t, &Server{t: t, bin: bin, dir: dir, args: func(port int) ([]string, error) {
		conf := filepath.Join(dir, "sentinel-"+strconv.Itoa(port)+".conf")
		if _, err := os.Stat(conf); os.IsNotExist(err) {
			text := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]d %[3]d\n"+
				"sentinel down-after-milliseconds %[1]s %[4]d\n"+
				"sentinel failover-timeout %[1]s %[5]d\n"+
				"sentinel parallel-syncs %[1]s 1\n",
				master, primaryPort, quorum, SentinelDownAfter.Milliseconds(), sentinelFailoverTimeout.Milliseconds())
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				return nil, fmt.Errorf("write sentinel configuration: %w", err)
			}
		}
		return []string{conf, "--sentinel"}, nil
	}})
}

// Command sends one command to the server and returns its reply, the text
// of a simple string, bulk string or integer; an error reply is an error.
func (s *Server) Command(args ...string) (string, error) {
	return command(s.Addr(), 5*time.Second, args...)
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
	for _, line := range strings.Split(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == name {
			return v
		}
	}
	return ""
}
