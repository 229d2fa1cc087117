// Command bench runs llmq's benchmarks and writes BENCHMARKS.md.
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
	"path/filepath"
	"strings"
	"syscall"

	"github.com/llmq/llmq/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	exe, _ := os.Executable()
	binDir := fs.String("bin", filepath.Dir(exe), "directory of the built worker and enqueue binaries")
	smoke := fs.Bool("smoke", false, "run every scenario once at a tiny size and fail unless each produced sane figures")
	out := fs.String("out", "", "write the report as Markdown to this file (BENCHMARKS.md)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the worker under load to this file")
	only := fs.String("only", "", "comma-separated scenarios to run (default all): "+strings.Join(bench.Scenarios(), ","))
	reps := fs.Int("reps", 0, "repetitions of each noisy scenario (default 3; 1 with -smoke)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	cfg := bench.Full(*binDir)
	if *smoke {
		cfg = bench.Smoke(*binDir)
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
	if r != nil {
		fmt.Fprintln(stdout)
		if werr := r.WriteText(stdout); werr != nil && err == nil {
			err = werr
		}
		if *out != "" {
			f, ferr := os.Create(*out)
			if ferr != nil {
				return ferr
			}
			werr := r.WriteMarkdown(f, strings.Join(append([]string{filepath.Base(args[0])}, args[1:]...), " "))
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil && err == nil {
				err = werr
			}
		}
	}
	return err
}
