package config

import (
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	testAPIKey        = "sk-test-0123456789abcdef"
	testRedisPassword = "hunter2"
)

// fullEnv sets every variable WorkerEnv and EnqueueEnv read, none to its
// default.
func fullEnv() map[string]string {
	return map[string]string{
		"REDIS_URL":                 "redis://app:" + testRedisPassword + "@cache:6380/2",
		"OPENAI_BASE_URL":           "https://llm-gateway.internal/v1",
		"OPENAI_API_KEY":            testAPIKey,
		"OPENAI_EMBEDDING_MODEL":    "text-embedding-3-large",
		"OPENAI_MAX_CONNS":          "64",
		"OPENAI_MAX_IDLE_CONNS":     "32",
		"OPENAI_TIMEOUT":            "45s",
		"OPENAI_CHAT_MODEL":         "gpt-4.1-mini",
		"OPENAI_GENERATION_TIMEOUT": "20m",
		"GENERATION_PROVIDER":       "ollama",
		"WORKER_QUEUE_CONCURRENCY":  "generation=256",
		"OLLAMA_HOST":               "http://gpu-1:11434",
		"OLLAMA_MODEL":              "qwen2.5:7b",
		"OLLAMA_EMBEDDING_MODEL":    "mxbai-embed-large",
		"OLLAMA_MAX_CONNS":          "0",
		"OLLAMA_MAX_IDLE_CONNS":     "8",
		"OLLAMA_TIMEOUT":            "5m",
		"WORKER_CONCURRENCY":        "16",
		"WORKER_QUEUES":             "embeddings=2,generation",
		"SHUTDOWN_TIMEOUT":          "1m",
		"HTTP_ADDR":                 "127.0.0.1:9090",
		"WORKER_VECTOR_BUDGET_MB":   "32",
		"GROUP_MAX_SIZE":            "512",
		"GROUP_MAX_DELAY":           "5s",
		"GROUP_GRACE_PERIOD":        "2s",
		"LOG_LEVEL":                 "DEBUG",
		"LOG_FORMAT":                "json",
		"RESULT_RETENTION":          "72h",
		"OPENAI_RPM":                "3000",
		"OPENAI_TPM":                "1000000",
		"OLLAMA_RPM":                "600",
		"OLLAMA_TPM":                "50000",
		"BREAKER_FAILURES":          "3",
		"BREAKER_MIN_COOLDOWN":      "1s",
		"BREAKER_MAX_COOLDOWN":      "30s",
		"PROVIDER_MIN_INFLIGHT":     "4",
		"PROVIDER_MAX_WAIT":         "500ms",
		"DEFERRAL_PATIENCE":         "10m",
		"REDIS_SETTLE_WAIT":         "15s",

		"OTEL_SERVICE_NAME":                   "embedder",
		"OTEL_TRACES_EXPORTER":                "otlp",
		"OTEL_METRICS_EXPORTER":               "none",
		"OTEL_EXPORTER_OTLP_ENDPOINT":         "http://collector:4317",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":  "http://collector:4318/v1/traces",
		"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://collector:4318/v1/metrics",
		"OTEL_EXPORTER_OTLP_PROTOCOL":         "grpc",
		"OTEL_TRACES_SAMPLER":                 "parentbased_traceidratio",
		"OTEL_TRACES_SAMPLER_ARG":             "0.25",
	}
}

