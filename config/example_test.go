package config_test

import (
	"fmt"
	"os"

	"github.com/llmq/llmq/config"
)

func ExampleLoadFrom() {
	cfg, err := config.LoadFrom[config.EnqueueEnv](map[string]string{
		"REDIS_URL":        "redis://cache:6380/1",
		"RESULT_RETENTION": "2h",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Redis.URL, cfg.Retention, cfg.Log.Level)

	_, err = config.LoadFrom[config.WorkerEnv](map[string]string{"OPENAI_MAX_CONNS": "-5"})
	fmt.Println(err)
	// Output:
	// redis://cache:6380/1 2h0m0s info
	// OPENAI_MAX_CONNS: must not be negative (got -5)
}

func ExampleParseRedisURL() {
	opt, err := config.ParseRedisURL("redis-sentinel://s1,s2:26380/2?master=queue")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%+v\n", opt)
	// Output:
	// {MasterName:queue SentinelAddrs:[s1:26379 s2:26380] SentinelUsername: SentinelPassword: Username: Password: DB:2 DialTimeout:0s ReadTimeout:0s WriteTimeout:0s PoolSize:0 TLSConfig:<nil>}
}

func ExampleParseQueues() {
	weights, err := config.ParseQueues("embeddings=6,generation=3,maintenance")
	fmt.Println(weights, err)
	// Output:
	// map[embeddings:6 generation:3 maintenance:1] <nil>
}

func ExampleUsage() {
	config.Usage(os.Stdout, config.EnqueueEnv{})
	// Output:
	//   REDIS_URL                            redis://127.0.0.1:6379/0  Redis URL: redis://, rediss://, redis-sentinel://, redis-cluster:// or unix://
	//   REDIS_PASSWORD                       (secret)                  Redis password; replaces the one in REDIS_URL
	//   RESULT_RETENTION                     24h                       how long finished task results stay in Redis
	//   GENERATION_PROVIDER                  openai                    generation provider when a task names none: openai or ollama
	//   LOG_LEVEL                            info                      lowest level logged: debug, info, warn or error
	//   LOG_FORMAT                           text                      log line format: text or json
	//   OTEL_SERVICE_NAME                    (unset)                   service name in traces and metrics (unset: llmq-worker or llmq-enqueue)
	//   OTEL_TRACES_EXPORTER                 (unset)                   otlp, console (JSON on stderr) or none (unset: otlp if an OTLP endpoint is set)
	//   OTEL_METRICS_EXPORTER                (unset)                   otlp, console (JSON on stderr), prometheus or none (unset: otlp if an OTLP endpoint is set)
	//   OTEL_EXPORTER_OTLP_ENDPOINT          (unset)                   OTLP receiver URL, e.g. http://collector:4318 (port 4317 for grpc)
	//   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT   (unset)                   OTLP receiver URL for traces alone
	//   OTEL_EXPORTER_OTLP_METRICS_ENDPOINT  (unset)                   OTLP receiver URL for metrics alone
	//   OTEL_EXPORTER_OTLP_PROTOCOL          http/protobuf             OTLP transport: http/protobuf or grpc
	//   OTEL_TRACES_SAMPLER                  parentbased_always_on     trace sampler: [parentbased_]always_on, always_off or traceidratio
	//   OTEL_TRACES_SAMPLER_ARG              (unset)                   ratio of traces kept by the traceidratio samplers, 0 to 1 (unset: 1)
}
