package clients_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/llmq/llmq/clients"
)

// get sends one GET through hc with a ConnTrace, reads the body to the end
// and returns what the trace saw.
func get(t *testing.T, hc *http.Client, url string) clients.ConnInfo {
	t.Helper()
	ctx, ct := clients.WithConnTrace(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	clients.DrainClose(resp.Body)
	return ct.Info()
}

// tlsConfig trusts ts's certificate.
func tlsConfig(ts *httptest.Server) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	return &tls.Config{RootCAs: pool}
}

func TestConnTrace(t *testing.T) {
	tests := []struct {
		name    string
		tls     bool
		byName  bool // address the server as localhost, so that a lookup happens
		wantTLS bool
	}{
		{name: "http/1.1"},
		{name: "http/1.1 by name", byName: true},
		{name: "https http/2", tls: true, wantTLS: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ts := startSim(t, tt.tls)
			cfg := clients.Config{}
			if tt.tls {
				cfg.TLSConfig = tlsConfig(ts)
			}
			hc, stats := newHTTPClient(t, cfg)
			url := ts.URL + "/v1/models"
			if tt.byName {
				url = strings.Replace(url, "127.0.0.1", "localhost", 1)
			}

			first := get(t, hc, url)
			if !first.Got || first.Reused {
				t.Errorf("first request: %+v, want a new connection", first)
			}
			if first.Connect <= 0 {
				t.Errorf("first request: connect time %v, want it measured", first.Connect)
			}
			if (first.TLS > 0) != tt.wantTLS {
				t.Errorf("first request: TLS handshake time %v, want measured: %v", first.TLS, tt.wantTLS)
			}
			if (first.DNS > 0) != tt.byName {
				t.Errorf("first request: lookup time %v, want measured: %v", first.DNS, tt.byName)
			}

			for i := range 3 {
				next := get(t, hc, url)
				if !next.Got || !next.Reused || !next.WasIdle {
					t.Errorf("request %d: %+v, want a reused, idle connection", i+2, next)
				}
				if next.DNS != 0 || next.Connect != 0 || next.TLS != 0 {
					t.Errorf("request %d on a reused connection reports dial times: %+v", i+2, next)
				}
			}
			if s := stats.Snapshot(); s.Requests != 4 || s.Reused != 3 || s.Dials != 1 {
				t.Errorf("stats %+v, want 4 requests, 3 reused, 1 dial", s)
			}
		})
	}
}

// poolMetrics collects reader and returns the pool's metrics as
// "name{attr=value,...}" -> value.
func poolMetrics(t *testing.T, reader sdkmetric.Reader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == "http.client.request.duration" {
				continue // a histogram: see TestRequestDuration
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				t.Fatalf("%s is a %T, want an int64 sum", m.Name, m.Data)
			}
			for _, dp := range sum.DataPoints {
				var attrs []string
				for _, kv := range dp.Attributes.ToSlice() {
					attrs = append(attrs, string(kv.Key)+"="+kv.Value.String())
				}
				out[m.Name+"{"+strings.Join(attrs, ",")+"}"] = dp.Value
			}
		}
	}
	return out
}