// with returns fullEnv with the given variables replaced.
func with(kv ...string) map[string]string {
	env := fullEnv()
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

func TestLoadFromDefaults(t *testing.T) {
	got, err := LoadFrom[WorkerEnv](nil)
	if err != nil {
		t.Fatal(err)
	}
	want := WorkerEnv{
		Redis: Redis{URL: "redis://127.0.0.1:6379/0"},
		OpenAI: OpenAI{
			BaseURL: "https://api.openai.com/v1", EmbeddingModel: "text-embedding-3-small", ChatModel: "gpt-4o-mini",
			MaxConns: 100, MaxIdleConns: 20, Timeout: 30 * time.Second, GenerationTimeout: 10 * time.Minute,
		},
		Ollama: Ollama{
			Host: "http://127.0.0.1:11434", Model: "llama3.2", EmbeddingModel: "nomic-embed-text",
			MaxConns: 50, MaxIdleConns: 10, Timeout: 120 * time.Second,
		},
		Generation: Generation{Provider: "openai"},
		Worker:     Worker{Concurrency: 50, Queues: "embeddings=6,generation=3", ShutdownTimeout: 25 * time.Second, PollInterval: 200 * time.Millisecond, HTTPAddr: ":8080", VectorBudgetMB: 8},
		Group:      Group{MaxSize: 1024, MaxDelay: 2 * time.Second, GracePeriod: time.Second},
		Resilience: Resilience{BreakerFailures: 5, BreakerMinCooldown: 2 * time.Second, BreakerMaxCooldown: time.Minute,
			MinInflight: 1, MaxWait: time.Second, DeferralPatience: 30 * time.Minute, RedisSettleWait: 20 * time.Second},
		Log:       Log{Level: "info", Format: "text"},
		Telemetry: Telemetry{Protocol: "http/protobuf", Sampler: "parentbased_always_on"},
	}
	if got != want {
		t.Errorf("LoadFrom(nil)\n got %+v\nwant %+v", got, want)
	}

	enq, err := LoadFrom[EnqueueEnv](map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (EnqueueEnv{Redis: want.Redis, Results: Results{Retention: 24 * time.Hour}, Generation: want.Generation, Log: want.Log, Telemetry: want.Telemetry}); enq != want {
		t.Errorf("LoadFrom[EnqueueEnv]\n got %+v\nwant %+v", enq, want)
	}
}

func TestLoadFromFull(t *testing.T) {
	got, err := LoadFrom[WorkerEnv](fullEnv())
	if err != nil {
		t.Fatal(err)
	}
	want := WorkerEnv{
		Redis: Redis{URL: "redis://app:" + testRedisPassword + "@cache:6380/2"},
		OpenAI: OpenAI{
			BaseURL: "https://llm-gateway.internal/v1", APIKey: testAPIKey, EmbeddingModel: "text-embedding-3-large",
			ChatModel: "gpt-4.1-mini", MaxConns: 64, MaxIdleConns: 32, Timeout: 45 * time.Second, GenerationTimeout: 20 * time.Minute, RPM: 3000, TPM: 1000000,
		},
		Ollama: Ollama{
			Host: "http://gpu-1:11434", Model: "qwen2.5:7b", EmbeddingModel: "mxbai-embed-large",
			MaxConns: 0, MaxIdleConns: 8, Timeout: 5 * time.Minute, RPM: 600, TPM: 50000,
		},
		Generation: Generation{Provider: "ollama"},
		Worker:     Worker{Concurrency: 16, Queues: "embeddings=2,generation", QueueConcurrency: "generation=256", ShutdownTimeout: time.Minute, PollInterval: 200 * time.Millisecond, HTTPAddr: "127.0.0.1:9090", VectorBudgetMB: 32},
		Group:      Group{MaxSize: 512, MaxDelay: 5 * time.Second, GracePeriod: 2 * time.Second},
		Resilience: Resilience{BreakerFailures: 3, BreakerMinCooldown: time.Second, BreakerMaxCooldown: 30 * time.Second,
			MinInflight: 4, MaxWait: 500 * time.Millisecond, DeferralPatience: 10 * time.Minute, RedisSettleWait: 15 * time.Second},
		Log: Log{Level: "DEBUG", Format: "json"},
		Telemetry: Telemetry{
			ServiceName: "embedder", TracesExporter: "otlp", MetricsExporter: "none",
			Endpoint: "http://collector:4317", TracesEndpoint: "http://collector:4318/v1/traces",
			MetricsEndpoint: "http://collector:4318/v1/metrics", Protocol: "grpc",
			Sampler: "parentbased_traceidratio", SamplerArg: "0.25",
		},
	}
	if got != want {
		t.Errorf("LoadFrom(fullEnv())\n got %+v\nwant %+v", got, want)
	}
	if q, err := got.QueueWeights(); err != nil || !maps.Equal(q, map[string]int{"embeddings": 2, "generation": 1}) {
		t.Errorf("QueueWeights() = %v, %v", q, err)
	}
	if opt, err := got.ConnOpt(); err != nil || opt == nil {
		t.Errorf("ConnOpt() = %v, %v", opt, err)
	}

	enq, err := LoadFrom[EnqueueEnv](fullEnv())
	if err != nil {
		t.Fatal(err)
	}
	if want := (EnqueueEnv{Redis: want.Redis, Results: Results{Retention: 72 * time.Hour}, Generation: want.Generation, Log: want.Log, Telemetry: want.Telemetry}); enq != want {
		t.Errorf("LoadFrom[EnqueueEnv]\n got %+v\nwant %+v", enq, want)
	}
}

func TestLoadFromPart(t *testing.T) {
	got, err := LoadFrom[Ollama](map[string]string{"OLLAMA_MODEL": "phi4"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Model != "phi4" || got.MaxConns != 50 {
		t.Errorf("LoadFrom[Ollama] = %+v", got)
	}
	if _, err := LoadFrom[Ollama](map[string]string{"OLLAMA_MAX_CONNS": "-1"}); err == nil {
		t.Error("LoadFrom[Ollama] with OLLAMA_MAX_CONNS=-1: no error")
	}
}

func TestLoadFromEmptyValues(t *testing.T) {
	// An empty variable takes its default, except HTTP_ADDR, which it disables.
	got, err := LoadFrom[WorkerEnv](with("OPENAI_EMBEDDING_MODEL", "", "WORKER_CONCURRENCY", "", "HTTP_ADDR", ""))
	if err != nil {
		t.Fatal(err)
	}
	if got.OpenAI.EmbeddingModel != "text-embedding-3-small" || got.Concurrency != 50 {
		t.Errorf("empty values did not take defaults: %+v", got)
	}
	if got.HTTPAddr != "" {
		t.Errorf("HTTPAddr = %q, want empty", got.HTTPAddr)
	}
}

func TestLoadFromErrors(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string
		want    string // in the problem
	}{
		// Values that do not parse.
		{"int not a number", with("OPENAI_MAX_CONNS", "abc"), "OPENAI_MAX_CONNS", `must be an integer (got "abc")`},
		{"int out of range", with("OLLAMA_MAX_CONNS", "99999999999999999999"), "OLLAMA_MAX_CONNS", "out of range"},
		{"ollama int", with("OLLAMA_MAX_IDLE_CONNS", "1.5"), "OLLAMA_MAX_IDLE_CONNS", "must be an integer"},
		{"concurrency not a number", with("WORKER_CONCURRENCY", "many"), "WORKER_CONCURRENCY", "must be an integer"},
		{"duration unit", with("OPENAI_TIMEOUT", "5x"), "OPENAI_TIMEOUT", `must be a duration such as 30s, 1m30s or 2h (got "5x")`},
		{"duration bare number", with("OLLAMA_TIMEOUT", "30"), "OLLAMA_TIMEOUT", "must be a duration"},
		{"shutdown duration", with("SHUTDOWN_TIMEOUT", "soon"), "SHUTDOWN_TIMEOUT", "must be a duration"},

		// Values that parse but cannot be used.
		{"redis url", with("REDIS_URL", "redis://app:"+testRedisPassword+"@cache/x"), "REDIS_URL", "database must be"},
		{"redis scheme", with("REDIS_URL", "http://cache"), "REDIS_URL", "unsupported scheme"},
		{"openai url scheme", with("OPENAI_BASE_URL", "ftp://api.openai.com/v1"), "OPENAI_BASE_URL", "scheme must be http or https"},
		{"openai url no scheme", with("OPENAI_BASE_URL", "api.openai.com/v1"), "OPENAI_BASE_URL", "scheme must be http or https"},
		{"openai url no host", with("OPENAI_BASE_URL", "https:///v1"), "OPENAI_BASE_URL", "no host"},
		{"openai url credentials redacted", with("OPENAI_BASE_URL", "ftp://u:"+testAPIKey+"@h/v1"), "OPENAI_BASE_URL", "ftp://u:xxxxx@h/v1"},
		{"openai url malformed", with("OPENAI_BASE_URL", "https://u:"+testAPIKey+"%zz@h"), "OPENAI_BASE_URL", "not a valid URL"},
		{"openai key with newline", with("OPENAI_API_KEY", testAPIKey+"\n"), "OPENAI_API_KEY", "must not contain spaces"},
		{"openai model blank", with("OPENAI_EMBEDDING_MODEL", " "), "OPENAI_EMBEDDING_MODEL", "must not be empty"},
		{"openai conns negative", with("OPENAI_MAX_CONNS", "-5"), "OPENAI_MAX_CONNS", "must not be negative (got -5)"},
		{"openai idle negative", with("OPENAI_MAX_IDLE_CONNS", "-1"), "OPENAI_MAX_IDLE_CONNS", "must not be negative"},
		{"openai idle above max", with("OPENAI_MAX_CONNS", "10", "OPENAI_MAX_IDLE_CONNS", "11"), "OPENAI_MAX_IDLE_CONNS", "must not exceed OPENAI_MAX_CONNS (got 11 > 10)"},
		{"openai timeout zero", with("OPENAI_TIMEOUT", "0s"), "OPENAI_TIMEOUT", "must be positive"},
		{"openai timeout negative", with("OPENAI_TIMEOUT", "-1s"), "OPENAI_TIMEOUT", "must be positive (got -1s)"},
		{"ollama host scheme", with("OLLAMA_HOST", "127.0.0.1:11434"), "OLLAMA_HOST", "scheme must be http or https"},
		{"ollama host malformed", with("OLLAMA_HOST", "http://[::1"), "OLLAMA_HOST", "not a valid URL"},
		{"ollama model blank", with("OLLAMA_MODEL", "\t"), "OLLAMA_MODEL", "must not be empty"},
		{"ollama embedding model blank", with("OLLAMA_EMBEDDING_MODEL", " "), "OLLAMA_EMBEDDING_MODEL", "must not be empty"},
		{"ollama conns negative", with("OLLAMA_MAX_CONNS", "-1"), "OLLAMA_MAX_CONNS", "must not be negative"},
		{"ollama idle negative", with("OLLAMA_MAX_IDLE_CONNS", "-3"), "OLLAMA_MAX_IDLE_CONNS", "must not be negative"},
		{"ollama idle above max", with("OLLAMA_MAX_CONNS", "4", "OLLAMA_MAX_IDLE_CONNS", "5"), "OLLAMA_MAX_IDLE_CONNS", "must not exceed OLLAMA_MAX_CONNS"},
		{"ollama timeout", with("OLLAMA_TIMEOUT", "0s"), "OLLAMA_TIMEOUT", "must be positive"},
		{"concurrency zero", with("WORKER_CONCURRENCY", "0"), "WORKER_CONCURRENCY", "must be at least 1 (got 0)"},
		{"generation provider", with("GENERATION_PROVIDER", "vllm"), "GENERATION_PROVIDER", `must be openai or ollama (got "vllm")`},
		{"chat model blank", with("OPENAI_CHAT_MODEL", " "), "OPENAI_CHAT_MODEL", "must not be empty"},
		{"generation timeout zero", with("OPENAI_GENERATION_TIMEOUT", "0s"), "OPENAI_GENERATION_TIMEOUT", "must be positive"},
		{"queue concurrency not served", with("WORKER_QUEUE_CONCURRENCY", "batch=4"), "WORKER_QUEUE_CONCURRENCY", `queue "batch" is not in WORKER_QUEUES`},
		{"queue concurrency zero", with("WORKER_QUEUE_CONCURRENCY", "generation=0"), "WORKER_QUEUE_CONCURRENCY", "must be a positive integer"},
		{"queue concurrency bare name", with("WORKER_QUEUE_CONCURRENCY", "generation"), "WORKER_QUEUE_CONCURRENCY", "want name=concurrency"},
		{"queue concurrency twice", with("WORKER_QUEUE_CONCURRENCY", "generation=2,generation=3"), "WORKER_QUEUE_CONCURRENCY", "listed twice"},
		{"concurrency negative", with("WORKER_CONCURRENCY", "-4"), "WORKER_CONCURRENCY", "must be at least 1"},
		{"queues weight", with("WORKER_QUEUES", "embeddings=0"), "WORKER_QUEUES", "weight must be a positive integer"},
		{"queues duplicate", with("WORKER_QUEUES", "a,a"), "WORKER_QUEUES", "listed twice"},
		{"queues name", with("WORKER_QUEUES", "a b"), "WORKER_QUEUES", "only letters"},
		{"queues empty entry", with("WORKER_QUEUES", ","), "WORKER_QUEUES", "empty queue name"},
		{"shutdown zero", with("SHUTDOWN_TIMEOUT", "0s"), "SHUTDOWN_TIMEOUT", "must be positive"},
		{"http addr no port", with("HTTP_ADDR", "localhost"), "HTTP_ADDR", "must be host:port or :port"},
		{"http addr bad port", with("HTTP_ADDR", ":http-alt"), "HTTP_ADDR", "port must be a number"},
		{"http addr port range", with("HTTP_ADDR", ":70000"), "HTTP_ADDR", "port must be a number"},
		{"group size zero", with("GROUP_MAX_SIZE", "0"), "GROUP_MAX_SIZE", "must be between 1 and 2048 (got 0)"},
		{"group size above the provider's limit", with("GROUP_MAX_SIZE", "2049"), "GROUP_MAX_SIZE", "must be between 1 and 2048"},
		{"group delay fraction", with("GROUP_MAX_DELAY", "1500ms"), "GROUP_MAX_DELAY", "whole seconds (got 1.5s)"},
		{"group delay negative", with("GROUP_MAX_DELAY", "-1s"), "GROUP_MAX_DELAY", "must be 0 or whole seconds"},
		{"group grace below asynq's minimum", with("GROUP_GRACE_PERIOD", "500ms"), "GROUP_GRACE_PERIOD", "at least 1s"},
		{"group grace not a duration", with("GROUP_GRACE_PERIOD", "1"), "GROUP_GRACE_PERIOD", "must be a duration"},
		{"openai rpm negative", with("OPENAI_RPM", "-1"), "OPENAI_RPM", "must not be negative (got -1)"},
		{"openai tpm not a number", with("OPENAI_TPM", "lots"), "OPENAI_TPM", "must be an integer"},
		{"ollama rpm negative", with("OLLAMA_RPM", "-60"), "OLLAMA_RPM", "must not be negative"},
		{"ollama tpm negative", with("OLLAMA_TPM", "-1"), "OLLAMA_TPM", "must not be negative"},
		{"breaker failures zero", with("BREAKER_FAILURES", "0"), "BREAKER_FAILURES", "must be at least 1 (got 0)"},
		{"breaker cooldown zero", with("BREAKER_MIN_COOLDOWN", "0s"), "BREAKER_MIN_COOLDOWN", "must be positive"},
		{"breaker max below min", with("BREAKER_MIN_COOLDOWN", "10s", "BREAKER_MAX_COOLDOWN", "5s"), "BREAKER_MAX_COOLDOWN", "must not be below BREAKER_MIN_COOLDOWN (got 5s < 10s)"},
		{"min inflight zero", with("PROVIDER_MIN_INFLIGHT", "0"), "PROVIDER_MIN_INFLIGHT", "must be at least 1"},
		{"min inflight above concurrency", with("WORKER_CONCURRENCY", "8", "PROVIDER_MIN_INFLIGHT", "9"), "PROVIDER_MIN_INFLIGHT", "must not exceed WORKER_CONCURRENCY (got 9 > 8)"},
		{"max wait negative", with("PROVIDER_MAX_WAIT", "-1s"), "PROVIDER_MAX_WAIT", "must not be negative"},
		{"patience zero", with("DEFERRAL_PATIENCE", "0s"), "DEFERRAL_PATIENCE", "must be positive"},
		{"settle wait beyond the lease", with("REDIS_SETTLE_WAIT", "30s"), "REDIS_SETTLE_WAIT", "must be between 0 and 25s (got 30s)"},
		{"log level", with("LOG_LEVEL", "verbose"), "LOG_LEVEL", `must be debug, info, warn or error (got "verbose")`},
		{"log level warning", with("LOG_LEVEL", "warning"), "LOG_LEVEL", "must be debug"},
		{"log format", with("LOG_FORMAT", "logfmt"), "LOG_FORMAT", `must be text or json (got "logfmt")`},
		{"traces exporter", with("OTEL_TRACES_EXPORTER", "jaeger"), "OTEL_TRACES_EXPORTER", `must be otlp, console or none (got "jaeger")`},
		{"traces exporter list", with("OTEL_TRACES_EXPORTER", "otlp,console"), "OTEL_TRACES_EXPORTER", "must be otlp, console or none"},
		{"metrics exporter", with("OTEL_METRICS_EXPORTER", "statsd"), "OTEL_METRICS_EXPORTER", "must be otlp, console, prometheus or none"},
		{"otlp endpoint scheme", with("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"), "OTEL_EXPORTER_OTLP_ENDPOINT", "scheme must be http or https"},
		{"otlp traces endpoint", with("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://collector/v1/traces"), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "scheme must be http or https"},
		{"otlp metrics endpoint", with("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "https:///v1/metrics"), "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "no host"},
		{"otlp protocol", with("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"), "OTEL_EXPORTER_OTLP_PROTOCOL", `must be http/protobuf or grpc (got "http/json")`},
		{"sampler", with("OTEL_TRACES_SAMPLER", "jaeger_remote"), "OTEL_TRACES_SAMPLER", "must be always_on"},
		{"sampler ratio", with("OTEL_TRACES_SAMPLER_ARG", "1.5"), "OTEL_TRACES_SAMPLER_ARG", `must be a number from 0 to 1 (got "1.5")`},
		{"sampler ratio text", with("OTEL_TRACES_SAMPLER_ARG", "half"), "OTEL_TRACES_SAMPLER_ARG", "must be a number from 0 to 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := LoadFrom[WorkerEnv](tt.env)
			checkError(t, err, tt.wantVar, tt.want)
			if cfg != (WorkerEnv{}) {
				t.Errorf("LoadFrom returned %+v with its error, want the zero value", cfg)
			}
		})
	}
}

func TestLoadFromEnqueueErrors(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string
		want    string
	}{
		{"retention unit", map[string]string{"RESULT_RETENTION": "1d"}, "RESULT_RETENTION", `must be a duration such as 30s, 1m30s or 2h (got "1d")`},
		{"retention zero", map[string]string{"RESULT_RETENTION": "0s"}, "RESULT_RETENTION", "must be positive"},
		{"retention negative", map[string]string{"RESULT_RETENTION": "-1h"}, "RESULT_RETENTION", "must be positive"},
		{"redis url", map[string]string{"REDIS_URL": "redis-sentinel://:" + testRedisPassword + "@s1"}, "REDIS_URL", "?master=NAME"},
		{"log format", map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT", "must be text or json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadFrom[EnqueueEnv](tt.env)
			checkError(t, err, tt.wantVar, tt.want)
		})
	}
}

// checkError asserts that err is an *Error for wantVar whose message
// contains want and no secret from fullEnv.
func checkError(t *testing.T, err error, wantVar, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one for %s", wantVar)
	}
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("error %q is a %T, want *Error", err, err)
	}
	if cerr.Var != wantVar {
		t.Errorf("error %q names %s, want %s", err, cerr.Var, wantVar)
	}
	if !strings.HasPrefix(err.Error(), wantVar+": ") {
		t.Errorf("error %q does not start with %q", err, wantVar+": ")
	}
	if !strings.Contains(cerr.Problem, want) {
		t.Errorf("error %q, want the problem to contain %q", err, want)
	}
	for _, secret := range []string{testAPIKey, testRedisPassword} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains a secret", err)
		}
	}
}

