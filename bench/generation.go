package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/simulator"
	"github.com/llmq/llmq/tasks"
)

// generationLatency is the simulator's time for one answer of tokens
// tokens: the time to the first token, then TokenLatency between tokens.
func generationLatency(c Config) time.Duration {
	return c.TimeToFirstToken + time.Duration(max(c.GenerationTokens-1, 0))*c.TokenLatency
}

// enqueueGenerations puts n OpenAI generation tasks of distinct prompts,
// each asking for tokens tokens, streamed or not, into the generation
// queue.
func (e *env) enqueueGenerations(ctx context.Context, n, tokens int, stream bool, prefix string) error {
	return e.enqueueEach(ctx, n, func(i int) (*asynq.Task, error) {
		return tasks.NewGenerateTask(tasks.GeneratePayload{
			Provider: tasks.ProviderOpenAI, Prompt: fmt.Sprintf("%s %d: why is the sky blue?", prefix, i),
			Options: map[string]any{"max_tokens": tokens}, Stream: stream,
		})
	})
}

// generationDrain is the generation scenario: bin/worker drains chat
// completions, streamed and not, from a simulator that takes
// TimeToFirstToken to the first token and TokenLatency per further token,
// with the generation queue at GenerationConcurrency of its own
// (WORKER_QUEUE_CONCURRENCY), against a bare asynq server whose handler
// sleeps for the same latency, and against the bound concurrency ÷
// latency. A streamed answer costs a wake-up per token in the simulator
// and the worker; one not streamed, two waits in the simulator.
func generationDrain(ctx context.Context, e *env, r *Report) error {
	cfg := e.cfg
	c, n := cfg.GenerationConcurrency, cfg.GenerationTasks
	latency := generationLatency(cfg)
	bound := float64(c) / latency.Seconds()
	names := []string{
		fmt.Sprintf("bare asynq, handler sleeps %s", latency),
		fmt.Sprintf("llmq worker, %s to first token + %s per token, %d tokens, streamed", cfg.TimeToFirstToken, cfg.TokenLatency, cfg.GenerationTokens),
		"llmq worker, the same, not streamed",
	}
	s := []samples{{}, {}, {}}
	for rep := range cfg.Reps {
		for i := range names {
			e.progress("generation drain", "case", names[i], "rep", rep+1)
			res, err := e.generationRun(ctx, i > 0, i == 1, n, c, latency, fmt.Sprintf("gen %d %d", rep, i))
			if err != nil {
				return fmt.Errorf("%s: %w", names[i], err)
			}
			rate := perSecond(n, res.elapsed)
			s[i].add("tasks/s", rate)
			s[i].add("eff", rate/bound)
			if i > 0 {
				s[i].add("conns", float64(res.conns))
				addCPU(s[i], res.cpu, n)
				s[i].add("x sleeper", ratio(last(s[i]["tasks/s"]), last(s[0]["tasks/s"])))
			}
		}
	}
	scen := fmt.Sprintf("2b. generation drain: %d chat completions of %d tokens, generation queue at concurrency %d (embeddings at %d), TLS + HTTP/2, bound at %s = %s tasks/s",
		n, cfg.GenerationTokens, c, cfg.WorkerConcurrency, latency, fmtRate(bound))
	for i := range names {
		if !s[i].sane("tasks/s") {
			return fmt.Errorf("%s: %w", names[i], errInsane)
		}
		figs := fmt.Sprintf("%s tasks/s · %s of the bound", fmtRate(s[i].med("tasks/s")), fmtPct(s[i].med("eff")))
		vs := "the bound: " + fmtRate(bound) + " tasks/s"
		if i > 0 {
			figs += fmt.Sprintf(" · %s opened · %s", conns(s[i].med("conns")), fmtCPU(s[i], true))
			vs = fmtPct(s[i].med("x sleeper")) + " of bare asynq's rate at the same latency"
		}
		r.row(scen, names[i], figs, vs)
	}
	r.target(fmt.Sprintf("streamed generation drain at %s + %s per token, concurrency %d, ≥ 80%% of concurrency ÷ latency", cfg.TimeToFirstToken, cfg.TokenLatency, c),
		fmtPct(s[1].med("eff")), s[1].med("eff") >= 0.8)
	perTask := s[1].med("cpu worker") + s[1].med("cpu self") + s[1].med("cpu redis")
	r.explain("a streamed generation task costs %.0f µs of CPU across worker, simulator and Redis (%.1f CPUs at the bound); not streamed it reached %s, bare asynq with a sleeping handler %s of the bound",
		perTask, perTask*bound/1e6, fmtPct(s[2].med("eff")), fmtPct(s[0].med("eff")))
	return nil
}

// generationRun fills the paused generation queue with n tasks, starts
// the consumer (bin/worker, or a bare asynq server sleeping for latency),
// resumes the queue and times until every task has completed.
func (e *env) generationRun(ctx context.Context, useWorker, stream bool, n, concurrency int, latency time.Duration, tag string) (drainResult, error) {
	var res drainResult
	q := tasks.QueueGeneration
	if err := e.flush(ctx); err != nil {
		return res, err
	}
	if err := e.pauseQueue(q); err != nil {
		return res, err
	}
	if err := e.enqueueGenerations(ctx, n, e.cfg.GenerationTokens, stream, tag); err != nil {
		return res, err
	}
	var stop func() error
	pid := 0
	if useWorker {
		prov, err := e.serveSimulator(simulator.Config{Dim: e.cfg.Dim, TimeToFirstToken: e.cfg.TimeToFirstToken, TokenLatency: e.cfg.TokenLatency}, true)
		if err != nil {
			return res, err
		}
		defer prov.close()
		w, err := e.startWorker(ctx, workerSpec{
			concurrency: e.cfg.WorkerConcurrency,
			baseURL:     prov.ts.URL + "/v1",
			extraEnv:    []string{fmt.Sprintf("WORKER_QUEUE_CONCURRENCY=%s=%d", q, concurrency), "OPENAI_MAX_CONNS=0"},
		})
		if err != nil {
			return res, err
		}
		pid, stop = w.cmd.Process.Pid, w.stopper(ctx, &res)
	} else {
		srv, err := e.startBareServer(drainSpec{consumer: sleeper, latency: latency, concurrency: concurrency})
		if err != nil {
			return res, err
		}
		stop = func() error { srv.Shutdown(); return nil }
	}
	err := e.timeDrain(ctx, q, n, pid, &res, stop, nil)
	return res, err
}
