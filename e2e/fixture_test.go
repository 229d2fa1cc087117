package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/internal/proctest"
	"github.com/llmq/llmq/internal/redistest"
)

// fixture is what every test starts from: its own Redis, an inspector on
// it and a scratch directory.
type fixture struct {
	dir       string
	redis     *redistest.Server
	inspector *asynq.Inspector
}

// setup starts a private redis-server for the test.
func setup(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), redis: redistest.Start(t)}
	f.inspector = asynq.NewInspector(f.redis.ConnOpt())
	t.Cleanup(func() { _ = f.inspector.Close() })
	return f
}

// path returns name inside the test's scratch directory.
func (f *fixture) path(name string) string { return filepath.Join(f.dir, name) }

// enqueue runs the enqueue binary against the test's Redis.
func (f *fixture) enqueue(t *testing.T, args ...string) proctest.Result {
	t.Helper()
	return proctest.Exec(t, 2*time.Minute, nil, bin["enqueue"], proctest.Environ("REDIS_URL="+f.redis.URL()), args...)
}

// client returns an asynq client on the test's Redis, for tasks the
// enqueue binary would not make.
func (f *fixture) client(t *testing.T) *asynq.Client {
	t.Helper()
	c := asynq.NewClient(f.redis.ConnOpt())
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// queueInfo returns the state counts of queue.
func (f *fixture) queueInfo(t *testing.T, queue string) *asynq.QueueInfo {
	t.Helper()
	info, err := f.inspector.GetQueueInfo(queue)
	if err != nil {
		t.Fatalf("queue %s: %v", queue, err)
	}
	return info
}

// taskInfo returns what Redis holds about one task.
func (f *fixture) taskInfo(t *testing.T, queue, id string) *asynq.TaskInfo {
	t.Helper()
	info, err := f.inspector.GetTaskInfo(queue, id)
	if err != nil {
		t.Fatalf("task %s in %s: %v", id, queue, err)
	}
	return info
}

// waitTaskState waits until the task reaches state.
func (f *fixture) waitTaskState(t *testing.T, queue, id string, state asynq.TaskState, timeout time.Duration) *asynq.TaskInfo {
	t.Helper()
	var info *asynq.TaskInfo
	proctest.Eventually(t, timeout, 50*time.Millisecond, func() (bool, string) {
		info = f.taskInfo(t, queue, id)
		return info.State == state, fmt.Sprintf("task %s is %s (retried %d, last error %q), want %s", id, info.State, info.Retried, info.LastErr, state)
	})
	return info
}

// sim is a running simulator process.
type sim struct {
	*proctest.Process
	// url is the server's root: the Ollama host; url+"/v1" is the OpenAI
	// base URL.
	url string
	// certFile is the PEM of its certificate when it serves TLS.
	certFile string
	// client reads /stats; dials counts the connections it opened, which
	// the simulator counts too.
	client *http.Client
	dials  atomic.Int64
}

// startSimulator starts the simulator with args (its flags other than
// -addr, -tls and -cert-out) and waits for the line announcing its address
// (proctest.StartSimulator).
func (f *fixture) startSimulator(t *testing.T, useTLS bool, args ...string) *sim {
	t.Helper()
	s := &sim{}
	if useTLS {
		s.certFile = f.path("simulator.pem")
		args = append(args, "-tls", "-cert-out", s.certFile)
	}
	p, raw := proctest.StartSimulator(t, bin["simulator"], args...)
	s.Process = p
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	if u, _ := url.Parse(raw); u.Scheme != scheme {
		t.Fatalf("simulator announced %q, want an %s URL", raw, scheme)
	}
	s.url = raw

	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				s.dials.Add(1)
			}
			return c, err
		},
		ForceAttemptHTTP2: true,
	}
	if useTLS {
		tr.TLSClientConfig = &tls.Config{RootCAs: certPool(t, s.certFile)}
	}
	s.client = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return s
}

