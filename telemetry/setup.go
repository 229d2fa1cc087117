package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	promexp "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/llmq/llmq/config"
	"github.com/llmq/llmq/internal/instrument"
	"github.com/llmq/llmq/internal/version"
)

// Providers are the OpenTelemetry providers a component reports to. A nil
// field means the global one (otel.GetTracerProvider and friends), as in
// OpenTelemetry's own instrumentation libraries.
type Providers struct {
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator
}

func (p Providers) tracer(name string) trace.Tracer { return instrument.Tracer(p.TracerProvider, name) }

func (p Providers) meter(name string) metric.Meter { return instrument.Meter(p.MeterProvider, name) }

func (p Providers) propagator() propagation.TextMapPropagator {
	if p.Propagator == nil {
		return otel.GetTextMapPropagator()
	}
	return p.Propagator
}

// Options are what a binary tells Setup about itself.
type Options struct {
	// ServiceName is service.name when OTEL_SERVICE_NAME is unset, such as
	// "llmq-worker".
	ServiceName string
	// Prometheus collects metrics for MetricsHandler (the worker's
	// /metrics), whatever the exporter variables say.
	Prometheus bool
	// Logger receives the errors of exporters (an unreachable collector,
	// say). Default: slog.Default().
	Logger *slog.Logger
	// Console receives what the console exporters write
	// (OTEL_TRACES_EXPORTER=console, OTEL_METRICS_EXPORTER=console).
	// Default: os.Stderr, never standard output, which carries a command's
	// results (enqueue prints the job ID there).
	Console io.Writer
}

// Telemetry is a process's tracing and metrics set-up. Its Providers are
// to be passed to the components that report (provider clients, task
// middleware, producer).
type Telemetry struct {
	Providers

	metrics   http.Handler
	metricsOn bool
	shutdown  []func(context.Context) error
}

// Setup builds the tracer and meter providers from cfg, the OTEL_*
// variables of the environment (config.Telemetry). It installs the W3C
// trace-context and baggage propagator as the global one, and has the
// OpenTelemetry SDK's own errors (an unreachable collector, say) logged to
// opts.Logger; it installs nothing else.
//
// Spans are exported only when cfg.TracesEnabled: OTEL_TRACES_EXPORTER
// names an exporter, or an OTLP endpoint is set. Otherwise the tracer
// provider is a no-op one: spans cost nothing and only trace context is
// passed on. Metrics go to an OTLP (or console) exporter when
// cfg.MetricsExportEnabled, and to MetricsHandler when opts.Prometheus;
// with neither, the meter provider is a no-op one. The exporters read the
// details (endpoint, protocol, headers, timeouts) from the environment
// themselves.
//
// Call Shutdown before the process exits, so that what is buffered is
// sent.
func Setup(ctx context.Context, cfg config.Telemetry, opts Options) (*Telemetry, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("telemetry", slog.String("error", err.Error()))
	}))
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	otel.SetTextMapPropagator(prop)
	t := &Telemetry{Providers: Providers{Propagator: prop}}

	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(opts.ServiceName),
			semconv.ServiceVersion(version.Get().Version),
			semconv.ServiceInstanceID(newInstanceID())),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES override the above
		resource.WithTelemetrySDK(),
		resource.WithHost(),
	)
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}

	console := opts.Console
	if console == nil {
		console = os.Stderr
	}
	if cfg.TracesEnabled() {
		exp, err := spanExporter(ctx, cfg, console)
		if err != nil {
			return nil, fmt.Errorf("trace exporter: %w", err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		t.TracerProvider = tp
		t.shutdown = append(t.shutdown, tp.Shutdown)
	} else {
		t.TracerProvider = tracenoop.NewTracerProvider()
	}

	var readers []sdkmetric.Option
	if opts.Prometheus {
		reg := prometheus.NewRegistry()
		// The Go runtime (go_*: goroutines, heap, GC) and the process
		// (process_*: CPU, resident memory, open file descriptors), so that
		// leaks show.
		if err := reg.Register(collectors.NewGoCollector()); err != nil {
			return nil, t.fail(ctx, fmt.Errorf("go metrics: %w", err))
		}
		if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
			return nil, t.fail(ctx, fmt.Errorf("process metrics: %w", err))
		}
		exp, err := promexp.New(promexp.WithRegisterer(reg), promexp.WithoutScopeInfo())
		if err != nil {
			return nil, t.fail(ctx, fmt.Errorf("prometheus exporter: %w", err))
		}
		readers = append(readers, sdkmetric.WithReader(exp))
		t.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
			ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
			// A scraper that accepts OpenMetrics gets it, with the
			// exemplars (trace and span IDs of sampled spans) that the
			// classic text format cannot carry.
			EnableOpenMetrics: true,
		})
	}
	if cfg.MetricsExportEnabled() {
		r, err := metricReader(ctx, cfg, console)
		if err != nil {
			return nil, t.fail(ctx, fmt.Errorf("metric exporter: %w", err))
		}
		readers = append(readers, sdkmetric.WithReader(r))
	}
	if len(readers) > 0 {
		mp := sdkmetric.NewMeterProvider(append(readers, sdkmetric.WithResource(res))...)
		t.MeterProvider = mp
		t.metricsOn = true
		t.shutdown = append(t.shutdown, mp.Shutdown)
	} else {
		t.MeterProvider = metricnoop.NewMeterProvider()
	}
	return t, nil
}

