// Package miniotest runs a real MinIO server, an S3-compatible store, for
// tests: one private server per call of Start, on a free loopback port,
// with its data in the test's temporary directory.
//
// The binary is $MINIO, or the pinned Version from the cache
// (~/.cache/llmq/minio-VERSION/minio), built there with go install from
// the Go module proxy when missing; scripts/ensure-minio does the same
// ahead of the tests (make deps). Building it takes several minutes on two
// cores (8m38s measured here); later runs reuse the binary.
package miniotest

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/llmq/llmq/internal/gobin"
	"github.com/llmq/llmq/internal/proctest"
)

// Module and Version name the MinIO server the tests run. MinIO tags its
// releases RELEASE.<date>, which are not module versions, so the pin is
// the pseudo-version of a commit that the module proxy serves.
const (
	Module  = "github.com/minio/minio"
	Version = "v0.0.0-20260212201848-7aac2a2c5b7c"
)

// Credentials of every test server.
const (
	AccessKey = "llmq-test-access"
	SecretKey = "llmq-test-secret-key"
)

var (
	once    sync.Once
	binPath string
	binErr  error
)

// Path returns the MinIO binary, building it if need be.
func Path() (string, error) {
	once.Do(func() { binPath, binErr = find() })
	return binPath, binErr
}

func find() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	return gobin.Tool{Name: "minio", Module: Module, Version: Version, Env: "MINIO",
		GoFlags: "-mod=mod", Hint: "or run scripts/ensure-minio, or set MINIO"}.Find(ctx)
}

// Server is a running MinIO.
type Server struct {
	// Endpoint is its URL, http://127.0.0.1:PORT.
	Endpoint string
	// Process is the server's process.
	Process *proctest.Process
}

// Start starts a MinIO server that the test's cleanup stops, and waits
// until it is ready.
func Start(t testing.TB) *Server {
	t.Helper()
	path, err := Path()
	if err != nil {
		t.Fatalf("minio: %v", err)
	}
	addr := proctest.FreeAddr(t)
	console := proctest.FreeAddr(t)
	env := proctest.Environ("MINIO_ROOT_USER="+AccessKey, "MINIO_ROOT_PASSWORD="+SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CALLHOME_ENABLE=off", "HOME="+t.TempDir())
	p := proctest.Start(t, path, env, "server", "--quiet", "--address", addr, "--console-address", console, t.TempDir())
	s := &Server{Endpoint: "http://" + addr, Process: p}
	hc := &http.Client{Timeout: time.Second}
	proctest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		if p.Exited() {
			t.Fatalf("minio exited at start:\n%s", p.Stderr.String())
		}
		resp, err := hc.Get(s.Endpoint + "/minio/health/ready")
		if err != nil {
			return false, "minio: " + err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, "minio ready: " + resp.Status
	})
	return s
}
