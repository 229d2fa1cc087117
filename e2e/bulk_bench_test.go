package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/internal/proctest"
	"github.com/llmq/llmq/internal/redistest"
	"github.com/llmq/llmq/job"
	"github.com/llmq/llmq/tasks"
)

// The benchmarks below measure; they assert nothing about speed. Run them
// without the race detector, which slows the binaries down many times:
//
//	go test ./e2e -run '^$' -bench 'Drain|BatchSize' -benchtime 1x -v
//
// Each starts its own Redis, simulator (20 ms latency per request) and
// worker processes, as the tests do.

// benchLatency is the simulated provider latency of the benchmarks.
const benchLatency = "20ms"

// benchEnv is a Redis, a simulator and a way to run workers for one
// benchmark.
type benchEnv struct {
	redis  *redistest.Server
	rdb    *redis.Client
	simURL string
}

func newBenchEnv(b *testing.B, dim int) *benchEnv {
	b.Helper()
	e := &benchEnv{redis: redistest.Start(b)}
	e.rdb = redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	b.Cleanup(func() { e.rdb.Close() })
	_, e.simURL = proctest.StartSimulator(b, bin["simulator"], "-latency", benchLatency, "-dim", fmt.Sprint(dim))
	return e
}

// startWorker starts a worker with the given extra variables and returns
// once it is ready; the worker stops at the end of the benchmark, or when
// the returned stop is called.
func (e *benchEnv) startWorker(b *testing.B, vars ...string) (stop func()) {
	b.Helper()
	p, _ := proctest.StartWorker(b, bin["worker"], proctest.WorkerVars(e.redis.URL(), e.simURL, append([]string{"LOG_LEVEL=warn"}, vars...)...)...)
	return func() {
		if !p.Exited() {
			p.Signal(b, os.Kill)
			p.Wait(b, 10*time.Second)
		}
	}
}

// BenchmarkDrain measures how fast one worker drains single-text
// embedding tasks at 20 ms per provider request: first as plain tasks
// (one request each), then as items merged by asynq's group aggregation
// (one request per group of up to GROUP_MAX_SIZE), in the same run.
func BenchmarkDrain(b *testing.B) {
	const items, dim = 20_000, 256
	for range b.N {
		e := newBenchEnv(b, dim)
		ctx := context.Background()
		client := asynq.NewClientFromRedisClient(e.rdb)
		enqueue := func(make func(i int) *asynq.Task) {
			var wg sync.WaitGroup
			for w := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < items; i += 16 {
						if _, err := client.EnqueueContext(ctx, make(i)); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		}

		// Plain single-text tasks.
		enqueue(func(i int) *asynq.Task {
			t, err := tasks.NewEmbedTask(tasks.EmbedPayload{Texts: []string{fmt.Sprintf("plain text %d", i)}}, asynq.Retention(time.Hour))
			if err != nil {
				b.Fatal(err)
			}
			return t
		})
		stop := e.startWorker(b)
		start := time.Now()
		insp := asynq.NewInspectorFromRedisClient(e.rdb)
		for {
			q, err := insp.GetQueueInfo(tasks.QueueEmbeddings)
			if err != nil {
				b.Fatal(err)
			}
			if q.Completed+q.Archived == items {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		plain := time.Since(start)
		stop()

		// The same number of items, merged by the worker.
		ids := make([]string, items)
		enqueue(func(i int) *asynq.Task {
			p := tasks.EmbedItemPayload{Text: fmt.Sprintf("item text %d", i)}
			ids[i] = tasks.ItemID(p)
			t, err := tasks.NewEmbedItemTask(p, asynq.Retention(time.Hour))
			if err != nil {
				b.Fatal(err)
			}
			return t
		})
		e.startWorker(b)
		start = time.Now()
		for next := 0; next < items; {
			n, err := e.rdb.Exists(ctx, tasks.ItemResultKey(ids[next])).Result()
			if err != nil {
				b.Fatal(err)
			}
			if n == 1 {
				next++
				continue
			}
			time.Sleep(50 * time.Millisecond)
		}
		merged := time.Since(start)

		plainRate, mergedRate := items/plain.Seconds(), items/merged.Seconds()
		b.ReportMetric(plainRate, "plain-items/s")
		b.ReportMetric(mergedRate, "merged-items/s")
		b.ReportMetric(mergedRate/plainRate, "ratio")
		groupSize := os.Getenv("GROUP_MAX_SIZE")
		if groupSize == "" {
			groupSize = "default"
		}
		b.Logf("%d single-text items, %s provider latency, %d dimensions, one worker (WORKER_CONCURRENCY 50, GROUP_MAX_SIZE %s): "+
			"plain tasks %.0f items/s (%s), micro-batched %.0f items/s (%s): %.1fx",
			items, benchLatency, dim, groupSize, plainRate, plain.Round(time.Millisecond), mergedRate, merged.Round(time.Millisecond), mergedRate/plainRate)
	}
}

// BenchmarkBatchSize submits the same 50,000-item job at several batch
// sizes and measures the enqueue rate, the drain rate of one worker at
// 20 ms per request, and the Redis memory of the results.
func BenchmarkBatchSize(b *testing.B) {
	const items, dim = 50_000, 1536
	for _, size := range []int{16, 64, 128, 256, 512} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			for range b.N {
				e := newBenchEnv(b, dim)
				ctx := context.Background()
				in := fmt.Sprintf("%s/in.jsonl", b.TempDir())
				fh, err := os.Create(in)
				if err != nil {
					b.Fatal(err)
				}
				for i := range items {
					fmt.Fprintf(fh, `{"id": "d%d", "text": "document %d about queues and workers, of a typical short length"}`+"\n", i, i)
				}
				fh.Close()
				e.startWorker(b)
				start := time.Now()
				r := proctest.Exec(b, 2*time.Minute, nil, bin["enqueue"], proctest.Environ("REDIS_URL="+e.redis.URL()),
					"embed", "--file", in, "--batch-size", fmt.Sprint(size))
				if r.Code != 0 {
					b.Fatalf("enqueue exit status %d:\n%s", r.Code, proctest.TailLines(r.Stderr, 20))
				}
				enqueued := time.Since(start)
				id := strings.TrimSpace(r.Stdout)
				var st *job.Status
				for {
					if st, err = job.GetStatus(ctx, e.rdb, id); err != nil {
						b.Fatal(err)
					}
					if st.Finished {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				drained := time.Since(start)
				var taskBytes, resultBytes int64
				for n := range st.Batches {
					key := "asynq:{" + st.Queue + "}:t:" + job.TaskID(id, n)
					taskBytes += e.rdb.MemoryUsage(ctx, key).Val()
					resultBytes += e.rdb.HStrLen(ctx, key, "result").Val()
				}
				b.ReportMetric(items/enqueued.Seconds(), "enqueue-items/s")
				b.ReportMetric(items/drained.Seconds(), "items/s")
				b.ReportMetric(float64(resultBytes)/items, "result-B/item")
				b.ReportMetric(float64(taskBytes)/items, "redis-B/item")
				b.Logf("batch %d: %d tasks; enqueue %.0f items/s; enqueue to drained %s, %.0f items/s; result %.0f bytes/item, task hash in Redis %.0f bytes/item (%d dimensions)",
					size, st.Batches, items/enqueued.Seconds(), drained.Round(time.Millisecond), items/drained.Seconds(),
					float64(resultBytes)/items, float64(taskBytes)/items, dim)
			}
		})
	}
}
