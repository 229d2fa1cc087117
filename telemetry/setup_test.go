package telemetry_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/llmq/llmq/config"
	"github.com/llmq/llmq/internal/otlptest"
	"github.com/llmq/llmq/internal/version"
	"github.com/llmq/llmq/telemetry"
)

// otelVars are the variables Setup's tests set; each test clears them all
// first, so that the environment the tests run in cannot leak in.
var otelVars = []string{
	"OTEL_SERVICE_NAME", "OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
	"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_RESOURCE_ATTRIBUTES",
}

// setEnv sets the OTEL_* environment to vars alone and returns the
// configuration read from it.
func setEnv(t *testing.T, vars map[string]string) config.Telemetry {
	t.Helper()
	for _, v := range otelVars {
		t.Setenv(v, vars[v])
	}
	cfg, err := config.Load[config.Telemetry]()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func setup(t *testing.T, cfg config.Telemetry, opts telemetry.Options) *telemetry.Telemetry {
	t.Helper()
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	tel, err := telemetry.Setup(t.Context(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel
}

// TestSetupOTLP exports a span and a counter through Setup's providers to
// a receiver that decodes the OTLP protobuf messages, over both
// protocols, and checks what arrived.
func TestSetupOTLP(t *testing.T) {
	tests := []struct {
		protocol string
		start    func() (*otlptest.Receiver, error)
	}{
		{"http/protobuf", otlptest.NewHTTP},
		{"grpc", otlptest.NewGRPC},
	}
	for _, tt := range tests {
		t.Run(tt.protocol, func(t *testing.T) {
			rcv, err := tt.start()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(rcv.Close)
			cfg := setEnv(t, map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.Endpoint,
				"OTEL_EXPORTER_OTLP_PROTOCOL": tt.protocol,
				"OTEL_SERVICE_NAME":           "llmq-test",
			})
			tel := setup(t, cfg, telemetry.Options{ServiceName: "llmq-worker"})

			_, span := tel.TracerProvider.Tracer("test").Start(t.Context(), "exported span",
				trace.WithSpanKind(trace.SpanKindProducer))
			if !span.IsRecording() {
				t.Fatal("span not recording with an OTLP endpoint set")
			}
			span.End()
			counter, err := tel.MeterProvider.Meter("test").Int64Counter("llmq.test.exported")
			if err != nil {
				t.Fatal(err)
			}
			counter.Add(t.Context(), 3)
			if err := tel.Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}

			spans := rcv.Spans()
			if len(spans) != 1 || spans[0].Name != "exported span" || spans[0].Service != "llmq-test" {
				t.Fatalf("received spans %v, want one \"exported span\" from llmq-test", spans)
			}
			if v, ok := spans[0].ResourceAttr("service.version"); !ok || v != version.Get().Version {
				t.Errorf("service.version = %q, %v; want %q", v, ok, version.Get().Version)
			}
			if id, _ := spans[0].ResourceAttr("service.instance.id"); !uuidV4.MatchString(id) {
				t.Errorf("service.instance.id = %q, want a UUID v4", id)
			}
			var found bool
			for _, m := range rcv.Metrics() {
				if m.Name == "llmq.test.exported" {
					dps := m.GetSum().GetDataPoints()
					found = len(dps) == 1 && dps[0].GetAsInt() == 3
				}
			}
			if !found {
				t.Errorf("llmq.test.exported = 3 not among the received metrics %v", rcv.Metrics())
			}
		})
	}
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestResourceFromEnv checks that OTEL_RESOURCE_ATTRIBUTES overrides the
// instance ID Setup makes up (the chart sets the pod's name).
func TestResourceFromEnv(t *testing.T) {
	rcv, err := otlptest.NewHTTP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rcv.Close)
	cfg := setEnv(t, map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.Endpoint,
		"OTEL_RESOURCE_ATTRIBUTES":    "service.instance.id=llmq-worker-7d9f-abcde,k8s.namespace.name=batch",
	})
	tel := setup(t, cfg, telemetry.Options{ServiceName: "llmq-worker"})
	_, span := tel.TracerProvider.Tracer("test").Start(t.Context(), "s")
	span.End()
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	spans := rcv.Spans()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	for k, want := range map[string]string{"service.name": "llmq-worker", "service.instance.id": "llmq-worker-7d9f-abcde", "k8s.namespace.name": "batch"} {
		if got, _ := spans[0].ResourceAttr(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

// TestSetupDisabled checks that without configuration nothing records,
// and that the trace context still travels.
func TestSetupDisabled(t *testing.T) {
	tel := setup(t, setEnv(t, nil), telemetry.Options{ServiceName: "llmq-enqueue"})
	_, span := tel.TracerProvider.Tracer("test").Start(t.Context(), "not recorded")
	defer span.End()
	if span.IsRecording() {
		t.Error("span recording with nothing configured")
	}
	if tel.MetricsHandler() != nil {
		t.Error("MetricsHandler without Options.Prometheus")
	}
	if !contains(otel.GetTextMapPropagator().Fields(), "traceparent") {
		t.Errorf("global propagator fields %v, want traceparent among them", otel.GetTextMapPropagator().Fields())
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestMetricsHandler scrapes MetricsHandler over HTTP and parses the
// answer as the Prometheus text format.
func TestMetricsHandler(t *testing.T) {
	tel := setup(t, setEnv(t, nil), telemetry.Options{ServiceName: "llmq-worker", Prometheus: true})
	h, err := tel.MeterProvider.Meter("test").Float64Histogram("gen_ai.client.operation.duration", metric.WithUnit("s"))
	if err != nil {
		t.Fatal(err)
	}
	h.Record(t.Context(), 0.25)
	ts := httptest.NewServer(tel.MetricsHandler())
	t.Cleanup(ts.Close)
	resp, err := http.Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	mf, ok := families["gen_ai_client_operation_duration_seconds"]
	if !ok {
		names := make([]string, 0, len(families))
		for n := range families {
			names = append(names, n)
		}
		t.Fatalf("no gen_ai_client_operation_duration_seconds among %s", strings.Join(names, ", "))
	}
	if got := mf.GetMetric()[0].GetHistogram().GetSampleCount(); got != 1 {
		t.Errorf("sample count %d, want 1", got)
	}
}

// TestMetricsHandlerFormats checks the runtime and process metrics in the
// text format, and the exemplar of a measurement made in a sampled span
// when the scraper asks for OpenMetrics.
func TestMetricsHandlerFormats(t *testing.T) {
	tel := setup(t, setEnv(t, nil), telemetry.Options{ServiceName: "llmq-worker", Prometheus: true})
	h, err := tel.MeterProvider.Meter("test").Float64Histogram("llmq.test.duration", metric.WithUnit("s"))
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c},
		SpanID:     trace.SpanID{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31},
		TraceFlags: trace.FlagsSampled,
	})
	h.Record(trace.ContextWithSpanContext(t.Context(), sc), 0.25)
	ts := httptest.NewServer(tel.MetricsHandler())
	t.Cleanup(ts.Close)

	get := func(accept string) (string, string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.URL, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Header.Get("Content-Type"), string(b)
	}
	ct, text := get("")
	if !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("default Content-Type %q", ct)
	}
	for _, want := range []string{"\ngo_goroutines ", "\ngo_memstats_heap_alloc_bytes ", "\nprocess_open_fds ", "\nprocess_resident_memory_bytes "} {
		if !strings.Contains(text, want) {
			t.Errorf("text format lacks %q", strings.TrimSpace(want))
		}
	}
	if strings.Contains(text, "trace_id=") {
		t.Error("text format carries an exemplar")
	}
	ct, om := get("application/openmetrics-text; version=1.0.0; charset=utf-8")
	if !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Fatalf("OpenMetrics asked, Content-Type %q", ct)
	}
	exemplar := regexp.MustCompile(`(?m)^llmq_test_duration_seconds_bucket\{le="5\.0"\} 1 # \{(span_id="b7ad6b7169203331",trace_id="0af7651916cd43dd8448eb211c80319c"|trace_id="0af7651916cd43dd8448eb211c80319c",span_id="b7ad6b7169203331")\} 0\.25 `)
	if !exemplar.MatchString(om) || !strings.HasSuffix(om, "# EOF\n") {
		t.Errorf("OpenMetrics answer lacks the exemplar of the span in the first bucket (le 5), or # EOF:\n%s", grepLines(om, "llmq_test_duration"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
