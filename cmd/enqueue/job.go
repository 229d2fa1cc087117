package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/job"
	"github.com/llmq/llmq/progress"
	"github.com/llmq/llmq/tasks"
)

// jobFlags are the flags of "enqueue embed --file" beyond the common ones.
type jobFlags struct {
	id            string
	strict        bool
	errors        string
	format        string
	inputTokens   int
	requestTokens int
}

func (f *jobFlags) flags(fs *flag.FlagSet) {
	fs.StringVar(&f.id, "job", "", "name the job (default: derived from the input and the settings, so that running the same command again resumes it)")
	fs.BoolVar(&f.strict, "strict", false, "with any bad input line, enqueue nothing (default: skip and report bad lines)")
	fs.StringVar(&f.errors, "errors", "", "with --out: file to write failed items to, with their reasons")
	fs.StringVar(&f.format, "format", "", "with --out: output format, "+formats+" (default: the input's)")
	fs.IntVar(&f.inputTokens, "max-input-tokens", tasks.MaxInputTokens, "most tokens per text (estimated; OpenAI's limit is 8192)")
	fs.IntVar(&f.requestTokens, "max-request-tokens", tasks.MaxRequestTokens, "most tokens per task, all texts together (estimated; OpenAI's limit is 300000)")
}

// generateFlags declares the flags of "enqueue generate --file": those
// of embedding jobs but the token limits.
func (f *jobFlags) generateFlags(fs *flag.FlagSet) {
	fs.StringVar(&f.id, "job", "", "name the job (default: derived from the input and the settings, so that running the same command again resumes it)")
	fs.BoolVar(&f.strict, "strict", false, "with any bad input line, enqueue nothing (default: skip and report bad lines)")
	fs.StringVar(&f.errors, "errors", "", "with --out: file to write failed items to, with their reasons")
	fs.StringVar(&f.format, "format", "", "with --out: output format, simple or batch (default: the input's)")
	f.inputTokens, f.requestTokens = tasks.MaxInputTokens, tasks.MaxRequestTokens
}

func (f *jobFlags) set() bool {
	return f.id != "" || f.strict || f.errors != "" || f.format != "" ||
		f.inputTokens != tasks.MaxInputTokens || f.requestTokens != tasks.MaxRequestTokens
}

func (f *jobFlags) check() error {
	if f.id != "" {
		if err := job.CheckID(f.id); err != nil {
			return err
		}
	}
	if f.inputTokens < 1 || f.requestTokens < f.inputTokens {
		return errors.New("--max-input-tokens must be at least 1 and --max-request-tokens at least as large")
	}
	return checkFormat(f.format)
}

// formats lists the values of --format.
const formats = "simple, batch, base64 (the input's format with base64 vectors), simple,base64, batch,base64 or parquet"

func checkFormat(f string) error {
	_, _, err := parseFormat(f)
	return err
}

// parseFormat splits --format into the export's format and encoding.
func parseFormat(f string) (job.Format, string, error) {
	name, enc, _ := strings.Cut(f, ",")
	if name == job.EncodingBase64 && enc == "" {
		return "", job.EncodingBase64, nil
	}
	switch job.Format(name) {
	case "", job.FormatSimple, job.FormatBatch:
		if enc == "" || enc == job.EncodingFloat || enc == job.EncodingBase64 {
			return job.Format(name), enc, nil
		}
	case job.FormatParquet:
		if enc == "" {
			return job.FormatParquet, "", nil
		}
	}
	return "", "", fmt.Errorf("--format %q: want %s", f, formats)
}

// runJob submits --file as an embedding job.
func (c *embedCommand) runJob(ctx context.Context, env *environment) error {
	return runJob(ctx, env, c.file, c.job, job.Spec{
		Provider: c.provider, Model: env.opts.model, Dimensions: c.dimensions,
		Queue: env.opts.queue, BatchSize: c.batchSize,
		Limits: job.Limits{InputTokens: c.job.inputTokens, RequestTokens: c.job.requestTokens},
	})
}

