package telemetry_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/openai"
	"github.com/llmq/llmq/internal/proctest"
	"github.com/llmq/llmq/internal/redistest"
	"github.com/llmq/llmq/simulator"
	"github.com/llmq/llmq/tasks"
	"github.com/llmq/llmq/telemetry"
)

// apiKey is the provider key of the task tests; it must appear nowhere in
// what they record.
const apiKey = "sk-marker-do-not-record-5b1e"

// pipeline is a real Redis, the simulator over TLS, and an asynq server
// running llmq's handlers behind TaskMiddleware, wired as cmd/worker wires
// them, with every span, metric and log line recorded.
type pipeline struct {
	spans     *tracetest.SpanRecorder
	reader    *sdkmetric.ManualReader
	client    *asynq.Client
	inspector *asynq.Inspector
	producer  *telemetry.Producer
	logs      *proctest.Buffer
}

func startPipeline(t *testing.T) *pipeline {
	t.Helper()
	p := &pipeline{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader(), logs: &proctest.Buffer{}}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(p.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(p.reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	providers := telemetry.Providers{
		TracerProvider: tp, MeterProvider: mp,
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
	logger := slog.New(slog.NewJSONHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	redis := redistest.Start(t)
	sim := simulator.New(simulator.Config{Dim: 8, APIKey: apiKey})
	ts := simulator.Start(sim, true)
	t.Cleanup(ts.Close)
	hc, _, err := clients.NewHTTPClient(clients.Config{
		Provider: "openai", MeterProvider: mp,
		TLSConfig: ts.Client().Transport.(*http.Transport).TLSClientConfig,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	oa, err := openai.New(hc, openai.Config{BaseURL: ts.URL + "/v1", APIKey: apiKey, TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	mw, err := telemetry.TaskMiddleware(providers)
	if err != nil {
		t.Fatal(err)
	}
	mux := tasks.NewMux(map[string]asynq.Handler{
		tasks.TypeEmbed: tasks.NewEmbedHandler(map[string]tasks.Embedder{tasks.ProviderOpenAI: oa}, logger),
	})
	srv := asynq.NewServer(redis.ConnOpt(), asynq.Config{
		Concurrency:       2,
		Queues:            map[string]int{tasks.QueueEmbeddings: 1},
		TaskCheckInterval: 20 * time.Millisecond,
		RetryDelayFunc:    func(int, error, *asynq.Task) time.Duration { return time.Hour },
		IsFailure:         tasks.IsFailure,
		ErrorHandler:      tasks.LogError(logger),
		LogLevel:          asynq.FatalLevel,
	})
	if err := srv.Start(mw(mux)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	p.client = asynq.NewClient(redis.ConnOpt())
	p.inspector = asynq.NewInspector(redis.ConnOpt())
	t.Cleanup(func() { _ = p.client.Close(); _ = p.inspector.Close() })
	p.producer = telemetry.NewProducer(providers)
	return p
}

// send enqueues an embedding task of texts inside a PRODUCER span, as
// cmd/enqueue does, and returns the task's ID.
func (p *pipeline) send(t *testing.T, texts []string, opts ...asynq.Option) string {
	t.Helper()
	ctx, s := p.producer.Start(t.Context(), tasks.TypeEmbed)
	task, err := tasks.NewEmbedTaskWithHeaders(tasks.EmbedPayload{Texts: texts}, s.Headers(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	info, err := p.client.EnqueueContext(ctx, task)
	s.End(info, err)
	if err != nil {
		t.Fatal(err)
	}
	return info.ID
}

// sendBatch enqueues one single-text embedding task per text with the
// headers of batch, the PRODUCER span of ctx, and returns their IDs.
func (p *pipeline) sendBatch(ctx context.Context, t *testing.T, batch *telemetry.Send, texts ...string) []string {
	t.Helper()
	var ids []string
	for _, text := range texts {
		task, err := tasks.NewEmbedTaskWithHeaders(tasks.EmbedPayload{Texts: []string{text}}, batch.Headers())
		if err != nil {
			t.Fatal(err)
		}
		info, err := p.client.EnqueueContext(ctx, task)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, info.ID)
	}
	return ids
}

// await waits until the consumer span of task id has ended.
func (p *pipeline) await(t *testing.T, id string) sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, s := range p.spans.Ended() {
			if s.SpanKind() == trace.SpanKindConsumer && attr(s.Attributes(), "messaging.message.id") == id {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s: no consumer span after 15s", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func attr(kvs []attribute.KeyValue, key attribute.Key) string {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value.String()
		}
	}
	return ""
}

// TestTaskTrace follows one task from its producer through Redis and the
// worker to its provider request: one trace, the consumer span a child of
// (and linked to) the producer span, the provider call a child of the
// consumer span.
func TestTaskTrace(t *testing.T) {
	p := startPipeline(t)
	id := p.send(t, []string{"a text to embed"})
	consumer := p.await(t, id)

	var producer, call sdktrace.ReadOnlySpan
	for _, s := range p.spans.Ended() {
		switch s.SpanKind() {
		case trace.SpanKindProducer:
			if attr(s.Attributes(), "messaging.message.id") == id {
				producer = s
			}
		case trace.SpanKindClient:
			if s.Parent().SpanID() == consumer.SpanContext().SpanID() {
				call = s
			}
		}
	}
	if producer == nil || call == nil {
		t.Fatalf("producer span %v, provider span %v; want both", producer, call)
	}
	if producer.Name() != "send embeddings" || consumer.Name() != "process embeddings" || call.Name() != "embeddings "+openai.DefaultModel {
		t.Errorf("span names %q, %q, %q", producer.Name(), consumer.Name(), call.Name())
	}
	if consumer.SpanContext().TraceID() != producer.SpanContext().TraceID() || call.SpanContext().TraceID() != producer.SpanContext().TraceID() {
		t.Error("producer, consumer and provider spans are not in one trace")
	}
	if consumer.Parent().SpanID() != producer.SpanContext().SpanID() || !consumer.Parent().IsRemote() {
		t.Errorf("consumer's parent %v, want the producer span %v", consumer.Parent(), producer.SpanContext())
	}
	if links := consumer.Links(); len(links) != 1 || links[0].SpanContext.SpanID() != producer.SpanContext().SpanID() {
		t.Errorf("consumer links %v, want one to the producer span", links)
	}
	for key, want := range map[attribute.Key]string{
		"messaging.system":           "asynq",
		"messaging.operation.type":   "process",
		"messaging.destination.name": tasks.QueueEmbeddings,
		"llmq.task.type":             tasks.TypeEmbed,
		"llmq.task.retry_count":      "0",
		"llmq.task.outcome":          tasks.OutcomeSuccess,
	} {
		if got := attr(consumer.Attributes(), key); got != want {
			t.Errorf("consumer %s = %q, want %q", key, got, want)
		}
	}
	if attr(consumer.Attributes(), "llmq.task.wait") == "" {
		t.Error("consumer span has no llmq.task.wait")
	}
	if got := attr(producer.Attributes(), "messaging.destination.name"); got != tasks.QueueEmbeddings {
		t.Errorf("producer messaging.destination.name = %q", got)
	}
}

// TestBatchTrace checks that the tasks of a batch are linked to the
// batch's PRODUCER span but start traces of their own.
func TestBatchTrace(t *testing.T) {
	p := startPipeline(t)
	ctx, s := p.producer.StartBatch(t.Context(), tasks.TypeEmbed, 2)
	ids := p.sendBatch(ctx, t, s, "batch text one", "batch text two")
	s.End(nil, nil)
	batch := trace.SpanContextFromContext(ctx)
	for _, id := range ids {
		c := p.await(t, id)
		if c.SpanContext().TraceID() == batch.TraceID() || c.Parent().IsValid() {
			t.Errorf("task %s: consumer span in trace %s with parent %v, want a new root", id, c.SpanContext().TraceID(), c.Parent())
		}
		if links := c.Links(); len(links) != 1 || links[0].SpanContext.SpanID() != batch.SpanID() {
			t.Errorf("task %s: links %v, want one to the batch span", id, links)
		}
	}
}

// TestTaskOutcomes runs one task per outcome through the real stack and
// checks the consumer span and llmq.tasks.processed, and that neither the
// key nor any payload text is in a span, a metric or a log line.
func TestTaskOutcomes(t *testing.T) {
	p := startPipeline(t)
	tests := []struct {
		name    string
		text    string
		opts    []asynq.Option
		outcome string
	}{
		{"success", "payload text success", nil, tasks.OutcomeSuccess},
		{"permanent", "payload text permanent sim:status=400", nil, tasks.OutcomeArchived},
		{"server error", "payload text retry sim:status=500 sim:retry_after=0s", []asynq.Option{asynq.MaxRetry(3)}, tasks.OutcomeRetry},
		{"rate limited", "payload text limited sim:status=429 sim:retry_after=0s", []asynq.Option{asynq.MaxRetry(3)}, tasks.OutcomeRateLimited},
		{"retries exhausted", "payload text exhausted sim:status=500 sim:retry_after=0s", []asynq.Option{asynq.MaxRetry(0)}, tasks.OutcomeArchived},
	}
	var texts []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			texts = append(texts, tt.text)
			s := p.await(t, p.send(t, []string{tt.text}, tt.opts...))
			if got := attr(s.Attributes(), "llmq.task.outcome"); got != tt.outcome {
				t.Errorf("outcome %q, want %q", got, tt.outcome)
			}
			if failed := s.Status().Code == codes.Error; failed != (tt.outcome != tasks.OutcomeSuccess) {
				t.Errorf("span status %v for outcome %s", s.Status(), tt.outcome)
			}
		})
	}

	var rm metricdata.ResourceMetrics
	if err := p.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	runs := map[string]int64{}
	var labels []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			labels = append(labels, m.Name)
			for _, set := range dataPointAttributes(m.Data) {
				for _, kv := range set.ToSlice() {
					labels = append(labels, string(kv.Key), kv.Value.String())
				}
			}
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "llmq.tasks.processed" {
				for _, dp := range sum.DataPoints {
					o, _ := dp.Attributes.Value(telemetry.TaskOutcomeKey)
					runs[o.String()] += dp.Value
				}
			}
		}
	}
	want := map[string]int64{tasks.OutcomeSuccess: 1, tasks.OutcomeArchived: 2, tasks.OutcomeRetry: 1, tasks.OutcomeRateLimited: 1}
	for k, v := range want {
		if runs[k] != v {
			t.Errorf("llmq.tasks.processed{outcome=%s} = %d, want %d (all %v)", k, runs[k], v, runs)
		}
	}

	// Nothing recorded holds the key or a payload text.
	var recorded []string
	for _, s := range p.spans.Ended() {
		recorded = append(recorded, s.Name(), s.Status().Description)
		for _, kv := range s.Attributes() {
			recorded = append(recorded, kv.Value.String())
		}
		for _, e := range s.Events() {
			recorded = append(recorded, e.Name)
			for _, kv := range e.Attributes {
				recorded = append(recorded, kv.Value.String())
			}
		}
	}
	recorded = append(recorded, labels...)
	recorded = append(recorded, strings.Split(p.logs.String(), "\n")...)
	if !strings.Contains(p.logs.String(), "task failed") {
		t.Error("no log line of a failed task captured: the search below would prove nothing")
	}
	for _, r := range recorded {
		for _, secret := range append([]string{apiKey, "payload text"}, texts...) {
			if strings.Contains(r, secret) {
				t.Errorf("recorded %q contains %q", r, secret)
			}
		}
	}
}

// dataPointAttributes returns the attribute sets of a metric's points.
func dataPointAttributes(data metricdata.Aggregation) []attribute.Set {
	return append(pointAttributes[int64](data), pointAttributes[float64](data)...)
}

// pointAttributes returns the attribute sets of the points of data when
// it is a sum, gauge or histogram of N, else nil.
func pointAttributes[N int64 | float64](data metricdata.Aggregation) []attribute.Set {
	var out []attribute.Set
	switch d := data.(type) {
	case metricdata.Sum[N]:
		for _, dp := range d.DataPoints {
			out = append(out, dp.Attributes)
		}
	case metricdata.Gauge[N]:
		for _, dp := range d.DataPoints {
			out = append(out, dp.Attributes)
		}
	case metricdata.Histogram[N]:
		for _, dp := range d.DataPoints {
			out = append(out, dp.Attributes)
		}
	}
	return out
}

// TestMessagingConventions checks the messaging metrics and the producer
// span of a task that was already queued: named after its destination
// although the enqueue returned no TaskInfo.
func TestMessagingConventions(t *testing.T) {
	p := startPipeline(t)
	var ids []string
	for range 2 { // the second is already queued
		ctx, s := p.producer.StartTo(t.Context(), tasks.QueueEmbeddings, tasks.TypeEmbed)
		task, err := tasks.NewEmbedTaskWithHeaders(tasks.EmbedPayload{Texts: []string{"same text"}}, s.Headers(),
			asynq.TaskID("fixed-id"), asynq.Retention(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		info, err := p.client.EnqueueContext(ctx, task)
		s.End(info, err)
		if info != nil {
			ids = append(ids, info.ID)
		}
	}
	ctx, b := p.producer.StartBatchTo(t.Context(), tasks.QueueEmbeddings, tasks.TypeEmbed, 2)
	ids = append(ids, p.sendBatch(ctx, t, b, "batch one", "batch two")...)
	b.End(nil, nil)
	if len(ids) != 3 {
		t.Fatalf("%d tasks enqueued, want 3 (one was already queued)", len(ids))
	}
	for _, id := range ids {
		p.await(t, id)
	}

	var producers []sdktrace.ReadOnlySpan
	for _, s := range p.spans.Ended() {
		if s.SpanKind() == trace.SpanKindProducer {
			producers = append(producers, s)
		}
	}
	if len(producers) != 3 {
		t.Fatalf("%d producer spans, want 3", len(producers))
	}
	for i, s := range producers {
		if s.Name() != "send embeddings" || attr(s.Attributes(), "messaging.destination.name") != tasks.QueueEmbeddings {
			t.Errorf("producer span %d: %q, destination %q", i, s.Name(), attr(s.Attributes(), "messaging.destination.name"))
		}
	}
	if got := attr(producers[1].Attributes(), telemetry.AlreadyQueuedKey); got != "true" {
		t.Errorf("second span llmq.task.already_queued = %q, want true", got)
	}
	if got := attr(producers[2].Attributes(), "messaging.batch.message_count"); got != "2" {
		t.Errorf("batch span messaging.batch.message_count = %q, want 2", got)
	}

	var rm metricdata.ResourceMetrics
	if err := p.reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	want := attribute.NewSet(attribute.String("messaging.destination.name", tasks.QueueEmbeddings),
		attribute.String("messaging.operation.name", "send"), attribute.String("messaging.system", "asynq"))
	wantProcess := attribute.NewSet(attribute.String("messaging.destination.name", tasks.QueueEmbeddings),
		attribute.String("messaging.operation.name", "process"), attribute.String("messaging.system", "asynq"))
	var sent int64
	var processed uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case "messaging.client.sent.messages":
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					if dp.Attributes.Equals(&want) {
						sent += dp.Value
					} else {
						t.Errorf("messaging.client.sent.messages point with %v", dp.Attributes.ToSlice())
					}
				}
			case "messaging.process.duration":
				if m.Unit != "s" {
					t.Errorf("messaging.process.duration unit %q", m.Unit)
				}
				for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
					if dp.Attributes.Equals(&wantProcess) {
						processed += dp.Count
					} else {
						t.Errorf("messaging.process.duration point with %v", dp.Attributes.ToSlice())
					}
				}
			}
		}
	}
	if sent != 4 || processed != 3 {
		t.Errorf("messaging.client.sent.messages = %d, messaging.process.duration count = %d; want 4 and 3", sent, processed)
	}
}
