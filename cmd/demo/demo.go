package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/openai"
	"github.com/llmq/llmq/internal/healthcheck"
	"github.com/llmq/llmq/internal/redisserver"
	"github.com/llmq/llmq/simulator"
)

//go:embed corpus.jsonl
var sampleCorpus []byte

type options struct {
	redis       string
	file        string
	out         string
	batchSize   int
	concurrency int
	dim         int
	latency     time.Duration
}

// demo holds what one run started, so that stop can end all of it.
type demo struct {
	opts           options
	stdout, stderr io.Writer
	binDir, tmp    string
	corpus         []byte

	redisURL, redisDesc string
	redis               *redisserver.Server
	miniredis           *miniredis.Miniredis

	sim        *simulator.Simulator
	simServer  *httptest.Server
	provider   string
	workerEnv  []string
	worker     *exec.Cmd
	workerAddr string
	workerExit chan error
}

func newDemo(o options, stdout, stderr io.Writer) (*demo, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "llmq-demo-")
	if err != nil {
		return nil, err
	}
	d := &demo{opts: o, stdout: stdout, stderr: stderr, binDir: filepath.Dir(exe), tmp: tmp, corpus: sampleCorpus}
	if o.file != "" {
		if d.corpus, err = os.ReadFile(o.file); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.stdout, "  "+format+"\n", args...)
}

func (d *demo) run(ctx context.Context) error {
	texts, err := readCorpus(d.corpus)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.stdout, "llmq demo: embedding %d documents\n", len(texts))
	if err := d.startRedis(ctx); err != nil {
		return err
	}
	if err := d.startProvider(); err != nil {
		return err
	}
	if err := d.startWorker(ctx); err != nil {
		return err
	}

	if err := os.MkdirAll(filepath.Dir(d.opts.out), 0o755); err != nil {
		return err
	}
	start := time.Now()
	j, err := d.runJob(ctx)
	if err != nil {
		return err
	}
	wall := time.Since(start)

	pools, err := d.workerMetrics(ctx)
	if err != nil {
		return err
	}
	verified, err := d.verify(texts)
	if err != nil {
		return err
	}
	if err := d.stopWorker(); err != nil {
		return err
	}

	oa := pools["openai"]
	fmt.Fprintln(d.stdout, "summary")
	d.say("redis:             %s", d.redisDesc)
	d.say("provider:          %s", d.provider)
	d.say("job:               %s (enqueue embed --file, status --wait, results)", j.ID)
	d.say("documents:         %d in %d tasks (batch size %d, worker concurrency %d)", len(texts), j.Batches, d.opts.batchSize, d.opts.concurrency)
	d.say("wall time:         %s (enqueue to last result written)", wall.Round(time.Millisecond))
	d.say("embeddings/s:      %.0f", float64(len(texts))/wall.Seconds())
	d.say("HTTP requests:     %d (%d embedding requests + %d warm-up)", oa.Requests, oa.Operations, oa.Requests-oa.Operations)
	d.say("request latency:   %.1f ms mean, to the end of the response body", 1000*oa.Seconds/float64(max(oa.Operations, 1)))
	conns := fmt.Sprintf("%d opened by the worker", oa.Dials)
	if d.sim != nil {
		conns += fmt.Sprintf(", %d accepted by the simulator", d.sim.Stats().Connections)
	}
	d.say("TCP connections:   %s", conns)
	d.say("connection reuse:  %.1f%% of requests rode an open connection", oa.reusePercent())
	d.say("results:           %s (%s)", d.opts.out, verified)
	return nil
}

// jobStatus is what the demo reads of enqueue status --json.
type jobStatus struct {
	ID      string `json:"id"`
	Batches int    `json:"batches"`
	Done    int    `json:"done"`
	Failed  int    `json:"failed"`
}

// runJob runs the bulk job flow with bin/enqueue: submit the corpus as a
// job, follow it to the end, export its results.
func (d *demo) runJob(ctx context.Context) (*jobStatus, error) {
	corpus := filepath.Join(d.tmp, "corpus.jsonl")
	if err := os.WriteFile(corpus, d.corpus, 0o600); err != nil {
		return nil, err
	}
	enqueue := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(d.binDir, "enqueue"), args...)
		cmd.Env = append(os.Environ(), "REDIS_URL="+d.redisURL)
		var stderr bytes.Buffer
		cmd.Stderr = io.MultiWriter(d.stderr, &stderr)
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("enqueue %s: %w\n%s", args[0], err, stderr.String())
		}
		return out, nil
	}
	out, err := enqueue("embed", "--file", corpus, "--batch-size", fmt.Sprint(d.opts.batchSize))
	if err != nil {
		return nil, err
	}
	id := string(bytes.TrimSpace(out))
	if out, err = enqueue("status", id, "--wait", "--json"); err != nil {
		return nil, err
	}
	var st jobStatus
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, fmt.Errorf("enqueue status: %w", err)
	}
	errorsFile := strings.TrimSuffix(d.opts.out, ".jsonl") + "-errors.jsonl"
	if _, err := enqueue("results", id, "--out", d.opts.out, "--errors", errorsFile); err != nil {
		return nil, err
	}
	if st.Failed > 0 {
		return nil, fmt.Errorf("job %s: %d items failed (see %s)", id, st.Failed, errorsFile)
	}
	return &st, nil
}