// runJob submits file as the job spec describes (with the settings of
// the command line and the environment added), prints its ID and, with
// --wait or --out, follows it to the end and exports its results.
func runJob(ctx context.Context, env *environment, file string, flags jobFlags, spec job.Spec) error {
	path, name := file, file
	if file == "-" {
		p, remove, err := job.Spool(env.stdin, "")
		if err != nil {
			return err
		}
		defer remove()
		path, name = p, "stdin"
	} else if _, err := os.Stat(file); err != nil {
		return err
	}
	rdb, err := connect(ctx, env)
	if err != nil {
		return err
	}
	defer rdb.Close()

	// Most of the live heap is the deduplication tables (about 27 bytes per
	// line), which hold no pointers and cost the collector nothing to scan.
	// A low GC target keeps the garbage of parsing from doubling the heap
	// over them: 1,000,000 lines stay under 64 MB. GOGC overrides it. A
	// soft limit of 40 MiB has the runtime hand freed pages back to the
	// system before the heap grows past it (at 48 MiB the peak was 65 MB
	// in some runs, 62 MB at 40); GOMEMLIMIT overrides it.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(25)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(40 << 20)
	}
	spec.Path, spec.Name, spec.ID = path, name, flags.id
	spec.Retention, spec.Strict, spec.Concurrency = env.cfg.Results.Retention, flags.strict, env.opts.concurrency
	spec.Producer = env.producer
	sub := job.NewSubmission(rdb, spec)
	meter := progress.New(env.stderr, "enqueue", progress.IsTerminal(env.stderr))
	stop := watch(func() {
		p := sub.Progress()
		meter.Set(int64(p.Read), int64(p.Lines))
	})
	bad := 0
	sum, err := sub.Run(ctx, func(le *job.LineError) {
		bad++
		meter.Printf("%s:%d: %s\n", name, le.Line, le.Reason)
	})
	stop()
	meter.Done()
	if err != nil {
		return err
	}
	if sum.Resubmitted {
		fmt.Fprintf(env.stderr, "job %s was submitted before (%d items in %d tasks): nothing enqueued\n", sum.ID, sum.Items, sum.Batches)
	} else {
		fmt.Fprintf(env.stderr, "job %s: %d items (%d unique, %d duplicates), %d tasks (%d new, %d already queued) in %s: %.0f items/s\n",
			sum.ID, sum.Items, sum.Unique, sum.Items-sum.Unique, sum.Batches, sum.Enqueued, sum.Existing,
			sum.Elapsed.Round(time.Millisecond), float64(sum.Items)/sum.Elapsed.Seconds())
		if bad > 0 {
			fmt.Fprintf(env.stderr, "%s: skipped %d bad line(s)\n", name, bad)
		}
	}
	out := env.opts.out
	if out == "" && env.opts.wait {
		out = "-"
	}
	if out != "-" {
		fmt.Fprintln(env.stdout, sum.ID)
	}
	if out == "" {
		return nil
	}
	// The export's heap is its window of batches whatever the job's size,
	// and the submission's garbage is gone: the low GC target and the soft
	// limit above would only have the collector run through every window,
	// so the export runs with the runtime's defaults (unless GOGC or
	// GOMEMLIMIT set them).
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(100)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(math.MaxInt64)
	}
	// The export follows the job, writing each batch once it has finished,
	// while the progress display runs.
	st, err := job.GetStatus(ctx, rdb, sum.ID)
	if err != nil {
		return err
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	followed := make(chan error, 1)
	var final *job.Status
	go func() {
		var err error
		final, err = follow(fctx, rdb, env, sum.ID)
		followed <- err
	}()
	if err := export(ctx, rdb, env, st, out, flags.errors, flags.format, false, true); err != nil {
		cancel()
		<-followed
		if ctx.Err() != nil {
			return &interruptedError{id: sum.ID} // the job keeps running
		}
		return err
	}
	if err := <-followed; err != nil {
		return err
	}
	if final.Failed > 0 {
		return fmt.Errorf("%d of %d items failed", final.Failed, final.Unique)
	}
	return nil
}

// watch calls fn every 100 ms until the returned stop is called.
func watch(fn func()) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			fn()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished; fn() }
}

// followInterval is how often a followed job's status is read.
const followInterval = 250 * time.Millisecond

// follow shows the job's progress until it has finished.
func follow(ctx context.Context, rdb redis.Cmdable, env *environment, id string) (*job.Status, error) {
	meter := progress.New(env.stderr, "embed", progress.IsTerminal(env.stderr))
	defer meter.Done()
	start := time.Now()
	for {
		st, err := job.GetStatus(ctx, rdb, id)
		if err != nil {
			return nil, err
		}
		meter.Set(int64(st.Done+st.Failed), int64(st.Total))
		if st.Finished {
			meter.Done()
			fmt.Fprintf(env.stderr, "job %s finished: %d done, %d failed (waited %s; %.0f items/s while running)\n",
				id, st.Done, st.Failed, time.Since(start).Round(time.Millisecond), st.Rate)
			return st, nil
		}
		select {
		case <-ctx.Done():
			return nil, &interruptedError{id: id}
		case <-time.After(followInterval):
		}
	}
}

// export writes a finished job's results and, with del, deletes the job.
// With followJob it exports a running job as its batches finish.
func export(ctx context.Context, rdb redis.UniversalClient, env *environment, st *job.Status, out, errs, format string, del, followJob bool) error {
	f, enc, err := parseFormat(format)
	if err != nil {
		return err
	}
	var w io.Writer = env.stdout
	var outFile *os.File // closed, with its error checked, before the report
	if out != "-" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		outFile = f
		defer func() {
			if outFile != nil {
				_ = outFile.Close() // an early return: its error is the one reported
			}
		}()
		w = f
	}
	opts := job.ExportOptions{Out: w, Format: f, Encoding: enc, Follow: followJob}
	if errs != "" {
		f, err := os.Create(errs)
		if err != nil {
			return err
		}
		defer f.Close()
		opts.Errors = f
	}
	start := time.Now()
	sum, err := job.Export(ctx, rdb, st, opts)
	if err != nil {
		return err
	}
	if outFile != nil {
		err := outFile.Close()
		outFile = nil
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(env.stderr, "job %s: %d results to %s", st.ID, sum.Results, out)
	switch {
	case errs != "":
		fmt.Fprintf(env.stderr, ", %d failed items to %s", sum.Failed, errs)
	case sum.Failed > 0:
		fmt.Fprintf(env.stderr, "; %d items failed (--errors FILE lists them)", sum.Failed)
	}
	fmt.Fprintf(env.stderr, " in %s", time.Since(start).Round(time.Millisecond))
	if sum.Duplicates > 0 {
		fmt.Fprintf(env.stderr, " (%d duplicates copied)", sum.Duplicates)
	}
	fmt.Fprintln(env.stderr)
	if del {
		if err := job.Delete(ctx, rdb, st); err != nil {
			return err
		}
		fmt.Fprintf(env.stderr, "job %s deleted from Redis\n", st.ID)
	}
	return nil
}

