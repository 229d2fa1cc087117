package main

import (
	"bytes"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/llmq/llmq/internal/otlptest"
	"github.com/llmq/llmq/simulator"
)

// sum adds the values of family's series whose labels include want.
func sum(families map[string]*dto.MetricFamily, family string, want map[string]string) float64 {
	var total float64
	mf, ok := families[family]
	if !ok {
		return -1
	}
next:
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.GetCounter() != nil:
			total += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			total += m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total
}

// TestTelemetryEndToEnd runs the built worker and enqueue binaries
// against Redis and the simulator, with traces sent to an OTLP receiver
// and an API key the simulator requires. It checks that:
//   - /metrics, scraped over HTTP, parses as Prometheus text, and its
//     connection counts agree with the connections the simulator accepted;
//   - each task's trace runs from enqueue's PRODUCER span through the
//     worker's CONSUMER span to the provider's CLIENT span;
//   - neither the key nor any payload text is in a span, the metrics or a
//     log line of either process.
func TestTelemetryEndToEnd(t *testing.T) {
	const (
		key    = "sk-e2e-marker-0c9d41"
		prefix = "confidential document"
		docs   = 24
		batch  = 4
		tasks  = docs / batch
	)
	s := startStack(t, simulator.Config{Dim: 16, APIKey: key})
	rcv, err := otlptest.NewHTTP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rcv.Close)
	otel := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + rcv.Endpoint, "OTEL_METRICS_EXPORTER=none"}
	w := s.startWorker(t, append(otel, "OPENAI_API_KEY="+key, "WORKER_CONCURRENCY=4", "LOG_LEVEL=debug", "WORKER_POLL_INTERVAL=20ms")...)

	enqueueLog := s.enqueue(t, append(otel, "LOG_LEVEL=debug"), corpus(docs, prefix),
		"embed", "--file", "-", "--batch-size", "4", "--wait", "--out", t.TempDir()+"/out.jsonl")

	// The metrics, scraped as Prometheus would.
	scrape := w.get(t, "/metrics")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(scrape))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v\n%s", err, scrape)
	}
	st := s.sim.Stats()
	openai := map[string]string{"gen_ai_provider_name": "openai"}
	dialed := sum(families, "llmq_http_client_connections_dialed_total", nil)
	if dialed != float64(st.Connections) || dialed < 1 {
		t.Errorf("worker dialed %v connections by its metrics; the simulator accepted %d", dialed, st.Connections)
	}
	if got := sum(families, "llmq_http_client_requests_total", nil); got != float64(st.Requests) {
		t.Errorf("llmq_http_client_requests_total = %v, the simulator answered %d requests", got, st.Requests)
	}
	reused := sum(families, "llmq_http_client_requests_total", map[string]string{"gen_ai_provider_name": "openai", "llmq_connection_reused": "true"})
	if want := float64(tasks + 1 - sum(families, "llmq_http_client_connections_dialed_total", openai)); reused < want {
		t.Errorf("%v requests on reused connections, want at least %v", reused, want)
	}
	t.Logf("simulator: %d connections, %d requests; worker: %v dialed, %v requests on reused connections",
		st.Connections, st.Requests, dialed, reused)
	if got := sum(families, "http_client_open_connections", nil); got != dialed {
		t.Errorf("http_client_open_connections = %v, want all %v dialed connections still open", got, dialed)
	}
	for family, want := range map[string]float64{
		"gen_ai_client_operation_duration_seconds": tasks,
		"gen_ai_client_token_usage":                tasks,
		"llmq_tasks_processed_total":               tasks,
		"llmq_task_duration_seconds":               tasks,
	} {
		if got := sum(families, family, nil); got != want {
			t.Errorf("%s: %v, want %v", family, got, want)
		}
	}
	if got := sum(families, "llmq_queue_size", map[string]string{"messaging_destination_name": "embeddings", "llmq_task_state": "completed"}); got != tasks {
		t.Errorf("llmq_queue_size{embeddings,completed} = %v, want %d", got, tasks)
	}

	w.stop(t) // flushes the worker's spans

	// The traces: each task's three spans, in one trace.
	spans := rcv.Spans()
	byID := map[string]otlptest.Span{}
	for _, sp := range spans {
		byID[string(sp.SpanId)] = sp
	}
	var consumers int
	for _, sp := range spans {
		if sp.Service != "llmq-worker" || !strings.HasPrefix(sp.Name, "process ") {
			continue
		}
		consumers++
		producer, ok := byID[string(sp.ParentSpanId)]
		if !ok || producer.Service != "llmq-enqueue" || producer.Name != "send embeddings" {
			t.Errorf("consumer span %s: parent %q from %q, want enqueue's \"send embeddings\"", sp.Name, producer.Name, producer.Service)
		}
		var calls int
		for _, c := range spans {
			if string(c.ParentSpanId) == string(sp.SpanId) && strings.HasPrefix(c.Name, "embeddings ") {
				calls++
				if r, ok := c.Attr("llmq.connection.reused"); !ok || (r != "true" && r != "false") {
					t.Errorf("provider span without llmq.connection.reused")
				}
			}
		}
		if calls != 1 {
			t.Errorf("consumer span has %d provider spans, want 1", calls)
		}
	}
	t.Logf("%d spans received, %d task traces", len(spans), consumers)
	if consumers != tasks {
		t.Errorf("%d consumer spans, want %d", consumers, tasks)
	}

	// No secret anywhere.
	var recorded []string
	for _, sp := range spans {
		recorded = append(recorded, sp.Strings()...)
	}
	recorded = append(recorded, string(scrape), w.Stderr.String(), enqueueLog)
	if !strings.Contains(w.Stderr.String(), "level=DEBUG") {
		t.Error("worker wrote no debug log: the search below would prove little")
	}
	for _, r := range recorded {
		for _, secret := range []string{key, prefix} {
			if strings.Contains(r, secret) {
				t.Errorf("%q found in what was recorded:\n%.300s", secret, r[max(strings.Index(r, secret)-100, 0):])
			}
		}
	}
}
