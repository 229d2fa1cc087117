package bench

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/config"
	"github.com/llmq/llmq/simulator"
)

// consumer is what drains the queue in a drain run.
type consumer int

const (
	// noop is a bare asynq server whose handler returns nil.
	noop consumer = iota
	// sleeper is a bare asynq server whose handler sleeps for the
	// provider latency.
	sleeper
	// worker is bin/worker calling the simulator.
	worker
)

// drainSpec describes one drain run.
type drainSpec struct {
	consumer    consumer
	latency     time.Duration
	tasks, per  int
	concurrency int
	// extraEnv is given to bin/worker.
	extraEnv []string
	// capacity is the simulator's Config.Capacity: beyond it, its service
	// time grows with the requests in flight. 0 never saturates.
	capacity int
	// timed records the simulator's service times and its requests in
	// flight during the drain (drainResult.service and .inflight).
	timed bool
	// tag makes the texts of this run distinct from other runs'.
	tag string
}

// drainResult is what one drain run measured.
type drainResult struct {
	elapsed time.Duration
	// peakRSS is bin/worker's, in bytes; 0 for the in-process servers.
	peakRSS int64
	// requests and conns are the worker's pool counts.
	requests, conns int64
	// cpu is what each part of the run consumed while the queue drained.
	cpu cpuTimes
	// service is the simulator's time over each embeddings request, and
	// inflight its requests in flight every inflightEvery while the queue
	// drained; both only with drainSpec.timed.
	service  []time.Duration
	inflight []int
}

// inflightEvery is how often a timed drain counts the simulator's
// requests in flight.
const inflightEvery = 10 * time.Millisecond

func (d drainResult) tasksPerSec(spec drainSpec) float64 { return perSecond(spec.tasks, d.elapsed) }

func (d drainResult) textsPerSec(spec drainSpec) float64 {
	return perSecond(spec.tasks*spec.per, d.elapsed)
}

// drainTimeout bounds one drain run.
const drainTimeout = 3 * time.Minute

// drain fills the paused queue with spec.tasks tasks, starts the consumer,
// resumes the queue and times until every task has completed.
func (e *env) drain(ctx context.Context, spec drainSpec) (drainResult, error) {
	var res drainResult
	if err := e.flush(ctx); err != nil {
		return res, err
	}
	if err := e.pause(); err != nil {
		return res, err
	}
	if err := e.enqueueTasks(ctx, spec.tasks, spec.per, spec.tag); err != nil {
		return res, err
	}

	var (
		stop func() error
		prov *provider
	)
	pid := 0
	switch spec.consumer {
	case noop, sleeper:
		srv, err := e.startBareServer(spec)
		if err != nil {
			return res, err
		}
		stop = func() error { srv.Shutdown(); return nil }
	case worker:
		serve := e.serveSimulator
		if spec.timed {
			serve = e.serveTimed
		}
		var err error
		prov, err = serve(simulator.Config{Dim: e.cfg.Dim, Latency: spec.latency, Capacity: spec.capacity}, true)
		if err != nil {
			return res, err
		}
		defer prov.close()
		w, err := e.startWorker(ctx, workerSpec{
			concurrency: spec.concurrency,
			baseURL:     prov.ts.URL + "/v1",
			extraEnv:    spec.extraEnv,
		})
		if err != nil {
			return res, err
		}
		pid, stop = w.cmd.Process.Pid, w.stopper(ctx, &res)
	}

	var during func() func()
	if spec.timed && prov != nil {
		during = func() func() {
			counter := countInFlight(prov.sim)
			return func() { res.inflight, res.service = counter.end(), prov.times.take() }
		}
	}
	err := e.timeDrain(ctx, queue, spec.tasks, pid, &res, stop, during)
	return res, err
}

