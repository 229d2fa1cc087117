package latencyproxy

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/llmq/llmq/simulator"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// echo serves a TCP echo server until the test ends: it copies what it
// reads back, and half-closes when the client does.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
				_ = c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return ln.Addr().String()
}

func start(t *testing.T, target string, rtt time.Duration) *Proxy {
	t.Helper()
	p, err := Start(target, rtt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// Timing bounds: a delay is never shorter than asked; it may be longer on
// a loaded machine.
const slack = 250 * time.Millisecond

func within(t *testing.T, what string, got, want time.Duration) {
	t.Helper()
	if got < want || got > want+slack {
		t.Errorf("%s took %v, want %v (up to %v more)", what, got, want, slack)
	}
}

func TestDelays(t *testing.T) {
	const rtt = 60 * time.Millisecond
	p := start(t, echo(t), rtt)

	begin := time.Now()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 4)
	exchange := func() {
		t.Helper()
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("read %q, %v", buf, err)
		}
	}
	exchange()
	within(t, "set-up and first exchange", time.Since(begin), 2*rtt)

	begin = time.Now()
	exchange()
	within(t, "second exchange", time.Since(begin), rtt)

	if got := p.Accepted(); got != 1 {
		t.Errorf("Accepted() = %d, want 1", got)
	}
}

func TestBytesUnchangedAndHalfClose(t *testing.T) {
	p := start(t, echo(t), 10*time.Millisecond)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := make([]byte, 3<<20)
	_, _ = rand.Read(want)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(want)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(c) // ends when the echo server half-closes
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("echoed %d bytes, want the %d sent, unchanged", len(got), len(want))
	}
}

// TestTLSAndHTTP2 checks that TLS and HTTP/2 are negotiated through the
// proxy, and that a new connection costs three round trips (TCP, TLS,
// request) where a request on an open one costs one.
func TestTLSAndHTTP2(t *testing.T) {
	const rtt = 50 * time.Millisecond
	sim := simulator.New(simulator.Config{})
	ts := simulator.Start(sim, true)
	defer ts.Close()
	p := start(t, ts.Listener.Addr().String(), rtt)

	roots := x509.NewCertPool()
	roots.AddCert(ts.Certificate())
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	get := func() *http.Response {
		t.Helper()
		resp, err := hc.Get("https://" + p.Addr() + "/v1/models")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	begin := time.Now()
	resp := get()
	within(t, "request on a new connection", time.Since(begin), 3*rtt)
	if resp.Proto != "HTTP/2.0" {
		t.Errorf("protocol %s, want HTTP/2.0", resp.Proto)
	}
	begin = time.Now()
	get()
	within(t, "request on an open connection", time.Since(begin), rtt)
	if got := sim.Stats().Connections; got != 1 {
		t.Errorf("simulator accepted %d connections, want 1", got)
	}
}

func TestClose(t *testing.T) {
	p := start(t, echo(t), time.Hour) // connections stay in set-up
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for p.Accepted() == 0 {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("connection still open after Close")
	}
	if _, err := net.Dial("tcp", p.Addr()); err == nil {
		t.Error("proxy still accepts after Close")
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestUnreachableTarget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ln.Addr().String()
	ln.Close()
	p := start(t, target, time.Millisecond)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("read succeeded through a proxy whose target is down")
	}
}

func TestNegativeRTT(t *testing.T) {
	if _, err := Start("127.0.0.1:1", -time.Second); err == nil {
		t.Error("Start accepted a negative RTT")
	}
}
