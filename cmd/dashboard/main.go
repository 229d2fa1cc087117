// Command dashboard serves the asynqmon web UI for llmq's queues behind
// HTTP basic authentication, with task payloads and results summarised
// (package dashboard). It refuses to start without DASHBOARD_PASSWORD.
// Configuration comes from the environment; run it with --help for the
// list.
package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/llmq/llmq/config"
	"github.com/llmq/llmq/dashboard"
	"github.com/llmq/llmq/internal/service"
)

var command = service.Command[config.DashboardEnv]{
	Name:  "dashboard",
	About: "Serves the asynqmon web UI for llmq's queues behind HTTP basic authentication.",
	Log:   func(e config.DashboardEnv) config.Log { return e.Log },
	Serve: serve,
}

func main() { command.Main() }

// serve wires the dashboard handler to an HTTP server on DASHBOARD_ADDR.
func serve(ctx context.Context, cfg config.DashboardEnv, logger *slog.Logger, _ io.Writer) error {
	redisOpt, err := cfg.Redis.ConnOpt()
	if err != nil {
		return err
	}
	d, err := dashboard.New(dashboard.Config{
		RedisConnOpt: redisOpt,
		RootPath:     cfg.Dashboard.Path(),
		ReadOnly:     cfg.Dashboard.ReadOnly,
		User:         cfg.Dashboard.User,
		Password:     cfg.Dashboard.Password,
		Logger:       logger,
	})
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Ready(ctx); err != nil {
		logger.Warn("dashboard starts, not ready: /readyz answers 503 until Redis answers", slog.String("error", err.Error()))
	}

	ln, err := net.Listen("tcp", cfg.Dashboard.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: d, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	if cfg.Dashboard.TLS() {
		cert, err := tls.LoadX509KeyPair(cfg.Dashboard.TLSCertFile, cfg.Dashboard.TLSKeyFile)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("DASHBOARD_TLS_CERT_FILE, DASHBOARD_TLS_KEY_FILE: %w", err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	errc := make(chan error, 1)
	go func() {
		if cfg.Dashboard.TLS() {
			errc <- srv.ServeTLS(ln, "", "") // HTTP/2 and HTTP/1.1 with srv.TLSConfig's certificate
			return
		}
		errc <- srv.Serve(ln)
	}()
	logger.Info("dashboard listening", slog.String("addr", ln.Addr().String()), slog.Bool("tls", cfg.Dashboard.TLS()),
		slog.String("root_path", d.RootPath()+"/"), slog.Bool("read_only", cfg.Dashboard.ReadOnly))

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("dashboard stopped")
	return nil
}
