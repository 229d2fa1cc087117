package dashboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"
)

// Config configures a Dashboard.
type Config struct {
	// RedisConnOpt locates the queues' Redis. Required.
	RedisConnOpt asynq.RedisConnOpt
	// RootPath is the URL path the UI is served under: "" or "/" for the
	// root, else a path such as "/monitoring" (a trailing slash is
	// removed). Default "".
	RootPath string
	// ReadOnly rejects every API request other than GET, so that nothing
	// can be deleted, run, archived or paused through the dashboard.
	ReadOnly bool
	// User and Password are the HTTP basic authentication credentials.
	// Both are required.
	User, Password string
	// Realm is the basic authentication realm. Default "llmq dashboard".
	Realm string
	// FailureBurst and FailureInterval throttle wrong passwords per client
	// address (AuthConfig). Defaults DefaultFailureBurst and
	// DefaultFailureInterval.
	FailureBurst    int
	FailureInterval time.Duration
	// Logger receives failed and throttled logins, API answers of 500 and
	// above, and readiness changes. Default: slog.Default().
	Logger *slog.Logger
}

// Dashboard is an http.Handler serving the asynqmon UI under its root path
// behind basic authentication, and GET /healthz and GET /readyz without
// it.
//
// The UI is served without anything from the internet: asynqmon's page
// links two Google Fonts stylesheets, which are removed (the UI falls back
// to local fonts and draws its icons as SVG), and a Content-Security-Policy
// keeps the page to its own origin. API answers carry Cache-Control:
// no-store, and those of 500 and above are logged.
type Dashboard struct {
	mon     *asynqmon.HTTPHandler
	rdb     redis.UniversalClient
	handler http.Handler
	root    string
	logger  *slog.Logger
	ready   atomic.Int32 // last /readyz outcome: 0 unknown, 1 ready, 2 not ready
}

// New builds the dashboard. It returns ErrNoCredentials when User or
// Password is empty, and an error for a missing RedisConnOpt or a root path
// that does not start with a slash. It does not contact Redis; Close
// releases its connections.
func New(cfg Config) (*Dashboard, error) {
	if cfg.RedisConnOpt == nil {
		return nil, errors.New("dashboard: RedisConnOpt is required")
	}
	if cfg.User == "" || cfg.Password == "" {
		return nil, ErrNoCredentials
	}
	root := strings.TrimSuffix(cfg.RootPath, "/")
	if root != "" && !strings.HasPrefix(root, "/") {
		return nil, fmt.Errorf("dashboard: root path %q must start with a slash", cfg.RootPath)
	}
	if cfg.Realm == "" {
		cfg.Realm = "llmq dashboard"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	rdb, ok := cfg.RedisConnOpt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("dashboard: RedisConnOpt %T makes no go-redis client", cfg.RedisConnOpt)
	}
	mon := asynqmon.New(asynqmon.Options{
		RootPath:         root,
		RedisConnOpt:     cfg.RedisConnOpt,
		ReadOnly:         cfg.ReadOnly,
		PayloadFormatter: PayloadFormatter,
		ResultFormatter:  ResultFormatter,
	})
	d := &Dashboard{mon: mon, rdb: rdb, root: root, logger: cfg.Logger}
	ui := d.wrapUI(mon)
	if root != "" {
		ui = redirectToRoot(root, ui)
	}
	protected, err := NewBasicAuth(ui, AuthConfig{
		Realm: cfg.Realm, User: cfg.User, Password: cfg.Password,
		FailureBurst: cfg.FailureBurst, FailureInterval: cfg.FailureInterval, Logger: cfg.Logger,
	})
	if err != nil {
		_ = mon.Close()
		_ = rdb.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", d.readyz)
	mux.Handle("/", protected)
	d.handler = secureHeaders(mux)
	return d, nil
}

// readyTimeout bounds the Redis PING of /readyz.
const readyTimeout = 2 * time.Second

// Ready reports whether Redis answers a PING with the dashboard's
// credentials: an unreachable Redis or a refused password is an error.
func (d *Dashboard) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := d.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// readyz answers 200 when Ready, else 503 with the reason; a change of
// state is logged.
func (d *Dashboard) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	err := d.Ready(r.Context())
	if err != nil {
		if d.ready.Swap(2) != 2 {
			d.logger.Error("dashboard not ready", slog.String("error", err.Error()))
		}
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if d.ready.Swap(1) == 2 {
		d.logger.Info("dashboard ready again")
	}
	_, _ = w.Write([]byte("ready\n"))
}

// wrapUI adds to asynqmon's handler: no-store and logging of server errors
// on the API, and the page without internet fonts.
func (d *Dashboard) wrapUI(next http.Handler) http.Handler {
	api := d.root + "/api/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, api) {
			w.Header().Set("Cache-Control", "no-store")
			rec := &statusRecorder{ResponseWriter: w}
			next.ServeHTTP(rec, r)
			if rec.status >= 500 {
				d.logger.Error("dashboard API error", slog.String("method", r.Method), slog.String("path", r.URL.Path),
					slog.Int("status", rec.status), slog.String("answer", strings.TrimSpace(rec.body.String())))
			}
			return
		}
		hw := &htmlWriter{ResponseWriter: w}
		next.ServeHTTP(hw, r)
		hw.finish()
	})
}

