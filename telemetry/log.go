package telemetry

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/llmq/llmq/config"
)

// NewLogger builds the process logger from the LOG_LEVEL and LOG_FORMAT
// values in cfg: a slog text handler (key=value lines) or JSON handler (one
// object per line) writing to w, dropping records below cfg's level. An
// unknown level or format is an error naming its variable (a
// *config.Error).
func NewLogger(w io.Writer, cfg config.Log) (*slog.Logger, error) {
	level, err := cfg.SlogLevel()
	if err != nil {
		return nil, fmt.Errorf("logger: %w", err)
	}
	format, err := cfg.FormatName()
	if err != nil {
		return nil, fmt.Errorf("logger: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if format == config.LogFormatJSON {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}
