package clients_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmq/llmq/clients"
)

// chunkedJSONServer answers every request with a JSON object of more than
// 4 KB, sent chunked (no Content-Length), and counts the connections it
// accepts. The chunked terminator follows the object only after hold
// returns, as it does from a server or proxy that streams, so a decoder has
// the whole object before the body has ended.
func chunkedJSONServer(t *testing.T, hold func(r *http.Request)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	payload := map[string]string{"text": strings.Repeat("x", 8<<10)}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(payload)
		w.(http.Flusher).Flush() // no Content-Length: the body is chunked
		hold(r)
	}))
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	ts.Start()
	t.Cleanup(ts.Close)
	return ts, &conns
}

// briefly delays the end of a body a little.
func briefly(*http.Request) { time.Sleep(20 * time.Millisecond) }

// untilGone delays the end of a body until the client has hung up.
func untilGone(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

func TestDrainCloseKeepsConnection(t *testing.T) {
	tests := []struct {
		name  string
		hold  func(*http.Request)
		close func(resp *http.Response)
		reuse bool
	}{
		{name: "DrainClose after decode", hold: briefly, close: func(resp *http.Response) { clients.DrainClose(resp.Body) }, reuse: true},
		// The server ends the body only once the client has gone, so the
		// client cannot have read the end by chance.
		{name: "Close after decode", hold: untilGone, close: func(resp *http.Response) { _ = resp.Body.Close() }, reuse: false},
	}
	const requests = 20
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, conns := chunkedJSONServer(t, tt.hold)
			hc, stats, err := clients.NewHTTPClient(clients.Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(hc.CloseIdleConnections)
			for i := range requests {
				resp, err := hc.Get(ts.URL)
				if err != nil {
					t.Fatal(err)
				}
				if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
					t.Fatalf("response %d: transfer encoding %v, want chunked", i, resp.TransferEncoding)
				}
				var v map[string]string
				if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
					t.Fatal(err)
				}
				tt.close(resp)
			}
			s := stats.Snapshot()
			if s.Dials != conns.Load() {
				t.Errorf("client dialed %d connections, server accepted %d", s.Dials, conns.Load())
			}
			if tt.reuse && s.Dials != 1 {
				t.Errorf("%d requests dialed %d connections, want 1", requests, s.Dials)
			}
			if !tt.reuse && s.Dials != requests {
				t.Errorf("%d requests dialed %d connections, want %d (one each)", requests, s.Dials, requests)
			}
		})
	}
}

func TestCloseIdleConnections(t *testing.T) {
	ts, _ := chunkedJSONServer(t, briefly)
	hc, stats, err := clients.NewHTTPClient(clients.Config{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	clients.DrainClose(resp.Body)
	if s := stats.Snapshot(); s.Open != 1 || s.Dials != 1 {
		t.Fatalf("after one request: %+v, want one open connection", s)
	}
	hc.CloseIdleConnections()
	if s := stats.Snapshot(); s.Open != 0 {
		t.Errorf("after CloseIdleConnections: %d connections open, want 0", s.Open)
	}
}
