package clients

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ConnInfo is what a pooled client saw of the connection one request rode.
type ConnInfo struct {
	// Got is true once the request was given a connection.
	Got bool
	// Reused is true when that connection had carried a request before.
	// It is decided on the connection the dialer opened, not taken from
	// net/http's GotConnInfo.Reused, which also calls a freshly dialed
	// connection "reused" when a request that was still dialing is handed
	// one that another request freed.
	Reused bool
	// WasIdle and IdleTime say whether the connection sat idle in the pool
	// before this request, and for how long (net/http's view).
	WasIdle  bool
	IdleTime time.Duration
	// DNS, Connect and TLS are the durations of the name lookup, the TCP
	// connect and the TLS handshake of a new connection; zero for a reused
	// one or a step that did not happen (an IP address needs no lookup).
	DNS, Connect, TLS time.Duration
}

// ConnTrace collects the ConnInfo of a request made with the context
// WithConnTrace returns. It is safe for concurrent use.
type ConnTrace struct {
	mu   sync.Mutex
	info ConnInfo
}

// Info returns what is known so far. Once the response body has been read
// or closed it is complete.
func (t *ConnTrace) Info() ConnInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	info := t.info
	if info.Reused {
		// A request that dialed but was handed another, reused connection:
		// its dial timings describe a connection it did not ride.
		info.DNS, info.Connect, info.TLS = 0, 0, 0
	}
	return info
}

type connTraceKey struct{}

// WithConnTrace returns a context that makes a client built by
// NewHTTPClient report the connection of a request sent with it to the
// returned ConnTrace. Use one per request.
func WithConnTrace(ctx context.Context) (context.Context, *ConnTrace) {
	t := new(ConnTrace)
	return context.WithValue(ctx, connTraceKey{}, t), t
}

// endpoint is where requests go, in the terms of OpenTelemetry's HTTP
// conventions: url.scheme, server.address and server.port.
type endpoint struct {
	scheme, host string
	port         int
}

// endpointOf returns the endpoint of a request to u; the port is the
// scheme's default when u has none.
func endpointOf(u *url.URL) endpoint {
	e := endpoint{scheme: u.Scheme, host: u.Hostname()}
	if p, err := strconv.Atoi(u.Port()); err == nil {
		e.port = p
	} else if u.Scheme == "https" {
		e.port = 443
	} else if u.Scheme == "http" {
		e.port = 80
	}
	return e
}

type endpointKey struct{}

// connCounts are the open and active connections to one endpoint.
type connCounts struct {
	open, active atomic.Int64
}

// newCountedConn counts a connection the dialer opened. ctx is the dial's:
// net/http derives it from the request that caused the dial, whose
// endpoint countingTransport put there. A dial from elsewhere is counted
// under its remote address, with no scheme.
func newCountedConn(ctx context.Context, conn net.Conn, stats *Stats) *countedConn {
	ep, ok := ctx.Value(endpointKey{}).(endpoint)
	if !ok {
		if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
			ep = endpoint{host: a.IP.String(), port: a.Port}
		}
	}
	counts := stats.pool.counts(ep)
	stats.dials.Add(1)
	stats.open.Add(1)
	counts.open.Add(1)
	return &countedConn{Conn: conn, stats: stats, counts: counts}
}

// roundTrip follows one request through the transport: which connection
// it holds (so that the connection counts as active until the response
// body is done) and what it learnt about that connection.
type roundTrip struct {
	stats *Stats
	trace *ConnTrace // where ConnInfo goes; never nil
	// finish, if set, runs once when the request is done: at the end of
	// its body, or at once when it failed.
	finish func()

	mu       sync.Mutex
	conn     *countedConn // held from GotConn until the body is done
	counted  bool         // the request was counted as reused or not
	released bool
	dnsStart time.Time
	dialAt   time.Time
	tlsStart time.Time
}

func (rt *roundTrip) clientTrace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GotConn:           rt.gotConn,
		DNSStart:          func(httptrace.DNSStartInfo) { rt.mark(&rt.dnsStart) },
		DNSDone:           func(httptrace.DNSDoneInfo) { rt.since(&rt.dnsStart, &rt.trace.info.DNS) },
		ConnectStart:      func(string, string) { rt.mark(&rt.dialAt) },
		ConnectDone:       func(string, string, error) { rt.since(&rt.dialAt, &rt.trace.info.Connect) },
		TLSHandshakeStart: func() { rt.mark(&rt.tlsStart) },
		TLSHandshakeDone:  func(tls.ConnectionState, error) { rt.since(&rt.tlsStart, &rt.trace.info.TLS) },
	}
}

// mark and since time one step of a dial. The hooks of a dial run on the
// transport's dialing goroutine, possibly after the request has finished
// on another connection, hence the locks.
func (rt *roundTrip) mark(start *time.Time) {
	now := time.Now()
	rt.mu.Lock()
	*start = now
	rt.mu.Unlock()
}

func (rt *roundTrip) since(start *time.Time, d *time.Duration) {
	now := time.Now()
	rt.mu.Lock()
	began := *start
	rt.mu.Unlock()
	if began.IsZero() {
		return
	}
	rt.trace.mu.Lock()
	*d = now.Sub(began)
	rt.trace.mu.Unlock()
}

