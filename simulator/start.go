package simulator

import (
	"net/http"
	"net/http/httptest"
)

// Start serves s on a fresh 127.0.0.1 port, for tests of other packages.
// With tls, it serves HTTPS with HTTP/2 enabled; the server's Client (or
// Certificate) trusts it. s.ConnState is wired, so Stats counts
// connections, and the listener is s.Listener's, so the outages apply. The
// caller closes the server.
func Start(s *Simulator, tls bool) *httptest.Server { return StartHandler(s, s, tls) }

// StartHandler is Start with h answering the requests in place of s: s
// itself wrapped, for instance to time it.
func StartHandler(s *Simulator, h http.Handler, tls bool) *httptest.Server {
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ConnState = s.ConnState
	ts.Listener = s.Listener(ts.Listener)
	if tls {
		ts.EnableHTTP2 = true
		ts.StartTLS()
	} else {
		ts.Start()
	}
	return ts
}
