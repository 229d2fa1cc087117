package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/openai"
)

// exportFormat is one --format of the export cases.
type exportFormat struct {
	name, flag string
	// floor is the target in items/s.
	floor float64
}

var exportFormats = []exportFormat{
	{"JSON floats (simple)", "simple", 25000},
	{"base64 (simple)", "base64", 100000},
	{"Parquet", "parquet", 100000},
}

// prepareOutput readies path for a timed run that writes about size
// bytes to it, untimed: it removes the previous run's output, so that
// each run writes a new file, as a user's export does, and none pays for
// the file system truncating and flushing the last one's (hundreds of MB
// at 1536 dimensions); then it warms that much memory (warmPages).
func prepareOutput(path string, size int64) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return warmPages(filepath.Dir(path), size)
}

// warmPages writes a scratch file of size bytes in dir and removes it,
// untimed, just before a run that writes a file of about that size, so
// that the run writes into memory the system used a moment ago. On a
// virtual machine that hands the guest's free memory back to its host
// (free page reporting), a page left free for about two seconds costs a
// host page fault when it is next touched: on the benchmark machine a new
// 1 GB file was written at 345 to 440 MB/s, and 300 MB after it was
// removed at 3.2 to 4.3 GB/s within a second, 1.3 to 1.5 GB/s two
// seconds or more later. The effect lasts only seconds, so it helps the
// file written first and the memory touched early; the rest of a run
// still pays it in part.
func warmPages(dir string, size int64) error {
	f, err := os.CreateTemp(dir, "warm-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	buf := make([]byte, 1<<20)
	for n := int64(0); n < size; n += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return fmt.Errorf("warm memory: %w", err)
		}
	}
	return f.Close()
}

