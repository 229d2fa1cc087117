package clients

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Config configures one provider's pooled HTTP client. The zero value of
// each field means the default documented on it.
type Config struct {
	// MaxConns caps the connections (dialing, active and idle) to one host.
	// Requests beyond it wait for a free connection. 0 means no cap.
	// MaxIdleConns keeps a steady load on as many connections as it has
	// concurrent callers, but a cold burst can open a few more: a request
	// still dialing takes a connection freed meanwhile, and its own joins
	// the pool when the dial completes. Setting MaxConns to the concurrency
	// bounds that too.
	MaxConns int
	// MaxIdleConns is how many idle connections per host are kept for reuse.
	// It must not be below the number of goroutines that call the provider at
	// once, or finished requests close connections that the next request then
	// dials again. Default 20, raised to MinIdleConns.
	MaxIdleConns int
	// MinIdleConns raises MaxIdleConns (or its default) to at least this
	// many, but not above MaxConns when that is set: give it the number of
	// goroutines that call the provider at once, as go-cleanhttp's
	// DefaultPooledTransportWithMin takes a floor. 0 raises nothing.
	MinIdleConns int
	// Timeout bounds one whole exchange, from dialing to the end of the
	// response body. Default 30s.
	Timeout time.Duration
	// IdleConnTimeout closes a connection that has stayed idle this long.
	// Default 90s.
	IdleConnTimeout time.Duration
	// DialTimeout bounds the TCP connect. Default 10s.
	DialTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake. Default 10s.
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers once the
	// request is written. Default: Timeout (generation endpoints that do not
	// stream send headers only when the answer is complete).
	ResponseHeaderTimeout time.Duration
	// TLSConfig, if set, replaces the default TLS configuration (for a
	// private CA). HTTP/2 is still negotiated.
	TLSConfig *tls.Config
	// Provider names the provider in the pool's metrics (attribute
	// gen_ai.provider.name), such as "openai".
	Provider string
	// MeterProvider receives the pool's metrics (see Stats). Default: the
	// global one, otel.GetMeterProvider.
	MeterProvider metric.MeterProvider
}

// Defaults used by NewHTTPClient for zero fields.
const (
	DefaultMaxIdleConns        = 20
	DefaultTimeout             = 30 * time.Second
	DefaultIdleConnTimeout     = 90 * time.Second
	DefaultDialTimeout         = 10 * time.Second
	DefaultTLSHandshakeTimeout = 10 * time.Second
)

