package clients_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/simulator"
)

// wave sends n GET requests to url from c goroutines at once, reading each
// body with DrainClose, and returns the protocol versions seen.
func wave(t *testing.T, hc *http.Client, url string, n, c int) map[int]int {
	t.Helper()
	var (
		mu     sync.Mutex
		protos = make(map[int]int)
		wg     sync.WaitGroup
		next   = make(chan struct{}, n)
		errs   = make(chan error, c)
	)
	for range n {
		next <- struct{}{}
	}
	close(next)
	for range c {
		wg.Go(func() {
			for range next {
				req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
				if err != nil {
					errs <- err
					return
				}
				resp, err := hc.Do(req)
				if err != nil {
					errs <- err
					return
				}
				clients.DrainClose(resp.Body)
				if resp.StatusCode != http.StatusOK {
					t.Errorf("status %d", resp.StatusCode)
				}
				mu.Lock()
				protos[resp.ProtoMajor]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return protos
}

// startSim starts a simulator whose every answer takes a few milliseconds,
// so that concurrent requests overlap.
func startSim(t *testing.T, tls bool) (*simulator.Simulator, *httptest.Server) {
	t.Helper()
	sim := simulator.New(simulator.Config{Latency: 3 * time.Millisecond})
	ts := simulator.Start(sim, tls)
	t.Cleanup(ts.Close)
	return sim, ts
}

// startGatedSim is startSim over plain HTTP, except that the server holds
// the first n requests until all n have arrived. A cold burst of n callers
// then has n connections open before any is freed, so no caller's dial can
// race a freed connection (the dial would add one connection more: a
// request that is still dialing takes a connection freed meanwhile, and its
// own connection joins the pool when the dial completes). What remains to
// be shown is the pool's part: that no request after those opens one.
func startGatedSim(t *testing.T, n int) (*simulator.Simulator, *httptest.Server) {
	t.Helper()
	sim := simulator.New(simulator.Config{Latency: 3 * time.Millisecond})
	var arrived atomic.Int64
	all := make(chan struct{})
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k := arrived.Add(1); k <= int64(n) {
			if k == int64(n) {
				close(all)
			}
			select {
			case <-all:
			case <-time.After(10 * time.Second): // fewer callers than n: go on
			case <-r.Context().Done():
				return
			}
		}
		sim.ServeHTTP(w, r)
	}))
	ts.Config.ConnState = sim.ConnState
	ts.Start()
	t.Cleanup(ts.Close)
	return sim, ts
}

func newHTTPClient(t *testing.T, cfg clients.Config) (*http.Client, *clients.Stats) {
	t.Helper()
	hc, stats, err := clients.NewHTTPClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	return hc, stats
}

// TestPoolingHTTP1 proves at the server that the pool holds: with the idle
// limit at the concurrency (set, or raised to it by MinIdleConns), a burst opens at most one connection per
// concurrent caller, and a later burst opens none.
func TestPoolingHTTP1(t *testing.T) {
	const n, c = 200, 8
	tests := []struct {
		name string
		cfg  clients.Config
	}{
		{"idle limit at the concurrency", clients.Config{MaxIdleConns: c}},
		{"idle floor at the concurrency", clients.Config{MaxIdleConns: 2, MinIdleConns: c}},
		{"idle floor capped by MaxConns", clients.Config{MaxConns: c, MaxIdleConns: 2, MinIdleConns: 4 * c}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, ts := startGatedSim(t, c)
			hc, stats := newHTTPClient(t, tt.cfg)
			url := ts.URL + "/v1/models"

			if protos := wave(t, hc, url, n, c); protos[1] != n {
				t.Errorf("protocols %v, want %d HTTP/1.x answers", protos, n)
			}
			first := sim.Stats()
			if first.Connections != c {
				t.Errorf("first wave: %d requests at concurrency %d opened %d connections, want %d", n, c, first.Connections, c)
			}
			if first.Connections == 0 {
				t.Fatal("server counted no connections")
			}
			cs := stats.Snapshot()
			if cs.Dials != first.Connections || cs.Requests != n {
				t.Errorf("client counted %d dials and %d requests; server %d connections and %d requests", cs.Dials, cs.Requests, first.Connections, first.Requests)
			}
			if cs.Open != cs.Dials {
				t.Errorf("client has %d connections open, want all %d kept", cs.Open, cs.Dials)
			}

			time.Sleep(200 * time.Millisecond) // idle, well within IdleConnTimeout
			wave(t, hc, url, n, c)
			second := sim.Stats()
			if opened := second.Connections - first.Connections; opened != 0 {
				t.Errorf("second wave opened %d connections, want 0", opened)
			}
			cs = stats.Snapshot()
			if cs.Dials != second.Connections || cs.Requests != 2*n || second.Requests != 2*n {
				t.Errorf("client counted %d dials and %d requests; server %d connections and %d requests", cs.Dials, cs.Requests, second.Connections, second.Requests)
			}
			if got := cs.ReusePercent(); got < 100*float64(2*n-c)/float64(2*n) {
				t.Errorf("ReusePercent() = %.1f", got)
			}
		})
	}
}

// TestPoolingChurn documents why the worker raises the idle limit to its
// concurrency: with 2 idle connections kept for 8 concurrent callers,
// finished requests close connections that the next ones dial again.
func TestPoolingChurn(t *testing.T) {
	const n, c = 200, 8
	sim, ts := startSim(t, false)
	hc, stats := newHTTPClient(t, clients.Config{MaxIdleConns: 2})
	wave(t, hc, ts.URL+"/v1/models", n, c)
	// A dial started for a request that was then handed a freed
	// connection completes in the background: wait for the counts to meet.
	conns, d := sim.Stats().Connections, stats.Snapshot().Dials
	for deadline := time.Now().Add(5 * time.Second); d != conns && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		conns, d = sim.Stats().Connections, stats.Snapshot().Dials
	}
	if conns <= c {
		t.Errorf("%d requests at concurrency %d with 2 idle connections opened %d connections, want more than %d", n, c, conns, c)
	}
	if d != conns {
		t.Errorf("client dialed %d, server accepted %d", d, conns)
	}
	t.Logf("idle limit 2, concurrency %d: %d connections for %d requests", c, conns, n)
}

// TestPoolingHTTP2 checks that a client with its own TLS configuration
// still speaks HTTP/2 and, once warm, carries a burst on one connection.
func TestPoolingHTTP2(t *testing.T) {
	const n, c = 200, 8
	sim, ts := startSim(t, true)
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	hc, stats := newHTTPClient(t, clients.Config{MaxIdleConns: c, TLSConfig: &tls.Config{RootCAs: pool}})
	url := ts.URL + "/v1/models"

	if err := clients.Warm(t.Context(), hc, url); err != nil {
		t.Fatal(err)
	}
	if protos := wave(t, hc, url, n, c); protos[2] != n {
		t.Errorf("protocols %v, want %d HTTP/2 answers", protos, n)
	}
	st := sim.Stats()
	if st.Connections != 1 {
		t.Errorf("warm-up and %d requests at concurrency %d opened %d connections, want 1", n, c, st.Connections)
	}
	if d := stats.Snapshot().Dials; d != st.Connections {
		t.Errorf("client dialed %d, server accepted %d", d, st.Connections)
	}
}
