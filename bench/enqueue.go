package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/tasks"
)

// pendingKey is asynq's list of pending tasks of the queue.
const pendingKey = "asynq:{" + queue + "}:pending"

// sequentialEnqueue enqueues n one-text tasks, one Enqueue call after
// another, and returns the time it took.
func (e *env) sequentialEnqueue(ctx context.Context, n int, tag string) (time.Duration, error) {
	client := asynq.NewClient(e.connOpt())
	defer client.Close()
	begin := time.Now()
	for i := range n {
		t, err := tasks.NewEmbedTask(tasks.EmbedPayload{Texts: texts(tag, i, 1)})
		if err != nil {
			return 0, err
		}
		if _, err := client.EnqueueContext(ctx, t); err != nil {
			return 0, fmt.Errorf("enqueue: %w", err)
		}
	}
	return time.Since(begin), nil
}

// enqueueThroughput is scenario 4: items/s of bin/enqueue on a large file
// vs a sequential loop of asynq.Client.Enqueue, one item per task. It also
// keeps enqueue's peak RSS for the memory scenario.
func enqueueThroughput(ctx context.Context, e *env, r *Report) error {
	cfg := e.cfg
	e.progress("enqueue: writing the input file", "lines", cfg.EnqueueLines)
	file, err := e.writeCorpus("enqueue.jsonl", cfg.EnqueueLines)
	if err != nil {
		return err
	}
	seq, enq := samples{}, samples{}
	wantTasks := int64((cfg.EnqueueLines + cfg.BatchSize - 1) / cfg.BatchSize)
	for rep := range cfg.Reps {
		e.progress("enqueue", "case", "sequential Enqueue", "rep", rep+1)
		if err := e.flush(ctx); err != nil {
			return err
		}
		d, err := e.sequentialEnqueue(ctx, cfg.SequentialEnqueues, fmt.Sprint("seq ", rep))
		if err != nil {
			return err
		}
		seq.add("items/s", perSecond(cfg.SequentialEnqueues, d))

		e.progress("enqueue", "case", "bin/enqueue", "rep", rep+1)
		if err := e.flush(ctx); err != nil {
			return err
		}
		run, err := e.runEnqueue(ctx, file, cfg.BatchSize)
		if err != nil {
			return err
		}
		if n, err := e.rdb.LLen(ctx, pendingKey).Result(); err != nil || n != wantTasks {
			return fmt.Errorf("bin/enqueue left %d pending tasks (%v), want %d", n, err, wantTasks)
		}
		enq.add("items/s", perSecond(cfg.EnqueueLines, run.wall))
		enq.add("rss", float64(run.peakRSS))
		enq.add("x", ratio(last(enq["items/s"]), last(seq["items/s"])))
	}
	if err := e.flush(ctx); err != nil {
		return err
	}
	if !seq.sane("items/s") || !enq.sane("items/s", "rss") {
		return errInsane
	}
	e.enqueueRSS = enq.med("rss")
	scen := "4. enqueue into local Redis"
	r.row(scen, fmt.Sprintf("sequential asynq.Client.Enqueue, one item per task, %s items (baseline)", groupThousands(int64(cfg.SequentialEnqueues))),
		fmtRate(seq.med("items/s"))+" items/s", "")
	r.row(scen, fmt.Sprintf("bin/enqueue embed --file, %s lines, batch size %d", groupThousands(int64(cfg.EnqueueLines)), cfg.BatchSize),
		fmt.Sprintf("%s items/s · peak RSS %s", fmtRate(enq.med("items/s")), fmtMB(enq.med("rss"))), fmtX(enq.med("x"))+" items/s")
	r.target("enqueue ≥ 20,000 items/s into local Redis", fmtRate(enq.med("items/s")), enq.med("items/s") >= 20000)
	r.target("enqueue ≥ 10× sequential Enqueue", fmtX(enq.med("x")), enq.med("x") >= 10)
	return nil
}
