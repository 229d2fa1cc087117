// Command enqueue puts llmq tasks into Redis and follows them: bulk
// embedding and generation jobs from a JSONL file, embedding tasks from
// texts, and a generation task from a prompt.
//
//	enqueue embed --file docs.jsonl               # prints the job ID
//	enqueue status JOB [--wait]
//	enqueue results JOB --out results.jsonl --errors errors.jsonl [--delete]
//	enqueue jobs | cancel JOB | retry JOB
//	enqueue embed --text "hello world" --wait
//	enqueue generate --file prompts.jsonl         # prints the job ID
//	enqueue generate --prompt "Why is the sky blue?" --wait
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
	"time"

	"github.com/redis/go-redis/v9/logging"

	"github.com/llmq/llmq/config"
	"github.com/llmq/llmq/internal/service"
	"github.com/llmq/llmq/telemetry"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	service.Main("enqueue", func(ctx context.Context) int {
		// go-redis logs its own dial retries; the error that matters
		// reaches the user once, through the call that failed.
		logging.Disable()
		return run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	})
}

const usage = `Usage:
  enqueue embed    --file FILE.jsonl [flags]     submit a bulk embedding job; prints its ID
  enqueue generate --file FILE.jsonl [flags]     submit a bulk generation job; prints its ID
  enqueue status   JOB [--wait] [--json]         counts, rate; --wait follows to the end
  enqueue results  JOB [--out FILE] [--errors FILE] [--format simple|batch] [--delete]
  enqueue jobs     [--state STATE,...] [--limit N] [--json]   recent jobs: state, counts, age
  enqueue cancel   JOB                           remove its queued tasks; running ones finish
  enqueue retry    JOB [--wait]                  run its failed items again, same job ID
  enqueue embed    --text TEXT ... [flags]
  enqueue generate --prompt TEXT [flags]

Job input files hold one JSON object per line, either
  {"id": "doc-1", "text": "..."}
or OpenAI Batch API requests:
  {"custom_id": "r1", "method": "POST", "url": "/v1/embeddings", "body": {"model": "...", "input": "..."}}
Results come out in the same format, in input order. A FILE of "-" is
standard input. A bad line is reported with its line number and skipped
(--strict: nothing is enqueued). Running the same command again resumes
the same job and enqueues only what is missing.

generate files hold {"id": "q-1", "prompt": "...", ...} or {"id": "q-1", "messages": [...], ...}
(further fields go into the request as they are), or OpenAI Batch API
requests with "url": "/v1/chat/completions" or "/v1/completions".

Run "enqueue COMMAND --help" for a command's flags.

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
	common := true
	switch args[0] {
	case "embed":
		cmd = &embedCommand{}
	case "generate":
		cmd = &generateCommand{}
	case "status":
		cmd, common = &statusCommand{}, false
	case "results":
		cmd, common = &resultsCommand{}, false
	case "jobs":
		cmd, common = &jobsCommand{}, false
	case "cancel":
		cmd, common = &cancelCommand{}, false
	case "retry":
		cmd, common = &retryCommand{}, false
	default:
		fmt.Fprintf(stderr, "enqueue: unknown command %q (want embed, status, results, jobs, cancel, retry or generate)\n", args[0])
		return exitUsage
	}
	fs := flag.NewFlagSet("enqueue "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := &options{}
	if common {
		opts = commonFlags(fs)
	}
	cmd.flags(fs)
	positional, err := parseFlags(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if a, ok := cmd.(interface{ setArgs([]string) error }); ok {
		if err := a.setArgs(positional); err != nil {
			fmt.Fprintf(stderr, "enqueue %s: %v\n", args[0], err)
			return exitUsage
		}
	} else if len(positional) > 0 {
		fmt.Fprintf(stderr, "enqueue %s: unexpected argument %q\n", args[0], positional[0])
		return exitUsage
	}
	if err := cmd.check(); err != nil {
		fmt.Fprintf(stderr, "enqueue %s: %v\n", args[0], err)
		return exitUsage
	}
	cfg, err := config.Load[config.EnqueueEnv]()
	var logger *slog.Logger
	if err == nil {
		logger, err = telemetry.NewLogger(stderr, cfg.Log)
	}
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
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return exitInterrupted
		}
		return exitFailed
	}
	return exitOK
}

// parseFlags parses args, which may mix flags and positional arguments
// ("status JOB --wait"), and returns the positional ones.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// flush sends the spans still buffered before the process exits.
func flush(tel *telemetry.Telemetry, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		logger.Warn("telemetry not flushed", slog.String("error", err.Error()))
	}
}