// statusRecorder notes the status of a response and the beginning of the
// body of an error.
type statusRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if s.status >= 500 && s.body.Len() < 512 {
		s.body.Write(p[:min(len(p), 512-s.body.Len())])
	}
	return s.ResponseWriter.Write(p)
}

// externalStylesheet matches the <link rel="stylesheet"> tags of
// asynqmon's page that load Google Fonts (Roboto and Material Icons).
var externalStylesheet = regexp.MustCompile(`<link rel="stylesheet" href="https?://fonts\.(googleapis|gstatic)\.com/[^"]*"\s*/?>`)

// contentSecurityPolicy keeps the page to its own origin. asynqmon's page
// has inline scripts (its flags, webpack's runtime) and its components
// inject styles.
const contentSecurityPolicy = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

// htmlWriter passes every response through, except an HTML page, which it
// holds to remove the external stylesheets and sends with a
// Content-Security-Policy.
type htmlWriter struct {
	http.ResponseWriter
	decided bool
	html    bool
	status  int
	buf     bytes.Buffer
}

func (h *htmlWriter) decide(first []byte) {
	if h.decided {
		return
	}
	h.decided = true
	ct := h.Header().Get("Content-Type")
	if ct == "" {
		ct = http.DetectContentType(first)
	}
	h.html = strings.HasPrefix(ct, "text/html")
	if !h.html && h.status != 0 {
		h.ResponseWriter.WriteHeader(h.status)
	}
}

func (h *htmlWriter) WriteHeader(code int) {
	if h.status != 0 {
		return
	}
	h.status = code
	if h.Header().Get("Content-Type") != "" || code == http.StatusNotModified || code == http.StatusNoContent {
		h.decide(nil)
	}
}

func (h *htmlWriter) Write(p []byte) (int, error) {
	h.decide(p)
	if h.html {
		return h.buf.Write(p)
	}
	return h.ResponseWriter.Write(p)
}

// finish sends a held page, rewritten.
func (h *htmlWriter) finish() {
	if !h.decided {
		h.decide(nil)
	}
	if !h.html {
		return
	}
	page := externalStylesheet.ReplaceAll(h.buf.Bytes(), nil)
	hdr := h.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("Content-Length", strconv.Itoa(len(page)))
	if h.status != 0 {
		h.ResponseWriter.WriteHeader(h.status)
	}
	_, _ = h.ResponseWriter.Write(page)
}

// ServeHTTP serves /healthz, and everything else after authentication.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.handler.ServeHTTP(w, r)
}

// RootPath is the path the UI is served under, without a trailing slash:
// "" for the root.
func (d *Dashboard) RootPath() string { return d.root }

// Close closes the dashboard's Redis connections.
func (d *Dashboard) Close() error {
	if err := errors.Join(d.mon.Close(), d.rdb.Close()); err != nil {
		return fmt.Errorf("close dashboard: %w", err)
	}
	return nil
}

// redirectToRoot sends "/" to the UI's root path and everything else to
// next.
func redirectToRoot(root string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			http.Redirect(w, r, root+"/", http.StatusFound)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// secureHeaders keeps the dashboard out of frames and its responses out of
// MIME sniffing.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}
