package bench

import (
	"context"
	"fmt"

	"github.com/llmq/llmq/tasks"
)

// workerMemory is scenario 5: bin/worker's peak RSS while it drains
// BatchSize-text tasks at MemoryConcurrency, and bin/enqueue's on the
// enqueue scenario's file.
func workerMemory(ctx context.Context, e *env, r *Report) error {
	cfg := e.cfg
	scen := "5. memory: peak resident set size"
	// The first case shows what the worker needs for itself; the second,
	// the default batch of full-size vectors, what the data adds.
	cases := []drainSpec{
		{consumer: worker, latency: cfg.Latency, tasks: cfg.DrainTasks, per: 1, concurrency: cfg.MemoryConcurrency},
		{consumer: worker, latency: cfg.Latency, tasks: cfg.MemoryTasks, per: cfg.BatchSize, concurrency: cfg.MemoryConcurrency},
	}
	var worst, small float64
	for i, spec := range cases {
		s := samples{}
		for rep := range cfg.Reps {
			e.progress("memory", "texts per task", spec.per, "rep", rep+1)
			spec.tag = fmt.Sprintf("memory %d %d", i, rep)
			res, err := e.drain(ctx, spec)
			if err != nil {
				return err
			}
			s.add("rss", float64(res.peakRSS))
			s.add("emb/s", res.textsPerSec(spec))
		}
		if !s.sane("rss", "emb/s") {
			return errInsane
		}
		worst = max(worst, maxOf(s["rss"]))
		if i == 0 {
			small = s.med("rss")
		}
		r.row(scen, fmt.Sprintf("bin/worker, concurrency %d, %s tasks of %d text(s) × %d dimensions, %s provider latency",
			spec.concurrency, groupThousands(int64(spec.tasks)), spec.per, cfg.Dim, cfg.Latency),
			fmt.Sprintf("peak RSS %s (largest of %d runs: %s) · %s embeddings/s", fmtMB(s.med("rss")), len(s["rss"]), fmtMB(maxOf(s["rss"])), fmtRate(s.med("emb/s"))), "")
	}
	if err := e.flush(ctx); err != nil {
		return err
	}
	r.target(fmt.Sprintf("worker peak RSS ≤ 100 MB at concurrency %d", cfg.MemoryConcurrency), fmtMB(worst), worst <= 100e6)
	vectors := float64(cfg.BatchSize * cfg.Dim * 4)
	r.explain("with one text per task the worker peaks at %s; a task of %d × %d dimensions holds its answer (%s of base64), its vectors and its stored result (%s each) while it runs; the vector budget (WORKER_VECTOR_BUDGET_MB, default %d MiB) lets %d such tasks of the %d receive at once, and the garbage collector's headroom comes on top",
		fmtMB(small), cfg.BatchSize, cfg.Dim, fmtBytes(vectors*4/3), fmtBytes(vectors), tasks.DefaultVectorBudget>>20,
		max(1, int(float64(tasks.DefaultVectorBudget)/vectors)), cfg.MemoryConcurrency)
	if e.enqueueRSS > 0 {
		r.row(scen, fmt.Sprintf("bin/enqueue embed --file, %s lines", groupThousands(int64(cfg.EnqueueLines))),
			"peak RSS "+fmtMB(e.enqueueRSS)+" (from scenario 4)", "")
		r.target(fmt.Sprintf("enqueue peak RSS ≤ 64 MB on %s lines", groupThousands(int64(cfg.EnqueueLines))), fmtMB(e.enqueueRSS), e.enqueueRSS <= 64e6)
		r.explain("%.0f bytes of peak RSS per input line", e.enqueueRSS/float64(cfg.EnqueueLines))
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
