package clients

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"

	"github.com/llmq/llmq/internal/instrument"
)

// ScopeName is the instrumentation scope of the metrics and spans that
// this package and the provider clients report.
const ScopeName = "github.com/llmq/llmq/clients"

// ReusedKey is the attribute that splits llmq.http.client.requests into
// requests that rode a connection which had carried one before (true) and
// requests that were the first on their connection (false).
const ReusedKey = attribute.Key("llmq.connection.reused")

// requestDurationBuckets are the HTTP conventions' advice for
// http.client.request.duration, extended to 5 min for generation
// requests that answer only when their text is complete.
var requestDurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60, 120, 300}

// poolMetrics is what the metrics of one pool need beside Stats' totals:
// connection counts by endpoint, and the request duration histogram.
type poolMetrics struct {
	provider attribute.KeyValue
	duration metric.Float64Histogram // nil until observe

	mu        sync.Mutex
	endpoints map[endpoint]*connCounts
}

// counts returns the connection counts of ep, creating them.
func (m *poolMetrics) counts(ep endpoint) *connCounts {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.endpoints[ep]
	if c == nil {
		if m.endpoints == nil {
			m.endpoints = make(map[endpoint]*connCounts)
		}
		c = new(connCounts)
		m.endpoints[ep] = c
	}
	return c
}

// snapshot returns the endpoints and their counts.
func (m *poolMetrics) snapshot() map[endpoint]*connCounts {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[endpoint]*connCounts, len(m.endpoints))
	for ep, c := range m.endpoints {
		out[ep] = c
	}
	return out
}

func (e endpoint) attrs(extra ...attribute.KeyValue) []attribute.KeyValue {
	kv := append(extra, semconv.ServerAddress(e.host), semconv.ServerPort(e.port))
	if e.scheme != "" {
		kv = append(kv, semconv.URLScheme(e.scheme))
	}
	return kv
}

// recordDuration records one request, from the start of RoundTrip to the
// end of its response body (or its failure), with the HTTP conventions'
// attributes: http.request.method, server.address, server.port,
// url.scheme, http.response.status_code when a response came, and
// error.type for a failure (the status code from 400 on, "timeout",
// "canceled", or the error's type).
func (m *poolMetrics) recordDuration(ctx context.Context, start time.Time, method string, ep endpoint, status int, err error) {
	if m.duration == nil {
		return
	}
	kv := ep.attrs(m.provider, httpMethod(method))
	if status > 0 {
		kv = append(kv, semconv.HTTPResponseStatusCode(status))
	}
	switch {
	case err != nil:
		kv = append(kv, errorType(err))
	case status >= 400:
		kv = append(kv, semconv.ErrorTypeKey.String(strconv.Itoa(status)))
	}
	// The request's own context may be cancelled by now; a measurement
	// needs only its span for an exemplar.
	m.duration.Record(context.WithoutCancel(ctx), time.Since(start).Seconds(), metric.WithAttributes(kv...))
}

// httpMethod is http.request.method: the known methods as they are, any
// other as _OTHER, as the conventions ask.
func httpMethod(m string) attribute.KeyValue {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead,
		http.MethodPatch, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return semconv.HTTPRequestMethodKey.String(m)
	}
	return semconv.HTTPRequestMethodKey.String("_OTHER")
}

func errorType(err error) attribute.KeyValue {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return semconv.ErrorTypeKey.String("timeout")
	case errors.Is(err, context.Canceled):
		return semconv.ErrorTypeKey.String("canceled")
	}
	return semconv.ErrorType(err)
}

// observe reports stats as metrics of the provider's pool, read from the
// counters whenever the meter provider collects:
//
//	llmq.http.client.connections.dialed  counter        connections the dialer opened
//	llmq.http.client.requests            counter        requests sent, by llmq.connection.reused
//	http.client.open_connections         up-down count  open connections, by http.connection.state (active, idle),
//	                                                    server.address, server.port and url.scheme
//	http.client.request.duration         histogram      seconds from sending a request to the end of its
//	                                                    response body, by http.request.method, server.address,
//	                                                    server.port, url.scheme, http.response.status_code, error.type
//
// each with gen_ai.provider.name set to provider.
func observe(mp metric.MeterProvider, provider string, stats *Stats) error {
	meter := instrument.Meter(mp, ScopeName)
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
	duration, err := meter.Float64Histogram("http.client.request.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP client requests, to the end of the response body."),
		metric.WithExplicitBucketBoundaries(requestDurationBuckets...))
	if err != nil {
		return fmt.Errorf("pool metrics: %w", err)
	}
	p := semconv.GenAIProviderNameKey.String(provider)
	stats.pool.provider = p
	stats.pool.duration = duration
	var (
		base       = metric.WithAttributeSet(attribute.NewSet(p))
		reused     = metric.WithAttributeSet(attribute.NewSet(p, ReusedKey.Bool(true)))
		firstOnNew = metric.WithAttributeSet(attribute.NewSet(p, ReusedKey.Bool(false)))
	)
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := stats.Snapshot()
		o.ObserveInt64(dialed, s.Dials, base)
		o.ObserveInt64(requests, s.Reused, reused)
		o.ObserveInt64(requests, s.Requests-s.Reused, firstOnNew)
		for ep, c := range stats.pool.snapshot() {
			// Open and active are read one after the other: keep idle >= 0.
			n := c.open.Load()
			a := min(c.active.Load(), n)
			o.ObserveInt64(open, a, metric.WithAttributes(ep.attrs(p, semconv.HTTPConnectionStateActive)...))
			o.ObserveInt64(open, n-a, metric.WithAttributes(ep.attrs(p, semconv.HTTPConnectionStateIdle)...))
		}
		return nil
	}, dialed, requests, open)
	if err != nil {
		return fmt.Errorf("pool metrics: %w", err)
	}
	return nil
}
