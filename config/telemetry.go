package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Telemetry says where traces and metrics go. Its variables are the
// standard OpenTelemetry ones: the OpenTelemetry SDK reads them, and the
// others of its family (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, ...), from the environment itself. The
// ones here are also read by llmq, to decide what to export, to check them
// at start and to list them in --help.
//
// With none of them set nothing is exported: unlike the SDK's own default,
// an unset OTEL_TRACES_EXPORTER means "none" unless an OTLP endpoint is set.
// The worker serves its metrics at /metrics on HTTP_ADDR in any case.
type Telemetry struct {
	// ServiceName names the process in traces and metrics. Default: the
	// binary's, llmq-worker or llmq-enqueue.
	ServiceName string `env:"OTEL_SERVICE_NAME" envDefault:"" help:"service name in traces and metrics (unset: llmq-worker or llmq-enqueue)"`
	// TracesExporter is otlp, console (JSON on standard error) or none.
	// Unset means otlp when an OTLP endpoint is set, none otherwise.
	TracesExporter string `env:"OTEL_TRACES_EXPORTER" envDefault:"" help:"otlp, console (JSON on stderr) or none (unset: otlp if an OTLP endpoint is set)"`
	// MetricsExporter is otlp, console, prometheus or none. Unset means otlp
	// when an OTLP endpoint is set, none otherwise. prometheus means the
	// worker's /metrics alone, which is served whatever this says.
	MetricsExporter string `env:"OTEL_METRICS_EXPORTER" envDefault:"" help:"otlp, console (JSON on stderr), prometheus or none (unset: otlp if an OTLP endpoint is set)"`
	// Endpoint is the OTLP receiver's base URL, such as
	// http://collector:4318 (http/protobuf) or http://collector:4317 (grpc).
	Endpoint string `env:"OTEL_EXPORTER_OTLP_ENDPOINT" envDefault:"" help:"OTLP receiver URL, e.g. http://collector:4318 (port 4317 for grpc)"`
	// TracesEndpoint and MetricsEndpoint override Endpoint for one signal
	// (full URLs: for http/protobuf, including /v1/traces or /v1/metrics).
	TracesEndpoint  string `env:"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" envDefault:"" help:"OTLP receiver URL for traces alone"`
	MetricsEndpoint string `env:"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" envDefault:"" help:"OTLP receiver URL for metrics alone"`
	// Protocol is the OTLP transport: http/protobuf or grpc. Default
	// http/protobuf.
	Protocol string `env:"OTEL_EXPORTER_OTLP_PROTOCOL" envDefault:"http/protobuf" help:"OTLP transport: http/protobuf or grpc"`
	// Sampler chooses which traces are recorded: always_on, always_off,
	// traceidratio, or parentbased_ followed by one of these. Default
	// parentbased_always_on.
	Sampler string `env:"OTEL_TRACES_SAMPLER" envDefault:"parentbased_always_on" help:"trace sampler: [parentbased_]always_on, always_off or traceidratio"`
	// SamplerArg is the ratio, from 0 to 1, of the traceidratio samplers.
	// Default 1.
	SamplerArg string `env:"OTEL_TRACES_SAMPLER_ARG" envDefault:"" help:"ratio of traces kept by the traceidratio samplers, 0 to 1 (unset: 1)"`
}

// TracesEnabled reports whether spans are exported: OTEL_TRACES_EXPORTER
// names an exporter other than none, or is unset while an OTLP endpoint is
// set.
func (c Telemetry) TracesEnabled() bool {
	return enabled(c.TracesExporter, c.Endpoint != "" || c.TracesEndpoint != "")
}

// MetricsExportEnabled reports whether metrics are pushed by an exporter
// (otlp or console), besides being served at /metrics.
func (c Telemetry) MetricsExportEnabled() bool {
	if strings.TrimSpace(c.MetricsExporter) == "prometheus" {
		return false
	}
	return enabled(c.MetricsExporter, c.Endpoint != "" || c.MetricsEndpoint != "")
}

func enabled(exporter string, endpoint bool) bool {
	switch strings.TrimSpace(exporter) {
	case "":
		return endpoint
	case "none":
		return false
	}
	return true
}

// Validate reports the first unusable field as an *Error.
func (c Telemetry) Validate() error {
	return firstError(
		checkOneOf("OTEL_TRACES_EXPORTER", c.TracesExporter, "", "otlp", "console", "none"),
		checkOneOf("OTEL_METRICS_EXPORTER", c.MetricsExporter, "", "otlp", "console", "prometheus", "none"),
		checkOptionalURL("OTEL_EXPORTER_OTLP_ENDPOINT", c.Endpoint),
		checkOptionalURL("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", c.TracesEndpoint),
		checkOptionalURL("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", c.MetricsEndpoint),
		checkOneOf("OTEL_EXPORTER_OTLP_PROTOCOL", c.Protocol, "http/protobuf", "grpc"),
		checkOneOf("OTEL_TRACES_SAMPLER", c.Sampler, "always_on", "always_off", "traceidratio",
			"parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"),
		checkRatio("OTEL_TRACES_SAMPLER_ARG", c.SamplerArg),
	)
}

func checkOneOf(name, value string, allowed ...string) error {
	for _, a := range allowed {
		if value == a {
			return nil
		}
	}
	shown := make([]string, 0, len(allowed))
	for _, a := range allowed {
		if a != "" {
			shown = append(shown, a)
		}
	}
	return errorf(name, fmt.Sprintf("must be %s (got %q)", orList(shown), value))
}

// orList renders ["a", "b", "c"] as "a, b or c".
func orList(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

func checkOptionalURL(name, raw string) error {
	if raw == "" {
		return nil
	}
	return checkHTTPURL(name, raw)
}

func checkRatio(name, raw string) error {
	if raw == "" {
		return nil
	}
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil || !(f >= 0 && f <= 1) {
		return errorf(name, fmt.Sprintf("must be a number from 0 to 1 (got %q)", raw))
	}
	return nil
}
