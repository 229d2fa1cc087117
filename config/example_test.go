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
	//   REDIS_URL         redis://127.0.0.1:6379/0  Redis URL: redis://, rediss://, redis-sentinel://, redis-cluster:// or unix://
	//   REDIS_PASSWORD    (secret)                  Redis password; replaces the one in REDIS_URL
	//   RESULT_RETENTION  24h                       how long finished task results stay in Redis
	//   LOG_LEVEL         info                      lowest level logged: debug, info, warn or error
	//   LOG_FORMAT        text                      log line format: text or json
}
