package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/llmq/llmq/internal/redistest"
	"github.com/llmq/llmq/simulator"
)

// output collects what a process writes to one of its streams.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

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

// env returns the environment of a process of the stack: only PATH and
// HOME of this one's, then vars.
func (s *stack) env(vars ...string) []string {
	return append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"REDIS_URL=" + s.redis.URL(),
		"OPENAI_BASE_URL=" + s.server.URL + "/v1",
		"OLLAMA_HOST=" + s.server.URL,
		"SSL_CERT_FILE=" + s.certFile,
	}, vars...)
}

// workerProc is a running worker.
type workerProc struct {
	cmd    *exec.Cmd
	addr   string
	stderr *output
	exited chan error
}

// startWorker starts the worker with the stack's environment and vars and
// waits until /readyz answers, unless vars disable it with "HTTP_ADDR=".
func (s *stack) startWorker(t testing.TB, vars ...string) *workerProc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	w := &workerProc{addr: addr, stderr: &output{}, exited: make(chan error, 1)}
	w.cmd = exec.Command(bin.worker)
	w.cmd.Env = s.env(append([]string{"HTTP_ADDR=" + addr}, vars...)...)
	w.cmd.Stderr = w.stderr
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.exited <- w.cmd.Wait() }()
	t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			_ = w.cmd.Process.Kill()
			<-w.exited
		}
		if t.Failed() {
			t.Logf("worker stderr:\n%s", w.stderr.String())
		}
	})
	if slices.Contains(vars, "HTTP_ADDR=") {
		return w
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return w
			}
		}
		select {
		case err := <-w.exited:
			t.Fatalf("worker exited at start (%v):\n%s", err, w.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker not ready after 30s:\n%s", w.stderr.String())
		}
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (w *workerProc) stop(t testing.TB) {
	t.Helper()
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-w.exited:
		if err != nil {
			t.Fatalf("worker: %v\n%s", err, w.stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("worker did not stop within 60s of SIGTERM")
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
// its standard error.
func (s *stack) enqueue(t testing.TB, vars []string, input []byte, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin.enqueue, args...)
	cmd.Env = s.env(vars...)
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("enqueue %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stderr.String()
}