func (c Config) withDefaults() Config {
	if c.MaxIdleConns == 0 {
		c.MaxIdleConns = DefaultMaxIdleConns
	}
	if c.MinIdleConns > c.MaxIdleConns {
		c.MaxIdleConns = c.MinIdleConns
		if c.MaxConns > 0 {
			c.MaxIdleConns = min(c.MaxIdleConns, c.MaxConns)
		}
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.IdleConnTimeout == 0 {
		c.IdleConnTimeout = DefaultIdleConnTimeout
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.TLSHandshakeTimeout == 0 {
		c.TLSHandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	if c.ResponseHeaderTimeout == 0 {
		c.ResponseHeaderTimeout = c.Timeout
	}
	return c
}

// Validate reports the first field that cannot be used, naming it.
func (c Config) Validate() error {
	switch {
	case c.MaxConns < 0:
		return fmt.Errorf("MaxConns must not be negative, got %d", c.MaxConns)
	case c.MaxIdleConns < 0:
		return fmt.Errorf("MaxIdleConns must not be negative, got %d", c.MaxIdleConns)
	case c.MinIdleConns < 0:
		return fmt.Errorf("MinIdleConns must not be negative, got %d", c.MinIdleConns)
	case c.MaxConns > 0 && c.MaxIdleConns > c.MaxConns:
		return fmt.Errorf("MaxIdleConns (%d) must not exceed MaxConns (%d)", c.MaxIdleConns, c.MaxConns)
	case c.Timeout < 0, c.IdleConnTimeout < 0, c.DialTimeout < 0,
		c.TLSHandshakeTimeout < 0, c.ResponseHeaderTimeout < 0:
		return errors.New("timeouts must not be negative")
	}
	return nil
}

// Stats counts what one pooled client did, measured where it happens:
// connections at the dialer, requests at the transport, and whether each
// request rode a connection that had carried one before. Safe for
// concurrent use; the zero value is ready.
type Stats struct {
	requests atomic.Int64
	reused   atomic.Int64
	dials    atomic.Int64
	open     atomic.Int64
	active   atomic.Int64

	pool poolMetrics // by endpoint, for the metrics (metrics.go)
}

// StatsSnapshot is a copy of Stats at one moment.
type StatsSnapshot struct {
	// Requests is the number of HTTP requests sent.
	Requests int64 `json:"requests"`
	// Reused is the number of requests that rode a connection that had
	// carried a request before.
	Reused int64 `json:"requests_reused"`
	// Dials is the number of TCP connections opened.
	Dials int64 `json:"conns_opened"`
	// Open is the number of TCP connections open now (active or idle).
	Open int64 `json:"conns_open"`
	// Active is the number of open connections that at least one request
	// is using now (from the moment it was handed the connection until its
	// response body was read or closed); the others are idle.
	Active int64 `json:"conns_active"`
}

// Snapshot returns the current counts.
func (s *Stats) Snapshot() StatsSnapshot {
	return StatsSnapshot{
		Requests: s.requests.Load(),
		Reused:   s.reused.Load(),
		Dials:    s.dials.Load(),
		Open:     s.open.Load(),
		Active:   s.active.Load(),
	}
}

// ReusePercent is the share of requests that rode a connection that had
// carried a request before.
func (s StatsSnapshot) ReusePercent() float64 {
	if s.Requests == 0 {
		return 0
	}
	return 100 * float64(s.Reused) / float64(s.Requests)
}

// NewHTTPClient builds the pooled client for one provider. Call it once per
// provider per process and share the result: it is safe for concurrent use
// and its value is the connections it keeps.
//
// The transport starts from http.DefaultTransport's settings (proxy from the
// environment, HTTP/2 over TLS) and applies cfg: per-host connection and idle
// limits, timeouts, and HTTP/2 health pings on idle connections. Every
// connection it dials and every request it sends is counted in the returned
// Stats, which cfg.MeterProvider receives as metrics: connections dialed,
// requests by whether their connection had carried one before, and open
// connections, active or idle. A request whose context comes from
// WithConnTrace reports the connection it rode.
func NewHTTPClient(cfg Config) (*http.Client, *Stats, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	cfg = cfg.withDefaults()
	stats := new(Stats)
	if err := observe(cfg.MeterProvider, cfg.Provider, stats); err != nil {
		return nil, nil, err
	}

	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return newCountedConn(ctx, newBufferedConn(conn), stats), nil
	}
	t.ForceAttemptHTTP2 = true
	t.MaxConnsPerHost = cfg.MaxConns
	t.MaxIdleConnsPerHost = cfg.MaxIdleConns
	t.MaxIdleConns = 0 // no cap across hosts: the per-host cap is the one that matters
	t.IdleConnTimeout = cfg.IdleConnTimeout
	t.TLSHandshakeTimeout = cfg.TLSHandshakeTimeout
	t.ResponseHeaderTimeout = cfg.ResponseHeaderTimeout
	if cfg.TLSConfig != nil {
		t.TLSClientConfig = cfg.TLSConfig.Clone()
	}
	t.HTTP2 = &http.HTTP2Config{
		// Ping a connection that has been silent this long; close it if the
		// ping goes unanswered. Catches connections a NAT or LB dropped.
		SendPingTimeout: 30 * time.Second,
		PingTimeout:     15 * time.Second,
		// Accept DATA frames of up to 1 MiB, not the transport's 16 KiB:
		// an answer of 128 vectors of 1536 dimensions is about 1 MB, and
		// each frame costs a header to parse and each body read that
		// hands over 4 KiB or more a WINDOW_UPDATE write, on both sides.
		// The read loop holds one frame at a time per connection.
		MaxReadFrameSize: 1 << 20,
	}
	return &http.Client{
		Transport: countingTransport{next: t, stats: stats},
		Timeout:   cfg.Timeout,
	}, stats, nil
}

// maxDrain bounds how much of an unwanted body is read to keep its connection.
const maxDrain = 256 << 10

// DrainClose reads what is left of body (up to 256 KiB) and closes it.
// HTTP/1 connections return to the pool only after their body was read to
// EOF, so every response body in this module ends here, even after a
// successful decode: a JSON decoder stops at the closing brace and leaves
// the chunked terminator unread.
func DrainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxDrain))
	_ = body.Close()
}

// Warm sends one GET to url and discards the answer, whatever its status, so
// that the first burst of requests finds an open connection instead of each
// dialing its own (concurrent first requests to an HTTP/2 server dial once
// each before they settle on one connection). A failure is returned for
// logging; the client remains usable.
func Warm(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("warm up: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("warm up: %w", err)
	}
	DrainClose(resp.Body)
	return nil
}

// ParseBaseURL checks that raw is an absolute http or https URL without a
// query or fragment and returns it without trailing slashes. Its error
// never repeats raw, which may hold credentials.
func ParseBaseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return "", errors.New("must be an absolute http or https URL")
	case u.RawQuery != "" || u.Fragment != "":
		return "", errors.New("must not have a query or fragment")
	}
	return strings.TrimRight(raw, "/"), nil
}
