package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/internal/proctest"
)

// TestBulkEnqueueMemory submits a 1,000,000-line job and measures the peak
// resident memory of enqueue, which reads the input a line at a time and
// keeps only its deduplication tables (about 27 bytes per line): its peak
// must stay below the input's size, which a copy of the input would pass.
// The target figure (64 MB) is make bench's, which measures it. The
// binary is built without the race detector, which multiplies memory. The
// last reading of VmHWM, at most 10 ms before the end, is the peak: the
// tables are allocated at the start, and the heap stays level after.
func TestBulkEnqueueMemory(t *testing.T) {
	t.Parallel()
	const lineCount = 1_000_000
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
	fi, err := os.Stat(in)
	if err != nil {
		t.Fatal(err)
	}

	enqueue := bin["enqueue"]
	if proctest.Race {
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
	// The process's own GC settings, whatever the test's environment says;
	// gctrace reports the heap at each collection.
	cmd.Env = slices.DeleteFunc(proctest.Environ("REDIS_URL="+f.redis.URL(), "GODEBUG=gctrace=1"), func(kv string) bool {
		return strings.HasPrefix(kv, "GOGC=") || strings.HasPrefix(kv, "GOMEMLIMIT=")
	})
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The peak RSS is VmHWM in /proc, read until the process ends. Not
	// rusage's maxrss: the child is forked from this test process, and
	// Linux counts the parent's pages shared before exec into the child's
	// maxrss.
	var rss int64
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	for waiting := true; waiting; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("enqueue: %v\n%s", err, stderr.String())
			}
			waiting = false
		case <-time.After(10 * time.Millisecond):
			rss = max(rss, vmHWM(status))
		}
	}
	elapsed := time.Since(start)
	out := stdout.String()
	used := usedMemory(t, rdb) - before
	var report []string
	peakHeap := 0
	for _, l := range strings.Split(stderr.String(), "\n") {
		if !strings.HasPrefix(l, "gc ") {
			report = append(report, l)
			continue
		}
		// "gc 12 @1.2s 0%: ..., 33->34->27 MB, 34 MB goal, ..."
		for _, field := range strings.Split(l, ", ") {
			if sizes, ok := strings.CutSuffix(field, " MB"); ok && strings.Count(sizes, "->") == 2 {
				for _, n := range strings.Split(sizes, "->") {
					if v, err := strconv.Atoi(n); err == nil {
						peakHeap = max(peakHeap, v)
					}
				}
			}
		}
	}
	t.Logf("%s", strings.TrimSpace(strings.Join(report, "\n")))
	t.Logf("peak Go heap %d MB (gctrace)", peakHeap)
	t.Logf("enqueue of %d lines: peak RSS %.1f MiB, %s wall (%.0f lines/s, both passes); Redis grew %.1f MiB (%.0f bytes per queued item)",
		lineCount, float64(rss)/(1<<20), elapsed.Round(time.Millisecond), lineCount/elapsed.Seconds(), float64(used)/(1<<20), float64(used)/lineCount)
	if want := fmt.Sprintf("%d items (%d unique, 0 duplicates)", lineCount, lineCount); !strings.Contains(strings.Join(report, "\n"), want) {
		t.Errorf("enqueue stderr lacks %q", want)
	}
	if id := strings.TrimSpace(out); rdb.HGet(ctx, "llmq:job:{"+id+"}", "submitted_ms").Val() == "" {
		t.Errorf("job %q not marked submitted", id)
	}
	if rss == 0 || rss >= fi.Size() {
		t.Errorf("enqueue peak RSS %d bytes, want less than the input's %d bytes: it must not hold the input", rss, fi.Size())
	}
}

// vmHWM returns the peak resident set size in a /proc/PID/status file, in
// bytes, or 0 once the process is gone.
func vmHWM(status string) int64 {
	b, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
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
