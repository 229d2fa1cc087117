package telemetry_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/llmq/llmq/internal/redistest"
	"github.com/llmq/llmq/telemetry"
)

// reporter is one worker's QueueReporter and what its metrics show.
type reporter struct {
	*telemetry.QueueReporter
	reader *sdkmetric.ManualReader
}

// queueGauges collects r's metrics: llmq.queue.size by "queue/state", and
// whether llmq.queue.latency had any point.
func (r reporter) queueGauges(t *testing.T) (sizes map[string]int64, latency bool) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	sizes = map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					q, _ := dp.Attributes.Value("messaging.destination.name")
					s, _ := dp.Attributes.Value(telemetry.TaskStateKey)
					sizes[q.AsString()+"/"+s.AsString()] = dp.Value
				}
			case metricdata.Gauge[float64]:
				latency = latency || len(d.DataPoints) > 0
			}
		}
	}
	return sizes, latency
}

func startReporter(t *testing.T, rdb redis.UniversalClient) reporter {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	r, err := telemetry.StartQueueReporter(rdb, telemetry.Providers{MeterProvider: mp},
		slog.New(slog.NewTextHandler(io.Discard, nil)), telemetry.QueueReporterConfig{TTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return reporter{QueueReporter: r, reader: reader}
}

// waitLeader waits until exactly one of rs holds the lease and returns it.
func waitLeader(t *testing.T, rs ...reporter) (leader reporter, others []reporter) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var leaders []reporter
		others = others[:0]
		for _, r := range rs {
			if r.Leader() {
				leaders = append(leaders, r)
			} else {
				others = append(others, r)
			}
		}
		if len(leaders) == 1 {
			return leaders[0], others
		}
		if len(leaders) > 1 {
			t.Fatalf("%d reporters hold the lease at once", len(leaders))
		}
		if time.Now().After(deadline) {
			t.Fatal("no reporter took the lease within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestQueueReporter runs two reporters on one Redis: only the lease holder
// reports the queues, and when it stops the other takes over.
func TestQueueReporter(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	client := asynq.NewClientFromRedisClient(rdb)
	for i := range 3 {
		if _, err := client.Enqueue(asynq.NewTask("embedding:create", []byte{byte(i)}), asynq.Queue("embeddings")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.Enqueue(asynq.NewTask("generation:create", nil), asynq.Queue("generation"), asynq.ProcessIn(time.Hour)); err != nil {
		t.Fatal(err)
	}

	a, b := startReporter(t, rdb), startReporter(t, rdb)
	leader, others := waitLeader(t, a, b)
	sizes, latency := leader.queueGauges(t)
	for series, want := range map[string]int64{"embeddings/pending": 3, "embeddings/active": 0, "generation/scheduled": 1, "generation/pending": 0} {
		if got, ok := sizes[series]; !ok || got != want {
			t.Errorf("leader: llmq.queue.size{%s} = %d (reported: %v), want %d", series, got, ok, want)
		}
	}
	if !latency {
		t.Error("leader reports no llmq.queue.latency")
	}
	if sizes, latency := others[0].queueGauges(t); len(sizes) != 0 || latency {
		t.Errorf("the other reporter also reports queues: %v", sizes)
	}

	if err := leader.Close(); err != nil {
		t.Fatal(err)
	}
	next, _ := waitLeader(t, others[0])
	if sizes, _ := next.queueGauges(t); sizes["embeddings/pending"] != 3 {
		t.Errorf("after the leader stopped: %v, want embeddings/pending = 3", sizes)
	}
}
