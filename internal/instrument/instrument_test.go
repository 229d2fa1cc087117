package instrument_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/llmq/llmq/internal/instrument"
)

func TestProviderGauges(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	a, b := int64(3), int64(7)
	err := instrument.ProviderGauges(instrument.Meter(mp, "test"), "openai",
		instrument.Gauge{Name: "test.a", Unit: "{x}", Description: "a", Read: func() int64 { return a }},
		instrument.Gauge{Name: "test.b", Unit: "{x}", Description: "b", Read: func() int64 { return b }})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []map[string]int64{{"test.a": 3, "test.b": 7}, {"test.a": 4, "test.b": 0}} {
		a, b = want["test.a"], want["test.b"]
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, sm := range rm.ScopeMetrics {
			if sm.Scope.Name != "test" {
				t.Errorf("scope %q, want test", sm.Scope.Name)
			}
			for _, m := range sm.Metrics {
				g, ok := m.Data.(metricdata.Gauge[int64])
				if !ok || len(g.DataPoints) != 1 {
					t.Fatalf("%s: %T with %v, want one int64 gauge point", m.Name, m.Data, m.Data)
				}
				p := g.DataPoints[0]
				if v, _ := p.Attributes.Value("gen_ai.provider.name"); v != attribute.StringValue("openai") {
					t.Errorf("%s: gen_ai.provider.name = %v, want openai", m.Name, v)
				}
				got[m.Name] = p.Value
			}
		}
		if len(got) != 2 || got["test.a"] != want["test.a"] || got["test.b"] != want["test.b"] {
			t.Errorf("collected %v, want %v", got, want)
		}
	}
}
