package clients

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
)

// ScopeName is the instrumentation scope of the metrics and spans that
// this package and the provider clients report.
const ScopeName = "github.com/llmq/llmq/clients"

// ReusedKey is the attribute that splits llmq.http.client.requests into
// requests that rode a connection which had carried one before (true) and
// requests that were the first on their connection (false).
const ReusedKey = attribute.Key("llmq.connection.reused")

// observe reports stats as metrics of the provider's pool, read from the
// counters whenever the meter provider collects:
//
//	llmq.http.client.connections.dialed  counter        connections the dialer opened
//	llmq.http.client.requests            counter        requests sent, by llmq.connection.reused
//	http.client.open_connections         up-down count  open connections, by http.connection.state (active, idle)
//
// each with gen_ai.provider.name set to provider.
func observe(mp metric.MeterProvider, provider string, stats *Stats) error {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
	dialed, err := meter.Int64ObservableCounter("llmq.http.client.connections.dialed",
		metric.WithUnit("{connection}"),
		metric.WithDescription("TCP connections opened by the pooled HTTP client's dialer."))
	if err != nil {
		return fmt.Errorf("pool metrics: %w", err)
	}
	requests, err := meter.Int64ObservableCounter("llmq.http.client.requests",
		metric.WithUnit("{request}"),
		metric.WithDescription("HTTP requests sent by the pooled client, by whether their connection had carried a request before."))
	if err != nil {
		return fmt.Errorf("pool metrics: %w", err)
	}
	open, err := meter.Int64ObservableUpDownCounter("http.client.open_connections",
		metric.WithUnit("{connection}"),
		metric.WithDescription("Open connections of the pooled HTTP client, counted at its dialer: active while a request uses them, else idle."))
	if err != nil {
		return fmt.Errorf("pool metrics: %w", err)
	}
	p := semconv.GenAIProviderNameKey.String(provider)
	var (
		base       = metric.WithAttributeSet(attribute.NewSet(p))
		reused     = metric.WithAttributeSet(attribute.NewSet(p, ReusedKey.Bool(true)))
		firstOnNew = metric.WithAttributeSet(attribute.NewSet(p, ReusedKey.Bool(false)))
		active     = metric.WithAttributeSet(attribute.NewSet(p, semconv.HTTPConnectionStateActive))
		idle       = metric.WithAttributeSet(attribute.NewSet(p, semconv.HTTPConnectionStateIdle))
	)
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := stats.Snapshot()
		o.ObserveInt64(dialed, s.Dials, base)
		o.ObserveInt64(requests, s.Reused, reused)
		o.ObserveInt64(requests, s.Requests-s.Reused, firstOnNew)
		// Open and Active are read one after the other: keep idle >= 0.
		a := min(s.Active, s.Open)
		o.ObserveInt64(open, a, active)
		o.ObserveInt64(open, s.Open-a, idle)
		return nil
	}, dialed, requests, open)
	if err != nil {
		return fmt.Errorf("pool metrics: %w", err)
	}
	return nil
}
