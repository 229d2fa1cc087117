package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/internal/healthcheck"
	"github.com/llmq/llmq/internal/redisserver"
	"github.com/llmq/llmq/simulator"
)

// env is what every scenario shares: a private Redis, a scratch directory
// and the built binaries.
type env struct {
	cfg   Config
	tmp   string
	redis *redisserver.Server
	rdb   *redis.Client
	// redisVersion is the private server's version.
	redisVersion string
	// certFile holds the simulators' TLS certificate, for SSL_CERT_FILE.
	certFile string
	// roots trusts the simulators' certificate, for in-process clients.
	roots *x509.CertPool

	// Figures one scenario passes to a later one.
	// newClientRPS is scenario 1's new-client-per-request requests/s over
	// TLS at ClientConcurrency.
	newClientRPS float64
	// enqueueRSS is bin/enqueue's peak RSS in scenario 4, in bytes.
	enqueueRSS float64
}

func newEnv(ctx context.Context, cfg Config) (*env, error) {
	for _, name := range []string{"worker", "enqueue"} {
		if _, err := os.Stat(filepath.Join(cfg.BinDir, name)); err != nil {
			return nil, fmt.Errorf("%s not built in %s (run 'make build'): %w", name, cfg.BinDir, err)
		}
	}
	tmp, err := os.MkdirTemp("", "llmq-bench-")
	if err != nil {
		return nil, err
	}
	e := &env{cfg: cfg, tmp: tmp}
	e.redis, err = redisserver.Start(ctx, redisserver.Config{Dir: tmp, Args: []string{"--maxmemory-policy", "noeviction"}})
	if err != nil {
		e.close()
		return nil, err
	}
	e.redisVersion, _ = e.redis.Version(ctx)
	e.rdb = redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	return e, nil
}

// close stops everything newEnv started and removes the scratch directory.
func (e *env) close() {
	if e.rdb != nil {
		_ = e.rdb.Close()
	}
	if e.redis != nil {
		e.redis.Stop()
	}
	_ = os.RemoveAll(e.tmp)
}

// flush empties Redis between runs.
func (e *env) flush(ctx context.Context) error {
	if err := e.rdb.FlushAll(ctx).Err(); err != nil {
		return fmt.Errorf("flush redis: %w", err)
	}
	return nil
}

// connOpt returns asynq's options for the private Redis.
func (e *env) connOpt() asynq.RedisClientOpt {
	return asynq.RedisClientOpt{Addr: e.redis.Addr()}
}

// provider is a simulator served on a port of its own.
type provider struct {
	sim *simulator.Simulator
	ts  *httptest.Server
	// times is nil unless the provider was started by serveTimed.
	times *serviceTimes
}

// startProvider serves a new simulator with the given latency: over TLS
// with HTTP/2, or over plain HTTP/1.1 (as Ollama serves).
func (e *env) startProvider(latency time.Duration, tlsOn bool) (*provider, error) {
	return e.serveSimulator(simulator.Config{Dim: e.cfg.Dim, Latency: latency}, tlsOn)
}

// serveSimulator serves a new simulator of the given configuration, as
// startProvider does.
func (e *env) serveSimulator(cfg simulator.Config, tlsOn bool) (*provider, error) {
	return e.serve(cfg, tlsOn, nil)
}

// serveTimed is serveSimulator with the service time of every embeddings
// request recorded in the provider's times.
func (e *env) serveTimed(cfg simulator.Config, tlsOn bool) (*provider, error) {
	return e.serve(cfg, tlsOn, &serviceTimes{})
}

func (e *env) serve(cfg simulator.Config, tlsOn bool, times *serviceTimes) (*provider, error) {
	sim := simulator.New(cfg)
	var h http.Handler = sim
	if times != nil {
		h = times.wrap(sim)
	}
	ts := simulator.StartHandler(sim, h, tlsOn)
	if tlsOn && e.roots == nil {
		// Every simulator presents the same test certificate.
		e.roots = x509.NewCertPool()
		e.roots.AddCert(ts.Certificate())
		e.certFile = filepath.Join(e.tmp, "simulator.pem")
		cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
		if err := os.WriteFile(e.certFile, cert, 0o600); err != nil {
			ts.Close()
			return nil, err
		}
	}
	return &provider{sim: sim, ts: ts, times: times}, nil
}

// embeddingsPath is the simulator's OpenAI embeddings route.
const embeddingsPath = "/v1/embeddings"

// serviceTimes records how long a simulator took over each embeddings
// request: from the moment its handler is called to the moment it
// returns, the answer written. Time spent on the way, in the client, the
// network or waiting in the worker for a slot, is not in it.
type serviceTimes struct {
	mu sync.Mutex
	ds []time.Duration
}

// wrap times h's answers to embeddings requests.
func (st *serviceTimes) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != embeddingsPath {
			h.ServeHTTP(w, r)
			return
		}
		begin := time.Now()
		h.ServeHTTP(w, r)
		d := time.Since(begin)
		st.mu.Lock()
		st.ds = append(st.ds, d)
		st.mu.Unlock()
	})
}

// take returns the times recorded since the last take and forgets them.
func (st *serviceTimes) take() []time.Duration {
	st.mu.Lock()
	defer st.mu.Unlock()
	ds := st.ds
	st.ds = nil
	return ds
}

// addr is the host:port the simulator listens on.
func (p *provider) addr() string { return p.ts.Listener.Addr().String() }

func (p *provider) close() { p.ts.Close() }

// tlsConfig trusts the simulators' certificate.
func (e *env) tlsConfig() *tls.Config { return &tls.Config{RootCAs: e.roots} }

