package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
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
}

// Dashboard is an http.Handler serving the asynqmon UI under its root path
// behind basic authentication, and GET /healthz without it.
type Dashboard struct {
	mon     *asynqmon.HTTPHandler
	handler http.Handler
	root    string
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
	mon := asynqmon.New(asynqmon.Options{
		RootPath:         root,
		RedisConnOpt:     cfg.RedisConnOpt,
		ReadOnly:         cfg.ReadOnly,
		PayloadFormatter: PayloadFormatter,
		ResultFormatter:  ResultFormatter,
	})
	ui := http.Handler(mon)
	if root != "" {
		ui = redirectToRoot(root, mon)
	}
	protected, err := BasicAuth(ui, cfg.Realm, cfg.User, cfg.Password)
	if err != nil {
		_ = mon.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/", protected)
	return &Dashboard{mon: mon, handler: secureHeaders(mux), root: root}, nil
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
	if err := d.mon.Close(); err != nil {
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
