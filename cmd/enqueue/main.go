// Command enqueue puts llmq tasks into Redis: embedding tasks from texts or
// a JSONL file, and generation tasks from prompts. With --wait it follows
// the tasks to the end and prints their results as JSONL.
//
//	enqueue embed --text "hello world" --wait
//	enqueue embed --file docs.jsonl --batch-size 64 --wait --out vectors.jsonl
//	enqueue generate --prompt "Why is the sky blue?" --wait
//	enqueue generate --file prompts.jsonl
//
// Configuration comes from the environment; see --help.
package main

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
	"time"

	"github.com/llmq/llmq/config"
	"github.com/llmq/llmq/telemetry"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `Usage:
  enqueue embed    (--text TEXT ... | --file FILE.jsonl) [flags]
  enqueue generate (--prompt TEXT | --file FILE.jsonl) [flags]

Input files hold one JSON object per line:
  embed:    {"id": "doc-1", "text": "..."}
  generate: {"id": "q-1", "prompt": "..."}  or  {"id": "q-1", "messages": [{"role": "user", "content": "..."}]}
A file of "-" is read from standard input. A bad line is reported with its
line number and skipped.

Run "enqueue embed --help" or "enqueue generate --help" for the flags.

Environment:
`

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := stderr
		if len(args) > 0 {
			w = stdout
		}
		fmt.Fprint(w, usage)
		config.Usage(w, config.EnqueueEnv{})
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	var cmd command
	switch args[0] {
	case "embed":
		cmd = &embedCommand{}
	case "generate":
		cmd = &generateCommand{}
	default:
		fmt.Fprintf(stderr, "enqueue: unknown command %q (want embed or generate)\n", args[0])
		return exitUsage
	}
	fs := flag.NewFlagSet("enqueue "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := commonFlags(fs)
	cmd.flags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "enqueue %s: unexpected argument %q\n", args[0], fs.Arg(0))
		return exitUsage
	}
	if err := cmd.check(); err != nil {
		fmt.Fprintf(stderr, "enqueue %s: %v\n", args[0], err)
		return exitUsage
	}
	cfg, err := config.Load[config.EnqueueEnv]()
	if err != nil {
		fmt.Fprintf(stderr, "enqueue: %v\n", err)
		return exitUsage
	}
	logger, err := telemetry.NewLogger(stderr, cfg.Log)
	if err != nil {
		fmt.Fprintf(stderr, "enqueue: %v\n", err)
		return exitUsage
	}
	tel, err := telemetry.Setup(ctx, cfg.Telemetry, telemetry.Options{ServiceName: "llmq-enqueue", Logger: logger})
	if err != nil {
		fmt.Fprintf(stderr, "enqueue: %v\n", err)
		return exitFailed
	}
	defer flush(tel, logger)
	env := &environment{cfg: cfg, opts: *opts, producer: telemetry.NewProducer(tel.Providers), stdin: stdin, stdout: stdout, stderr: stderr}
	if err := cmd.run(ctx, env); err != nil {
		fmt.Fprintf(stderr, "enqueue %s: %v\n", args[0], err)
		return exitFailed
	}
	return exitOK
}

// flush sends the spans still buffered before the process exits.
func flush(tel *telemetry.Telemetry, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		logger.Warn("telemetry not flushed", slog.String("error", err.Error()))
	}
}
