package e2e

import (
	"github.com/llmq/llmq/internal/proctest"

	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/llmq/llmq/internal/otlptest"
	"github.com/llmq/llmq/internal/version"
)

// pointAttrs returns the attribute sets of m's data points, each as
// "key=value" strings.
func pointAttrs(m *metricspb.Metric) [][]string {
	var kvs [][]*commonpb.KeyValue
	switch d := m.Data.(type) {
	case *metricspb.Metric_Sum:
		for _, p := range d.Sum.DataPoints {
			kvs = append(kvs, p.Attributes)
		}
	case *metricspb.Metric_Histogram:
		for _, p := range d.Histogram.DataPoints {
			kvs = append(kvs, p.Attributes)
		}
	case *metricspb.Metric_Gauge:
		for _, p := range d.Gauge.DataPoints {
			kvs = append(kvs, p.Attributes)
		}
	}
	var out [][]string
	for _, set := range kvs {
		var s []string
		for _, kv := range set {
			s = append(s, kv.Key+"="+kv.Value.GetStringValue()+intValue(kv.Value))
		}
		out = append(out, s)
	}
	return out
}

func intValue(v *commonpb.AnyValue) string {
	if iv, ok := v.Value.(*commonpb.AnyValue_IntValue); ok {
		return strconv.FormatInt(iv.IntValue, 10)
	}
	return ""
}

// TestOTLPConventions runs a job with the worker and enqueue exporting to
// the project's OTLP receiver, and checks the OpenTelemetry names that
// arrive: the HTTP client metrics with server.address, server.port and
// url.scheme, the messaging metrics, and the resource's service.version
// and service.instance.id.
func TestOTLPConventions(t *testing.T) {
	t.Parallel()
	rcv, err := otlptest.NewHTTP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rcv.Close)
	f := setup(t)
	s := f.startSimulator(t, false, "-dim", "8")
	otel := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + rcv.Endpoint, "OTEL_METRIC_EXPORT_INTERVAL=200"}
	w := f.startWorker(t, append(otel,
		"OPENAI_BASE_URL="+s.url+"/v1", "OPENAI_API_KEY=sk-e2e-test", "OPENAI_EMBEDDING_MODEL=e2e-model",
		"OLLAMA_HOST=http://"+proctest.FreeAddr(t))...)
	in := f.writeJSONL(t, "docs.jsonl", lines(corpus("doc", 12))...)
	res := proctest.Exec(t, time.Minute, nil, bin["enqueue"], proctest.Environ(append(otel, "REDIS_URL="+f.redis.URL())...),
		"embed", "--file", in, "--batch-size", "4", "--wait", "--out", f.path("out.jsonl"))
	if res.Code != 0 {
		t.Fatalf("enqueue: %d\n%s", res.Code, res.Stderr)
	}
	w.Signal(t, syscall.SIGTERM) // flushes what is buffered
	w.Wait(t, 30*time.Second)

	_, port, _ := strings.Cut(strings.TrimPrefix(s.url, "http://"), ":")
	server := []string{"server.address=127.0.0.1", "server.port=" + port, "url.scheme=http"}
	want := map[string][]string{
		"http.client.request.duration":   append([]string{"http.request.method=POST", "http.response.status_code=200", "gen_ai.provider.name=openai"}, server...),
		"http.client.open_connections":   append([]string{"http.connection.state=idle", "gen_ai.provider.name=openai"}, server...),
		"messaging.process.duration":     {"messaging.system=asynq", "messaging.operation.name=process", "messaging.destination.name=embeddings"},
		"messaging.client.sent.messages": {"messaging.system=asynq", "messaging.operation.name=send", "messaging.destination.name=embeddings"},
	}
	found := map[string]bool{}
	var names []string
	for _, m := range rcv.Metrics() {
		names = append(names, m.Name)
		attrs, ok := want[m.Name]
		if !ok {
			continue
		}
		for _, set := range pointAttrs(m) {
			all := true
			for _, a := range attrs {
				all = all && slices.Contains(set, a)
			}
			found[m.Name] = found[m.Name] || all
		}
	}
	for name, attrs := range want {
		if !found[name] {
			t.Errorf("no %s point with %v among the received metrics (%v)", name, attrs, slices.Compact(slices.Sorted(slices.Values(names))))
		}
	}

	var producers int
	for _, sp := range rcv.Spans() {
		if v, _ := sp.ResourceAttr("service.version"); v != version.Get().Version {
			t.Errorf("span %q from %s: service.version %q, want %q", sp.Name, sp.Service, v, version.Get().Version)
		}
		if id, _ := sp.ResourceAttr("service.instance.id"); len(id) != 36 {
			t.Errorf("span %q from %s: service.instance.id %q, want a UUID", sp.Name, sp.Service, id)
		}
		if sp.Service == "llmq-enqueue" && sp.Name == "send embeddings" {
			producers++
		}
	}
	if producers == 0 {
		t.Error("no send embeddings span from llmq-enqueue")
	}
}