// timeDrain resumes queue q and times it until n of its tasks are
// completed, then stops the consumer with stop (also when the drain
// fails): res gets the elapsed time and the CPU of the run, the worker's
// (pid, 0 for none) among it. during, when set, is called once the queue
// is resumed, and what it returns once the drain is over.
func (e *env) timeDrain(ctx context.Context, q string, n, pid int, res *drainResult, stop func() error, during func() func()) error {
	cpuBefore := e.cpuNow(ctx, pid)
	begin := time.Now()
	if err := e.resumeQueue(q); err != nil {
		_ = stop()
		return err
	}
	var after func()
	if during != nil {
		after = during()
	}
	end, err := e.waitQueueCompleted(ctx, q, int64(n), drainTimeout)
	res.elapsed = end.Sub(begin)
	res.cpu = e.cpuNow(ctx, pid).sub(cpuBefore)
	if after != nil {
		after()
	}
	if serr := stop(); err == nil {
		err = serr
	}
	return err
}

// inFlightCounter counts a simulator's requests in flight every
// inflightEvery until end is called.
type inFlightCounter struct {
	stop   chan struct{}
	counts chan []int
}

func countInFlight(sim *simulator.Simulator) *inFlightCounter {
	c := &inFlightCounter{stop: make(chan struct{}), counts: make(chan []int, 1)}
	go func() {
		var counts []int
		t := time.NewTicker(inflightEvery)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				c.counts <- counts
				return
			case <-t.C:
				counts = append(counts, sim.InFlight())
			}
		}
	}()
	return c
}

// end stops the counting and returns the counts.
func (c *inFlightCounter) end() []int {
	close(c.stop)
	return <-c.counts
}

