package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/llmq/llmq/job"
)

// Config sizes a run. Full and Smoke return the two presets; zero fields
// are not filled in.
type Config struct {
	// BinDir holds the built worker and enqueue binaries.
	BinDir string
	// Reps is how many times each noisy scenario is repeated; figures are
	// medians over the repetitions.
	Reps int
	// RTT is the round-trip time the latency proxy adds.
	RTT time.Duration
	// Latency is the provider latency of the worker drain "at 20 ms".
	Latency time.Duration
	// Dim is the simulator's vector length.
	Dim int
	// BatchSize is the batch size the batching scenario compares with one
	// input per request: enqueue's default.
	BatchSize int
	// WorkerConcurrency is the worker's concurrency in the drain and
	// batching scenarios: its default.
	WorkerConcurrency int

	// ClientConcurrency is the high concurrency of the client overhead
	// scenario; the low one is 1.
	ClientConcurrency int
	// ClientRequests is the number of requests per run at
	// ClientConcurrency; ClientRequestsSerial at concurrency 1.
	ClientRequests, ClientRequestsSerial int
	// ColdWarm is how many cold and warm single requests are timed.
	ColdWarm int

	// DrainTasks is the number of tasks per drain run, of DrainBatch texts.
	DrainTasks, DrainBatch int
	// GenerationTasks is the number of generation tasks per run of the
	// generation scenario, drained at GenerationConcurrency from a
	// simulator that takes TimeToFirstToken to the first token and
	// TokenLatency to each further one of GenerationTokens.
	GenerationTasks, GenerationConcurrency, GenerationTokens int
	TimeToFirstToken, TokenLatency                           time.Duration
	// BatchTextsOne and BatchTexts are the texts embedded end to end with
	// one text per task and with BatchSize texts per task.
	BatchTextsOne, BatchTexts int
	// EnqueueLines is the length of the file given to bin/enqueue;
	// SequentialEnqueues the number of items of the sequential baseline.
	EnqueueLines, SequentialEnqueues int
	// MemoryTasks is the number of BatchSize-text tasks drained at
	// MemoryConcurrency to measure the worker's peak RSS.
	MemoryTasks, MemoryConcurrency int
	// ExportTexts is the size of the job exported in every format and run
	// end to end against the no-queue bound.
	ExportTexts int
	// AdaptiveTasks is the number of one-text tasks of each run of the
	// adaptive scenario, against a simulator that serves AdaptiveCapacity
	// requests at a time at Latency and slows down beyond: drained at each
	// fixed concurrency of AdaptiveSweep, which must include
	// WorkerConcurrency, and at WorkerConcurrency with the adaptive
	// in-flight limit.
	AdaptiveTasks, AdaptiveCapacity int
	AdaptiveSweep                   []int

	// CPUProfile, if set, is where a CPU profile of the worker draining at
	// 0 ms latency is written, in a run of its own.
	CPUProfile string
	// Only, if not empty, names the scenarios to run (see Scenarios); the
	// others are skipped.
	Only []string
	// Smoke checks that every scenario produced sane figures and fails the
	// run otherwise; timings are not judged.
	Smoke bool
	// Log receives progress lines; nil discards them.
	Log *slog.Logger
}

// Full is the configuration of `make bench`: within 10 minutes on 2 cores.
func Full(binDir string) Config {
	return Config{
		BinDir:                binDir,
		Reps:                  3,
		RTT:                   20 * time.Millisecond,
		Latency:               20 * time.Millisecond,
		Dim:                   1536,
		BatchSize:             job.DefaultBatchSize,
		WorkerConcurrency:     50,
		ClientConcurrency:     32,
		ClientRequests:        2000,
		ClientRequestsSerial:  100,
		ColdWarm:              10,
		DrainTasks:            5000,
		DrainBatch:            1,
		GenerationTasks:       4000,
		GenerationConcurrency: 256,
		GenerationTokens:      16,
		TimeToFirstToken:      200 * time.Millisecond,
		TokenLatency:          10 * time.Millisecond,
		BatchTextsOne:         4000,
		BatchTexts:            64000,
		EnqueueLines:          1_000_000,
		SequentialEnqueues:    5000,
		MemoryTasks:           400,
		MemoryConcurrency:     100,
		ExportTexts:           50000,
		AdaptiveTasks:         1200,
		AdaptiveCapacity:      8,
		AdaptiveSweep:         []int{4, 8, 16, 32, 50},
	}
}

// Smoke is the configuration of `make bench-smoke`: every scenario at a
// tiny size, once, to prove the harness works.
func Smoke(binDir string) Config {
	c := Full(binDir)
	c.Reps = 1
	c.ClientRequests = 64
	c.ClientRequestsSerial = 8
	c.ColdWarm = 2
	c.DrainTasks = 200
	c.GenerationTasks = 300
	c.BatchTextsOne = 100
	c.BatchTexts = 640
	c.EnqueueLines = 5000
	c.SequentialEnqueues = 200
	c.MemoryTasks = 20
	c.ExportTexts = 640
	c.AdaptiveTasks = 100
	c.Smoke = true
	return c
}

