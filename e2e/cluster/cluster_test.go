package cluster

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmq/llmq/internal/proctest"
	"github.com/llmq/llmq/internal/redistest"
	"github.com/llmq/llmq/tasks"
)

// TestRedisCluster runs 1,000 embedding items (100 tasks) and 20
// generation prompts through two workers on a three-node Redis Cluster
// and checks every result. asynq keeps each queue's keys in one hash slot
// ({embeddings}, {generation}); the test reports which node holds each.
func TestRedisCluster(t *testing.T) {
	nodes := redistest.StartCluster(t, 3)
	url := redistest.ClusterURL(nodes)
	dir := t.TempDir()
	_, simURL := proctest.StartSimulator(t, bin["simulator"], "-latency", "20ms", "-dim", "8")
	for range 2 {
		proctest.StartWorker(t, bin["worker"], proctest.WorkerVars(url, simURL,
			"WORKER_CONCURRENCY=8", "WORKER_POLL_INTERVAL=50ms", "LOG_LEVEL=info")...)
	}

	embedIn, genIn := filepath.Join(dir, "items.jsonl"), filepath.Join(dir, "prompts.jsonl")
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, `{"id":"item-%04d","text":"item %d"}`+"\n", i, i)
	}
	write(t, embedIn, b.String())
	b.Reset()
	for i := range 20 {
		fmt.Fprintf(&b, `{"id":"q-%02d","prompt":"question %d"}`+"\n", i, i)
	}
	write(t, genIn, b.String())

	env := proctest.Environ("REDIS_URL=" + url)
	embedOut, genOut := filepath.Join(dir, "vectors.jsonl"), filepath.Join(dir, "answers.jsonl")
	embed := proctest.Start(t, bin["enqueue"], env, "embed", "--file", embedIn, "--batch-size", "10", "--wait", "--out", embedOut)
	gen := proctest.Start(t, bin["enqueue"], env, "generate", "--file", genIn, "--wait", "--out", genOut)
	for name, p := range map[string]*proctest.Process{"embed": embed, "generate": gen} {
		if code := p.Wait(t, 3*time.Minute); code != 0 {
			t.Fatalf("enqueue %s exited %d:\n%s", name, code, p.Stderr.String())
		}
	}
	if n := lines(t, embedOut); n != 1000 {
		t.Errorf("%d embedding results, want 1000", n)
	}
	if n := lines(t, genOut); n != 20 {
		t.Errorf("%d generation results, want 20", n)
	}

	var where []string
	for _, q := range []string{tasks.QueueEmbeddings, tasks.QueueGeneration} {
		key := "asynq:{" + q + "}:completed"
		for _, n := range nodes {
			if got, err := n.Command("EXISTS", key); err == nil && got == "1" {
				where = append(where, q+" on "+n.Addr())
			}
		}
	}
	if len(where) != 2 {
		t.Errorf("completed sets found: %v, want one node for each queue", where)
	}
	t.Logf("cluster of %d nodes: %s", len(nodes), strings.Join(where, ", "))
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func lines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<24)
	n := 0
	for sc.Scan() {
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