// exportEndToEnd is scenario 7: a job of ExportTexts texts at Dim
// dimensions and Latency provider latency, end to end with
// `enqueue embed --file --wait --out` against the no-queue bound (a
// minimal direct client with the same batch size, concurrency, output
// format and simulator), then `enqueue results` of the finished job in
// each format.
func exportEndToEnd(ctx context.Context, e *env, r *Report) error {
	cfg := e.cfg
	prov, err := e.startProvider(cfg.Latency, true)
	if err != nil {
		return err
	}
	defer prov.close()
	baseURL := "https://" + prov.addr() + "/v1"
	w, err := e.startWorker(ctx, workerSpec{concurrency: cfg.WorkerConcurrency, baseURL: baseURL})
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			w.kill()
		}
	}()
	texts := cfg.ExportTexts
	// The largest output: JSON floats of about 12 bytes each.
	outSize := int64(texts) * int64(cfg.Dim) * 12
	s := samples{}
	for rep := range cfg.Reps {
		// Texts differ between repetitions, so that no job is resumed.
		file, err := e.writeCorpus(fmt.Sprintf("export-%d.jsonl", rep), texts)
		if err != nil {
			return err
		}
		out := filepath.Join(e.tmp, "export.out")
		if err := e.flush(ctx); err != nil {
			return err
		}

		e.progress("export", "case", "no-queue bound", "rep", rep+1)
		if err := prepareOutput(out, outSize); err != nil {
			return err
		}
		d, err := e.directClient(ctx, baseURL, file, out)
		if err != nil {
			return fmt.Errorf("no-queue bound: %w", err)
		}
		if err := checkLines(out, texts); err != nil {
			return fmt.Errorf("no-queue bound: %w", err)
		}
		s.add("bound", perSecond(texts, d))

		e.progress("export", "case", "enqueue --wait --out", "rep", rep+1)
		if err := prepareOutput(out, outSize); err != nil {
			return err
		}
		cpuBefore := e.cpuNow(ctx, w.cmd.Process.Pid)
		run, id, err := e.runEnqueueArgs(ctx, "embed", "--file", file, "--batch-size", strconv.Itoa(cfg.BatchSize), "--out", out)
		if err != nil {
			return err
		}
		cpu := e.cpuNow(ctx, w.cmd.Process.Pid).sub(cpuBefore)
		if err := checkLines(out, texts); err != nil {
			return fmt.Errorf("enqueue --wait --out: %w", err)
		}
		s.add("e2e", perSecond(texts, run.wall))
		s.add("ratio", ratio(last(s["e2e"]), last(s["bound"])))
		per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(texts) }
		s.add("cpu worker", per(cpu.worker))
		s.add("cpu enqueue", per(run.cpu))
		s.add("cpu redis", per(cpu.redis))

		for _, f := range exportFormats {
			e.progress("export", "format", f.flag, "rep", rep+1)
			if err := prepareOutput(out, outSize); err != nil {
				return err
			}
			run, _, err := e.runEnqueueArgs(ctx, "results", id, "--out", out, "--format", f.flag)
			if err != nil {
				return err
			}
			if f.flag != "parquet" {
				if err := checkLines(out, texts); err != nil {
					return fmt.Errorf("results --format %s: %w", f.flag, err)
				}
			}
			s.add(f.flag, perSecond(texts, run.wall))
			s.add(f.flag+" cpu", per(run.cpu))
		}
		_ = os.Remove(file)
		_ = os.Remove(out)
	}
	stopped = true
	if _, err := w.stop(); err != nil {
		return err
	}
	if err := e.flush(ctx); err != nil {
		return err
	}
	keys := []string{"bound", "e2e"}
	for _, f := range exportFormats {
		keys = append(keys, f.flag)
	}
	if !s.sane(keys...) {
		return errInsane
	}

	scen := fmt.Sprintf("7. export and end to end: %s texts × %d dimensions, %s provider latency, worker concurrency %d, batch size %d, TLS + HTTP/2",
		groupThousands(int64(texts)), cfg.Dim, cfg.Latency, cfg.WorkerConcurrency, cfg.BatchSize)
	r.row(scen, fmt.Sprintf("no-queue bound: direct client, %d requests at once, JSON floats to a file (baseline)", cfg.WorkerConcurrency),
		fmtRate(s.med("bound"))+" items/s", "")
	r.row(scen, "enqueue embed --file --wait --out: enqueue, drain and export overlapping, JSON floats",
		fmt.Sprintf("%s items/s · CPU per item: worker %.1f µs, enqueue %.1f µs, Redis %.1f µs", fmtRate(s.med("e2e")),
			s.med("cpu worker"), s.med("cpu enqueue"), s.med("cpu redis")),
		fmt.Sprintf("%.2f of the no-queue bound", s.med("ratio")))
	for _, f := range exportFormats {
		r.row(scen, fmt.Sprintf("enqueue results --format %s of the finished job: %s", f.flag, f.name),
			fmt.Sprintf("%s items/s · CPU %.1f µs per item", fmtRate(s.med(f.flag)), s.med(f.flag+" cpu")), "")
	}
	for _, f := range exportFormats {
		r.target(fmt.Sprintf("export %s ≥ %s items/s at %d dimensions", f.name, fmtRate(f.floor), cfg.Dim),
			fmtRate(s.med(f.flag)), s.med(f.flag) >= f.floor)
		r.explain("%.1f µs of CPU per item in enqueue, on %d CPUs shared with Redis", s.med(f.flag+" cpu"), runtime.NumCPU())
	}
	r.target("end to end ≥ 0.9 of the no-queue bound", fmt.Sprintf("%.2f", s.med("ratio")), s.med("ratio") >= 0.9)
	r.explain("the bound reached %s items/s, llmq %s; llmq also spends %.1f µs per item in the worker, %.1f in enqueue and %.1f in Redis",
		fmtRate(s.med("bound")), fmtRate(s.med("e2e")), s.med("cpu worker"), s.med("cpu enqueue"), s.med("cpu redis"))
	r.target("end to end ≥ 15,000 items/s", fmtRate(s.med("e2e")), s.med("e2e") >= 15000)
	r.target("worker CPU per embedding ≤ 10 µs, end to end", fmt.Sprintf("%.1f µs", s.med("cpu worker")), s.med("cpu worker") <= 10)
	r.explain("bin/worker's CPU (/proc) over the end-to-end runs at %s provider latency, sharing %d CPUs with enqueue, Redis and the simulator",
		cfg.Latency, runtime.NumCPU())
	return nil
}