// readCorpus returns the corpus texts by id, in order.
func readCorpus(b []byte) ([][2]string, error) {
	var out [][2]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 16<<20)
	for n := 1; sc.Scan(); n++ {
		var l struct{ ID, Text string }
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Text == "" {
			return nil, fmt.Errorf("corpus line %d: want {\"id\": ..., \"text\": ...}", n)
		}
		if l.ID == "" {
			l.ID = fmt.Sprint(n)
		}
		out = append(out, [2]string{l.ID, l.Text})
	}
	return out, sc.Err()
}

// startRedis starts a private redis-server on a free port, or an embedded
// Redis when redis-server is not installed (or -redis embedded asks for it).
func (d *demo) startRedis(ctx context.Context) error {
	var srv *redisserver.Server
	err := redisserver.ErrNotFound
	if d.opts.redis != "embedded" {
		srv, err = redisserver.Start(ctx, redisserver.Config{Dir: d.tmp, Args: []string{"--maxmemory-policy", "noeviction"}})
	}
	if errors.Is(err, redisserver.ErrNotFound) && d.opts.redis != "server" {
		m, err := miniredis.Run()
		if err != nil {
			return fmt.Errorf("embedded redis: %w", err)
		}
		d.miniredis = m
		d.redisURL = "redis://" + m.Addr() + "/0"
		why := "redis-server is not installed"
		if d.opts.redis == "embedded" {
			why = "-redis embedded"
		}
		d.redisDesc = "embedded Redis (miniredis) on " + m.Addr() + ": " + why
		return nil
	}
	if err != nil {
		return err
	}
	d.redis = srv
	version, _ := srv.Version(ctx)
	d.redisURL = srv.URL()
	d.redisDesc = fmt.Sprintf("private redis-server %s on %s (%s)", version, srv.Addr(), srv.Bin())
	return nil
}

