package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/config"
	"github.com/llmq/llmq/job"
	"github.com/llmq/llmq/tasks"
	"github.com/llmq/llmq/telemetry"
)

// command is one subcommand of enqueue.
type command interface {
	// flags declares the command's own flags.
	flags(fs *flag.FlagSet)
	// check validates the flags before anything is read or sent.
	check() error
	// run reads the input and enqueues its tasks through q.
	run(ctx context.Context, env *environment) error
}

// options are the flags every command has.
type options struct {
	queue       string
	model       string
	wait        bool
	out         string
	concurrency int
}

func commonFlags(fs *flag.FlagSet) *options {
	o := &options{}
	fs.StringVar(&o.queue, "queue", "", "queue to put the tasks in (default: embeddings or generation)")
	fs.StringVar(&o.model, "model", "", "model to ask for (default: the worker's default for the provider)")
	fs.BoolVar(&o.wait, "wait", false, "follow the tasks to the end and write their results as JSONL (exit status 1 if any failed)")
	fs.StringVar(&o.out, "out", "", "file to write the results to; implies --wait (default with --wait: standard output)")
	fs.IntVar(&o.concurrency, "concurrency", 16, "tasks sent to Redis at once")
	return o
}

// environment is what a command runs with.
type environment struct {
	cfg      config.EnqueueEnv
	opts     options
	producer *telemetry.Producer // a PRODUCER span per task
	stdin    io.Reader
	stdout   io.Writer
	stderr   io.Writer
}

