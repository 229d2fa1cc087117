// Package latencyproxy is a TCP proxy that makes a loopback connection
// behave like one across a network with a given round-trip time.
//
// A connection through a Proxy pays what a connection across such a
// network pays: set-up costs one round trip (no byte moves in either
// direction until RTT after the proxy accepted it, as if the TCP handshake
// took that long), and every byte then reaches the other side RTT/2 after
// it was sent, in each direction. Bytes pass through unchanged, so TLS and
// HTTP/2 are negotiated end to end between the client and the server
// behind the proxy. Bandwidth is not limited: data keeps flowing while
// earlier data is still in flight.
//
// A new TLS 1.3 connection carrying one request therefore costs three round
// trips (TCP, TLS, request) where a request on an open connection costs
// one.
package latencyproxy

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// chunkSize is the most one read moves at once.
const chunkSize = 32 << 10

// inFlight is how many chunks may be in flight in one direction before the
// proxy stops reading from the sender (at most inFlight × chunkSize bytes).
const inFlight = 256

// Proxy forwards the TCP connections it accepts to a target address,
// adding latency. It is safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target string
	rtt    time.Duration

	accepted atomic.Int64
	closed   chan struct{}
	wg       sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// Start listens on a free port of 127.0.0.1 and forwards every connection
// to target ("host:port") with round-trip time rtt.
func Start(target string, rtt time.Duration) (*Proxy, error) {
	if rtt < 0 {
		return nil, errors.New("latencyproxy: negative round-trip time")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, rtt: rtt, closed: make(chan struct{}), conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr returns the address clients connect to, "127.0.0.1:PORT".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// RTT returns the round-trip time the proxy adds.
func (p *Proxy) RTT() time.Duration { return p.rtt }

// Accepted returns the number of connections accepted so far.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// Close stops accepting, closes every open connection and waits until all
// of the proxy's goroutines have returned.
func (p *Proxy) Close() error {
	select {
	case <-p.closed:
		return nil
	default:
	}
	close(p.closed)
	err := p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.accepted.Add(1)
		p.wg.Add(1)
		go p.handle(c, time.Now())
	}
}

// track remembers c so that Close can close it; it reports false (and
// closes c) when the proxy is closing.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.closed:
		_ = c.Close()
		return false
	default:
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *Proxy) handle(client net.Conn, acceptedAt time.Time) {
	defer p.wg.Done()
	if !p.track(client) {
		return
	}
	defer p.untrack(client)
	upstream, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(upstream) {
		return
	}
	defer p.untrack(upstream)

	// The handshake: nothing moves until one round trip after accept.
	if !p.sleep(time.Until(acceptedAt.Add(p.rtt))) {
		return
	}
	half := p.rtt / 2
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(upstream, client, half) }()
	go func() { defer wg.Done(); p.pipe(client, upstream, half) }()
	wg.Wait()
}

// sleep waits d and reports whether the proxy is still open.
func (p *Proxy) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.closed:
		return false
	}
}

type chunk struct {
	buf *[]byte
	n   int
	due time.Time
}

var bufs = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// pipe copies src to dst, delivering each chunk delay after it was read.
// At src's end it half-closes dst, so the other direction can finish; on
// any error it closes both connections.
func (p *Proxy) pipe(dst, src net.Conn, delay time.Duration) {
	ch := make(chan chunk, inFlight)
	stop := make(chan struct{}) // the writer gave up
	go func() {
		defer close(ch)
		for {
			buf := bufs.Get().(*[]byte)
			n, err := src.Read(*buf)
			if n > 0 {
				select {
				case ch <- chunk{buf: buf, n: n, due: time.Now().Add(delay)}:
				case <-stop:
					bufs.Put(buf)
					return
				}
			} else {
				bufs.Put(buf)
			}
			if err != nil {
				return
			}
		}
	}()
	failed := false
	for c := range ch {
		if !failed {
			if p.sleep(time.Until(c.due)) {
				_, err := dst.Write((*c.buf)[:c.n])
				failed = err != nil
			} else {
				failed = true
			}
			if failed {
				close(stop)
				_ = src.Close()
				_ = dst.Close()
			}
		}
		bufs.Put(c.buf)
	}
	if failed {
		return
	}
	// src ended (EOF or error): pass the end on.
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	} else {
		_ = dst.Close()
	}
}
