// Command worker drains llmq's queues: it runs embedding and generation
// tasks from Redis through one pooled HTTP client per provider and stores
// their results. Configuration comes from the environment; run it with
// --help for the list.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/breaker"
	"github.com/llmq/llmq/budget"
	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/ollama"
	"github.com/llmq/llmq/clients/openai"
	"github.com/llmq/llmq/config"
	"github.com/llmq/llmq/guard"
	"github.com/llmq/llmq/inflight"
	"github.com/llmq/llmq/internal/service"
	"github.com/llmq/llmq/job"
	"github.com/llmq/llmq/tasks"
	"github.com/llmq/llmq/telemetry"
)

var command = service.Command[config.WorkerEnv]{
	Name:  "worker",
	About: "Runs llmq tasks from Redis.",
	Log:   func(e config.WorkerEnv) config.Log { return e.Log },
	Serve: serve,
}

func main() { command.Main() }

// serve wires the worker: Redis, the pooled provider clients, the task
// handlers, the asynq server and the health endpoints; it returns once ctx
// has ended and the worker has shut down.
func serve(ctx context.Context, cfg config.WorkerEnv, logger *slog.Logger, _ io.Writer) error {
	stopProfile, err := startCPUProfile(os.Getenv(cpuProfileEnv))
	if err != nil {
		return service.ConfigError(err)
	}
	defer stopProfile()
	setGCPercent()
	redis.SetLogger(redisLogger{logger})
	rdb, err := cfg.Redis.Open()
	if err != nil {
		return err // validated by Load; kept for safety
	}
	defer rdb.Close()
	if err := waitForRedis(ctx, rdb, 10*time.Second); err != nil {
		return err
	}
	tel, err := telemetry.Setup(ctx, cfg.Telemetry, telemetry.Options{
		ServiceName: "llmq-worker", Prometheus: cfg.Worker.HTTPAddr != "", Logger: logger,
	})
	if err != nil {
		return err
	}
	defer flushTelemetry(tel, logger)
	groups, err := taskServerGroups(cfg)
	if err != nil {
		return err
	}
	p, err := newProviders(ctx, cfg, logger, tel, rdb, totalConcurrency(groups))
	if err != nil {
		return err
	}
	srv, err := startTasks(cfg, logger, tel, rdb, p, groups)
	if err != nil {
		return err
	}
	if tel.MetricsEnabled() {
		// Queue sizes come from one worker at a time: see QueueReporter.
		reporter, err := telemetry.StartQueueReporter(rdb, tel.Providers, logger, telemetry.QueueReporterConfig{})
		if err != nil {
			srv.shutdown()
			return err
		}
		defer reporter.Close()
	}
	health, err := startHealth(cfg.Worker.HTTPAddr, healthHandler(rdb, p.pools, p.guards, tel.MetricsHandler()), logger)
	if err != nil {
		srv.shutdown()
		return err
	}

	<-ctx.Done()
	logger.Info("shutting down: no new tasks; waiting for running tasks",
		slog.Duration("shutdown_timeout", cfg.Worker.ShutdownTimeout))
	srv.shutdown() // unfinished tasks go back to their queues
	if health != nil {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = health.Shutdown(shutdownCtx)
		cancel()
	}
	for name, s := range p.pools {
		snap := s.Snapshot()
		logger.Info("connection pool", slog.String("provider", name), slog.Int64("requests", snap.Requests),
			slog.Int64("conns_opened", snap.Dials), slog.Float64("reuse_percent", snap.ReusePercent()))
	}
	logger.Info("worker stopped")
	return nil
}

// flushTelemetry sends what the exporters still hold.
func flushTelemetry(tel *telemetry.Telemetry, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		logger.Warn("telemetry not flushed", slog.String("error", err.Error()))
	}
}

// providers are the provider clients, each on the process's one pooled
// *http.Client for its provider.
type providers struct {
	openai guard.Embedder
	// openaiGen serves chat and text completions: the same pool under the
	// longer OPENAI_GENERATION_TIMEOUT, and the same guard.
	openaiGen guard.Completer
	ollama    interface {
		guard.Embedder
		guard.Generator
	}
	pools  map[string]*clients.Stats
	guards map[string]*guard.Guard
}