// TestPoolMetrics follows one connection through its life in the pool's
// metrics: dialed, active while requests use it (one HTTP/1 request, or
// two HTTP/2 streams at once), idle between requests, gone once closed.
func TestPoolMetrics(t *testing.T) {
	const (
		dialed     = "llmq.http.client.connections.dialed{gen_ai.provider.name=openai}"
		firstOnNew = "llmq.http.client.requests{gen_ai.provider.name=openai,llmq.connection.reused=false}"
		reused     = "llmq.http.client.requests{gen_ai.provider.name=openai,llmq.connection.reused=true}"
	)
	tests := []struct {
		name string
		tls  bool
		held int // requests held by the server at once
	}{
		{"http/1.1", false, 1},
		{"http/2 streams", true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arrived := make(chan struct{})
			release := make(chan struct{})
			ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/hold" {
					arrived <- struct{}{}
					<-release
				}
				_, _ = w.Write([]byte("ok"))
			}))
			if tt.tls {
				ts.EnableHTTP2 = true
				ts.StartTLS()
			} else {
				ts.Start()
			}
			t.Cleanup(ts.Close)
			u, _ := url.Parse(ts.URL)
			server := ",server.address=127.0.0.1,server.port=" + u.Port() + ",url.scheme=" + u.Scheme + "}"
			active := "http.client.open_connections{gen_ai.provider.name=openai,http.connection.state=active" + server
			idle := "http.client.open_connections{gen_ai.provider.name=openai,http.connection.state=idle" + server

			reader := sdkmetric.NewManualReader()
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
			t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
			cfg := clients.Config{Provider: "openai", MeterProvider: mp}
			if tt.tls {
				cfg.TLSConfig = tlsConfig(ts)
			}
			hc, _ := newHTTPClient(t, cfg)

			get(t, hc, ts.URL+"/") // opens the one connection
			want := map[string]int64{dialed: 1, firstOnNew: 1, reused: 0, active: 0, idle: 1}
			check(t, "after the first request", poolMetrics(t, reader), want)

			var wg sync.WaitGroup
			for range tt.held {
				wg.Go(func() { get(t, hc, ts.URL+"/hold") })
			}
			for range tt.held {
				<-arrived
			}
			want[reused] += int64(tt.held)
			want[active], want[idle] = 1, 0
			check(t, "while requests are held", poolMetrics(t, reader), want)

			close(release)
			wg.Wait()
			want[active], want[idle] = 0, 1
			check(t, "after the held requests", poolMetrics(t, reader), want)

			hc.CloseIdleConnections()
			want[idle] = 0
			check(t, "after CloseIdleConnections", poolMetrics(t, reader), want)
		})
	}
}

// TestRequestDuration checks http.client.request.duration: one point per
// request with the HTTP conventions' attributes, measured to the end of
// the response body, and error.type for an error status or a failure.
func TestRequestDuration(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/busy" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("first part"))
		w.(http.Flusher).Flush()
		time.Sleep(150 * time.Millisecond) // the headers are long sent
		_, _ = w.Write([]byte("rest"))
	}))
	t.Cleanup(ts.Close)
	u, _ := url.Parse(ts.URL)
	refused := freeAddr(t)
	_, refusedPort, _ := net.SplitHostPort(refused)

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	hc, _ := newHTTPClient(t, clients.Config{Provider: "ollama", MeterProvider: mp})

	get(t, hc, ts.URL+"/slow-body")
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.URL+"/busy", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	clients.DrainClose(resp.Body)
	if _, err := hc.Get("http://" + refused + "/"); err == nil {
		t.Fatal("request to a closed port succeeded")
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]metricdata.HistogramDataPoint[float64]{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "http.client.request.duration" {
				continue
			}
			if m.Unit != "s" {
				t.Errorf("unit %q, want s", m.Unit)
			}
			for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				var attrs []string
				for _, kv := range dp.Attributes.ToSlice() {
					attrs = append(attrs, string(kv.Key)+"="+kv.Value.String())
				}
				got[strings.Join(attrs, ",")] = dp
			}
		}
	}
	base := "gen_ai.provider.name=ollama,"
	want := map[string]float64{ // attributes: the least duration
		base + "http.request.method=GET,http.response.status_code=200,server.address=127.0.0.1,server.port=" + u.Port() + ",url.scheme=http":                      0.15,
		"error.type=503," + base + "http.request.method=POST,http.response.status_code=503,server.address=127.0.0.1,server.port=" + u.Port() + ",url.scheme=http": 0,
		"error.type=*net.OpError," + base + "http.request.method=GET,server.address=127.0.0.1,server.port=" + refusedPort + ",url.scheme=http":                    0,
	}
	for attrs, least := range want {
		dp, ok := got[attrs]
		if !ok {
			t.Errorf("no point {%s} among %v", attrs, slices.Collect(maps.Keys(got)))
			continue
		}
		if dp.Count != 1 || dp.Sum < least {
			t.Errorf("{%s}: count %d, sum %.3fs; want 1 request of at least %.2fs", attrs, dp.Count, dp.Sum, least)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d points, want %d: %v", len(got), len(want), slices.Collect(maps.Keys(got)))
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func check(t *testing.T, when string, got, want map[string]int64) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %d, want %d (all: %v)", when, k, got[k], v, got)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected series %s", when, k)
		}
	}
}