// startBareServer starts an asynq server in this process with the
// worker's queues, concurrency and polling, whose handler does nothing (or
// sleeps for the provider latency).
func (e *env) startBareServer(spec drainSpec) (*asynq.Server, error) {
	qs, err := config.ParseQueues(queues)
	if err != nil {
		return nil, err
	}
	srv := asynq.NewServer(e.connOpt(), asynq.Config{
		Concurrency:       spec.concurrency,
		Queues:            qs,
		TaskCheckInterval: pollInterval,
		LogLevel:          asynq.ErrorLevel,
	})
	h := asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error { return nil })
	if spec.consumer == sleeper {
		h = func(ctx context.Context, t *asynq.Task) error {
			select {
			case <-time.After(spec.latency):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if err := srv.Start(h); err != nil {
		return nil, fmt.Errorf("start asynq server: %w", err)
	}
	return srv, nil
}

// workerDrain is scenario 2: a bare asynq server with a no-op handler vs
// bin/worker on embedding tasks at 0 ms and at Latency provider latency.
func workerDrain(ctx context.Context, e *env, r *Report) error {
	cfg := e.cfg
	c := cfg.WorkerConcurrency
	specs := []struct {
		name string
		spec drainSpec
	}{
		{"bare asynq, no-op handler (baseline)", drainSpec{consumer: noop}},
		{"llmq worker, 0 ms provider latency", drainSpec{consumer: worker}},
		{fmt.Sprintf("bare asynq, handler sleeps %s", cfg.Latency), drainSpec{consumer: sleeper, latency: cfg.Latency}},
		{fmt.Sprintf("llmq worker, %s provider latency", cfg.Latency), drainSpec{consumer: worker, latency: cfg.Latency}},
	}
	s := make([]samples, len(specs))
	for i := range s {
		s[i] = samples{}
	}
	bound := float64(c) / cfg.Latency.Seconds()
	for rep := range cfg.Reps {
		for i, sp := range specs {
			spec := sp.spec
			spec.tasks, spec.per, spec.concurrency = cfg.DrainTasks, cfg.DrainBatch, c
			spec.tag = fmt.Sprintf("drain %d %d", rep, i)
			e.progress("worker drain", "case", sp.name, "rep", rep+1)
			res, err := e.drain(ctx, spec)
			if err != nil {
				return fmt.Errorf("%s: %w", sp.name, err)
			}
			s[i].add("tasks/s", res.tasksPerSec(spec))
			s[i].add("texts/s", res.textsPerSec(spec))
			if spec.latency > 0 {
				s[i].add("eff", res.tasksPerSec(spec)/bound)
			}
			if spec.consumer == worker {
				s[i].add("conns", float64(res.conns))
			}
			addCPU(s[i], res.cpu, spec.tasks)
		}
		s[1].add("x noop", ratio(last(s[1]["tasks/s"]), last(s[0]["tasks/s"])))
		s[3].add("x sleeper", ratio(last(s[3]["tasks/s"]), last(s[2]["tasks/s"])))
	}
	scen := fmt.Sprintf("2. worker drain: %d tasks of %d text(s), concurrency %d, TLS + HTTP/2, bound at %s = %s tasks/s",
		cfg.DrainTasks, cfg.DrainBatch, c, cfg.Latency, fmtRate(bound))
	for i, sp := range specs {
		if !s[i].sane("tasks/s") {
			return fmt.Errorf("%s: %w", sp.name, errInsane)
		}
		figs := fmt.Sprintf("%s tasks/s · %s embeddings/s", fmtRate(s[i].med("tasks/s")), fmtRate(s[i].med("texts/s")))
		if sp.spec.latency > 0 {
			figs += " · " + fmtPct(s[i].med("eff")) + " of the bound"
		}
		if sp.spec.consumer == worker {
			figs += fmt.Sprintf(" · %s opened", conns(s[i].med("conns")))
		}
		figs += " · " + fmtCPU(s[i], sp.spec.consumer == worker)
		vs := ""
		switch i {
		case 1:
			vs = fmtPct(s[1].med("x noop")) + " of the no-op rate"
		case 2:
			vs = "the bound: " + fmtRate(bound) + " tasks/s"
		case 3:
			vs = fmtPct(s[3].med("x sleeper")) + " of bare asynq's rate at the same latency"
		}
		r.row(scen, sp.name, figs, vs)
	}
	r.target(fmt.Sprintf("worker drain at %s provider latency ≥ 90%% of concurrency ÷ latency", cfg.Latency),
		fmtPct(s[3].med("eff")), s[3].med("eff") >= 0.9)
	perTask := s[3].med("cpu worker") + s[3].med("cpu self") + s[3].med("cpu redis")
	r.explain("at the bound, worker, simulator and Redis would need %.1f of this machine's %d CPUs (%.0f µs per task), with load average %s; bare asynq with a sleeping handler reached %s",
		perTask*bound/1e6, runtime.NumCPU(), perTask, loadAverage(), fmtPct(s[2].med("eff")))
	r.target("worker embedding drain at 0 ms ≥ 80% of bare asynq's no-op rate",
		fmtPct(s[1].med("x noop")), s[1].med("x noop") >= 0.8)
	r.explain("a task costs %.0f µs of CPU across worker, simulator and Redis, a no-op task %.0f µs; with every process on the same CPUs the rate follows",
		s[1].med("cpu worker")+s[1].med("cpu self")+s[1].med("cpu redis"), s[0].med("cpu self")+s[0].med("cpu redis"))
	return nil
}

// addCPU records CPU microseconds per task of each part of a run.
func addCPU(s samples, c cpuTimes, tasks int) {
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(tasks) }
	s.add("cpu worker", per(c.worker))
	s.add("cpu self", per(c.self))
	s.add("cpu redis", per(c.redis))
}

// fmtCPU shows where a run's CPU went, per task.
func fmtCPU(s samples, withWorker bool) string {
	if withWorker {
		return fmt.Sprintf("CPU per task: worker %.0f µs, simulator %.0f µs, Redis %.0f µs",
			s.med("cpu worker"), s.med("cpu self"), s.med("cpu redis"))
	}
	return fmt.Sprintf("CPU per task: asynq server %.0f µs, Redis %.0f µs", s.med("cpu self"), s.med("cpu redis"))
}
