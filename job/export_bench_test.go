package job_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/openai"
	"github.com/llmq/llmq/internal/redistest"
	"github.com/llmq/llmq/job"
	"github.com/llmq/llmq/simulator"
	"github.com/llmq/llmq/tasks"
)

// BenchmarkExport exports a finished job of 5,120 texts at 1536
// dimensions to io.Discard in each format; items/s is the figure.
//
//	go test ./job -run '^$' -bench Export -cpuprofile out/export.prof
func BenchmarkExport(b *testing.B) {
	const n, dims = 5120, 1536
	srvRedis := redistest.Start(b)
	rdb := redis.NewClient(&redis.Options{Addr: srvRedis.Addr()})
	b.Cleanup(func() { rdb.Close() })
	ts := simulator.Start(simulator.New(simulator.Config{Dim: dims}), false)
	b.Cleanup(ts.Close)
	hc, _, err := clients.NewHTTPClient(clients.Config{MaxIdleConns: 8, Timeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	oa, err := openai.New(hc, openai.Config{BaseURL: ts.URL + "/v1"})
	if err != nil {
		b.Fatal(err)
	}
	srv := asynq.NewServer(srvRedis.ConnOpt(), asynq.Config{Concurrency: 8, LogLevel: asynq.FatalLevel,
		Queues: map[string]int{tasks.QueueEmbeddings: 1}})
	h := tasks.NewEmbedHandler(map[string]tasks.Embedder{tasks.ProviderOpenAI: oa}, slog.New(slog.NewTextHandler(io.Discard, nil)),
		tasks.WithJobs(job.NewRecorder(rdb)))
	if err := srv.Start(tasks.NewMux(map[string]asynq.Handler{tasks.TypeEmbed: h})); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Shutdown)
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"id": "doc-%d", "text": "document %d: the quick brown fox jumps over the lazy dog"}`, i, i)
	}
	ctx := context.Background()
	sum, err := job.NewSubmission(rdb, job.Spec{Path: writeFile(b, lines...), BatchSize: 128}).Run(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	st := wait(b, rdb, sum.ID)
	for _, opts := range []job.ExportOptions{
		{Format: job.FormatSimple}, {Format: job.FormatSimple, Encoding: job.EncodingBase64}, {Format: job.FormatParquet},
	} {
		b.Run(string(opts.Format)+opts.Encoding, func(b *testing.B) {
			opts.Out = io.Discard
			for b.Loop() {
				if _, err := job.Export(ctx, rdb, st, opts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "items/s")
		})
	}
}