// Validate reports the first unusable field.
func (c Config) Validate() error {
	switch {
	case c.BinDir == "":
		return errors.New("bench: Config.BinDir is required")
	case c.Reps < 1:
		return fmt.Errorf("bench: Config.Reps must be at least 1, got %d", c.Reps)
	case c.RTT <= 0 || c.Latency <= 0 || c.TimeToFirstToken <= 0 || c.TokenLatency < 0:
		return errors.New("bench: Config.RTT, Latency and TimeToFirstToken must be positive, TokenLatency not negative")
	}
	for _, name := range c.Only {
		if !slices.Contains(Scenarios(), name) {
			return fmt.Errorf("bench: unknown scenario %q (want one of %s)", name, strings.Join(Scenarios(), ", "))
		}
	}
	switch {
	case c.Dim < 1, c.BatchSize < 1, c.WorkerConcurrency < 1, c.ClientConcurrency < 1,
		c.ClientRequests < 1, c.ClientRequestsSerial < 1, c.ColdWarm < 1,
		c.DrainTasks < 1, c.DrainBatch < 1, c.GenerationTasks < 1, c.GenerationConcurrency < 1, c.GenerationTokens < 1, c.BatchTextsOne < 1, c.BatchTexts < 1,
		c.EnqueueLines < 1, c.SequentialEnqueues < 1, c.MemoryTasks < 1, c.MemoryConcurrency < 1, c.ExportTexts < 1,
		c.AdaptiveTasks < 1, c.AdaptiveCapacity < 1:
		return errors.New("bench: Config sizes must be positive")
	}
	if !slices.Contains(c.AdaptiveSweep, c.WorkerConcurrency) || slices.ContainsFunc(c.AdaptiveSweep, func(n int) bool { return n < 1 }) {
		return fmt.Errorf("bench: Config.AdaptiveSweep must hold positive concurrencies, WorkerConcurrency (%d) among them, got %v", c.WorkerConcurrency, c.AdaptiveSweep)
	}
	return nil
}

// scenario is one part of a run: it adds rows and targets to the report,
// and fails when it could not measure.
type scenario struct {
	name string
	run  func(ctx context.Context, e *env, r *Report) error
}

// Scenarios returns the names of the scenarios, in the order they run.
func Scenarios() []string {
	var names []string
	for _, s := range scenarios() {
		names = append(names, s.name)
	}
	return names
}

func scenarios() []scenario {
	return []scenario{
		{"client", clientOverhead},
		{"drain", workerDrain},
		{"generation", generationDrain},
		{"batching", batching},
		{"enqueue", enqueueThroughput},
		{"memory", workerMemory},
		{"telemetry", telemetryCost},
		{"export", exportEndToEnd},
		{"adaptive", adaptiveLimit},
		{"profile", cpuProfile},
	}
}

// Run starts a private Redis and runs every scenario, stopping everything
// it started before it returns. A scenario that fails is recorded in
// Report.Failures and the others still run; the error is non-nil when any
// failed or when the run could not start.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e, err := newEnv(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer e.close()
	r := &Report{Config: cfg, Machine: machine(e.redisVersion), Started: time.Now()}
	for _, s := range scenarios() {
		if ctx.Err() != nil {
			break
		}
		if len(cfg.Only) > 0 && !slices.Contains(cfg.Only, s.name) {
			continue
		}
		begin := time.Now()
		cfg.Log.Info("scenario", slog.String("name", s.name))
		if err := s.run(ctx, e, r); err != nil {
			r.Failures = append(r.Failures, fmt.Sprintf("%s: %v", s.name, err))
			cfg.Log.Error("scenario failed", slog.String("name", s.name), slog.String("error", err.Error()))
		}
		cfg.Log.Info("scenario done", slog.String("name", s.name), slog.Duration("took", time.Since(begin).Round(100*time.Millisecond)))
	}
	r.Elapsed = time.Since(r.Started)
	r.Machine.LoadAfter = loadAverage()
	if err := ctx.Err(); err != nil {
		return r, err
	}
	if len(r.Failures) > 0 {
		return r, fmt.Errorf("%d scenario(s) failed", len(r.Failures))
	}
	return r, nil
}

// progress logs one step of a scenario.
func (e *env) progress(msg string, args ...any) {
	e.cfg.Log.Info(msg, args...)
}

// errInsane fails a scenario whose figures are zero or not numbers.
var errInsane = errors.New("figures are missing, zero or not numbers")
