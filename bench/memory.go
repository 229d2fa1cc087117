package bench

import (
	"context"
	"fmt"
)

// workerMemory is scenario 5: bin/worker's peak RSS while it drains
// BatchSize-text tasks at MemoryConcurrency, and bin/enqueue's on the
// enqueue scenario's file.
func workerMemory(ctx context.Context, e *env, r *Report) error {
	cfg := e.cfg
	s := samples{}
	spec := drainSpec{
		consumer: worker, latency: cfg.Latency,
		tasks: cfg.MemoryTasks, per: cfg.BatchSize, concurrency: cfg.MemoryConcurrency,
	}
	for rep := range cfg.Reps {
		e.progress("memory", "case", "worker", "rep", rep+1)
		spec.tag = fmt.Sprint("memory ", rep)
		res, err := e.drain(ctx, spec)
		if err != nil {
			return err
		}
		s.add("rss", float64(res.peakRSS))
		s.add("emb/s", res.textsPerSec(spec))
	}
	if err := e.flush(ctx); err != nil {
		return err
	}
	if !s.sane("rss", "emb/s") {
		return errInsane
	}
	scen := "5. memory: peak resident set size"
	r.row(scen, fmt.Sprintf("bin/worker, concurrency %d, %d tasks of %d texts × %d dimensions, %s provider latency",
		cfg.MemoryConcurrency, cfg.MemoryTasks, cfg.BatchSize, cfg.Dim, cfg.Latency),
		fmt.Sprintf("peak RSS %s (largest of %d runs: %s) · %s embeddings/s", fmtMB(s.med("rss")), len(s["rss"]), fmtMB(maxOf(s["rss"])), fmtRate(s.med("emb/s"))), "")
	r.target(fmt.Sprintf("worker peak RSS ≤ 100 MB at concurrency %d", cfg.MemoryConcurrency), fmtMB(maxOf(s["rss"])), maxOf(s["rss"]) <= 100e6)
	if e.enqueueRSS > 0 {
		r.row(scen, fmt.Sprintf("bin/enqueue embed --file, %s lines", groupThousands(int64(cfg.EnqueueLines))),
			"peak RSS "+fmtMB(e.enqueueRSS)+" (from scenario 4)", "")
		r.target(fmt.Sprintf("enqueue peak RSS ≤ 64 MB on %s lines", groupThousands(int64(cfg.EnqueueLines))), fmtMB(e.enqueueRSS), e.enqueueRSS <= 64e6)
	}
	return nil
}

func maxOf(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
