// Package instrument holds what every llmq component does alike to report
// to OpenTelemetry: find its tracer and meter, on the providers it was
// given or on the global ones, and register gauges read at collection.
package instrument

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// Meter returns mp's meter of the instrumentation scope, with the schema
// URL of the semantic conventions llmq follows; a nil mp means the global
// provider, as in OpenTelemetry's own instrumentation libraries.
func Meter(mp metric.MeterProvider, scope string) metric.Meter {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	return mp.Meter(scope, metric.WithSchemaURL(semconv.SchemaURL))
}

// Tracer returns tp's tracer of the scope, as Meter does for meters.
func Tracer(tp trace.TracerProvider, scope string) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(scope, trace.WithSchemaURL(semconv.SchemaURL))
}

// A Gauge is an int64 gauge whose value Read returns when the meter
// provider collects.
type Gauge struct {
	Name, Unit, Description string
	Read                    func() int64
}

// ProviderGauges registers gauges on meter, each observed in one
// callback with the attribute gen_ai.provider.name set to provider.
func ProviderGauges(meter metric.Meter, provider string, gauges ...Gauge) error {
	insts := make([]metric.Int64ObservableGauge, len(gauges))
	obs := make([]metric.Observable, len(gauges))
	for i, g := range gauges {
		inst, err := meter.Int64ObservableGauge(g.Name, metric.WithUnit(g.Unit), metric.WithDescription(g.Description))
		if err != nil {
			return fmt.Errorf("gauge %s: %w", g.Name, err)
		}
		insts[i], obs[i] = inst, inst
	}
	attrs := metric.WithAttributeSet(attribute.NewSet(semconv.GenAIProviderNameKey.String(provider)))
	_, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for i, g := range gauges {
			o.ObserveInt64(insts[i], g.Read(), attrs)
		}
		return nil
	}, obs...)
	if err != nil {
		return fmt.Errorf("gauges: %w", err)
	}
	return nil
}
