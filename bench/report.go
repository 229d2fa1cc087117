package bench

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Row is one line of the results table.
type Row struct {
	// Scenario names the scenario and its set-up.
	Scenario string
	// Case is what was measured; the first case of a scenario is usually
	// its baseline.
	Case string
	// Figures are the measured figures, medians over the repetitions.
	Figures string
	// VsBaseline compares the case with its baseline measured in the same
	// repetition; empty for a baseline.
	VsBaseline string
}

// Status says where a run stands against a target.
type Status string

// Statuses of a Target.
const (
	Met         Status = "met"
	NotMet      Status = "not met"
	NotMeasured Status = "not measured"
)

// Target is one goal the benchmarks check, with this run's figure.
type Target struct {
	Goal   string
	Got    string
	Status Status
	// Reading explains the figure, from what else the run measured.
	Reading string
}

// Machine describes where a run happened.
type Machine struct {
	CPUs       int
	CPUModel   string
	OS         string
	Go         string
	Redis      string
	LoadBefore string
	LoadAfter  string
}

// Report is what Run measured.
type Report struct {
	Config  Config
	Machine Machine
	Started time.Time
	Elapsed time.Duration
	Rows    []Row
	Targets []Target
	// Notes are remarks printed under the table: scenarios that could not
	// run, and why.
	Notes []string
	// Failures are scenarios that failed; a report with failures is not a
	// valid benchmark.
	Failures []string
	// Profile is the top of the worker's CPU profile, when one was taken.
	Profile string
	// ProfileCPU is the worker's CPU per embedding over the profiled
	// drain, from /proc (the profile's samples miss some of it).
	ProfileCPU time.Duration
}

func (r *Report) row(scenario, kase, figures, vs string) {
	r.Rows = append(r.Rows, Row{Scenario: scenario, Case: kase, Figures: figures, VsBaseline: vs})
}

func (r *Report) target(goal, got string, ok bool) {
	st := NotMet
	if ok {
		st = Met
	}
	if strings.Contains(got, "n/a") {
		st = NotMeasured
	}
	r.Targets = append(r.Targets, Target{Goal: goal, Got: got, Status: st})
}

// explain sets the reading of the target added last.
func (r *Report) explain(format string, args ...any) {
	if len(r.Targets) > 0 {
		r.Targets[len(r.Targets)-1].Reading = fmt.Sprintf(format, args...)
	}
}

