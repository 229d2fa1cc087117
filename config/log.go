package config

import (
	"fmt"
	"log/slog"
	"strings"
)

// Log configures the process logger.
type Log struct {
	// Level is the lowest level logged: debug, info, warn or error, in any
	// case. Default info.
	Level string `env:"LOG_LEVEL" envDefault:"info" help:"lowest level logged: debug, info, warn or error"`
	// Format is text (slog's key=value lines) or json (one object per
	// line), in any case. Default text.
	Format string `env:"LOG_FORMAT" envDefault:"text" help:"log line format: text or json"`
}

// Log formats.
const (
	LogFormatText = "text"
	LogFormatJSON = "json"
)

// SlogLevel returns Level as a slog.Level, or an *Error if it is not one of
// debug, info, warn and error.
func (c Log) SlogLevel() (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(c.Level)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, errorf("LOG_LEVEL", fmt.Sprintf("must be debug, info, warn or error (got %q)", c.Level))
}

// FormatName returns Format in lower case (LogFormatText or LogFormatJSON),
// or an *Error if it is neither.
func (c Log) FormatName() (string, error) {
	switch f := strings.ToLower(strings.TrimSpace(c.Format)); f {
	case LogFormatText, LogFormatJSON:
		return f, nil
	}
	return "", errorf("LOG_FORMAT", fmt.Sprintf("must be text or json (got %q)", c.Format))
}

// Validate reports the first unusable field as an *Error.
func (c Log) Validate() error {
	if _, err := c.SlogLevel(); err != nil {
		return err
	}
	_, err := c.FormatName()
	return err
}
