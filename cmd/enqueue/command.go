package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"

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
	prompt   string
	system   string
	file     string
	provider string
	stream   bool
	job      jobFlags
}

func (c *generateCommand) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.prompt, "prompt", "", "a prompt to complete")
	fs.StringVar(&c.system, "system", "", "system prompt for --prompt")
	fs.StringVar(&c.file, "file", "", `JSONL file of {"id", "prompt"} or {"id", "messages"} lines or OpenAI Batch API chat or completion request lines, run as a job; - reads standard input`)
	fs.StringVar(&c.provider, "provider", "", "openai (any OpenAI-compatible endpoint: chat completions) or ollama (default: GENERATION_PROVIDER)")
	fs.BoolVar(&c.stream, "stream", true, "have the provider stream its answers (assembled by the worker); Batch API lines are sent as they are")
	c.job.generateFlags(fs)
}

func (c *generateCommand) check() error {
	switch {
	case (c.prompt == "") == (c.file == ""):
		return errors.New("give --prompt or --file (one of them)")
	case c.provider != "" && c.provider != tasks.ProviderOpenAI && c.provider != tasks.ProviderOllama:
		return fmt.Errorf("--provider must be %s or %s", tasks.ProviderOpenAI, tasks.ProviderOllama)
	case c.file == "" && c.job.set():
		return errors.New("--job, --strict, --errors and --format apply to --file only")
	}
	return c.job.check()
}

func (c *generateCommand) run(ctx context.Context, env *environment) error {
	provider := c.provider
	if provider == "" {
		provider = env.cfg.Generation.Provider
	}
	if c.file != "" {
		return runJob(ctx, env, c.file, c.job, job.Spec{
			Kind: job.KindGeneration, Provider: provider, Model: env.opts.model, Queue: env.opts.queue, Stream: c.stream,
		})
	}
	q, err := newQueue(ctx, env)
	if err != nil {
		return err
	}
	defer q.close()
	err = q.Add(ctx, tasks.TypeGenerate, []string{"1"}, func(headers map[string]string) (*asynq.Task, error) {
		return tasks.NewGenerateTaskWithHeaders(tasks.GeneratePayload{
			Provider: provider, Model: env.opts.model, Prompt: c.prompt, System: c.system, Stream: c.stream, ID: "1",
		}, headers, env.taskOptions()...)
	})
	if err != nil {
		return err
	}
	return q.finish(ctx, writeGenerateResults)
}
