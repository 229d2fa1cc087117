package simulator

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Outage is a fault of the whole server, switched at run time with
// SetOutage or POST /_sim/outage. The admin routes, /stats and /_sim/, are
// exempt from OutageUnavailable and OutageHang; OutageRefuse and
// OutageReset act on connections, so they reach everything served through
// Listener (cmd/simulator's -admin-addr serves the admin routes on a
// listener of their own).
type Outage string

// The outages.
const (
	// OutageNone serves normally.
	OutageNone Outage = "none"
	// OutageUnavailable answers every API request 503 once its body is
	// read.
	OutageUnavailable Outage = "503"
	// OutageRefuse stops listening, so that connection attempts are
	// refused, and closes the open connections; switching back listens
	// again on the same address.
	OutageRefuse Outage = "refuse"
	// OutageReset accepts connections and resets them (TCP RST) at once,
	// and resets the open ones.
	OutageReset Outage = "reset"
	// OutageHang reads every API request and never answers it: the handler
	// returns only when the client leaves.
	OutageHang Outage = "hang"
)

// ParseOutage returns the Outage named s; "" and "normal" mean OutageNone.
func ParseOutage(s string) (Outage, error) {
	switch o := Outage(s); o {
	case OutageNone, OutageUnavailable, OutageRefuse, OutageReset, OutageHang:
		return o, nil
	case "", "normal":
		return OutageNone, nil
	}
	return "", fmt.Errorf("unknown outage %q (want none, 503, refuse, reset or hang)", s)
}

// outages holds the current outage and the listeners that obey it.
type outages struct {
	mu        sync.Mutex
	mode      Outage
	gen       int // counts SetOutage calls, so a stale timer does nothing
	timer     *time.Timer
	listeners []*listener
}

func (o *outages) init() { o.mode = OutageNone }

// Outage returns the outage in force.
func (s *Simulator) Outage() Outage {
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	return s.out.mode
}

// SetOutage switches to outage o. A positive d switches back to OutageNone
// after d, unless another SetOutage came first. Leaving OutageRefuse
// listens again on each Listener's address; the error says when that
// failed (the listener then keeps refusing).
func (s *Simulator) SetOutage(o Outage, d time.Duration) error {
	return s.setOutage(o, d, "")
}

// setOutage is SetOutage sparing the connection from remote address
// exempt, which carries the admin request that asked for the outage.
func (s *Simulator) setOutage(o Outage, d time.Duration, exempt string) error {
	if _, err := ParseOutage(string(o)); err != nil {
		return err
	}
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	s.out.gen++
	if s.out.timer != nil {
		s.out.timer.Stop()
		s.out.timer = nil
	}
	if d > 0 {
		gen := s.out.gen
		s.out.timer = time.AfterFunc(d, func() {
			s.out.mu.Lock()
			defer s.out.mu.Unlock()
			if s.out.gen == gen {
				_ = s.out.apply(OutageNone, "")
			}
		})
	}
	return s.out.apply(o, exempt)
}

// apply switches to mode; o.mu is held.
func (o *outages) apply(mode Outage, exempt string) error {
	o.mode = mode
	var errs []error
	for _, l := range o.listeners {
		errs = append(errs, l.apply(mode, exempt))
	}
	return errors.Join(errs...)
}

// Listener returns ln wrapped so that it obeys the outages: it refuses
// while OutageRefuse is in force (closing ln and listening again on its
// address afterwards) and resets connections under OutageReset. Serve the
// Simulator through it; Start does.
func (s *Simulator) Listener(ln net.Listener) net.Listener {
	l := &listener{sim: s, ln: ln, addr: ln.Addr(), changed: make(chan struct{}), conns: make(map[*trackedConn]struct{})}
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	s.out.listeners = append(s.out.listeners, l)
	_ = l.apply(s.out.mode, "")
	return l
}

// listener is a net.Listener that obeys the outages.
type listener struct {
	sim  *Simulator
	addr net.Addr

	mu      sync.Mutex
	ln      net.Listener // nil while refusing
	changed chan struct{}
	closed  bool
	reset   bool
	conns   map[*trackedConn]struct{}
}

// apply puts l in the state of mode, resetting the open connections but
// the one from remote address exempt when mode asks for it.
func (l *listener) apply(mode Outage, exempt string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.reset = mode == OutageReset
	var err error
	switch {
	case mode == OutageRefuse && l.ln != nil:
		_ = l.ln.Close()
		l.ln = nil
	case mode != OutageRefuse && l.ln == nil:
		var ln net.Listener
		ln, err = net.Listen(l.addr.Network(), l.addr.String())
		if err != nil {
			err = fmt.Errorf("listen again on %s: %w", l.addr, err)
		} else {
			l.ln = ln
		}
	}
	if mode == OutageRefuse || mode == OutageReset {
		for c := range l.conns {
			if exempt != "" && c.RemoteAddr().String() == exempt {
				continue
			}
			resetConn(c.Conn)
			delete(l.conns, c)
		}
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return err
}

// resetConn closes c with a TCP RST instead of a FIN.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		closed, ln, changed := l.closed, l.ln, l.changed
		l.mu.Unlock()
		if closed {
			return nil, net.ErrClosed
		}
		if ln == nil {
			<-changed
			continue
		}
		c, err := ln.Accept()
		l.mu.Lock()
		if err != nil {
			swapped := !l.closed && l.ln != ln
			l.mu.Unlock()
			if swapped {
				continue // closed for OutageRefuse
			}
			return nil, err
		}
		if l.reset {
			l.mu.Unlock()
			l.sim.statsMu.Lock()
			l.sim.stats.ResetConnections++
			l.sim.statsMu.Unlock()
			l.sim.log.connection(time.Now(), KindReset)
			resetConn(c)
			continue
		}
		tc := &trackedConn{Conn: c, l: l}
		l.conns[tc] = struct{}{}
		l.mu.Unlock()
		return tc, nil
	}
}

func (l *listener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	close(l.changed)
	l.changed = make(chan struct{})
	if l.ln != nil {
		return l.ln.Close()
	}
	return nil
}

func (l *listener) Addr() net.Addr { return l.addr }

// trackedConn is a connection l can reset when an outage begins.
type trackedConn struct {
	net.Conn
	l    *listener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
