package bench

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmq/llmq/bench/latencyproxy"
	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/ollama"
	"github.com/llmq/llmq/clients/openai"
	"github.com/llmq/llmq/tasks"
)

// transport is one way to reach the provider in the client overhead
// scenario.
type transport struct {
	name string
	tls  bool
}

var transports = []transport{
	{name: "TLS + HTTP/2 (OpenAI-like)", tls: true},
	{name: "plain HTTP/1.1 (Ollama-like)", tls: false},
}

// clientKind is how a caller builds its HTTP client.
type clientKind int

const (
	newPerRequest clientKind = iota
	defaultTransport
	pooled
)

var clientKinds = []struct {
	kind clientKind
	name string
}{
	{newPerRequest, "new client per request (baseline)"},
	{defaultTransport, "Go default transport"},
	{pooled, "llmq pooled client"},
}

// requestTimeout bounds one request of the client overhead scenario.
const requestTimeout = 30 * time.Second

// link is a provider behind the latency proxy.
type link struct {
	e     *env
	t     transport
	prov  *provider
	proxy *latencyproxy.Proxy
}

func (e *env) startLink(t transport) (*link, error) {
	prov, err := e.startProvider(0, t.tls)
	if err != nil {
		return nil, err
	}
	proxy, err := latencyproxy.Start(prov.addr(), e.cfg.RTT)
	if err != nil {
		prov.close()
		return nil, err
	}
	return &link{e: e, t: t, prov: prov, proxy: proxy}, nil
}

func (l *link) close() {
	_ = l.proxy.Close()
	l.prov.close()
}

// newTransport is a clone of Go's default transport that trusts the
// simulator.
func (l *link) newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = l.e.tlsConfig()
	return t
}

// embedder returns the provider client for this link over hc.
func (l *link) embedder(hc *http.Client) (tasks.Embedder, func() string, error) {
	if l.t.tls {
		c, err := openai.New(hc, openai.Config{BaseURL: "https://" + l.proxy.Addr() + "/v1"})
		if err != nil {
			return nil, nil, err
		}
		return c, c.WarmURL, nil
	}
	c, err := ollama.New(hc, ollama.Config{Host: "http://" + l.proxy.Addr()})
	if err != nil {
		return nil, nil, err
	}
	return c, c.WarmURL, nil
}

// pooledClient builds the client as cmd/worker does for this concurrency.
func (l *link) pooledClient(ctx context.Context, concurrency int) (*http.Client, error) {
	hc, _, err := clients.NewHTTPClient(clients.Config{
		MaxConns:     100,
		MaxIdleConns: max(clients.DefaultMaxIdleConns, concurrency),
		Timeout:      requestTimeout,
		TLSConfig:    l.e.tlsConfig(),
	})
	if err != nil {
		return nil, err
	}
	_, warmURL, err := l.embedder(hc)
	if err != nil {
		return nil, err
	}
	if err := clients.Warm(ctx, hc, warmURL()); err != nil {
		return nil, err
	}
	return hc, nil
}

// loadResult is what one load run measured.
type loadResult struct {
	latencies []time.Duration
	wall      time.Duration
	conns     int64
}