func TestLoad(t *testing.T) {
	t.Setenv("WORKER_CONCURRENCY", "7")
	t.Setenv("HTTP_ADDR", "")
	t.Setenv("OPENAI_API_KEY", testAPIKey)
	cfg, err := Load[WorkerEnv]()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Concurrency != 7 || cfg.HTTPAddr != "" || cfg.APIKey != testAPIKey {
		t.Errorf("Load() = %+v", cfg)
	}

	// LoadFrom reads only its map, never the process environment.
	if cfg, err := LoadFrom[WorkerEnv](map[string]string{}); err != nil || cfg.Concurrency != 50 || cfg.HTTPAddr != ":8080" {
		t.Errorf("LoadFrom(empty map) = %+v, %v; want defaults", cfg, err)
	}

	t.Setenv("LOG_LEVEL", "loud")
	_, err = Load[WorkerEnv]()
	checkError(t, err, "LOG_LEVEL", "must be debug")
}

func TestLoadFromNotStruct(t *testing.T) {
	if _, err := LoadFrom[int](nil); err == nil {
		t.Error("LoadFrom[int]: no error")
	}
}

// TestTags checks that every variable has a name, a help text and, unless
// it is secret, a default, and that no name is used twice.
func TestTags(t *testing.T) {
	seen := map[string]bool{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name := varName(f)
			if name == "" {
				walk(f.Type)
				continue
			}
			if seen[name] {
				t.Errorf("%s declared twice", name)
			}
			seen[name] = true
			if f.Tag.Get(tagHelp) == "" {
				t.Errorf("%s has no help tag", name)
			}
			if _, ok := defaultOf(f); !ok && f.Tag.Get(tagSecret) != "true" {
				t.Errorf("%s has no default", name)
			}
		}
	}
	walk(reflect.TypeFor[struct {
		WorkerEnv
		Results
		Dashboard
	}]())
	if len(seen) != 57 {
		t.Errorf("found %d variables, want 57", len(seen))
	}
}
