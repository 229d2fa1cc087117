package simulator

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// AdminPrefix starts the paths of the admin routes, which are neither
// delayed, limited, counted nor logged.
const AdminPrefix = "/_sim/"

// MaxEvents is how many events the log keeps; older ones are dropped.
const MaxEvents = 1 << 20

// Event kinds.
const (
	// KindRequest is an API request, logged when its handler returns.
	KindRequest = "request"
	// KindConnection is a TCP connection accepted and served.
	KindConnection = "connection"
	// KindReset is a TCP connection accepted and reset (OutageReset).
	KindReset = "reset"
)

// Event is one thing the simulator saw.
type Event struct {
	// Seq numbers events from 0 in the order they were logged.
	Seq int64 `json:"seq"`
	// Time is when the request arrived or the connection was accepted.
	Time time.Time `json:"time"`
	// Kind is KindRequest, KindConnection or KindReset.
	Kind string `json:"kind"`
	// Path is the request's URL path ("unknown" for no route).
	Path string `json:"path,omitempty"`
	// Status is the status answered; 499 when the client left first.
	Status int `json:"status,omitempty"`
	// Tokens is the request's token cost as the rate limit counts it
	// (0 for a request refused before its cost was known).
	Tokens int `json:"tokens,omitempty"`
}

// Body is an API request body kept for tests (Config.KeepBodies).
type Body struct {
	Path string `json:"path"`
	Body string `json:"body"`
}

// eventLog keeps the latest events and request bodies.
type eventLog struct {
	mu         sync.Mutex
	next       int64
	events     []Event
	keepBodies int
	bodies     []Body
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.Seq = l.next
	l.next++
	if len(l.events) >= MaxEvents {
		n := copy(l.events, l.events[len(l.events)-MaxEvents/2:])
		l.events = l.events[:n]
	}
	l.events = append(l.events, e)
}

func (l *eventLog) request(t time.Time, path string, status, tokens int) {
	l.add(Event{Time: t, Kind: KindRequest, Path: path, Status: status, Tokens: tokens})
}

func (l *eventLog) connection(t time.Time, kind string) {
	l.add(Event{Time: t, Kind: kind})
}

func (l *eventLog) body(path string, b []byte) {
	if l.keepBodies == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.bodies) >= l.keepBodies {
		l.bodies = append(l.bodies[:0], l.bodies[1:]...)
	}
	l.bodies = append(l.bodies, Body{Path: path, Body: string(b)})
}

// Events returns the logged events numbered since or later, oldest first,
// and the number to ask for next time.
func (s *Simulator) Events(since int64) ([]Event, int64) {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	var out []Event
	for i, e := range s.log.events {
		if e.Seq >= since {
			out = append(out, s.log.events[i:]...)
			break
		}
	}
	return out, s.log.next
}

// Bodies returns the kept request bodies, oldest first.
func (s *Simulator) Bodies() []Body {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	return append([]Body(nil), s.log.bodies...)
}

// ResetEvents empties the event log and the kept bodies; numbering goes on.
func (s *Simulator) ResetEvents() {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	s.log.events, s.log.bodies = nil, nil
}

type outageBody struct {
	Mode     Outage `json:"mode"`
	InFlight int    `json:"in_flight"`
}

type eventsBody struct {
	Events []Event `json:"events"`
	Next   int64   `json:"next"`
}

// serveAdmin answers the /_sim/ routes (see the package documentation).
func (s *Simulator) serveAdmin(w http.ResponseWriter, r *http.Request) {
	bad := func(status int, msg string) {
		writeJSON(w, status, ollamaErrorBody{Error: msg})
	}
	allow := func(methods string) {
		w.Header().Set("Allow", methods)
		bad(http.StatusMethodNotAllowed, "method not allowed")
	}
	switch r.URL.Path {
	case AdminPrefix + "outage":
		switch r.Method {
		case http.MethodGet:
		case http.MethodPost, http.MethodPut:
			o, err := ParseOutage(r.FormValue("mode"))
			if err != nil {
				bad(http.StatusBadRequest, err.Error())
				return
			}
			var d time.Duration
			if v := r.FormValue("for"); v != "" {
				if d, err = parseDuration(v); err != nil {
					bad(http.StatusBadRequest, "for: "+err.Error())
					return
				}
			}
			// The connection asking is spared and closed after the
			// answer, so that the answer gets through.
			if o == OutageRefuse || o == OutageReset {
				w.Header().Set("Connection", "close")
			}
			if err := s.setOutage(o, d, r.RemoteAddr); err != nil {
				bad(http.StatusInternalServerError, err.Error())
				return
			}
		default:
			allow("GET, POST, PUT")
			return
		}
		writeJSON(w, http.StatusOK, outageBody{Mode: s.Outage(), InFlight: s.InFlight()})
	case AdminPrefix + "events":
		switch r.Method {
		case http.MethodGet:
			var since int64
			if v := r.FormValue("since"); v != "" {
				var err error
				if since, err = strconv.ParseInt(v, 10, 64); err != nil {
					bad(http.StatusBadRequest, "since: "+err.Error())
					return
				}
			}
			ev, next := s.Events(since)
			if ev == nil {
				ev = []Event{}
			}
			writeJSON(w, http.StatusOK, eventsBody{Events: ev, Next: next})
		case http.MethodDelete:
			s.ResetEvents()
			w.WriteHeader(http.StatusNoContent)
		default:
			allow("GET, DELETE")
		}
	case AdminPrefix + "bodies":
		if r.Method != http.MethodGet {
			allow("GET")
			return
		}
		b := s.Bodies()
		if b == nil {
			b = []Body{}
		}
		writeJSON(w, http.StatusOK, b)
	default:
		bad(http.StatusNotFound, "unknown admin route "+r.URL.Path)
	}
}