// gotConn attributes the request to its connection. HTTP/2 may call it
// more than once for one request (when it retries on another connection):
// the request then moves to the new connection, and is counted once.
func (rt *roundTrip) gotConn(info httptrace.GotConnInfo) {
	c := findCounted(info.Conn)
	reused := info.Reused
	rt.mu.Lock()
	if rt.released {
		rt.mu.Unlock()
		return
	}
	if rt.conn != nil {
		rt.conn.release()
	}
	rt.conn = c
	if c != nil {
		reused = c.acquire()
	}
	first := !rt.counted
	rt.counted = true
	rt.mu.Unlock()

	if first && reused {
		rt.stats.reused.Add(1)
	}
	rt.trace.mu.Lock()
	rt.trace.info.Got = true
	rt.trace.info.Reused = reused
	rt.trace.info.WasIdle = info.WasIdle
	rt.trace.info.IdleTime = info.IdleTime
	rt.trace.mu.Unlock()
}

// done ends the request's hold on its connection; later calls do nothing.
func (rt *roundTrip) done() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.released {
		return
	}
	rt.released = true
	if rt.conn != nil {
		rt.conn.release()
		rt.conn = nil
	}
	if rt.finish != nil {
		rt.finish()
	}
}

// findCounted returns the countedConn under c: c itself for plain HTTP,
// the connection under a *tls.Conn for HTTPS.
func findCounted(c net.Conn) *countedConn {
	for range 3 {
		switch v := c.(type) {
		case *countedConn:
			return v
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// doneBody ends its request's hold on the connection at EOF or Close,
// whichever comes first: at EOF an HTTP/1 connection is already back in
// the pool.
type doneBody struct {
	io.ReadCloser
	rt *roundTrip
}

func (b *doneBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.rt.done()
	}
	return n, err
}

func (b *doneBody) Close() error {
	err := b.ReadCloser.Close()
	b.rt.done()
	return err
}

// readBuffer is how much a connection takes from its socket in one read.
const readBuffer = 64 << 10

// bufferedConn reads its connection through a buffer of readBuffer bytes.
// TLS asks for what it needs of one record at a time (16 KiB at most), a
// read system call each, and an answer of 128 vectors of 1536 dimensions
// is about 1 MB: it arrives faster than it is read, and one read then
// takes several records. Reads of readBuffer or more bypass the buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func newBufferedConn(conn net.Conn) *bufferedConn {
	return &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, readBuffer)}
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// NetConn returns the connection under c.
func (c *bufferedConn) NetConn() net.Conn { return c.Conn }

// countedConn is a connection the dialer opened. It keeps the pool's
// counts: open until closed (exactly once), active while at least one
// request holds it, and whether it has carried a request yet.
type countedConn struct {
	net.Conn
	stats  *Stats
	counts *connCounts // of its endpoint

	mu       sync.Mutex
	closed   bool
	inflight int
	served   bool
}

// acquire records that a request rides c and reports whether c had
// carried one before.
func (c *countedConn) acquire() (reused bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	reused = c.served
	c.served = true
	if c.inflight == 0 && !c.closed {
		c.stats.active.Add(1)
		c.counts.active.Add(1)
	}
	c.inflight++
	return reused
}

// release records that a request no longer rides c.
func (c *countedConn) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight == 0 {
		return
	}
	c.inflight--
	if c.inflight == 0 && !c.closed {
		c.stats.active.Add(-1)
		c.counts.active.Add(-1)
	}
}

func (c *countedConn) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		c.stats.open.Add(-1)
		c.counts.open.Add(-1)
		if c.inflight > 0 {
			c.stats.active.Add(-1)
			c.counts.active.Add(-1)
		}
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

// countingTransport counts requests and follows each through a roundTrip.
type countingTransport struct {
	next  http.RoundTripper
	stats *Stats
}

var _ http.RoundTripper = countingTransport{}

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.stats.requests.Add(1)
	ctx := req.Context()
	ct, _ := ctx.Value(connTraceKey{}).(*ConnTrace)
	if ct == nil {
		ct = new(ConnTrace)
	}
	rt := &roundTrip{stats: t.stats, trace: ct}
	ep := endpointOf(req.URL)
	ctx = context.WithValue(ctx, endpointKey{}, ep)
	req = req.WithContext(httptrace.WithClientTrace(ctx, rt.clientTrace()))
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		rt.finish = func() { t.stats.pool.recordDuration(ctx, start, req.Method, ep, 0, err) }
		rt.done()
		return nil, err
	}
	ObserveResponse(ctx, resp)
	status := resp.StatusCode
	rt.finish = func() { t.stats.pool.recordDuration(ctx, start, req.Method, ep, status, nil) }
	resp.Body = &doneBody{ReadCloser: resp.Body, rt: rt}
	return resp, nil
}

// CloseIdleConnections passes http.Client.CloseIdleConnections on to the
// wrapped transport, which would otherwise never see it.
func (t countingTransport) CloseIdleConnections() {
	if ci, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}
