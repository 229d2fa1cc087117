// Command demo runs llmq's main job end to end on one machine and prints
// what it measured: a bulk embedding run of a sample corpus through Redis,
// a worker process and its pooled HTTP client.
//
// It needs no API key and no running Redis. It starts a private
// redis-server when one is installed (else an embedded Redis), the provider
// simulator over TLS with HTTP/2 (or, when OPENAI_API_KEY is set, the real
// OpenAI-compatible endpoint at OPENAI_BASE_URL), and bin/worker; it runs
// the corpus as a bulk job with bin/enqueue (embed --file, status --wait,
// results), checks every result, and stops everything it started.
package main

import (
	"context"
	"flag"
	"io"
	"os"

	"github.com/llmq/llmq/internal/service"
	"github.com/llmq/llmq/job"
)

func main() {
	service.MainError("demo", func(ctx context.Context) error { return run(ctx, os.Args[1:], os.Stdout, os.Stderr) })
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.file, "file", "", "JSONL corpus of {\"id\", \"text\"} lines (default: the built-in sample of 1,500 documents)")
	fs.StringVar(&o.out, "out", "out/demo-results.jsonl", "where the results are written")
	fs.IntVar(&o.batchSize, "batch-size", job.DefaultBatchSize, "texts per task")
	fs.IntVar(&o.concurrency, "concurrency", 50, "worker concurrency")
	fs.StringVar(&o.redis, "redis", "auto", "auto: a private redis-server if one is installed, else an embedded Redis; server; embedded")
	fs.IntVar(&o.dim, "dim", 1536, "simulator: vector dimensions")
	fs.DurationVar(&o.latency, "latency", 20_000_000, "simulator: latency added to every request")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	d, err := newDemo(o, stdout, stderr)
	if err != nil {
		return err
	}
	defer d.stop()
	return d.run(ctx)
}