// load sends n embedding requests from concurrency goroutines, building
// clients the way kind says, and counts the connections the simulator
// accepted meanwhile.
func (l *link) load(ctx context.Context, kind clientKind, concurrency, n int, tag string) (loadResult, error) {
	connsBefore := l.prov.sim.Stats().Connections
	// do sends request i through a client built the way kind says.
	var do func(ctx context.Context, i int) error
	var shared *http.Client
	switch kind {
	case newPerRequest:
		do = func(ctx context.Context, i int) error {
			tr := l.newTransport()
			defer tr.CloseIdleConnections()
			emb, _, err := l.embedder(&http.Client{Transport: tr, Timeout: requestTimeout})
			if err != nil {
				return err
			}
			return embedOne(ctx, emb, tag, i)
		}
	case defaultTransport:
		shared = &http.Client{Transport: l.newTransport(), Timeout: requestTimeout}
	case pooled:
		var err error
		if shared, err = l.pooledClient(ctx, concurrency); err != nil {
			return loadResult{}, err
		}
	}
	if shared != nil {
		defer shared.CloseIdleConnections()
		emb, _, err := l.embedder(shared)
		if err != nil {
			return loadResult{}, err
		}
		do = func(ctx context.Context, i int) error { return embedOne(ctx, emb, tag, i) }
	}

	res := loadResult{latencies: make([]time.Duration, n)}
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	begin := time.Now()
	for range concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				start := time.Now()
				if err := do(ctx, i); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				res.latencies[i] = time.Since(start)
			}
		})
	}
	wg.Wait()
	res.wall = time.Since(begin)
	res.conns = l.prov.sim.Stats().Connections - connsBefore
	if firstErr != nil {
		return res, firstErr
	}
	return res, nil
}

func embedOne(ctx context.Context, emb tasks.Embedder, tag string, i int) error {
	_, err := emb.Embed(ctx, clients.EmbedRequest{Input: []string{fmt.Sprintf("%s request %d", tag, i)}})
	return err
}

// coldWarm times the first request of a new pooled client (dial, TLS
// handshake and request) and its second (on the open connection).
func (l *link) coldWarm(ctx context.Context, tag string) (cold, warm time.Duration, err error) {
	hc, _, err := clients.NewHTTPClient(clients.Config{Timeout: requestTimeout, TLSConfig: l.e.tlsConfig()})
	if err != nil {
		return 0, 0, err
	}
	defer hc.CloseIdleConnections()
	emb, _, err := l.embedder(hc)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if err := embedOne(ctx, emb, tag+" cold", 0); err != nil {
		return 0, 0, err
	}
	cold = time.Since(start)
	start = time.Now()
	if err := embedOne(ctx, emb, tag+" warm", 0); err != nil {
		return 0, 0, err
	}
	return cold, time.Since(start), nil
}

