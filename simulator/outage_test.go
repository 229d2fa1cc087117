package simulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/llmq/llmq/simulator"
)

// post sends one embeddings request through a fresh connection and returns
// the status, or the error.
func post(t *testing.T, url string) (int, error) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := c.Post(url+"/v1/embeddings", "application/json", strings.NewReader(`{"input":"a"}`))
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestOutages(t *testing.T) {
	f := setup(t, simulator.Config{})
	url := f.srv.URL
	// A kept-alive connection, open before each outage.
	keep := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(keep.CloseIdleConnections)
	warm := func() {
		t.Helper()
		resp, err := keep.Post(url+"/v1/embeddings", "application/json", strings.NewReader(`{"input":"a"}`))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	warm()
	if err := f.sim.SetOutage(simulator.OutageUnavailable, 0); err != nil {
		t.Fatal(err)
	}
	if st, err := post(t, url); err != nil || st != 503 {
		t.Errorf("503 outage: %d %v", st, err)
	}

	warm()
	if err := f.sim.SetOutage(simulator.OutageRefuse, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := post(t, url); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("refuse outage: %v, want connection refused", err)
	}
	// The kept-alive connection was closed too: a request on it fails
	// or has to dial, which is refused.
	if resp, err := keep.Post(url+"/v1/embeddings", "application/json", strings.NewReader(`{"input":"a"}`)); err == nil {
		resp.Body.Close()
		t.Error("a kept-alive connection still answers while refusing")
	}
	if err := f.sim.SetOutage(simulator.OutageNone, 0); err != nil {
		t.Fatal(err)
	}
	if st, err := post(t, url); err != nil || st != 200 {
		t.Errorf("back from refuse on the same address: %d %v", st, err)
	}

	warm()
	before := f.sim.Stats()
	if err := f.sim.SetOutage(simulator.OutageReset, 0); err != nil {
		t.Fatal(err)
	}
	_, err := post(t, url)
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
		t.Errorf("reset outage: %v, want connection reset", err)
	}
	if st := f.sim.Stats(); st.ResetConnections != before.ResetConnections+1 || st.Connections != before.Connections {
		t.Errorf("reset outage stats: %+v, before %+v", st, before)
	}

	if err := f.sim.SetOutage(simulator.OutageHang, 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/embeddings", strings.NewReader(`{"input":"a"}`))
	start := time.Now()
	if _, err := f.client.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hang outage: %v, want the client's deadline", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("answered after %s", d)
	}
	waitFor(t, func() bool { return f.sim.InFlight() == 0 })
	if st := f.sim.Stats(); st.Hung != 1 || st.ByStatus["499"] != 1 {
		t.Errorf("hang stats: %+v", st)
	}

	// /stats and /_sim/ still answer under 503 and hang.
	if resp, _ := f.do(t, http.MethodGet, "/stats", nil); resp.StatusCode != 200 {
		t.Errorf("/stats while hanging: %d", resp.StatusCode)
	}
	if err := f.sim.SetOutage(simulator.OutageNone, 0); err != nil {
		t.Fatal(err)
	}
	if st, err := post(t, url); err != nil || st != 200 {
		t.Errorf("back to normal: %d %v", st, err)
	}
}

func TestOutageAdmin(t *testing.T) {
	f := setup(t, simulator.Config{})
	resp, body := f.do(t, http.MethodPost, "/_sim/outage?mode=refuse&for=300ms", nil)
	var ob struct {
		Mode string `json:"mode"`
	}
	if err := json.Unmarshal(body, &ob); err != nil || resp.StatusCode != 200 || ob.Mode != "refuse" {
		t.Fatalf("POST /_sim/outage: %d %s", resp.StatusCode, body)
	}
	if _, err := post(t, f.srv.URL); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("during the outage: %v, want connection refused", err)
	}
	waitFor(t, func() bool { return f.sim.Outage() == simulator.OutageNone })
	if st, err := post(t, f.srv.URL); err != nil || st != 200 {
		t.Errorf("after the outage: %d %v", st, err)
	}
	for _, tt := range []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, "/_sim/outage?mode=flood", 400},
		{http.MethodPost, "/_sim/outage?mode=503&for=soon", 400},
		{http.MethodDelete, "/_sim/outage", 405},
		{http.MethodGet, "/_sim/events?since=x", 400},
	} {
		if resp, body := f.do(t, tt.method, tt.path, nil); resp.StatusCode != tt.want {
			t.Errorf("%s %s: %d, want %d: %s", tt.method, tt.path, resp.StatusCode, tt.want, body)
		}
	}
	resp, body = f.do(t, http.MethodPost, "/_sim/outage?mode=503", nil)
	if resp.StatusCode != 200 || f.sim.Outage() != simulator.OutageUnavailable {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if resp, body := f.do(t, http.MethodGet, "/_sim/outage", nil); !strings.Contains(string(body), `"mode":"503"`) {
		t.Errorf("GET: %d %s", resp.StatusCode, body)
	}
	if resp, _ := f.do(t, http.MethodPost, "/_sim/outage", nil); resp.StatusCode != 200 || f.sim.Outage() != simulator.OutageNone {
		t.Errorf("no mode means none: %d %s", resp.StatusCode, f.sim.Outage())
	}
	if _, err := simulator.ParseOutage("normal"); err != nil {
		t.Error(err)
	}
}

// TestListenerClose checks that closing a Listener while refusing ends
// Accept.
func TestListenerClose(t *testing.T) {
	sim := simulator.New(simulator.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := sim.Listener(ln)
	if err := sim.SetOutage(simulator.OutageRefuse, 0); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	l.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still blocked")
	}
	if err := sim.SetOutage(simulator.OutageNone, 0); err != nil {
		t.Errorf("a closed listener does not listen again: %v", err)
	}
}
