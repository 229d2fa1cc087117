// Command bench runs llmq's benchmarks: client pooling against a new client
// per request and Go's default transport behind a latency proxy, the
// worker's drain rate against a bare asynq server, batching, enqueueing,
// memory, telemetry cost, export, and the adaptive in-flight limit
// against fixed concurrencies on a saturating provider. It starts a
// private redis-server, the provider simulator and the built worker and
// enqueue binaries, and stops them all at the end. It prints one table
// and, with -out, writes it as Markdown (BENCHMARKS.md).
//
//	bench [-smoke] [-out BENCHMARKS.md] [-cpuprofile FILE] [-only client,drain] [-reps N] [-bin DIR]
//
// With -smoke every scenario runs once at a tiny size and the command
// fails unless each produced sane figures: it checks the harness, not the
// timings. See package bench for what each scenario measures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/llmq/llmq/bench"
	"github.com/llmq/llmq/internal/service"
)

func main() {
	service.MainError("bench", func(ctx context.Context) error { return run(ctx, os.Args, os.Stdout, os.Stderr) })
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	binDir := fs.String("bin", "", "directory of the built worker and enqueue binaries (default: this program's, else bin)")
	smoke := fs.Bool("smoke", false, "run every scenario once at a tiny size and fail unless each produced sane figures")
	out := fs.String("out", "", "also write the report as Markdown to this file (BENCHMARKS.md)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the worker under load to this file and summarise it in the report")
	only := fs.String("only", "", "comma-separated scenarios to run (default all): "+strings.Join(bench.Scenarios(), ","))
	reps := fs.Int("reps", 0, "repetitions of each scenario (default 3; 1 with -smoke)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	dir := *binDir
	if dir == "" {
		dir = defaultBinDir()
	}
	cfg := bench.Full(dir)
	if *smoke {
		cfg = bench.Smoke(dir)
	}
	if *reps > 0 {
		cfg.Reps = *reps
	}
	cfg.CPUProfile = *cpuProfile
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	cfg.Log = slog.New(slog.NewTextHandler(stderr, nil))

	r, err := bench.Run(ctx, cfg)
	if r == nil {
		return err
	}
	fmt.Fprintln(stdout)
	if werr := r.WriteText(stdout); werr != nil && err == nil {
		err = werr
	}
	if *out != "" {
		if werr := writeMarkdown(r, *out, command(args)); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

// defaultBinDir is the directory of this program when the worker was built
// next to it (make build), else bin.
func defaultBinDir() string {
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		if _, err := os.Stat(filepath.Join(dir, "worker")); err == nil {
			return dir
		}
	}
	return "bin"
}

// command is the command line as it was typed, for the report.
func command(args []string) string {
	name := args[0]
	if filepath.IsAbs(name) {
		name = filepath.Base(name)
	}
	return strings.Join(append([]string{name}, args[1:]...), " ")
}

func writeMarkdown(r *bench.Report, path, cmd string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := r.WriteMarkdown(f, cmd); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