// startProvider starts the simulator over TLS with HTTP/2, unless
// OPENAI_API_KEY asks for the real thing.
func (d *demo) startProvider() error {
	if os.Getenv("OPENAI_API_KEY") != "" {
		base := os.Getenv("OPENAI_BASE_URL")
		if base == "" {
			base = openai.DefaultBaseURL
		}
		d.provider = "OpenAI-compatible API at " + base + " (OPENAI_API_KEY is set)"
		// The worker reads OPENAI_* from the environment it inherits.
		return nil
	}
	d.sim = simulator.New(simulator.Config{Dim: d.opts.dim, Latency: d.opts.latency})
	d.simServer = simulator.Start(d.sim, true)
	certFile := filepath.Join(d.tmp, "simulator.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d.simServer.Certificate().Raw})
	if err := os.WriteFile(certFile, cert, 0o600); err != nil {
		return err
	}
	d.provider = fmt.Sprintf("simulator at %s (OpenAI-compatible, TLS + HTTP/2, %s latency, %d dimensions)",
		d.simServer.URL, d.opts.latency, d.opts.dim)
	d.workerEnv = []string{
		"OPENAI_BASE_URL=" + d.simServer.URL + "/v1",
		"OPENAI_API_KEY=",
		"SSL_CERT_FILE=" + certFile,
	}
	return nil
}

// startWorker starts bin/worker and waits until it is ready.
func (d *demo) startWorker(ctx context.Context) error {
	port, err := redisserver.FreePort()
	if err != nil {
		return err
	}
	d.workerAddr = fmt.Sprintf("127.0.0.1:%d", port)
	d.worker = exec.Command(filepath.Join(d.binDir, "worker"))
	d.worker.Env = append(os.Environ(), d.workerEnv...)
	d.worker.Env = append(d.worker.Env,
		"REDIS_URL="+d.redisURL,
		"HTTP_ADDR="+d.workerAddr,
		fmt.Sprintf("WORKER_CONCURRENCY=%d", d.opts.concurrency),
		"LOG_LEVEL=warn",
	)
	d.worker.Stdout, d.worker.Stderr = d.stderr, d.stderr
	if err := d.worker.Start(); err != nil {
		return fmt.Errorf("start worker (run 'make build' first): %w", err)
	}
	d.workerExit = make(chan error, 1)
	exited := make(chan struct{})
	w := d.worker
	go func() { d.workerExit <- w.Wait(); close(exited) }()
	readyCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	switch err := healthcheck.WaitReady(readyCtx, d.workerAddr, exited, 50*time.Millisecond); {
	case errors.Is(err, healthcheck.ErrExited):
		err := <-d.workerExit
		d.worker = nil
		return fmt.Errorf("worker exited at start: %v", err)
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return errors.New("worker not ready after 15s")
	}
	return nil
}

// pool is what the worker's metrics say of one provider.
type pool struct {
	// Requests, Reused and Dials: HTTP requests, those that rode a
	// connection which had carried one before, and connections opened.
	Requests, Reused, Dials int64
	// Operations and Seconds: provider calls and their total duration.
	Operations int64
	Seconds    float64
}

func (p pool) reusePercent() float64 {
	if p.Requests == 0 {
		return 0
	}
	return 100 * float64(p.Reused) / float64(p.Requests)
}

// workerMetrics scrapes the worker's /metrics, as Prometheus would, and
// sums the connection and request metrics by provider.
func (d *demo) workerMetrics(ctx context.Context) (map[string]pool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.workerAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("worker metrics: %w", err)
	}
	defer clients.DrainClose(resp.Body)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("worker metrics: %w", err)
	}
	out := map[string]pool{}
	each := func(family string, fn func(p *pool, labels map[string]string, m *dto.Metric)) {
		for _, m := range families[family].GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			p := out[labels["gen_ai_provider_name"]]
			fn(&p, labels, m)
			out[labels["gen_ai_provider_name"]] = p
		}
	}
	each("llmq_http_client_requests_total", func(p *pool, labels map[string]string, m *dto.Metric) {
		n := int64(m.GetCounter().GetValue())
		p.Requests += n
		if labels["llmq_connection_reused"] == "true" {
			p.Reused += n
		}
	})
	each("llmq_http_client_connections_dialed_total", func(p *pool, _ map[string]string, m *dto.Metric) {
		p.Dials += int64(m.GetCounter().GetValue())
	})
	each("gen_ai_client_operation_duration_seconds", func(p *pool, _ map[string]string, m *dto.Metric) {
		p.Operations += int64(m.GetHistogram().GetSampleCount())
		p.Seconds += m.GetHistogram().GetSampleSum()
	})
	return out, nil
}

// verify checks that the results file has one result per document, in
// order, and, against the simulator, that each vector is the expected one.
func (d *demo) verify(texts [][2]string) (string, error) {
	f, err := os.Open(d.opts.out)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	n := 0
	for sc.Scan() {
		var r struct {
			ID        string    `json:"id"`
			Embedding []float32 `json:"embedding"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return "", fmt.Errorf("results line %d: %w", n+1, err)
		}
		if n >= len(texts) || r.ID != texts[n][0] {
			return "", fmt.Errorf("results line %d: id %q, want %q", n+1, r.ID, texts[min(n, len(texts)-1)][0])
		}
		if d.sim != nil {
			want := simulator.Vector(texts[n][1], d.opts.dim)
			if !sameBits(r.Embedding, want) {
				return "", fmt.Errorf("results line %d (%s): vector differs from the simulator's", n+1, r.ID)
			}
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if n != len(texts) {
		return "", fmt.Errorf("%d results for %d documents", n, len(texts))
	}
	if d.sim != nil {
		return fmt.Sprintf("%d vectors, each checked against the simulator", n), nil
	}
	return fmt.Sprintf("%d vectors", n), nil
}

// sameBits reports whether a has exactly the bits of b.
func sameBits(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

// stopWorker sends SIGTERM and waits for a clean exit.
func (d *demo) stopWorker() error {
	if d.worker == nil {
		return nil
	}
	w := d.worker
	d.worker = nil
	_ = w.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.workerExit:
		if err != nil {
			return fmt.Errorf("worker: %w", err)
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = w.Process.Kill()
		return errors.New("worker did not stop within 30s of SIGTERM")
	}
}

// stop ends everything the demo started.
func (d *demo) stop() {
	if d.worker != nil {
		_ = d.worker.Process.Kill()
		<-d.workerExit
	}
	if d.simServer != nil {
		d.simServer.Close()
	}
	if d.redis != nil {
		d.redis.Stop()
	}
	if d.miniredis != nil {
		d.miniredis.Close()
	}
	_ = os.RemoveAll(d.tmp)
}