// workerSpec says how to run bin/worker.
type workerSpec struct {
	concurrency int
	// baseURL is OPENAI_BASE_URL, e.g. "https://127.0.0.1:PORT/v1".
	baseURL string
	// extraEnv is added last, so it wins.
	extraEnv []string
}

// workerProc is a running bin/worker.
type workerProc struct {
	cmd     *exec.Cmd
	addr    string
	logPath string
	exited  chan struct{}
	waitErr error
}

// pollInterval is WORKER_POLL_INTERVAL for the worker and the bare asynq
// server alike: with the 200ms default an idle worker notices a resumed
// queue up to 300ms late, which would count against runs of a few seconds.
const pollInterval = 10 * time.Millisecond

// queues is WORKER_QUEUES, the worker's default, for both servers.
const queues = "embeddings=6,generation=3"

// startWorker starts bin/worker against the private Redis and waits until
// it is ready.
func (e *env) startWorker(ctx context.Context, spec workerSpec) (*workerProc, error) {
	port, err := redisserver.FreePort()
	if err != nil {
		return nil, err
	}
	w := &workerProc{addr: fmt.Sprintf("127.0.0.1:%d", port), exited: make(chan struct{})}
	w.logPath = filepath.Join(e.tmp, fmt.Sprintf("worker-%d.log", port))
	logf, err := os.Create(w.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy
	w.cmd = exec.Command(filepath.Join(e.cfg.BinDir, "worker"))
	w.cmd.Env = append(os.Environ(),
		"REDIS_URL="+e.redis.URL(),
		"HTTP_ADDR="+w.addr,
		fmt.Sprintf("WORKER_CONCURRENCY=%d", spec.concurrency),
		"WORKER_QUEUES="+queues,
		"WORKER_POLL_INTERVAL="+pollInterval.String(),
		"SHUTDOWN_TIMEOUT=10s",
		"OPENAI_BASE_URL="+spec.baseURL,
		"OPENAI_API_KEY=",
		"SSL_CERT_FILE="+e.certFile,
		"LOG_LEVEL=warn",
	)
	w.cmd.Env = append(w.cmd.Env, spec.extraEnv...)
	w.cmd.Stdout, w.cmd.Stderr = logf, logf
	w.cmd.SysProcAttr = childAttr()
	if err := w.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	go func() {
		w.waitErr = w.cmd.Wait()
		close(w.exited)
	}()
	readyCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	switch err := healthcheck.WaitReady(readyCtx, w.addr, w.exited, 20*time.Millisecond); {
	case errors.Is(err, healthcheck.ErrExited):
		return nil, fmt.Errorf("worker exited at start (%v):\n%s", w.waitErr, tail(w.logPath))
	case err != nil:
		w.kill()
		return nil, fmt.Errorf("%w:\n%s", err, tail(w.logPath))
	}
	return w, nil
}

// stats reads the worker's /stats: its OpenAI pool's counts.
func (w *workerProc) stats(ctx context.Context) (clients.StatsSnapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+w.addr+"/stats", nil)
	if err != nil {
		return clients.StatsSnapshot{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return clients.StatsSnapshot{}, fmt.Errorf("worker stats: %w", err)
	}
	defer clients.DrainClose(resp.Body)
	var out map[string]clients.StatsSnapshot
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return clients.StatsSnapshot{}, fmt.Errorf("worker stats: %w", err)
	}
	return out["openai"], nil
}

// stop sends SIGTERM and waits for the exit. It returns the process's
// peak resident set size in bytes, read just before the signal.
func (w *workerProc) stop() (int64, error) {
	peak := vmHWM(w.cmd.Process.Pid)
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.exited:
	case <-time.After(30 * time.Second):
		w.kill()
		return 0, errors.New("worker did not stop within 30s of SIGTERM")
	}
	if w.waitErr != nil {
		return 0, fmt.Errorf("worker: %w:\n%s", w.waitErr, tail(w.logPath))
	}
	return peak, nil
}

// stopper returns the stop of a drain by w: it reads w's pool counts
// into res, then stops w and keeps its peak RSS.
func (w *workerProc) stopper(ctx context.Context, res *drainResult) func() error {
	return func() error {
		st, err := w.stats(ctx)
		if err != nil {
			w.kill()
			return err
		}
		res.requests, res.conns = st.Requests, st.Dials
		res.peakRSS, err = w.stop()
		return err
	}
}

func (w *workerProc) kill() {
	_ = w.cmd.Process.Kill()
	<-w.exited
}

// vmHWM returns the peak resident set size of process pid so far, in
// bytes: VmHWM of /proc/PID/status, the kernel's high-water mark of the
// process's RSS since it started its program. It returns 0 where there is
// no /proc, or once the process has exited.
//
// wait4's ru_maxrss is no substitute on Linux: a child started with vfork,
// as Go starts processes, has the parent's high-water mark folded into its
// ru_maxrss when it execs, so it reports the benchmark's own size whenever
// that is larger.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// hwmWatch polls vmHWM of a process that ends by itself, keeping the
// last reading: the peak up to the last poll before the exit.
type hwmWatch struct {
	peak atomic.Int64
	stop chan struct{}
	done chan struct{}
}

// hwmPoll is how often hwmWatch reads VmHWM.
const hwmPoll = 5 * time.Millisecond

func watchHWM(pid int) *hwmWatch {
	w := &hwmWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(hwmPoll)
		defer t.Stop()
		for {
			if v := vmHWM(pid); v > w.peak.Load() {
				w.peak.Store(v)
			}
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// end stops the polling and returns the peak seen.
func (w *hwmWatch) end() int64 {
	close(w.stop)
	<-w.done
	return w.peak.Load()
}

// tail returns the end of a log file for an error message.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}