// spanExporter is autoexport's exporter for OTEL_TRACES_EXPORTER, except
// that "console" writes to console: autoexport's writes to standard output.
func spanExporter(ctx context.Context, cfg config.Telemetry, console io.Writer) (sdktrace.SpanExporter, error) {
	if strings.TrimSpace(cfg.TracesExporter) == "console" {
		return stdouttrace.New(stdouttrace.WithWriter(console))
	}
	return autoexport.NewSpanExporter(ctx)
}

// metricReader is autoexport's reader for OTEL_METRICS_EXPORTER, except
// that "console" writes to console.
func metricReader(ctx context.Context, cfg config.Telemetry, console io.Writer) (sdkmetric.Reader, error) {
	if strings.TrimSpace(cfg.MetricsExporter) == "console" {
		exp, err := stdoutmetric.New(stdoutmetric.WithWriter(console))
		if err != nil {
			return nil, err
		}
		return sdkmetric.NewPeriodicReader(exp), nil
	}
	return autoexport.NewMetricReader(ctx)
}

// newInstanceID returns a random UUID (version 4) for service.instance.id:
// unique to this process, as the conventions ask. In Kubernetes the chart
// sets service.instance.id to the pod's name through
// OTEL_RESOURCE_ATTRIBUTES instead.
func newInstanceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// fail shuts down what Setup built before err.
func (t *Telemetry) fail(ctx context.Context, err error) error {
	return errors.Join(err, t.Shutdown(ctx))
}

// MetricsEnabled reports whether metrics are collected at all: for
// MetricsHandler, an exporter, or both.
func (t *Telemetry) MetricsEnabled() bool { return t.metricsOn }

// MetricsHandler serves the metrics in the Prometheus text format, or in
// OpenMetrics with exemplars when the request's Accept header asks for
// application/openmetrics-text; with them the Go runtime's (go_*) and the
// process's (process_*) metrics. Nil unless Setup was given
// Options.Prometheus.
func (t *Telemetry) MetricsHandler() http.Handler { return t.metrics }

// Shutdown exports what is still buffered and stops the exporters; ctx
// bounds the wait.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for i := len(t.shutdown) - 1; i >= 0; i-- {
		errs = append(errs, t.shutdown[i](ctx))
	}
	t.shutdown = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("telemetry shutdown: %w", err)
	}
	return nil
}