// certPool returns a pool holding the certificates of a PEM file.
func certPool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("simulator certificate: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("simulator certificate %s: no PEM certificate in it", file)
	}
	return pool
}

// simStats is the simulator's GET /stats answer.
type simStats struct {
	Connections int64            `json:"connections"`
	Requests    int64            `json:"requests"`
	Inputs      int64            `json:"inputs"`
	ByPath      map[string]int64 `json:"by_path"`
	ByStatus    map[string]int64 `json:"by_status"`
}

// stats returns the simulator's counters. Connections excludes the ones
// the test opened to ask for them, so it counts the worker's alone.
func (s *sim) stats(t *testing.T) simStats {
	t.Helper()
	var st simStats
	proctest.GetJSON(t, s.client, s.url+"/stats", &st)
	st.Connections -= s.dials.Load()
	return st
}

// worker is a running worker process.
type worker struct {
	*proctest.Process
	addr string // of its health endpoints
}

// startWorker starts a worker on the test's Redis with the extra
// environment vars ("NAME=value") and waits until /readyz answers 200.
func (f *fixture) startWorker(t *testing.T, vars ...string) *worker {
	t.Helper()
	w := &worker{}
	w.Process, w.addr = proctest.StartWorker(t, bin["worker"], append([]string{"REDIS_URL=" + f.redis.URL(), "LOG_LEVEL=info"}, vars...)...)
	return w
}

// poolStats is one provider's entry in the worker's GET /stats answer.
type poolStats struct {
	Requests    int64 `json:"requests"`
	ConnsOpened int64 `json:"conns_opened"`
	ConnsOpen   int64 `json:"conns_open"`
}

// stats returns the worker's connection pool counts by provider.
func (w *worker) stats(t *testing.T) map[string]poolStats {
	t.Helper()
	var st map[string]poolStats
	proctest.GetJSON(t, &http.Client{Timeout: 5 * time.Second}, "http://"+w.addr+"/stats", &st)
	return st
}

// writeJSONL writes one JSON line per value to name in the scratch
// directory and returns its path.
func (f *fixture) writeJSONL(t *testing.T, name string, values ...any) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	for _, v := range values {
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	p := f.path(name)
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// readJSONL decodes every line of s into a T.
func readJSONL[T any](t *testing.T, s string) []T {
	t.Helper()
	var out []T
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 16<<20)
	for n := 1; sc.Scan(); n++ {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("line %d %.80q: %v", n, sc.Text(), err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// embedLine is one line of an embed input file.
type embedLine struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// embedOut is one line of enqueue embed --wait output.
type embedOut struct {
	ID        string    `json:"id"`
	Embedding []float32 `json:"embedding"`
	Model     string    `json:"model"`
}

// corpus returns n embed lines with distinct, deterministic texts, some
// with characters that JSON escapes.
func corpus(prefix string, n int) []embedLine {
	words := []string{"queue", "vector", "naïve", "café", `"quoted"`, "tab\there", "batch", "日本語", "retry", "worker", "back\\slash", "stream"}
	out := make([]embedLine, n)
	for i := range out {
		out[i] = embedLine{
			ID: fmt.Sprintf("%s-%04d", prefix, i),
			Text: fmt.Sprintf("%s %d: %s %s %s", prefix, i,
				words[i%len(words)], words[(i*7+3)%len(words)], words[(i*5+1)%len(words)]),
		}
	}
	return out
}

// lines returns l as values for writeJSONL.
func lines[T any](l []T) []any {
	out := make([]any, len(l))
	for i, v := range l {
		out[i] = v
	}
	return out
}

// diffVector describes how got differs from want bit for bit, or returns
// "" if they are identical.
func diffVector(got, want []float32) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d dimensions, want %d", len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			return fmt.Sprintf("component %d = %v, want %v", i, got[i], want[i])
		}
	}
	return ""
}

// nonEmptyLines returns the lines of s that are not blank.
func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