// statusCommand is "enqueue status JOB".
type statusCommand struct {
	oneJob
	wait   bool
	asJSON bool
}

func (c *statusCommand) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.wait, "wait", false, "follow the job with a progress display until it has finished")
	fs.BoolVar(&c.asJSON, "json", false, "print the status as one JSON object")
}

// jobStatus returns the job's status now or, with wait, once it finished.
func jobStatus(ctx context.Context, rdb redis.UniversalClient, env *environment, id string, wait bool) (*job.Status, error) {
	if wait {
		return follow(ctx, rdb, env, id)
	}
	return job.GetStatus(ctx, rdb, id)
}

func (c *statusCommand) run(ctx context.Context, env *environment) error {
	rdb, err := connect(ctx, env)
	if err != nil {
		return err
	}
	defer rdb.Close()
	st, err := jobStatus(ctx, rdb, env, c.id, c.wait)
	if err != nil {
		return err
	}
	if c.asJSON {
		return json.NewEncoder(env.stdout).Encode(newStatusJSON(st, time.Now()))
	}
	printStatus(env.stdout, st)
	return nil
}

func printStatus(w io.Writer, st *job.Status) {
	state := st.State()
	model := st.Model
	if model == "" {
		model = "(worker default)"
	}
	fmt.Fprintf(w, "job       %s (%s)\n", st.ID, state)
	fmt.Fprintf(w, "input     %s, %s format, created %s\n", st.Input, st.Format, time.UnixMilli(st.Created).Format(time.RFC3339))
	fmt.Fprintf(w, "model     %s %s", st.Provider, model)
	if st.Dimensions > 0 {
		fmt.Fprintf(w, ", %d dimensions", st.Dimensions)
	}
	if st.Generation() {
		fmt.Fprintf(w, "; queue %s, one request per task\n", st.Queue)
	} else {
		fmt.Fprintf(w, "; queue %s, %d texts per task\n", st.Queue, st.BatchSize)
	}
	if st.Submitting {
		fmt.Fprintf(w, "items     %d lines, %d items queued so far\n", st.Lines, st.Queued)
	} else {
		fmt.Fprintf(w, "items     %d (%d unique, %d duplicates; %d lines skipped) in %d tasks\n",
			st.Items, st.Unique, st.Items-st.Unique, st.Skipped, st.Batches)
	}
	fmt.Fprintf(w, "counts    pending %d, active %d, done %d, failed %d\n", st.Pending, st.Active, st.Done, st.Failed)
	if st.Rate > 0 {
		fmt.Fprintf(w, "rate      %.0f items/s", st.Rate)
		if eta := st.ETA(); eta > 0 {
			fmt.Fprintf(w, ", about %s left", eta.Round(time.Second))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "retention %s after the last activity\n", time.Duration(st.Retention)*time.Second)
}

// resultsCommand is "enqueue results JOB".
type resultsCommand struct {
	oneJob
	out    string
	errors string
	format string
	wait   bool
	del    bool
}

func (c *resultsCommand) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.out, "out", "-", "file to write the results to (- is standard output)")
	fs.StringVar(&c.errors, "errors", "", "file to write failed items to, with their reasons")
	fs.StringVar(&c.format, "format", "", formats+" (default: the format of the job's input)")
	fs.BoolVar(&c.wait, "wait", false, "wait for the job to finish first")
	fs.BoolVar(&c.del, "delete", false, "after a complete export, delete the job and its results from Redis")
}

func (c *resultsCommand) check() error {
	if err := c.oneJob.check(); err != nil {
		return err
	}
	return checkFormat(c.format)
}

func (c *resultsCommand) run(ctx context.Context, env *environment) error {
	rdb, err := connect(ctx, env)
	if err != nil {
		return err
	}
	defer rdb.Close()
	st, err := jobStatus(ctx, rdb, env, c.id, c.wait)
	if err != nil {
		return err
	}
	if !st.Finished {
		return fmt.Errorf("%w: %s has %d of %d items left (enqueue status %s; --wait waits)",
			job.ErrNotFinished, st.ID, st.Total-st.Done-st.Failed, st.Total, st.ID)
	}
	return export(ctx, rdb, env, st, c.out, c.errors, c.format, c.del, false)
}
