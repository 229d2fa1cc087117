package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runAsMain makes the test binary act as the command when set, so tests can
// run it as a separate process without building it.
const runAsMain = "LLMQ_SIMULATOR_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsMain) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var listening = regexp.MustCompile(`^simulator listening on (https?://127\.0\.0\.1:\d+)\n$`)

// startCommand runs the command with args and returns its URL, read from
// the line it prints, and the running process.
func startCommand(t *testing.T, env []string, args ...string) (string, *exec.Cmd) {
	t.Helper()
	lines, cmd := startCommandLines(t, env, 1, args...)
	m := listening.FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("first line = %q, want %q", lines[0], "simulator listening on URL")
	}
	return m[1], cmd
}

// startCommandLines runs the command with args and returns the first n
// lines it prints, and the running process.
func startCommandLines(t *testing.T, env []string, n int, args ...string) ([]string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	// GORACE: a race-enabled binary otherwise sleeps a second at exit.
	cmd.Env = append(append(os.Environ(), runAsMain+"=1", "GORACE=atexit_sleep_ms=0"), env...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	lines := make(chan []string, 1)
	go func() {
		br := bufio.NewReader(stdout)
		var got []string
		for range n {
			line, err := br.ReadString('\n')
			got = append(got, line)
			if err != nil {
				break
			}
		}
		lines <- got
		_, _ = io.Copy(io.Discard, br)
	}()
	select {
	case got := <-lines:
		if len(got) != n {
			t.Fatalf("printed %q, want %d lines", got, n)
		}
		return got, cmd
	case <-time.After(10 * time.Second):
		t.Fatal("no listening line after 10s")
	}
	return nil, nil
}

// stop sends sig and checks that the command exits 0.
func stop(t *testing.T, cmd *exec.Cmd, sig os.Signal) {
	t.Helper()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after %v: %v, want status 0", sig, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10s after %v", sig)
	}
}

func TestCommand(t *testing.T) {
	tests := []struct {
		name     string
		tls      bool
		sig      os.Signal
		wantAuth bool
	}{
		{"http, SIGINT", false, os.Interrupt, false},
		{"https with HTTP/2, SIGTERM", true, syscall.SIGTERM, false},
		{"api key from the environment", false, syscall.SIGTERM, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"-addr", "127.0.0.1:0", "-dim", "8"}
			certFile := filepath.Join(t.TempDir(), "cert.pem")
			if tt.tls {
				args = append(args, "-tls", "-cert-out", certFile)
			}
			var env []string
			if tt.wantAuth {
				env = []string{"SIMULATOR_API_KEY=sk-env"}
			}
			url, cmd := startCommand(t, env, args...)

			client := &http.Client{Timeout: 5 * time.Second}
			if tt.tls {
				if !strings.HasPrefix(url, "https://") {
					t.Fatalf("URL %s, want https", url)
				}
				pemBytes, err := os.ReadFile(certFile)
				if err != nil {
					t.Fatal(err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pemBytes) {
					t.Fatal("cert-out holds no certificate")
				}
				client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
			}
			for _, u := range []string{url, strings.Replace(url, "127.0.0.1", "localhost", 1)} {
				req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u+"/v1/embeddings", strings.NewReader(`{"input":"hello"}`))
				if err != nil {
					t.Fatal(err)
				}
				if tt.wantAuth {
					req.Header.Set("Authorization", "Bearer sk-env")
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: status %d: %s", u, resp.StatusCode, body)
				}
				if tt.tls && resp.ProtoMajor != 2 {
					t.Errorf("%s: served over %s, want HTTP/2", u, resp.Proto)
				}
			}
			if tt.wantAuth {
				resp, err := client.Post(url+"/v1/embeddings", "application/json", strings.NewReader(`{"input":"hello"}`))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("without the key: status %d, want 401", resp.StatusCode)
				}
			}
			client.CloseIdleConnections()
			stop(t, cmd, tt.sig)
		})
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, o options)
	}{
		{name: "defaults", check: func(t *testing.T, o options) {
			if o.addr != "127.0.0.1:8089" || o.tls || o.cfg.Dim != 1536 || o.cfg.RetryAfter != time.Second || o.cfg.APIKey != "" {
				t.Errorf("options = %+v", o)
			}
		}},
		{name: "all flags", args: []string{"-addr", ":0", "-tls", "-cert-out", "c.pem", "-dim", "64", "-latency", "5ms",
			"-error-rate", "0.1", "-rate-limit-rate", "0.2", "-retry-after", "3s", "-float-only", "-api-key", "k", "-seed", "9"},
			check: func(t *testing.T, o options) {
				c := o.cfg
				if o.addr != ":0" || !o.tls || o.certOut != "c.pem" || c.Dim != 64 || c.Latency != 5*time.Millisecond ||
					c.ErrorRate != 0.1 || c.RateLimitRate != 0.2 || c.RetryAfter != 3*time.Second || !c.FloatOnly || c.APIKey != "k" || c.Seed != 9 {
					t.Errorf("options = %+v", o)
				}
			}},
		{name: "api key from env", env: map[string]string{"SIMULATOR_API_KEY": "from-env"}, check: func(t *testing.T, o options) {
			if o.cfg.APIKey != "from-env" {
				t.Errorf("APIKey = %q", o.cfg.APIKey)
			}
		}},
		{name: "flag beats env", args: []string{"-api-key", ""}, env: map[string]string{"SIMULATOR_API_KEY": "from-env"}, check: func(t *testing.T, o options) {
			if o.cfg.APIKey != "" {
				t.Errorf("APIKey = %q, want the flag's empty value", o.cfg.APIKey)
			}
		}},
		{name: "generation and resilience flags", args: []string{"-ttft", "200ms", "-token-latency", "10ms", "-rpm", "60", "-tpm", "1000",
			"-capacity", "8", "-keep-bodies", "3", "-admin-addr", "127.0.0.1:0"},
			check: func(t *testing.T, o options) {
				c := o.cfg
				if c.TimeToFirstToken != 200*time.Millisecond || c.TokenLatency != 10*time.Millisecond || c.RequestsPerMinute != 60 ||
					c.TokensPerMinute != 1000 || c.Capacity != 8 || c.KeepBodies != 3 || o.adminAddr != "127.0.0.1:0" {
					t.Errorf("options = %+v", o)
				}
			}},
		{name: "bad rate", args: []string{"-error-rate", "2"}, wantErr: "ErrorRate"},
		{name: "negative rpm", args: []string{"-rpm", "-1"}, wantErr: "RequestsPerMinute"},
		{name: "cert-out without tls", args: []string{"-cert-out", "c.pem"}, wantErr: "-tls"},
		{name: "stray argument", args: []string{"serve"}, wantErr: "unexpected"},
		{name: "unknown flag", args: []string{"-nope"}, wantErr: "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, o)
		})
	}
}