// open returns the input file, or standard input for "-".
func (env *environment) open(name string) (io.ReadCloser, error) {
	if name == "-" {
		return io.NopCloser(env.stdin), nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// taskOptions are the asynq options every task of this run gets.
func (env *environment) taskOptions() []asynq.Option {
	opts := []asynq.Option{asynq.Retention(env.cfg.Results.Retention)}
	if env.opts.queue != "" {
		opts = append(opts, asynq.Queue(env.opts.queue))
	}
	return opts
}

// stringsFlag collects a repeated string flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// embedCommand is "enqueue embed".
type embedCommand struct {
	texts      stringsFlag
	file       string
	provider   string
	dimensions int
	batchSize  int
	job        jobFlags
}

func (c *embedCommand) flags(fs *flag.FlagSet) {
	fs.Var(&c.texts, "text", "a text to embed (repeatable)")
	fs.StringVar(&c.file, "file", "", `JSONL file of {"id", "text"} lines or OpenAI Batch API request lines, run as a job; - reads standard input`)
	fs.StringVar(&c.provider, "provider", tasks.ProviderOpenAI, "openai (any OpenAI-compatible endpoint) or ollama")
	fs.IntVar(&c.dimensions, "dimensions", 0, "shorten vectors to this many dimensions (0: the model's own)")
	fs.IntVar(&c.batchSize, "batch-size", job.DefaultBatchSize, fmt.Sprintf("texts per task, 1 to %d: each task is one provider request", tasks.MaxEmbedInputs))
	c.job.flags(fs)
}

func (c *embedCommand) check() error {
	switch {
	case len(c.texts) == 0 && c.file == "":
		return errors.New("give --text or --file")
	case len(c.texts) > 0 && c.file != "":
		return errors.New("give --text or --file, not both")
	case c.batchSize < 1 || c.batchSize > tasks.MaxEmbedInputs:
		return fmt.Errorf("--batch-size must be between 1 and %d", tasks.MaxEmbedInputs)
	case c.dimensions < 0:
		return errors.New("--dimensions must not be negative")
	case c.provider != tasks.ProviderOpenAI && c.provider != tasks.ProviderOllama:
		return fmt.Errorf("--provider must be %s or %s", tasks.ProviderOpenAI, tasks.ProviderOllama)
	}
	if c.file == "" && c.job.set() {
		return errors.New("--job, --strict, --errors, --format and the token limits apply to --file only")
	}
	return c.job.check()
}

func (c *embedCommand) run(ctx context.Context, env *environment) error {
	if c.file != "" {
		return c.runJob(ctx, env)
	}
	q, err := newQueue(ctx, env)
	if err != nil {
		return err
	}
	defer q.close()

	batch := tasks.EmbedPayload{Provider: c.provider, Model: env.opts.model, Dimensions: c.dimensions}
	flush := func() error {
		if len(batch.Texts) == 0 {
			return nil
		}
		err := q.Add(ctx, tasks.TypeEmbed, batch.IDs, func(headers map[string]string) (*asynq.Task, error) {
			return tasks.NewEmbedTaskWithHeaders(batch, headers, env.taskOptions()...)
		})
		if err != nil {
			return err
		}
		batch.Texts, batch.IDs = nil, nil
		return nil
	}
	add := func(id, text string) error {
		batch.Texts = append(batch.Texts, text)
		batch.IDs = append(batch.IDs, id)
		if len(batch.Texts) == c.batchSize {
			return flush()
		}
		return nil
	}

	for i, text := range c.texts {
		if text == "" {
			return fmt.Errorf("--text %d is empty", i+1)
		}
		if err := add(strconv.Itoa(i+1), text); err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return q.finish(ctx, writeEmbedResults)
}

// generateCommand is "enqueue generate".
type generateCommand struct {
	prompt string
	system string
	file   string
	stream bool
}

func (c *generateCommand) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.prompt, "prompt", "", "a prompt to complete")
	fs.StringVar(&c.system, "system", "", "system prompt for --prompt and for file prompts without one")
	fs.StringVar(&c.file, "file", "", `JSONL file of {"id", "prompt"} or {"id", "messages"} lines; - reads standard input`)
	fs.BoolVar(&c.stream, "stream", true, "have the provider stream its answers (assembled by the worker)")
}

func (c *generateCommand) check() error {
	if (c.prompt == "") == (c.file == "") {
		return errors.New("give --prompt or --file (one of them)")
	}
	return nil
}

// generateLine is one line of a generate input file.
type generateLine struct {
	ID       string            `json:"id"`
	Prompt   string            `json:"prompt"`
	System   string            `json:"system"`
	Messages []clients.Message `json:"messages"`
	Options  map[string]any    `json:"options"`
}

func (c *generateCommand) run(ctx context.Context, env *environment) error {
	q, err := newQueue(ctx, env)
	if err != nil {
		return err
	}
	defer q.close()

	submit := func(l generateLine) error {
		if l.System == "" {
			l.System = c.system
		}
		return q.Add(ctx, tasks.TypeGenerate, []string{l.ID}, func(headers map[string]string) (*asynq.Task, error) {
			return tasks.NewGenerateTaskWithHeaders(tasks.GeneratePayload{
				Model: env.opts.model, Prompt: l.Prompt, System: l.System,
				Messages: l.Messages, Options: l.Options, Stream: c.stream, ID: l.ID,
			}, headers, env.taskOptions()...)
		})
	}
	if c.file == "" {
		if err := submit(generateLine{ID: "1", Prompt: c.prompt}); err != nil {
			return err
		}
	} else {
		err := readLines(env, c.file, func(n int, line []byte) error {
			var l generateLine
			if err := json.Unmarshal(line, &l); err != nil {
				return badLine("not a JSON object: %v", err)
			}
			if l.ID == "" {
				l.ID = strconv.Itoa(n)
			}
			if err := submit(l); err != nil {
				if errors.Is(err, tasks.ErrInvalidPayload) {
					return badLine("%v", err)
				}
				return err
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return q.finish(ctx, writeGenerateResults)
}

// errBadLine marks an input line that is skipped and reported.
var errBadLine = errors.New("bad line")

func badLine(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadLine, fmt.Sprintf(format, args...))
}

// maxLine is the longest input line accepted.
const maxLine = 16 << 20

// readLines calls fn for every non-blank line of the named file, numbered
// from 1. A line fn rejects with errBadLine is reported on stderr as
// FILE:N: reason and skipped; any other error stops the reading.
func readLines(env *environment, name string, fn func(n int, line []byte) error) error {
	r, err := env.open(name)
	if err != nil {
		return err
	}
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	bad := 0
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		var err error
		if !utf8.Valid(line) {
			err = badLine("not valid UTF-8")
		} else {
			err = fn(n, line)
		}
		if err != nil {
			if !errors.Is(err, errBadLine) {
				return err
			}
			bad++
			fmt.Fprintf(env.stderr, "%s:%d: %v\n", name, n, strings.TrimPrefix(err.Error(), errBadLine.Error()+": "))
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if bad > 0 {
		fmt.Fprintf(env.stderr, "%s: skipped %d bad line(s)\n", name, bad)
	}
	return nil
}