// clientOverhead is scenario 1: a new client per request vs Go's default
// transport vs llmq's pooled client, at concurrency 1 and
// ClientConcurrency, over TLS + HTTP/2 and plain HTTP/1.1, behind the
// latency proxy.
func clientOverhead(ctx context.Context, e *env, r *Report) error {
	cfg := e.cfg
	rtt := ms(cfg.RTT)
	for _, t := range transports {
		l, err := e.startLink(t)
		if err != nil {
			return err
		}
		err = func() error {
			defer l.close()
			for _, conc := range []int{1, cfg.ClientConcurrency} {
				n := cfg.ClientRequests
				if conc == 1 {
					n = cfg.ClientRequestsSerial
				}
				// s[kind] collects the figures of one client kind.
				s := make([]samples, len(clientKinds))
				for i := range s {
					s[i] = samples{}
				}
				for rep := range cfg.Reps {
					for _, k := range clientKinds {
						e.progress("client overhead", "transport", t.name, "concurrency", conc, "client", k.name, "rep", rep+1)
						res, err := l.load(ctx, k.kind, conc, n, fmt.Sprintf("%s c%d %d %d", t.name, conc, k.kind, rep))
						if err != nil {
							return fmt.Errorf("%s, %s, concurrency %d: %w", t.name, k.name, conc, err)
						}
						fs := s[k.kind]
						p50 := ms(percentile(res.latencies, 50))
						fs.add("p50", p50)
						fs.add("p99", ms(percentile(res.latencies, 99)))
						fs.add("added", p50-rtt)
						fs.add("rps", perSecond(n, res.wall))
						fs.add("conns", float64(res.conns))
						fs.add("conns/1k", float64(res.conns)*1000/float64(n))
					}
					base := s[newPerRequest]
					for _, k := range []clientKind{defaultTransport, pooled} {
						fs := s[k]
						fs.add("x rps", ratio(last(fs["rps"]), last(base["rps"])))
						fs.add("x added", ratio(last(fs["added"]), last(base["added"])))
					}
				}
				scen := fmt.Sprintf("1. client overhead: %s, %s RTT, concurrency %d, %d requests", t.name, cfg.RTT, conc, n)
				for _, k := range clientKinds {
					fs := s[k.kind]
					if !fs.sane("p50", "rps", "conns") {
						return fmt.Errorf("%s, %s: %w", scen, k.name, errInsane)
					}
					figs := fmt.Sprintf("p50 %s · p99 %s · added %s · %s req/s · %s (%s per 1,000 req)",
						fmtMs(fs.med("p50")), fmtMs(fs.med("p99")), fmtMs(fs.med("added")), fmtRate(fs.med("rps")),
						conns(fs.med("conns")), fmtRate(fs.med("conns/1k")))
					vs := ""
					if k.kind != newPerRequest {
						vs = fmt.Sprintf("%s req/s · added latency %s", fmtX(fs.med("x rps")), fmtX(fs.med("x added")))
					}
					r.row(scen, k.name, figs, vs)
				}
				if t.tls && conc == cfg.ClientConcurrency {
					e.newClientRPS = s[newPerRequest].med("rps")
					p := s[pooled]
					r.target(fmt.Sprintf("pooled vs new client per request, TLS, %s RTT, c=%d: added latency ratio ≤ 0.1", cfg.RTT, conc),
						fmtX(p.med("x added")), p.med("x added") <= 0.1)
					r.explain("pooled adds %s to the round trip, a new client %s: two more round trips (TCP, TLS) and the handshake's CPU",
						fmtMs(p.med("added")), fmtMs(s[newPerRequest].med("added")))
					r.target(fmt.Sprintf("pooled vs new client per request, TLS, %s RTT, c=%d: throughput ≥ 2.5×", cfg.RTT, conc),
						fmtX(p.med("x rps")), p.med("x rps") >= 2.5)
					r.explain("round trips alone bound it near 3× (3 RTT ÷ 1 RTT with no service time); beyond that the new client also waits for CPU to do its handshakes")
					r.target(fmt.Sprintf("pooled, warm HTTP/2: 1 connection for %d requests", n),
						fmtCount(p.med("conns")), p.med("conns") == 1)
				}
				if !t.tls && conc == cfg.ClientConcurrency {
					p := s[pooled]
					r.target(fmt.Sprintf("pooled, HTTP/1.1, c=%d: connections ≤ concurrency for %d requests", conc, n),
						fmtCount(p.med("conns")), p.med("conns") <= float64(conc))
				}
			}

			// Cold vs warm single request.
			cs := samples{}
			for i := range cfg.ColdWarm {
				cold, warm, err := l.coldWarm(ctx, fmt.Sprintf("%s %d", t.name, i))
				if err != nil {
					return fmt.Errorf("%s, cold vs warm: %w", t.name, err)
				}
				cs.add("cold", ms(cold))
				cs.add("warm", ms(warm))
				cs.add("x", ratio(ms(cold), ms(warm)))
			}
			if !cs.sane("cold", "warm") {
				return fmt.Errorf("%s, cold vs warm: %w", t.name, errInsane)
			}
			scen := fmt.Sprintf("1. client overhead: %s, %s RTT, one request", t.name, cfg.RTT)
			r.row(scen, "warm: second request of a pooled client (baseline)", "latency "+fmtMs(cs.med("warm")), "")
			r.row(scen, "cold: first request of a new pooled client", "latency "+fmtMs(cs.med("cold")),
				fmtX(cs.med("x"))+" the warm latency")
			return nil
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// conns shows a number of connections.
func conns(n float64) string {
	if n == 1 {
		return "1 connection"
	}
	return fmtCount(n) + " connections"
}

// last is the last element of xs, or NaN-free 0 for none.
func last(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return xs[len(xs)-1]
}
