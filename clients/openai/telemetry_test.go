package openai_test

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/openai"
	"github.com/llmq/llmq/simulator"
)

// recorders are in-memory trace and metric providers.
type recorders struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	tp     *sdktrace.TracerProvider
	mp     *sdkmetric.MeterProvider
}

func newRecorders(t *testing.T) *recorders {
	t.Helper()
	r := &recorders{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	r.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	r.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	t.Cleanup(func() {
		_ = r.tp.Shutdown(context.Background())
		_ = r.mp.Shutdown(context.Background())
	})
	return r
}

func attrs(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

// TestEmbedTelemetry checks the span of each provider call: GenAI
// attributes, the status, the protocol, and whether the call rode a new
// connection (with its connect time) or a reused one.
func TestEmbedTelemetry(t *testing.T) {
	const key = "sk-telemetry-marker-7f3a"
	tests := []struct {
		name      string
		tls       bool
		wantProto string
	}{
		{"http/1.1", false, "1.1"},
		{"https http/2", true, "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorders(t)
			f := setup(t, options{
				tls:  tt.tls,
				sim:  simulator.Config{APIKey: key, Dim: 8},
				http: clients.Config{Provider: "openai", MeterProvider: rec.mp},
				cfg:  openai.Config{APIKey: key, TracerProvider: rec.tp, MeterProvider: rec.mp},
			})
			texts := []string{"secret payload one", "secret payload two"}
			for range 3 {
				if _, err := f.client.Embed(t.Context(), clients.EmbedRequest{Input: texts}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := f.client.Embed(t.Context(), clients.EmbedRequest{Input: []string{"sim:status=429 sim:retry_after=0s"}}); err == nil {
				t.Fatal("429: no error")
			}

			spans := rec.spans.Ended()
			if len(spans) != 4 {
				t.Fatalf("%d spans, want 4", len(spans))
			}
			u, _ := url.Parse(f.server.URL)
			for i, s := range spans {
				a := attrs(s.Attributes())
				if s.Name() != "embeddings "+openai.DefaultModel || s.SpanKind() != trace.SpanKindClient {
					t.Errorf("span %d: %q kind %v, want a CLIENT span %q", i, s.Name(), s.SpanKind(), "embeddings "+openai.DefaultModel)
				}
				want := map[attribute.Key]string{
					"gen_ai.operation.name":    "embeddings",
					"gen_ai.provider.name":     "openai",
					"gen_ai.request.model":     openai.DefaultModel,
					"server.address":           u.Hostname(),
					"server.port":              u.Port(),
					"network.protocol.name":    "http",
					"network.protocol.version": tt.wantProto,
					"llmq.connection.reused":   strconv.FormatBool(i > 0),
				}
				if i < 3 {
					want["http.response.status_code"] = "200"
					want["gen_ai.response.model"] = openai.DefaultModel
					want["gen_ai.usage.input_tokens"] = strconv.Itoa(sumTokens(texts))
				} else {
					want["http.response.status_code"] = "429"
					want["error.type"] = "429"
				}
				for k, v := range want {
					if got := a[k].String(); got != v {
						t.Errorf("span %d: %s = %q, want %q", i, k, got, v)
					}
				}
				_, connect := a["llmq.connection.connect.duration"]
				_, handshake := a["llmq.connection.tls.duration"]
				_, idle := a["llmq.connection.idle_time"]
				if first := i == 0; connect != first || handshake != (first && tt.tls) || idle == first {
					t.Errorf("span %d: connect time recorded %v, TLS %v, idle time %v", i, connect, handshake, idle)
				}
				if (s.Status().Code == codes.Error) != (i == 3) {
					t.Errorf("span %d: status %v", i, s.Status())
				}
			}

			var rm metricdata.ResourceMetrics
			if err := rec.reader.Collect(context.Background(), &rm); err != nil {
				t.Fatal(err)
			}
			counts := map[string]uint64{}
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					if h, ok := m.Data.(metricdata.Histogram[float64]); ok {
						for _, dp := range h.DataPoints {
							status, _ := dp.Attributes.Value("http.response.status_code")
							counts[m.Name+" "+status.String()] += dp.Count
						}
					}
					if h, ok := m.Data.(metricdata.Histogram[int64]); ok {
						for _, dp := range h.DataPoints {
							typ, _ := dp.Attributes.Value("gen_ai.token.type")
							counts[m.Name+" "+typ.String()] += dp.Count
						}
					}
				}
			}
			want := map[string]uint64{
				"gen_ai.client.operation.duration 200": 3,
				"gen_ai.client.operation.duration 429": 1,
				"gen_ai.client.token.usage input":      3,
			}
			for k, v := range want {
				if counts[k] != v {
					t.Errorf("%s: %d measurements, want %d (all: %v)", k, counts[k], v, counts)
				}
			}
			assertNoSecret(t, spans, &rm, append([]string{key}, texts...)...)
		})
	}
}

// assertNoSecret fails if any span name, attribute, event or status, or
// any metric attribute, contains one of secrets.
func assertNoSecret(t *testing.T, spans []sdktrace.ReadOnlySpan, rm *metricdata.ResourceMetrics, secrets ...string) {
	t.Helper()
	var texts []string
	for _, s := range spans {
		texts = append(texts, s.Name(), s.Status().Description)
		for _, kv := range s.Attributes() {
			texts = append(texts, kv.Value.String())
		}
		for _, e := range s.Events() {
			texts = append(texts, e.Name)
			for _, kv := range e.Attributes {
				texts = append(texts, kv.Value.String())
			}
		}
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			texts = append(texts, m.Name)
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					for _, kv := range dp.Attributes.ToSlice() {
						texts = append(texts, kv.Value.String())
					}
				}
			case metricdata.Histogram[int64]:
				for _, dp := range d.DataPoints {
					for _, kv := range dp.Attributes.ToSlice() {
						texts = append(texts, kv.Value.String())
					}
				}
			}
		}
	}
	for _, s := range texts {
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Errorf("recorded %q contains %q", s, secret)
			}
		}
	}
}
