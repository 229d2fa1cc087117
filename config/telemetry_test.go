package config

import "testing"

func TestTelemetryEnabled(t *testing.T) {
	tests := []struct {
		name              string
		env               map[string]string
		traces, metricsEx bool
	}{
		{"nothing set", nil, false, false},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, true, true},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, true, false},
		{"metrics endpoint", map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://c:4318/v1/metrics"}, false, true},
		{"otlp without endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "otlp"}, true, true},
		{"console", map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "console"}, true, true},
		{"none beats endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}, false, false},
		{"prometheus is /metrics", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_METRICS_EXPORTER": "prometheus"}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := LoadFrom[Telemetry](tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.TracesEnabled(); got != tt.traces {
				t.Errorf("TracesEnabled() = %v, want %v", got, tt.traces)
			}
			if got := cfg.MetricsExportEnabled(); got != tt.metricsEx {
				t.Errorf("MetricsExportEnabled() = %v, want %v", got, tt.metricsEx)
			}
		})
	}
}
