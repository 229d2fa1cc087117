// Package service is the start-up and shutdown protocol that llmq's
// commands share. Main and MainError give every command --version, a
// context that ends at SIGINT or SIGTERM, and its exit status; Command
// adds, for the long-running ones (worker, dashboard, api), --help listing
// the environment variables, configuration loaded and validated from the
// environment, and a logger.
package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/llmq/llmq/config"
	"github.com/llmq/llmq/internal/version"
	"github.com/llmq/llmq/telemetry"
)

// Exit statuses.
const (
	ExitOK     = 0
	ExitFailed = 1
	ExitConfig = 2
)

// ErrConfig is matched by the errors of ConfigError: an error of
// Command.Serve that comes from the configuration rather than from
// running, for which the command exits ExitConfig.
var ErrConfig = errors.New("configuration")

// ConfigError marks err as a problem of the configuration; its message is
// err's.
func ConfigError(err error) error { return configError{err} }

type configError struct{ error }

func (e configError) Unwrap() error      { return e.error }
func (configError) Is(target error) bool { return target == ErrConfig }

// Main runs a command named name: with --version among the process's
// arguments it prints the version (see version.Requested) and returns;
// otherwise it calls run with a context that ends at SIGINT or SIGTERM and
// exits with the status run returns.
func Main(name string, run func(ctx context.Context) int) {
	if version.Requested(os.Args[1:]) {
		version.Print(os.Stdout, name)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx)
	stop()
	os.Exit(code)
}

// MainError is Main for a run that returns an error rather than a status:
// nil exits ExitOK, and an error is printed on stderr as "NAME: error" and
// exits ExitFailed.
func MainError(name string, run func(ctx context.Context) error) {
	Main(name, func(ctx context.Context) int {
		if err := run(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			return ExitFailed
		}
		return ExitOK
	})
}

// Command is a long-running command configured by the environment
// variables of E, one of package config's *Env structs.
type Command[E any] struct {
	// Name is the binary's name, used in messages and by --version.
	Name string
	// About is the first paragraph of --help, before the variables.
	About string
	// Log picks the logging settings out of the environment.
	Log func(E) config.Log
	// Serve runs the command until ctx ends, then shuts it down. An error
	// is logged as "NAME stopped" and exits ExitFailed; one of ConfigError
	// is printed as "NAME: problem" and exits ExitConfig.
	Serve func(ctx context.Context, env E, log *slog.Logger, stdout io.Writer) error
}

// Main runs the command with the process's arguments and standard
// streams under the package's Main: --version, ctx ending at SIGINT or
// SIGTERM, and the exit status of Run.
func (c Command[E]) Main() {
	Main(c.Name, func(ctx context.Context) int { return c.Run(ctx, os.Args[1:], os.Stdout, os.Stderr) })
}

// Run parses args (only -h and --help are known: the configuration is the
// environment), loads E, makes the logger and serves until ctx ends. It
// returns the exit status; a configuration that does not load is
// reported on stderr as "NAME: problem".
func (c Command[E]) Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		var zero E
		fmt.Fprintf(stdout, "Usage: %s\n\n%s\nConfigured by these environment variables:\n", c.Name, c.About)
		config.Usage(stdout, zero)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitConfig
	}
	env, err := config.Load[E]()
	var logger *slog.Logger
	if err == nil {
		logger, err = telemetry.NewLogger(stderr, c.Log(env))
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", c.Name, err)
		return ExitConfig
	}
	if err := c.Serve(ctx, env, logger, stdout); err != nil {
		if errors.Is(err, ErrConfig) {
			fmt.Fprintf(stderr, "%s: %v\n", c.Name, err)
			return ExitConfig
		}
		logger.Error(c.Name+" stopped", slog.String("error", err.Error()))
		return ExitFailed
	}
	return ExitOK
}