// TestHelpHidesKey checks that -h exits cleanly and never prints the key
// taken from the environment.
func TestHelpHidesKey(t *testing.T) {
	var out strings.Builder
	err := run(t.Context(), []string{"-h"}, func(string) string { return "sk-secret" }, io.Discard, &out)
	if err != nil {
		t.Fatalf("run -h: %v", err)
	}
	if !strings.Contains(out.String(), "-rate-limit-rate") || strings.Contains(out.String(), "sk-secret") {
		t.Errorf("usage:\n%s", out.String())
	}
}

var adminListening = regexp.MustCompile(`^simulator admin listening on (http://127\.0\.0\.1:\d+)\n$`)

// TestCommandResilience runs the command with a rate limit and an admin
// address, and takes it through an outage of refused connections and
// back, driven over the admin listener.
func TestCommandResilience(t *testing.T) {
	lines, cmd := startCommandLines(t, nil, 2, "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0",
		"-rpm", "2", "-ttft", "30ms", "-token-latency", "1ms", "-keep-bodies", "4")
	m, a := listening.FindStringSubmatch(lines[0]), adminListening.FindStringSubmatch(lines[1])
	if m == nil || a == nil {
		t.Fatalf("printed %q", lines)
	}
	url, adminURL := m[1], a[1]
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	chat := func() (*http.Response, error) {
		resp, err := client.Post(url+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":3}`))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	admin := func(method, path string) string {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, adminURL+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, body)
		}
		return string(body)
	}

	start := time.Now()
	for i, want := range []int{200, 200, 429} {
		resp, err := chat()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != want || resp.Header.Get("X-Ratelimit-Limit-Requests") != "2" {
			t.Fatalf("request %d: %d %v, want %d", i, resp.StatusCode, resp.Header, want)
		}
	}
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Errorf("two answers after %s: -ttft not applied", d)
	}

	admin(http.MethodPost, "/_sim/outage?mode=refuse")
	if _, err := chat(); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("refusing: %v", err)
	}
	admin(http.MethodPost, "/_sim/outage?mode=none")
	resp, err := chat()
	if err != nil || resp.StatusCode != 429 {
		t.Fatalf("after the outage, on the same port: %v %v", resp, err)
	}
	var eb struct {
		Events []struct {
			Kind   string `json:"kind"`
			Path   string `json:"path"`
			Status int    `json:"status"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(admin(http.MethodGet, "/_sim/events")), &eb); err != nil {
		t.Fatal(err)
	}
	var statuses []int
	for _, e := range eb.Events {
		if e.Kind == "request" {
			statuses = append(statuses, e.Status)
		}
	}
	if !slices.Equal(statuses, []int{200, 200, 429, 429}) {
		t.Errorf("events: %+v", eb.Events)
	}
	if body := admin(http.MethodGet, "/_sim/bodies"); !strings.Contains(body, `\"max_tokens\":3`) {
		t.Errorf("bodies: %s", body)
	}
	// The admin listener serves nothing else.
	if resp, err := client.Post(adminURL+"/v1/embeddings", "application/json", strings.NewReader(`{"input":"a"}`)); err != nil || resp.StatusCode != 404 {
		t.Errorf("API on the admin listener: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	client.CloseIdleConnections()
	stop(t, cmd, syscall.SIGTERM)
}
