package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/llmq/llmq/bench/latencyproxy"
)

// writeCorpus writes an enqueue input file of n lines, {"id", "text"},
// and returns its path.
func (e *env) writeCorpus(name string, n int) (string, error) {
	path := filepath.Join(e.tmp, name)
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range n {
		fmt.Fprintf(w, `{"id":"doc-%d","text":"%s document %d: the quick brown fox jumps over the lazy dog"}`+"\n", i, name, i)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}

// enqueueRun is what one run of bin/enqueue measured.
type enqueueRun struct {
	wall    time.Duration
	peakRSS int64
	// cpu is the CPU time it used, user and system.
	cpu time.Duration
}

// runEnqueue runs bin/enqueue embed --file path --batch-size batch against
// the private Redis and waits for it to exit.
func (e *env) runEnqueue(ctx context.Context, path string, batch int) (enqueueRun, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(e.cfg.BinDir, "enqueue"), "embed",
		"--file", path, "--batch-size", fmt.Sprint(batch))
	cmd.Env = append(os.Environ(), "REDIS_URL="+e.redis.URL())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr // stdout, the task IDs, goes to /dev/null
	cmd.SysProcAttr = childAttr()
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		return enqueueRun{}, fmt.Errorf("enqueue: %w", err)
	}
	hwm := watchHWM(cmd.Process.Pid)
	err := cmd.Wait()
	run := enqueueRun{wall: time.Since(begin), peakRSS: hwm.end()}
	if ps := cmd.ProcessState; ps != nil {
		run.cpu = ps.UserTime() + ps.SystemTime()
	}
	if err != nil {
		return run, fmt.Errorf("enqueue: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return run, nil
}

// batching is scenario 3: embeddings/s end to end, from starting
// bin/enqueue until every result is stored, with one text per task (one
// input per request) and with BatchSize, through bin/worker and the
// latency proxy.
func batching(ctx context.Context, e *env, r *Report) error {
	cfg := e.cfg
	prov, err := e.startProvider(0, true)
	if err != nil {
		return err
	}
	defer prov.close()
	proxy, err := latencyproxy.Start(prov.addr(), cfg.RTT)
	if err != nil {
		return err
	}
	defer proxy.Close()
	w, err := e.startWorker(ctx, workerSpec{concurrency: cfg.WorkerConcurrency, baseURL: "https://" + proxy.Addr() + "/v1"})
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			w.kill()
		}
	}()

	cases := []struct {
		name  string
		batch int
		texts int
	}{
		{"one text per task (baseline)", 1, cfg.BatchTextsOne},
		{fmt.Sprintf("%d texts per task (enqueue's default)", cfg.BatchSize), cfg.BatchSize, cfg.BatchTexts},
	}
	files := make([]string, len(cases))
	for i, c := range cases {
		if files[i], err = e.writeCorpus(fmt.Sprintf("batch-%d.jsonl", c.batch), c.texts); err != nil {
			return err
		}
	}
	s := []samples{{}, {}}
	for rep := range cfg.Reps {
		for i, c := range cases {
			e.progress("batching", "case", c.name, "rep", rep+1)
			if err := e.flush(ctx); err != nil {
				return err
			}
			cpuBefore := e.cpuNow(ctx, w.cmd.Process.Pid)
			begin := time.Now()
			run, err := e.runEnqueue(ctx, files[i], c.batch)
			if err != nil {
				return err
			}
			ntasks := (c.texts + c.batch - 1) / c.batch
			end, err := e.waitCompleted(ctx, int64(ntasks), drainTimeout)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			cpu := e.cpuNow(ctx, w.cmd.Process.Pid).sub(cpuBefore)
			s[i].add("emb/s", perSecond(c.texts, end.Sub(begin)))
			s[i].add("tasks/s", perSecond(ntasks, end.Sub(begin)))
			per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(c.texts) }
			s[i].add("cpu worker", per(cpu.worker))
			s[i].add("cpu self", per(cpu.self))
			s[i].add("cpu redis", per(cpu.redis))
			s[i].add("cpu enqueue", per(run.cpu))
		}
		s[1].add("x", ratio(last(s[1]["emb/s"]), last(s[0]["emb/s"])))
	}
	st, err := w.stats(ctx)
	if err != nil {
		return err
	}
	stopped = true
	if _, err := w.stop(); err != nil {
		return err
	}

	scen := fmt.Sprintf("3. batching, end to end: enqueue → stored results, worker concurrency %d, %s RTT, TLS + HTTP/2", cfg.WorkerConcurrency, cfg.RTT)
	for i, c := range cases {
		if !s[i].sane("emb/s") {
			return fmt.Errorf("%s: %w", c.name, errInsane)
		}
		figs := fmt.Sprintf("%s embeddings/s · %s tasks/s (%s texts) · CPU per embedding: worker %.0f µs, simulator and proxy %.0f µs, Redis %.0f µs, enqueue %.0f µs",
			fmtRate(s[i].med("emb/s")), fmtRate(s[i].med("tasks/s")), groupThousands(int64(c.texts)),
			s[i].med("cpu worker"), s[i].med("cpu self"), s[i].med("cpu redis"), s[i].med("cpu enqueue"))
		vs := ""
		if i == 1 {
			vs = fmtX(s[1].med("x")) + " embeddings/s"
			if e.newClientRPS > 0 {
				vs += fmt.Sprintf(" · %s the new-client-per-request baseline of scenario 1 (%s req/s, one input each)",
					fmtX(s[1].med("emb/s")/e.newClientRPS), fmtRate(e.newClientRPS))
			}
		}
		r.row(scen, c.name, figs, vs)
	}
	r.Notes = append(r.Notes, fmt.Sprintf("batching: the worker opened %s for %s requests over the whole scenario", conns(float64(st.Dials)), groupThousands(st.Requests)))
	r.target(fmt.Sprintf("batching: %d texts per task ≥ 10× the embeddings/s of one per request", cfg.BatchSize),
		fmtX(s[1].med("x")), s[1].med("x") >= 10)
	cpu := func(i int) float64 {
		return s[i].med("cpu worker") + s[i].med("cpu self") + s[i].med("cpu redis") + s[i].med("cpu enqueue")
	}
	r.explain("one text per task is bound by concurrency ÷ round trip (%s embeddings/s); %d per task is bound by CPU: %.0f µs per embedding across processes on %d CPUs (%.0f µs with one per task)",
		fmtRate(float64(cfg.WorkerConcurrency)/cfg.RTT.Seconds()), cfg.BatchSize, cpu(1), runtime.NumCPU(), cpu(0))
	x := ratio(s[1].med("emb/s"), e.newClientRPS)
	r.target("end to end ≥ 20× the embeddings/s of the new-client-per-request baseline", fmtX(x), x >= 20)
	return nil
}
