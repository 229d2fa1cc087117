package redistest

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestStartCluster(t *testing.T) {
	nodes := StartCluster(t, 3)
	if got := ClusterURL(nodes); !strings.HasPrefix(got, "redis-cluster://127.0.0.1:") || strings.Count(got, ",") != 2 {
		t.Errorf("ClusterURL = %q", got)
	}
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.Addr())
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer c.Close()
	ctx := t.Context()
	// Keys in different slots land on different nodes; the client follows.
	for _, k := range []string{"{a}", "{b}", "{c}", "{d}"} {
		if err := c.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	owners := map[string]bool{}
	for _, k := range []string{"{a}", "{b}", "{c}", "{d}"} {
		for _, n := range nodes {
			if got, err := n.Command("EXISTS", k); err == nil && got == "1" {
				owners[n.Addr()] = true
			}
		}
	}
	if len(owners) < 2 {
		t.Errorf("4 keys on %d node(s), want the slots spread", len(owners))
	}
}
