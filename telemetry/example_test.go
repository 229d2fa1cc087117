package telemetry_test

import (
	"fmt"
	"os"

	"github.com/llmq/llmq/config"
	"github.com/llmq/llmq/telemetry"
)

func ExampleNewLogger() {
	cfg, err := config.LoadFrom[config.Log](map[string]string{"LOG_FORMAT": "json"})
	if err != nil {
		fmt.Println(err)
		return
	}
	log, err := telemetry.NewLogger(os.Stderr, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	log.Info("worker started", "concurrency", 50)
}