func newProviders(ctx context.Context, cfg config.WorkerEnv, logger *slog.Logger, tel *telemetry.Telemetry, rdb redis.UniversalClient, concurrency int) (*providers, error) {
	openaiPool := poolConfig(logger, tel, "openai", cfg.OpenAI.MaxConns, cfg.OpenAI.MaxIdleConns, cfg.OpenAI.Timeout, concurrency)
	// A generation that does not stream sends its headers with its answer.
	openaiPool.ResponseHeaderTimeout = max(cfg.OpenAI.Timeout, cfg.OpenAI.GenerationTimeout)
	openaiHTTP, openaiStats, err := clients.NewHTTPClient(openaiPool)
	if err != nil {
		return nil, fmt.Errorf("openai client: %w", err)
	}
	// Generation uses the same pool under its own, longer, timeout.
	openaiGenHTTP := *openaiHTTP
	openaiGenHTTP.Timeout = cfg.OpenAI.GenerationTimeout
	ollamaHTTP, ollamaStats, err := clients.NewHTTPClient(poolConfig(logger, tel, "ollama", cfg.Ollama.MaxConns, cfg.Ollama.MaxIdleConns, cfg.Ollama.Timeout, concurrency))
	if err != nil {
		return nil, fmt.Errorf("ollama client: %w", err)
	}
	oa, err := openai.New(openaiHTTP, openai.Config{BaseURL: cfg.OpenAI.BaseURL, APIKey: cfg.OpenAI.APIKey, Model: cfg.OpenAI.EmbeddingModel,
		TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider})
	if err != nil {
		return nil, err
	}
	oaGen, err := openai.New(&openaiGenHTTP, openai.Config{BaseURL: cfg.OpenAI.BaseURL, APIKey: cfg.OpenAI.APIKey, ChatModel: cfg.OpenAI.ChatModel,
		TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider})
	if err != nil {
		return nil, err
	}
	ol, err := ollama.New(ollamaHTTP, ollama.Config{Host: cfg.Ollama.Host, Model: cfg.Ollama.Model, EmbeddingModel: cfg.Ollama.EmbeddingModel,
		TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider})
	if err != nil {
		return nil, err
	}
	warm(ctx, logger, "openai", openaiHTTP, oa.WarmURL())
	warm(ctx, logger, "ollama", ollamaHTTP, ol.WarmURL())
	openaiGuard, err := guard.New(rdb, tasks.ProviderOpenAI, guardConfig(cfg, concurrency, cfg.OpenAI.RPM, cfg.OpenAI.TPM, logger, tel))
	if err != nil {
		return nil, err
	}
	ollamaGuard, err := guard.New(rdb, tasks.ProviderOllama, guardConfig(cfg, concurrency, cfg.Ollama.RPM, cfg.Ollama.TPM, logger, tel))
	if err != nil {
		return nil, err
	}
	return &providers{
		openai:    openaiGuard.Embedder(oa),
		openaiGen: openaiGuard.Completer(oaGen),
		ollama:    guardedBoth{Embedder: ollamaGuard.Embedder(ol), Generator: ollamaGuard.Generator(ol)},
		pools:     map[string]*clients.Stats{tasks.ProviderOpenAI: openaiStats, tasks.ProviderOllama: ollamaStats},
		guards:    map[string]*guard.Guard{tasks.ProviderOpenAI: openaiGuard, tasks.ProviderOllama: ollamaGuard},
	}, nil
}

// guardedBoth is a provider that embeds and generates, both guarded.
type guardedBoth struct {
	guard.Embedder
	guard.Generator
}

// guardConfig is a provider's guard: its shared budget, and the breaker,
// in-flight and deferral settings every provider shares. The in-flight
// limit starts at the worker's concurrency, so that a cold start is not
// serialised, and moves between PROVIDER_MIN_INFLIGHT and that.
func guardConfig(cfg config.WorkerEnv, concurrency, rpm, tpm int, logger *slog.Logger, tel *telemetry.Telemetry) guard.Config {
	r := cfg.Resilience
	maxWait := r.MaxWait
	if maxWait == 0 {
		maxWait = -1 // never wait in the worker
	}
	return guard.Config{
		// A burst of half a second of the rate: any 10 s window then sees
		// at most the rate plus 5%.
		Budget:      budget.Config{Limit: budget.Limit{RequestsPerMinute: rpm, TokensPerMinute: tpm}, Burst: 500 * time.Millisecond},
		Breaker:     breaker.Config{Failures: r.BreakerFailures, MinCooldown: r.BreakerMinCooldown, MaxCooldown: r.BreakerMaxCooldown},
		Concurrency: inflight.Config{Max: concurrency, Min: r.MinInflight, Initial: concurrency, MeterProvider: tel.MeterProvider},
		MaxWait:     maxWait,
		Estimate:    tasks.EstimateTokens,
		Logger:      logger,
	}
}

// poolConfig returns a provider's pool settings. The idle limit is raised
// to the worker's concurrency (MinIdleConns): below it, every task that
// finishes while the pool is full closes its connection and another task
// dials a new one.
func poolConfig(logger *slog.Logger, tel *telemetry.Telemetry, provider string, maxConns, maxIdle int, timeout time.Duration, concurrency int) clients.Config {
	if maxConns > 0 && maxConns < concurrency {
		logger.Warn("max connections below worker concurrency: tasks will wait for a connection",
			slog.String("provider", provider), slog.Int("max_conns", maxConns), slog.Int("concurrency", concurrency))
	}
	return clients.Config{MaxConns: maxConns, MaxIdleConns: maxIdle, MinIdleConns: concurrency, Timeout: timeout,
		Provider: provider, MeterProvider: tel.MeterProvider}
}

