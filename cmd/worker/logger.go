package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/config"
)

// asynqLogger adapts slog to asynq.Logger.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) log(level slog.Level, args ...any) {
	a.l.Log(context.Background(), level, fmt.Sprint(args...), slog.String("component", "asynq"))
}

func (a asynqLogger) Debug(args ...any) { a.log(slog.LevelDebug, args...) }
func (a asynqLogger) Info(args ...any)  { a.log(slog.LevelInfo, args...) }
func (a asynqLogger) Warn(args ...any)  { a.log(slog.LevelWarn, args...) }
func (a asynqLogger) Error(args ...any) { a.log(slog.LevelError, args...) }

// Fatal logs and exits, as asynq.Logger requires.
func (a asynqLogger) Fatal(args ...any) {
	a.log(slog.LevelError, args...)
	os.Exit(1)
}

// redisLogger routes go-redis's internal log lines (pool dial retries and
// the like) to slog at debug level: the errors that matter reach the
// worker through the calls that failed.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, args ...any) {
	r.l.DebugContext(ctx, fmt.Sprintf(format, args...), slog.String("component", "redis"))
}

// asynqLevel maps LOG_LEVEL, read as config.Log reads it (in any case),
// to asynq's level.
func asynqLevel(cfg config.Log) asynq.LogLevel {
	level, _ := cfg.SlogLevel() // validated by config.Load
	switch {
	case level <= slog.LevelDebug:
		return asynq.DebugLevel
	case level >= slog.LevelError:
		return asynq.ErrorLevel
	case level >= slog.LevelWarn:
		return asynq.WarnLevel
	}
	return asynq.InfoLevel
}
