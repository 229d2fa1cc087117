package config

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// logVars and telemetryVars are the variables, with their defaults, of
// the Log and Telemetry parts, which end the commands' lists.
var (
	logVars = [][2]string{
		{"LOG_LEVEL", "info"},
		{"LOG_FORMAT", "text"},
	}
	telemetryVars = [][2]string{
		{"OTEL_SERVICE_NAME", "(unset)"},
		{"OTEL_TRACES_EXPORTER", "(unset)"},
		{"OTEL_METRICS_EXPORTER", "(unset)"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "(unset)"},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "(unset)"},
		{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "(unset)"},
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"},
		{"OTEL_TRACES_SAMPLER", "parentbased_always_on"},
		{"OTEL_TRACES_SAMPLER_ARG", "(unset)"},
	}
)

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		cfg  any
		want [][2]string // variable, default
	}{
		{
			"worker", WorkerEnv{}, slices.Concat([][2]string{
				{"REDIS_URL", "redis://127.0.0.1:6379/0"},
				{"REDIS_PASSWORD", "(secret)"},
				{"OPENAI_BASE_URL", "https://api.openai.com/v1"},
				{"OPENAI_API_KEY", "(secret)"},
				{"OPENAI_EMBEDDING_MODEL", "text-embedding-3-small"},
				{"OPENAI_CHAT_MODEL", "gpt-4o-mini"},
				{"OPENAI_MAX_CONNS", "100"},
				{"OPENAI_MAX_IDLE_CONNS", "20"},
				{"OPENAI_TIMEOUT", "30s"},
				{"OPENAI_GENERATION_TIMEOUT", "10m"},
				{"OPENAI_RPM", "0"},
				{"OPENAI_TPM", "0"},
				{"OLLAMA_HOST", "http://127.0.0.1:11434"},
				{"OLLAMA_MODEL", "llama3.2"},
				{"OLLAMA_EMBEDDING_MODEL", "nomic-embed-text"},
				{"OLLAMA_MAX_CONNS", "50"},
				{"OLLAMA_MAX_IDLE_CONNS", "10"},
				{"OLLAMA_TIMEOUT", "120s"},
				{"OLLAMA_RPM", "0"},
				{"OLLAMA_TPM", "0"},
				{"GENERATION_PROVIDER", "openai"},
				{"WORKER_CONCURRENCY", "50"},
				{"WORKER_QUEUES", "embeddings=6,generation=3"},
				{"WORKER_QUEUE_CONCURRENCY", "(unset)"},
				{"SHUTDOWN_TIMEOUT", "25s"},
				{"WORKER_POLL_INTERVAL", "200ms"},
				{"HTTP_ADDR", ":8080"},
				{"WORKER_VECTOR_BUDGET_MB", "8"},
				{"GROUP_MAX_SIZE", "1024"},
				{"GROUP_MAX_DELAY", "2s"},
				{"GROUP_GRACE_PERIOD", "1s"},
				{"BREAKER_FAILURES", "5"},
				{"BREAKER_MIN_COOLDOWN", "2s"},
				{"BREAKER_MAX_COOLDOWN", "1m"},
				{"PROVIDER_MIN_INFLIGHT", "1"},
				{"PROVIDER_MAX_WAIT", "1s"},
				{"DEFERRAL_PATIENCE", "30m"},
				{"REDIS_SETTLE_WAIT", "20s"},
			}, logVars, telemetryVars),
		},
		{
			"enqueue pointer", &EnqueueEnv{}, slices.Concat([][2]string{
				{"REDIS_URL", "redis://127.0.0.1:6379/0"},
				{"REDIS_PASSWORD", "(secret)"},
				{"RESULT_RETENTION", "24h"},
				{"GENERATION_PROVIDER", "openai"},
			}, logVars, telemetryVars),
		},
		{
			"dashboard", DashboardEnv{}, slices.Concat([][2]string{
				{"REDIS_URL", "redis://127.0.0.1:6379/0"},
				{"REDIS_PASSWORD", "(secret)"},
				{"DASHBOARD_ADDR", ":8081"},
				{"DASHBOARD_ROOT_PATH", "/"},
				{"DASHBOARD_READONLY", "true"},
				{"DASHBOARD_USER", "llmq"},
				{"DASHBOARD_PASSWORD", "(secret)"},
				{"DASHBOARD_TLS_CERT_FILE", "(unset)"},
				{"DASHBOARD_TLS_KEY_FILE", "(unset)"},
			}, logVars),
		},
		{"part", Results{}, [][2]string{{"RESULT_RETENTION", "24h"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			Usage(&buf, tt.cfg)
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("Usage wrote %d lines, want %d:\n%s", len(lines), len(tt.want), buf.String())
			}
			descCol := -1
			for i, w := range tt.want {
				fields := strings.Fields(lines[i])
				if len(fields) < 3 || fields[0] != w[0] || fields[1] != w[1] {
					t.Errorf("line %d = %q, want %s with default %s and a description", i, lines[i], w[0], w[1])
					continue
				}
				// Descriptions start in the same column on every line.
				col := strings.Index(lines[i], " "+fields[2]) + 1
				if descCol == -1 {
					descCol = col
				} else if col != descCol {
					t.Errorf("line %d: description at column %d, want %d:\n%s", i, col, descCol, buf.String())
				}
			}
		})
	}
}

func TestUsageHidesValues(t *testing.T) {
	cfg, err := LoadFrom[WorkerEnv](fullEnv())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	Usage(&buf, cfg)
	out := buf.String()
	for _, v := range []string{testAPIKey, testRedisPassword, "llm-gateway.internal"} {
		if strings.Contains(out, v) {
			t.Errorf("Usage printed the value %q:\n%s", v, out)
		}
	}
	if !regexp.MustCompile(`(?m)^\s*OPENAI_API_KEY\s+\(secret\)\s+\S`).MatchString(out) {
		t.Errorf("OPENAI_API_KEY not shown as (secret):\n%s", out)
	}
}

func TestUsageNotStruct(t *testing.T) {
	for _, cfg := range []any{nil, 3, new(string)} {
		var buf bytes.Buffer
		Usage(&buf, cfg)
		if buf.Len() != 0 {
			t.Errorf("Usage(%v) wrote %q", cfg, buf.String())
		}
	}
}
