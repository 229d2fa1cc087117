package redistest

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
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
	bin, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]*Server, n)
	busPorts := make([]int, n)
	for i := range n {
		dir := t.TempDir()
		nodes[i] = start(t, &Server{t: t, bin: bin, dir: dir, args: func(port int) ([]string, error) {
			bus, err := freePort()
			if err != nil {
				return nil, err
			}
			busPorts[i] = bus
			return []string{
				"--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(dir, "nodes-"+strconv.Itoa(port)+".conf"),
				"--cluster-node-timeout", "2000",
				"--cluster-port", strconv.Itoa(bus),
			}, nil
		}})
	}
	for i, s := range nodes {
		first, last := i*clusterSlots/n, (i+1)*clusterSlots/n-1
		if _, err := s.Command("CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(first), strconv.Itoa(last)); err != nil {
			t.Fatalf("redistest: node %s: CLUSTER ADDSLOTSRANGE %d %d: %v", s.Addr(), first, last, err)
		}
		if i > 0 {
			if _, err := nodes[0].Command("CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(s.port), strconv.Itoa(busPorts[i])); err != nil {
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
	return fmt.Sprintf("redis-cluster://%s", strings.Join(addrs, ","))
}
