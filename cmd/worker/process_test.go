package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/llmq/llmq/internal/proctest"
	"github.com/llmq/llmq/internal/redistest"
	"github.com/llmq/llmq/simulator"
)

// stack is what a run needs besides the worker: a private Redis and the
// simulator over TLS with HTTP/2, whose certificate the processes trust.
type stack struct {
	redis    *redistest.Server
	sim      *simulator.Simulator
	server   *httptest.Server
	certFile string
}

func startStack(t testing.TB, cfg simulator.Config) *stack {
	t.Helper()
	s := &stack{redis: redistest.Start(t), sim: simulator.New(cfg)}
	s.server = simulator.Start(s.sim, true)
	t.Cleanup(s.server.Close)
	s.certFile = filepath.Join(t.TempDir(), "simulator.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.server.Certificate().Raw})
	if err := os.WriteFile(s.certFile, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// vars returns the variables of a process of the stack: its Redis,
// simulator and certificate, then extra.
func (s *stack) vars(extra ...string) []string {
	return append([]string{
		"REDIS_URL=" + s.redis.URL(),
		"OPENAI_BASE_URL=" + s.server.URL + "/v1",
		"OLLAMA_HOST=" + s.server.URL,
		"SSL_CERT_FILE=" + s.certFile,
	}, extra...)
}

// workerProc is a running worker.
type workerProc struct {
	*proctest.Process
	addr string
}

// startWorker starts the worker with the stack's environment and vars and
// waits until /readyz answers, unless vars disable it with "HTTP_ADDR="
// (see proctest.StartWorker). The test fails if the worker reports a data
// race.
func (s *stack) startWorker(t testing.TB, vars ...string) *workerProc {
	t.Helper()
	w := &workerProc{}
	w.Process, w.addr = proctest.StartWorker(t, bin["worker"], s.vars(vars...)...)
	return w
}

// stop sends SIGTERM and waits for a clean exit.
func (w *workerProc) stop(t testing.TB) {
	t.Helper()
	w.Signal(t, syscall.SIGTERM)
	if code := w.Wait(t, 60*time.Second); code != 0 {
		t.Fatalf("worker exited with status %d:\n%s", code, proctest.TailLines(w.Stderr.String(), 40))
	}
}

// get returns the body of GET path on the worker's HTTP_ADDR.
func (w *workerProc) get(t testing.TB, path string) []byte {
	t.Helper()
	resp, err := http.Get("http://" + w.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", path, resp.Status, b.String())
	}
	return b.Bytes()
}

// corpus returns n embedding input lines with distinct texts.
func corpus(n int, prefix string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for i := range n {
		_ = enc.Encode(map[string]string{"id": fmt.Sprintf("doc-%d", i), "text": fmt.Sprintf("%s %d about queues", prefix, i)})
	}
	return b.Bytes()
}

// enqueue runs the enqueue binary to completion with the stack's
// environment, vars, input on its standard input, and args; it returns
// its standard error. The test fails if it fails or reports a data race.
func (s *stack) enqueue(t testing.TB, vars []string, input []byte, args ...string) string {
	t.Helper()
	r := proctest.Exec(t, 3*time.Minute, bytes.NewReader(input), bin["enqueue"], proctest.Environ(s.vars(vars...)...), args...)
	if r.Code != 0 {
		t.Fatalf("enqueue %s: exit status %d\n%s", strings.Join(args, " "), r.Code, r.Stderr)
	}
	return r.Stderr
}
