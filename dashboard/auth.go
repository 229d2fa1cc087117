package dashboard

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ErrNoCredentials is returned when a user name or password is missing:
// the dashboard is never served without authentication.
var ErrNoCredentials = errors.New("dashboard: a user name and a password are required")

// Defaults of AuthConfig.
const (
	DefaultFailureBurst    = 5
	DefaultFailureInterval = 2 * time.Second
)

// AuthConfig configures NewBasicAuth.
type AuthConfig struct {
	// Realm is the realm of the WWW-Authenticate challenge.
	Realm string
	// User and Password are the expected credentials. Both are required.
	User, Password string
	// FailureBurst is how many wrong credentials one client address may
	// send in a row before it is throttled; it then gets one more try per
	// FailureInterval. Defaults DefaultFailureBurst and
	// DefaultFailureInterval. Requests without credentials (a browser's
	// first request, before it shows the login prompt) do not count.
	FailureBurst    int
	FailureInterval time.Duration
	// Logger receives one warning per wrong credentials checked (with the
	// client address and the user name tried, never the password) and one
	// when a client address is throttled. Default: slog.Default().
	Logger *slog.Logger
}

// BasicAuth is NewBasicAuth with the default throttling and logger.
func BasicAuth(next http.Handler, realm, user, password string) (http.Handler, error) {
	return NewBasicAuth(next, AuthConfig{Realm: realm, User: user, Password: password})
}

// NewBasicAuth returns a handler that serves next only to requests carrying
// the configured user and password in an HTTP basic Authorization header,
// and answers any other request with 401 and a WWW-Authenticate challenge.
//
// Both values are compared in constant time, over their SHA-256 digests so
// that neither the content nor the length of the expected values shows in
// the time a comparison takes; user and password are always both compared.
//
// Wrong credentials are throttled per client address (the connection's
// remote address: behind a proxy or an ingress, all clients share the
// proxy's): past FailureBurst failures, the address gets 429 Too Many
// Requests with a Retry-After header, without its credentials being
// checked, until a try is allowed again. Every failure checked is logged.
// It returns ErrNoCredentials if User or Password is empty.
func NewBasicAuth(next http.Handler, cfg AuthConfig) (http.Handler, error) {
	if cfg.User == "" || cfg.Password == "" {
		return nil, ErrNoCredentials
	}
	if cfg.FailureBurst <= 0 {
		cfg.FailureBurst = DefaultFailureBurst
	}
	if cfg.FailureInterval <= 0 {
		cfg.FailureInterval = DefaultFailureInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &basicAuth{
		next:      next,
		wantUser:  sha256.Sum256([]byte(cfg.User)),
		wantPass:  sha256.Sum256([]byte(cfg.Password)),
		challenge: "Basic realm=" + strconv.Quote(cfg.Realm) + `, charset="UTF-8"`,
		throttle:  newThrottle(cfg.FailureBurst, cfg.FailureInterval),
		logger:    cfg.Logger,
	}
	return a, nil
}

type basicAuth struct {
	next               http.Handler
	wantUser, wantPass [sha256.Size]byte
	challenge          string
	throttle           *throttle
	logger             *slog.Logger
}

func (a *basicAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u, p, ok := r.BasicAuth()
	if !ok {
		a.deny(w)
		return
	}
	client := clientAddr(r)
	if wait, first := a.throttle.blocked(client); wait > 0 {
		if first {
			a.logger.Warn("dashboard login throttled", slog.String("client", client),
				slog.Duration("retry_after", wait))
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "429 Too Many Requests: too many wrong passwords from this address; try again later", http.StatusTooManyRequests)
		return
	}
	gotUser := sha256.Sum256([]byte(u))
	gotPass := sha256.Sum256([]byte(p))
	userOK := subtle.ConstantTimeCompare(gotUser[:], a.wantUser[:])
	passOK := subtle.ConstantTimeCompare(gotPass[:], a.wantPass[:])
	if userOK&passOK != 1 {
		a.throttle.fail(client)
		a.logger.Warn("dashboard login failed", slog.String("client", client), slog.String("user", clip(u)))
		a.deny(w)
		return
	}
	a.next.ServeHTTP(w, r)
}

func (a *basicAuth) deny(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", a.challenge)
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "401 Unauthorized: this dashboard needs a user name and password", http.StatusUnauthorized)
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// maxClients bounds the addresses a throttle remembers; past it, those
// whose budget is full again are forgotten.
const maxClients = 10000

// throttle is a token bucket of failed logins per client address.
type throttle struct {
	burst    int
	interval time.Duration

	mu      sync.Mutex
	clients map[string]*client
}

type client struct {
	lim       *rate.Limiter
	throttled bool // a request was refused since the last allowed try
}

func newThrottle(burst int, interval time.Duration) *throttle {
	return &throttle{burst: burst, interval: interval, clients: make(map[string]*client)}
}

// blocked returns how long addr must wait before its credentials are
// checked again (0: now), and whether this is the first refusal since its
// last try.
func (t *throttle) blocked(addr string) (wait time.Duration, first bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.clients[addr]
	if c == nil {
		return 0, false
	}
	now := time.Now()
	if c.lim.TokensAt(now) >= 1 {
		c.throttled = false
		return 0, false
	}
	r := c.lim.ReserveN(now, 1)
	wait = r.DelayFrom(now)
	r.CancelAt(now)
	first = !c.throttled
	c.throttled = true
	return max(wait, time.Millisecond), first
}

// fail spends one of addr's tries.
func (t *throttle) fail(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.clients[addr]
	if c == nil {
		if len(t.clients) >= maxClients {
			t.prune()
		}
		c = &client{lim: rate.NewLimiter(rate.Every(t.interval), t.burst)}
		t.clients[addr] = c
	}
	c.lim.Allow()
}

// prune forgets the addresses whose budget has refilled.
func (t *throttle) prune() {
	now := time.Now()
	for addr, c := range t.clients {
		if c.lim.TokensAt(now) >= float64(t.burst) {
			delete(t.clients, addr)
		}
	}
}
