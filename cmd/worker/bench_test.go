package main

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmq/llmq/internal/otlptest"
	"github.com/llmq/llmq/simulator"
)

// runs numbers the corpora of the benchmark, so that no run's texts, and
// so no task ID, repeat an earlier run's.
var runs atomic.Int64

// BenchmarkTelemetryOverhead measures end-to-end throughput, enqueue to
// last result, with telemetry off and on, in the same run: two workers
// run side by side on two Redis databases of one server, one with
// telemetry off (nothing exported, no metrics collected, no /metrics) and
// one with it on (every span of enqueue and worker exported over
// OTLP/HTTP to a local receiver that decodes it, metrics collected for
// /metrics and exported over OTLP), and each iteration sends one corpus
// to each, in alternating order. The simulator answers at once, so the
// worker's own costs, telemetry among them, are not hidden behind provider
// latency: this is the worst case. It reports tasks/s of each and their
// ratio:
//
//	go test -run '^$' -bench TelemetryOverhead -benchtime 10x ./cmd/worker/
func BenchmarkTelemetryOverhead(b *testing.B) {
	const docs, batch = 2400, 4
	s := startStack(b, simulator.Config{Dim: 64})
	rcv, err := otlptest.NewHTTP()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rcv.Close)
	type mode struct {
		vars    []string
		w       *workerProc
		elapsed time.Duration
	}
	off := &mode{vars: []string{"REDIS_URL=redis://" + s.redis.Addr() + "/1",
		"OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "HTTP_ADDR="}}
	on := &mode{vars: []string{"REDIS_URL=redis://" + s.redis.Addr() + "/2",
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + rcv.Endpoint}}
	args := []string{"embed", "--file", "-", "--batch-size", fmt.Sprint(batch), "--wait", "--out", b.TempDir() + "/out.jsonl"}
	send := func(m *mode, n int) time.Duration {
		start := time.Now()
		s.enqueue(b, m.vars, corpus(n, fmt.Sprintf("run %d", runs.Add(1))), args...)
		return time.Since(start)
	}
	for _, m := range []*mode{off, on} {
		m.w = s.startWorker(b, append([]string{"WORKER_CONCURRENCY=16", "LOG_LEVEL=warn", "WORKER_POLL_INTERVAL=20ms"}, m.vars...)...)
		send(m, 4*batch) // also waits for a worker that serves no /readyz
	}

	b.ResetTimer()
	for i := range b.N {
		order := []*mode{off, on}
		if i%2 == 1 {
			order = []*mode{on, off}
		}
		for _, m := range order {
			m.elapsed += send(m, docs)
		}
	}
	b.StopTimer()
	tasks := float64(docs / batch * b.N)
	offRate, onRate := tasks/off.elapsed.Seconds(), tasks/on.elapsed.Seconds()
	b.ReportMetric(offRate, "off-tasks/s")
	b.ReportMetric(onRate, "on-tasks/s")
	b.ReportMetric(onRate/offRate, "on/off")
	b.ReportMetric(0, "ns/op")
	if len(rcv.Spans()) == 0 {
		b.Error("telemetry on exported no span")
	}
	off.w.stop(b)
	on.w.stop(b)
}