// runEnqueueArgs runs bin/enqueue with args against the private Redis and
// returns what it measured and the first line of its standard output.
func (e *env) runEnqueueArgs(ctx context.Context, args ...string) (enqueueRun, string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(e.cfg.BinDir, "enqueue"), args...)
	cmd.Env = append(os.Environ(), "REDIS_URL="+e.redis.URL())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = childAttr()
	begin := time.Now()
	err := cmd.Run()
	run := enqueueRun{wall: time.Since(begin)}
	if ps := cmd.ProcessState; ps != nil {
		run.cpu = ps.UserTime() + ps.SystemTime()
	}
	if err != nil {
		return run, "", fmt.Errorf("enqueue %s: %w: %s", args[0], err, bytes.TrimSpace(stderr.Bytes()))
	}
	first, _, _ := strings.Cut(stdout.String(), "\n")
	return run, strings.TrimSpace(first), nil
}

// checkLines checks that file has n lines.
func checkLines(file string, n int) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	got := 0
	br := bufio.NewReaderSize(f, 1<<20)
	for {
		_, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		got++
	}
	if got != n {
		return fmt.Errorf("%s has %d lines, want %d", file, got, n)
	}
	return nil
}

// directClient is the no-queue bound: what a user would write without a
// queue. It reads the corpus, sends BatchSize texts per request from
// WorkerConcurrency goroutines through llmq's OpenAI client and a pooled
// HTTP client, and writes each answer as JSON lines in the simple format
// with the standard library (encoding/json's float32 formatting) as it
// arrives, in no particular order. It returns the time from start to the
// last byte written.
func (e *env) directClient(ctx context.Context, baseURL, corpus, out string) (time.Duration, error) {
	cfg := e.cfg
	begin := time.Now()
	hc, _, err := clients.NewHTTPClient(clients.Config{MaxIdleConns: cfg.WorkerConcurrency, Timeout: time.Minute, TLSConfig: e.tlsConfig()})
	if err != nil {
		return 0, err
	}
	defer hc.CloseIdleConnections()
	oa, err := openai.New(hc, openai.Config{BaseURL: baseURL})
	if err != nil {
		return 0, err
	}
	in, err := os.Open(corpus)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	f, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	defer f.Close()

	type batch struct{ ids, texts []string }
	batches := make(chan batch, cfg.WorkerConcurrency)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	var wg sync.WaitGroup
	for range cfg.WorkerConcurrency {
		wg.Go(func() {
			var line []byte
			for b := range batches {
				res, err := oa.Embed(ctx, clients.EmbedRequest{Input: b.texts})
				if err != nil {
					fail(err)
					return
				}
				line = line[:0]
				for i, v := range res.Vectors {
					o, err := json.Marshal(struct {
						ID        string    `json:"id"`
						Embedding []float32 `json:"embedding"`
						Model     string    `json:"model"`
					}{b.ids[i], v, res.Model})
					if err != nil {
						fail(err)
						return
					}
					line = append(append(line, o...), '\n')
				}
				mu.Lock()
				_, err = f.Write(line)
				mu.Unlock()
				if err != nil {
					fail(err)
					return
				}
			}
		})
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	b := batch{}
	send := func() bool {
		select {
		case batches <- b:
			b = batch{}
			return true
		case <-ctx.Done():
			return false
		}
	}
	for sc.Scan() {
		var l struct{ ID, Text string }
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			fail(err)
			break
		}
		b.ids, b.texts = append(b.ids, l.ID), append(b.texts, l.Text)
		if len(b.texts) == cfg.BatchSize && !send() {
			break
		}
	}
	if len(b.texts) > 0 {
		send()
	}
	close(batches)
	wg.Wait()
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if firstErr != nil {
		return 0, firstErr
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	return time.Since(begin), nil
}
