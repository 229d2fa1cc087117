// Package telemetry sets up what a process reports about itself: its logs,
// and later its traces and metrics.
//
// Everything here is built once in a binary's main and passed down; nothing
// in this package installs itself as a process-wide default. NewLogger
// builds the log/slog logger from the LOG_LEVEL and LOG_FORMAT settings
// (config.Log).
package telemetry
