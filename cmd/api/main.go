// Command api serves OpenAI's Files and Batch API in front of llmq's jobs
// (package batchapi): the official SDKs upload a JSONL file, create a
// batch, follow it and download its output, while the ordinary workers run
// it. Any number of replicas may run against one Redis and one FILE_STORE.
// Configuration comes from the environment; run it with --help for the
// list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/batchapi"
	"github.com/llmq/llmq/config"
	"github.com/llmq/llmq/filestore"
	"github.com/llmq/llmq/telemetry"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitConfig = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run serves the API until ctx is cancelled and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stdout, "Usage: api\n\nServes OpenAI's Files and Batch API; batches run as llmq jobs on the workers.\nConfigured by these environment variables:")
		config.Usage(stdout, config.APIEnv{})
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitConfig
	}
	cfg, err := config.Load[config.APIEnv]()
	if err != nil {
		fmt.Fprintf(stderr, "api: %v\n", err)
		return exitConfig
	}
	logger, err := telemetry.NewLogger(stderr, cfg.Log)
	if err != nil {
		fmt.Fprintf(stderr, "api: %v\n", err)
		return exitConfig
	}
	if err := serve(ctx, cfg, logger, stdout); err != nil {
		logger.Error("api stopped", slog.String("error", err.Error()))
		return exitFailed
	}
	return exitOK
}

func serve(ctx context.Context, cfg config.APIEnv, logger *slog.Logger, stdout io.Writer) error {
	opt, err := cfg.Redis.ConnOpt()
	if err != nil {
		return err
	}
	rdb, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return errors.New("redis: unsupported connection options")
	}
	defer rdb.Close()
	storeCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	store, err := filestore.Open(storeCtx, cfg.API.FileStore, filestore.S3Config{Endpoint: cfg.API.S3Endpoint, Region: cfg.API.S3Region})
	cancel()
	if err != nil {
		return err
	}
	keys, err := cfg.API.ParseKeys()
	if err != nil {
		return err
	}
	var bk []batchapi.Key
	for _, k := range keys {
		bk = append(bk, batchapi.Key{Name: k.Name, Secret: k.Key})
	}
	srv, err := batchapi.New(rdb, store, batchapi.Config{
		Keys: bk, MaxUploadBytes: cfg.API.MaxUploadBytes, MaxOpenBatches: cfg.API.MaxOpenBatches,
		MaxCompletionWindow: cfg.API.MaxCompletionWindow, Provider: cfg.API.Provider, BatchSize: cfg.API.BatchSize,
		Retention: cfg.Results.Retention, SpoolDir: cfg.API.SpoolDir, Logger: logger,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.API.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(ln) }()
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	go func() { errc <- srv.Run(runCtx) }()
	logger.Info("api listening", slog.String("addr", ln.Addr().String()), slog.String("file_store", store.String()),
		slog.Int("keys", len(bk)))
	fmt.Fprintf(stdout, "api listening on http://%s\n", ln.Addr())

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelShutdown()
	err = hs.Shutdown(shutdownCtx)
	stopRun()
	srv.Wait()
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("api stopped")
	return nil
}