// taskServerGroups splits the worker's queues into the task servers that
// serve them: one per queue given its own concurrency
// (WORKER_QUEUE_CONCURRENCY), and one shared by the rest.
func taskServerGroups(cfg config.WorkerEnv) ([]serverGroup, error) {
	queues, err := cfg.Worker.QueueWeights()
	if err != nil {
		return nil, err
	}
	own, err := cfg.Worker.QueueConcurrencies()
	if err != nil {
		return nil, err
	}
	return serverGroups(queues, own, cfg.Worker.Concurrency), nil
}

// startTasks starts the asynq servers running llmq's handlers.
func startTasks(cfg config.WorkerEnv, logger *slog.Logger, tel *telemetry.Telemetry, rdb redis.UniversalClient, p *providers, groups []serverGroup) (taskServers, error) {
	embed := tasks.NewEmbedHandler(map[string]tasks.Embedder{
		tasks.ProviderOpenAI: p.openai,
		tasks.ProviderOllama: p.ollama,
	}, logger, tasks.WithJobs(job.NewRecorder(rdb)), tasks.WithItemResults(rdb),
		tasks.WithVectorBudget(int64(cfg.Worker.VectorBudgetMB)<<20))
	mux := tasks.NewMux(map[string]asynq.Handler{
		tasks.TypeEmbed:     embed,
		tasks.TypeEmbedItem: embed,
		tasks.TypeGenerate: tasks.NewGenerateHandler(map[string]tasks.Generator{
			tasks.ProviderOllama: p.ollama,
		}, logger, tasks.WithCompleter(p.openaiGen), tasks.WithDefaultProvider(cfg.Generation.Provider),
			tasks.WithGenerateJobs(job.NewRecorder(rdb))),
	})
	newServer := func(c asynq.Config) *asynq.Server { return asynq.NewServerFromRedisClient(rdb, c) }
	srv := newTaskServers(newServer, asynq.Config{
		ShutdownTimeout:   cfg.Worker.ShutdownTimeout,
		TaskCheckInterval: cfg.Worker.PollInterval,
		// Retries and scheduled tasks are due at a time; look for due ones
		// every second (asynq's default is 5s) so that a provider's short
		// Retry-After is honoured, not stretched.
		DelayedTaskCheckInterval: time.Second,
		RetryDelayFunc:           tasks.RetryDelay,
		IsFailure:                tasks.IsFailure,
		ErrorHandler:             tasks.LogError(logger),
		Logger:                   asynqLogger{logger},
		LogLevel:                 asynqLevel(cfg.Log),

		// Always aggregate: grouped tasks wait forever on a queue whose
		// servers do not.
		GroupAggregator:  asynq.GroupAggregatorFunc(tasks.AggregateItems),
		GroupMaxSize:     cfg.Group.MaxSize,
		GroupMaxDelay:    cfg.Group.MaxDelay,
		GroupGracePeriod: cfg.Group.GracePeriod,
	}, groups)
	instrument, err := telemetry.TaskMiddleware(tel.Providers)
	if err != nil {
		return nil, err
	}
	// Outermost the wait for Redis (so that llmq.task.duration does not
	// count it), innermost the bound on deferrals (so that the metrics see
	// the outcome asynq acts on).
	patience := guard.NewPatience(rdb, cfg.Resilience.DeferralPatience)
	h := instrument(patience.Middleware(mux))
	if cfg.Resilience.RedisSettleWait > 0 {
		h = tasks.SettleWithRedis(rdb, cfg.Resilience.RedisSettleWait)(h)
	}
	if err := srv.start(h); err != nil {
		return nil, fmt.Errorf("start task server: %w", err)
	}
	logger.Info("worker started", slog.Int("concurrency", totalConcurrency(groups)), slog.Any("servers", groups))
	return srv, nil
}

// waitForRedis pings Redis until it answers or the wait is over, so that a
// worker started alongside Redis does not fail while Redis comes up.
func waitForRedis(ctx context.Context, rdb redis.UniversalClient, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var lastErr error
	for {
		pingCtx, cancelPing := context.WithTimeout(ctx, time.Second)
		err := rdb.Ping(pingCtx).Err()
		cancelPing()
		if err == nil {
			return nil
		}
		if ctx.Err() == nil || lastErr == nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis unreachable after %s: %w", wait, lastErr)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// warm opens the first connection to a provider before tasks arrive.
func warm(ctx context.Context, logger *slog.Logger, provider string, hc *http.Client, url string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := clients.Warm(ctx, hc, url); err != nil {
		logger.Info("provider not reachable at start-up; tasks will retry", slog.String("provider", provider), slog.String("error", err.Error()))
		return
	}
	logger.Debug("provider connection warmed", slog.String("provider", provider))
}

// startHealth serves h, the health and metrics endpoints, on addr. An
// empty addr serves nothing.
func startHealth(addr string, h http.Handler, logger *slog.Logger) (*http.Server, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("health endpoints: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("health endpoints stopped", slog.String("error", err.Error()))
		}
	}()
	logger.Info("health endpoints listening", slog.String("addr", ln.Addr().String()))
	return srv, nil
}
