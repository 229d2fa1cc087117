package redistest

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestSentinelFailover starts a primary, a replica and three sentinels,
// kills the primary and checks that the sentinels promote the replica.
func TestSentinelFailover(t *testing.T) {
	primary := Start(t)
	replica := StartReplica(t, primary)
	if _, err := primary.Command("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	replica.WaitSynced(t, primary, 10*time.Second)
	if got, err := replica.Command("GET", "k"); err != nil || got != "v" {
		t.Fatalf("replica GET k = %q, %v", got, err)
	}
	var addrs []string
	for range 3 {
		addrs = append(addrs, StartSentinel(t, "q", primary, 2).Addr())
	}

	sc := redis.NewSentinelClient(&redis.Options{Addr: addrs[0]})
	defer sc.Close()
	master := func() string {
		a, err := sc.GetMasterAddrByName(t.Context(), "q").Result()
		if err != nil {
			return err.Error()
		}
		return strings.Join(a, ":")
	}
	if got := master(); got != primary.Addr() {
		t.Fatalf("sentinel names %s as master, want %s", got, primary.Addr())
	}

	primary.Kill()
	deadline := time.Now().Add(30 * time.Second)
	for master() != replica.Addr() {
		if time.Now().After(deadline) {
			t.Fatalf("no failover to %s: sentinel names %s", replica.Addr(), master())
		}
		time.Sleep(100 * time.Millisecond)
	}
	info, err := replica.Command("INFO", "replication")
	if err != nil || infoField(info, "role") != "master" {
		t.Errorf("promoted replica: role %q (%v)", infoField(info, "role"), err)
	}
	if got, err := replica.Command("SET", "k2", "v2"); err != nil || got != "OK" {
		t.Errorf("write to promoted replica: %q, %v", got, err)
	}
}
