package redistest

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llmq/llmq/internal/redisserver"
)

// clusterSlots is the number of hash slots of a Redis cluster.
const clusterSlots = 16384

// StartCluster starts n private redis-server processes in cluster mode,
// each on a free port with its cluster bus on another free port, gives
// each an equal range of the 16384 hash slots, joins them into one cluster
// and waits until every node reports cluster_state:ok. The nodes are
// masters without replicas.
func StartCluster(t testing.TB, n int) []*Server {
	t.Helper()
	nodes := make([]*Server, n)
	busPorts := make([]int, n)
	for i := range n {
		bus, err := redisserver.FreePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		busPorts[i] = bus
		dir := t.TempDir()
		nodes[i] = startWith(t, redisserver.Config{Dir: dir, Args: []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-node-timeout", "2000",
			"--cluster-port", strconv.Itoa(bus),
		}})
	}
	for i, s := range nodes {
		first, last := i*clusterSlots/n, (i+1)*clusterSlots/n-1
		if _, err := s.Command("CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(first), strconv.Itoa(last)); err != nil {
			t.Fatalf("redistest: node %s: CLUSTER ADDSLOTSRANGE %d %d: %v", s.Addr(), first, last, err)
		}
		if i > 0 {
			host, port := splitAddr(t, s.Addr())
			if _, err := nodes[0].Command("CLUSTER", "MEET", host, port, strconv.Itoa(busPorts[i])); err != nil {
				t.Fatalf("redistest: CLUSTER MEET %s: %v", s.Addr(), err)
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range nodes {
		for {
			info, err := s.Command("CLUSTER", "INFO")
			if err == nil && infoField(info, "cluster_state") == "ok" && infoField(info, "cluster_known_nodes") == strconv.Itoa(n) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: cluster node %s not ready (%v):\n%s", s.Addr(), err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nodes
}

// ClusterURL returns a redis-cluster:// URL listing nodes.
func ClusterURL(nodes []*Server) string {
	addrs := make([]string, len(nodes))
	for i, s := range nodes {
		addrs[i] = s.Addr()
	}
	return "redis-cluster://" + strings.Join(addrs, ",")
}