// WriteText writes the results, one block per scenario, the targets and
// the notes as aligned text.
func (r *Report) WriteText(w io.Writer) error {
	if r.Config.Smoke {
		fmt.Fprintln(w, "smoke run: it checks that the harness works; its sizes are too small for meaningful figures")
		fmt.Fprintln(w)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	last := ""
	for _, row := range r.Rows {
		if row.Scenario != last {
			if last != "" {
				fmt.Fprintln(tw)
			}
			fmt.Fprintf(tw, "%s\n", row.Scenario)
			last = row.Scenario
		}
		vs := row.VsBaseline
		if vs != "" {
			vs = "→ " + vs
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", row.Case, row.Figures, vs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tTHIS RUN\tSTATUS\tREADING")
	for _, t := range r.Targets {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Goal, t.Got, t.Status, t.Reading)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	for _, f := range r.Failures {
		fmt.Fprintln(w, "FAILED:", f)
	}
	return nil
}

// WriteMarkdown writes the report as BENCHMARKS.md.
func (r *Report) WriteMarkdown(w io.Writer, command string) error {
	m := r.Machine
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("# Benchmarks")
	p("")
	p("Written by `%s`, which took %s; `make bench` regenerates", command, r.Elapsed.Round(time.Second))
	p("it. Every figure is the median of %d repetition(s); every ratio is the", r.Config.Reps)
	p("median of ratios taken within one repetition between runs made back to")
	p("back, so that a busy machine slows both sides alike.")
	p("")
	p("| | |")
	p("|---|---|")
	p("| date | %s |", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	p("| machine | %d CPUs, %s, %s |", m.CPUs, m.CPUModel, m.OS)
	p("| Go | %s |", m.Go)
	p("| Redis | redis-server %s (private, started by the benchmark) |", m.Redis)
	p("| load average | %s before, %s after |", m.LoadBefore, m.LoadAfter)
	p("| network | latency proxy on 127.0.0.1 adding %s round-trip time |", r.Config.RTT)
	p("")
	p("## Results")
	p("")
	p("| scenario | case | figures (median) | vs baseline |")
	p("|---|---|---|---|")
	last := ""
	for _, row := range r.Rows {
		sc := row.Scenario
		if sc == last {
			sc = ""
		} else {
			last = sc
		}
		p("| %s | %s | %s | %s |", mdEscape(sc), mdEscape(row.Case), mdEscape(row.Figures), mdEscape(row.VsBaseline))
	}
	p("")
	p("## Against the targets")
	p("")
	p("| target | this run | | reading |")
	p("|---|---|---|---|")
	for _, t := range r.Targets {
		p("| %s | %s | %s | %s |", mdEscape(t.Goal), mdEscape(t.Got), t.Status, mdEscape(t.Reading))
	}
	if len(r.Notes)+len(r.Failures) > 0 {
		p("")
		for _, n := range r.Notes {
			p("- %s", n)
		}
		for _, f := range r.Failures {
			p("- **failed:** %s", f)
		}
	}
	p("")
	p("## How it measures")
	p("")
	for _, s := range methods(r.Config) {
		p("- %s", s)
	}
	if r.Profile != "" {
		p("")
		p("## Where the worker spends its CPU")
		p("")
		p("Top of a CPU profile of bin/worker draining %d tasks of %d texts at 0 ms", 2*r.Config.MemoryTasks, r.Config.BatchSize)
		p("provider latency (`LLMQ_CPUPROFILE`; a run of its own, not in the table),")
		p("by cumulative time, showing llmq's code, HTTP/2 and TLS, JSON and base64,")
		p("asynq's Redis calls and the garbage collector. The worker used %.1f µs of CPU", float64(r.ProfileCPU)/float64(time.Microsecond))
		p("per embedding over this drain, by /proc/PID/stat:")
		p("")
		p("```")
		fmt.Fprint(w, strings.TrimRight(r.Profile, "\n")+"\n")
		p("```")
	}
	return nil
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// methods explains how each figure is measured.
func methods(c Config) []string {
	return []string{
		fmt.Sprintf("**Network.** A TCP proxy (package bench/latencyproxy) sits between client and provider: nothing moves until one round trip (%s) after it accepts a connection, as if the TCP handshake took that long, and every byte then takes half a round trip in each direction. Bytes pass unchanged, so TLS 1.3 and HTTP/2 are negotiated end to end with the simulator behind it: a new TLS connection costs three round trips before its first answer, a warm one costs one.", c.RTT),
		"**Client overhead.** Requests are embeddings requests of one input through llmq's provider clients (clients/openai over TLS + HTTP/2, clients/ollama over plain HTTP/1.1), sent by N goroutines. *New client per request* builds a new `http.Transport` (a clone of Go's default) and `http.Client` for every request and closes its idle connections afterwards; *Go default transport* shares one clone of `http.DefaultTransport` (2 idle connections per host) without warm-up; *llmq pooled* is `clients.NewHTTPClient` as the worker builds it (idle limit raised to the concurrency, 100 connections at most) after one warm-up request. Added latency is p50 minus one round trip. Connections are counted where they are accepted, by the simulator's `ConnState`, and include the warm-up's. *Cold vs warm* times the first request of a new pooled client and the second.",
		fmt.Sprintf("**Worker drain.** The queue is paused, filled with %d-text embedding tasks (`tasks.NewEmbedTask`), and resumed; the clock runs from the resume until Redis holds every task as completed (polled every %s). The baseline is an asynq server in the benchmark process with a handler that returns nil (and one that sleeps for the provider latency). The worker is bin/worker as a process, at its default concurrency, talking to the simulator over TLS + HTTP/2 with the given latency and no proxy; both poll empty queues every %s (`WORKER_POLL_INTERVAL`) and serve the same queues. The bound is concurrency ÷ provider latency.", c.DrainBatch, checkEvery, pollInterval),
		fmt.Sprintf("**Generation drain.** As the worker drain, on the generation queue: %d-token chat completions, streamed and not, (`tasks.NewGenerateTask`, provider openai, `max_tokens`), the simulator over TLS + HTTP/2 taking %s to the first token and %s to each further one (%s per answer), bin/worker with `WORKER_QUEUE_CONCURRENCY=generation=%d` beside `WORKER_CONCURRENCY=%d` and no connection cap. The baseline is a bare asynq server at the same concurrency whose handler sleeps for the answer's time. The bound is concurrency ÷ answer time.", c.GenerationTokens, c.TimeToFirstToken, c.TokenLatency, generationLatency(c), c.GenerationConcurrency, c.WorkerConcurrency),
		fmt.Sprintf("**Batching and end to end.** bin/worker talks to the simulator through the latency proxy (%s round trip, TLS + HTTP/2). The clock runs from starting `bin/enqueue embed --file F --batch-size B` until every task is completed in Redis with its vectors stored: enqueueing, draining and storing overlap as they would in use.", c.RTT),
		"**Enqueue.** `bin/enqueue embed --file F` (default batch size and concurrency, no `--wait`) as a process, timed from start to exit, against a loop in the benchmark process that calls `asynq.Client.Enqueue` once per item, one item per task, one call after another.",
		fmt.Sprintf("**Memory.** Peak resident set size is `VmHWM` from /proc/PID/status, the kernel's high-water mark of the process's RSS: for the worker, read just before it is sent SIGTERM at the end of a drain at concurrency %d; for enqueue, which exits by itself, polled every %s while it runs (the last reading before it exits). wait4's `ru_maxrss` is not used: Go starts processes with vfork, and Linux folds the parent's high-water mark into the child's `ru_maxrss` when it execs, so it would report the benchmark's own size.", c.MemoryConcurrency, hwmPoll),
		fmt.Sprintf("**Export and end to end.** One simulator at %s provider latency (TLS + HTTP/2, no proxy) serves both sides. *No-queue bound*: a minimal direct client in the benchmark process reads the same file, sends %d texts per request from %d goroutines (the worker's concurrency) through clients/openai and a pooled client, and writes each answer as simple-format JSON lines with encoding/json (the standard library's float32 formatting) as it arrives, timed from start to the last byte written. *End to end*: `bin/enqueue embed --file F --wait --out OUT` with bin/worker at the same concurrency, timed from start to exit: the export follows the job and writes each batch as it finishes, so enqueueing, draining and exporting overlap. *Export*: `bin/enqueue results JOB --out OUT --format F` of that finished job, from start to exit, so the figure includes reading every batch back from Redis. Every timed run writes a new file (the previous output is removed first, untimed). Each output is checked for one line per text.", c.Latency, c.BatchSize, c.WorkerConcurrency),
		fmt.Sprintf("**Adaptive in-flight limit.** The simulator runs in its saturating mode (`simulator.Config.Capacity`, `bin/simulator -capacity`): it serves %d requests at a time at %s, and a request that starts with more in flight takes %s × in flight ÷ %d, so the rate cannot pass %s requests/s and more in flight only adds latency. bin/worker (TLS + HTTP/2, no proxy) drains %d one-text embedding tasks per run, timed as the worker drain: at each fixed concurrency of %s (`WORKER_CONCURRENCY=N` with `PROVIDER_MIN_INFLIGHT=N`, so the in-flight limit cannot move), then at concurrency %d with the adaptive limit at its defaults (starting at the concurrency, floor 1). *Provider p50 and p99* are the simulator's own service time per embeddings request, from the moment its handler is called until it returns with the answer written, timed in the benchmark process; the wait of a task in the worker for an in-flight slot is not in them, and in a drain of a full queue a task's time from enqueue to completion is set by the queue ahead of it whatever the limit. *In flight at the provider* is the median of the simulator's count of requests being served, read every %s while the queue drains. The best fixed concurrency is the one of the highest median rate; the adaptive run is compared with it and with fixed %d within each repetition.",
			c.AdaptiveCapacity, c.Latency, c.Latency, c.AdaptiveCapacity, fmtRate(float64(c.AdaptiveCapacity)/c.Latency.Seconds()), c.AdaptiveTasks, joinInts(c.AdaptiveSweep), c.WorkerConcurrency, inflightEvery, c.WorkerConcurrency),
		"**Warm memory.** Just before each timed run of the export scenario the benchmark writes a scratch file the size of the JSON output and removes it, untimed. The machine is a virtual one that hands free memory back to its host: a page left free for about two seconds costs a host page fault when next touched (a new 1 GB file was written at 345 to 440 MB/s here; 300 MB after it was removed at 3.2 to 4.3 GB/s within a second, 1.3 to 1.5 GB/s two seconds later). The warm-up helps what is written first; the rest of each run, and the processes' heaps, still pay it in part, so the export figures vary from run to run with the host more than the other scenarios do.",
		fmt.Sprintf("**Vectors** have %d dimensions unless stated; the simulator derives them from a hash of the text, so its cost per vector is small but not nil, and it runs on the same machine as everything else.", c.Dim),
	}
}

// machine describes this computer.
func machine(redisVersion string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), Redis: redisVersion, CPUModel: "unknown CPU", OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.OS += ", Linux " + strings.TrimSpace(string(b))
	}
	m.LoadBefore = loadAverage()
	return m
}

// loadAverage is the 1-minute load average, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// Formatting of figures.

func fmtRate(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v >= 100:
		return groupThousands(int64(math.Round(v)))
	}
	return fmt.Sprintf("%.1f", v)
}

// fmtCount shows a count: whole unless a median fell between two.
func fmtCount(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	if v == math.Trunc(v) {
		return groupThousands(int64(v))
	}
	return fmt.Sprintf("%.1f", v)
}

func fmtMs(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.2f ms", v)
}

func fmtX(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	if v >= 10 {
		return fmt.Sprintf("%.0f×", v)
	}
	return fmt.Sprintf("%.2f×", v)
}

func fmtPct(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%%", 100*v)
}

func fmtMB(bytes float64) string {
	if math.IsNaN(bytes) {
		return "n/a"
	}
	return fmt.Sprintf("%.0f MB", bytes/1e6)
}

// fmtBytes shows a size in kB below a megabyte, in MB above.
func fmtBytes(n float64) string {
	if n < 1e6 {
		return fmt.Sprintf("%.0f kB", n/1e3)
	}
	return fmtMB(n)
}

func groupThousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
