package main

import (
	"testing"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/config"
)

// TestAsynqLevel checks that asynq logs at LOG_LEVEL in any case, as the
// worker's own logger does.
func TestAsynqLevel(t *testing.T) {
	tests := []struct {
		level string
		want  asynq.LogLevel
	}{
		{"debug", asynq.DebugLevel},
		{"DEBUG", asynq.DebugLevel},
		{"info", asynq.InfoLevel},
		{"Warn", asynq.WarnLevel},
		{" error ", asynq.ErrorLevel},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			if _, err := (config.Log{Level: tt.level}).SlogLevel(); err != nil {
				t.Fatalf("LOG_LEVEL %q does not validate: %v", tt.level, err)
			}
			if got := asynqLevel(config.Log{Level: tt.level}); got != tt.want {
				t.Errorf("asynqLevel(%q) = %v, want %v", tt.level, got, tt.want)
			}
		})
	}
}
