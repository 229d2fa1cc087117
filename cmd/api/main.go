// Command api serves OpenAI's Files and Batch API in front of llmq's jobs
// (package batchapi): the official SDKs upload a JSONL file, create a
// batch, follow it and download its output, while the ordinary workers run
// it. Any number of replicas may run against one Redis and one FILE_STORE.
// Configuration comes from the environment; run it with --help for the
// list.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/llmq/llmq/batchapi"
	"github.com/llmq/llmq/config"
	"github.com/llmq/llmq/filestore"
	"github.com/llmq/llmq/internal/service"
)

var command = service.Command[config.APIEnv]{
	Name:  "api",
	About: "Serves OpenAI's Files and Batch API; batches run as llmq jobs on the workers.",
	Log:   func(e config.APIEnv) config.Log { return e.Log },
	Serve: serve,
}

func main() { command.Main() }

// serve wires the API: Redis, the file store and the HTTP server, and
// takes this replica's share of the open batches' work until ctx ends.
func serve(ctx context.Context, cfg config.APIEnv, logger *slog.Logger, stdout io.Writer) error {
	rdb, err := cfg.Redis.Open()
	if err != nil {
		return err
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
