package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestBulkEnqueueMemory submits a 1,000,000-line job and measures the peak
// resident memory of enqueue, which reads the input a line at a time and
// keeps only its deduplication tables (about 27 bytes per line). The
// binary is built without the race detector, which multiplies memory.
func TestBulkEnqueueMemory(t *testing.T) {
	t.Parallel()
	const (
		lineCount = 1_000_000
		maxRSS    = 64 << 20
	)
	f := setup(t)
	in := f.path("million.jsonl")
	fh, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(fh)
	for i := range lineCount {
		fmt.Fprintf(w, `{"id": "doc-%07d", "text": "document number %d talks about queues, workers and vectors"}`+"\n", i, i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}

	enqueue := bin.enqueue
	if raceEnabled {
		enqueue = filepath.Join(f.dir, "enqueue")
		build := exec.Command("go", "build", "-o", enqueue, "github.com/llmq/llmq/cmd/enqueue")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	rdb := redis.NewClient(&redis.Options{Addr: f.redis.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	before := usedMemory(t, rdb)

	cmd := exec.Command(enqueue, "embed", "--file", in)
	cmd.Env = environ("REDIS_URL=" + f.redis.URL())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("enqueue: %v\n%s", err, stderr.String())
	}
	elapsed := time.Since(start)
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024 // Linux reports KiB
	used := usedMemory(t, rdb) - before
	t.Logf("%s", strings.TrimSpace(stderr.String()))
	t.Logf("enqueue of %d lines: peak RSS %.1f MiB, %s wall (%.0f lines/s, both passes); Redis grew %.1f MiB (%.0f bytes per queued item)",
		lineCount, float64(rss)/(1<<20), elapsed.Round(time.Millisecond), lineCount/elapsed.Seconds(), float64(used)/(1<<20), float64(used)/lineCount)
	if want := fmt.Sprintf("%d items (%d unique, 0 duplicates)", lineCount, lineCount); !strings.Contains(stderr.String(), want) {
		t.Errorf("enqueue stderr lacks %q", want)
	}
	if id := strings.TrimSpace(string(out)); rdb.HGet(ctx, "llmq:job:{"+id+"}", "submitted_ms").Val() == "" {
		t.Errorf("job %q not marked submitted", id)
	}
	if rss > maxRSS {
		t.Errorf("enqueue peak RSS %d bytes, want at most %d", rss, maxRSS)
	}
}

func usedMemory(t *testing.T, rdb *redis.Client) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatal("INFO memory has no used_memory")
	return 0
}
