package config

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// Dashboard configures cmd/dashboard, which serves the asynqmon web UI
// behind HTTP basic authentication.
type Dashboard struct {
	// Addr is the listen address (host:port) of the dashboard and of its
	// unauthenticated /healthz. Default ":8081".
	Addr string `env:"DASHBOARD_ADDR" envDefault:":8081" help:"listen address of the dashboard and its /healthz"`
	// RootPath is the URL path the dashboard is served under: "/" or a
	// path such as "/monitoring", without a trailing slash (one is
	// removed). Default "/".
	RootPath string `env:"DASHBOARD_ROOT_PATH" envDefault:"/" help:"URL path the dashboard is served under, such as /monitoring"`
	// ReadOnly makes the dashboard reject every request that would change
	// the queues (delete, run, archive, pause...). Default true.
	ReadOnly bool `env:"DASHBOARD_READONLY" envDefault:"true" help:"reject every change made through the dashboard (view only)"`
	// User is the user name of HTTP basic authentication. Default "llmq".
	User string `env:"DASHBOARD_USER" envDefault:"llmq" help:"HTTP basic authentication user name"`
	// Password is the password of HTTP basic authentication, at least
	// MinDashboardPassword characters. Required: the dashboard is never
	// served without authentication. Secret: never printed.
	Password string `env:"DASHBOARD_PASSWORD" secret:"true" help:"HTTP basic authentication password (required, 12 characters or more)"`
	// TLSCertFile and TLSKeyFile, when both set, make the dashboard serve
	// HTTPS (TLS 1.2 or later) with this PEM certificate chain and key.
	// Both or neither. Default: plain HTTP (behind a TLS-terminating
	// ingress).
	TLSCertFile string `env:"DASHBOARD_TLS_CERT_FILE" envDefault:"" help:"PEM certificate (chain) file: serve HTTPS (with DASHBOARD_TLS_KEY_FILE)"`
	TLSKeyFile  string `env:"DASHBOARD_TLS_KEY_FILE" envDefault:"" help:"PEM private key file of DASHBOARD_TLS_CERT_FILE"`
}

// TLS reports whether the dashboard serves HTTPS.
func (c Dashboard) TLS() bool { return c.TLSCertFile != "" }

// MinDashboardPassword is the shortest DASHBOARD_PASSWORD accepted.
const MinDashboardPassword = 12

var rootPathRE = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)+$`)

// Path returns RootPath without its trailing slash: "" for "/", else a
// path such as "/monitoring".
func (c Dashboard) Path() string {
	return strings.TrimSuffix(strings.TrimSpace(c.RootPath), "/")
}

// Validate reports the first unusable field as an *Error. Missing
// credentials are an error: the dashboard shows task payloads and Redis
// details and can delete tasks, so it never runs open.
func (c Dashboard) Validate() error {
	if err := checkListenAddr(c.Addr); err != nil {
		return errorf("DASHBOARD_ADDR", err.Error())
	}
	if p := c.Path(); p != "" && (!rootPathRE.MatchString(p) || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") || strings.Contains(p, "/./")) {
		return errorf("DASHBOARD_ROOT_PATH", fmt.Sprintf("must be / or a path such as /monitoring made of letters, digits and . _ ~ - (got %q)", c.RootPath))
	}
	if p := c.Path(); p == "/healthz" {
		return errorf("DASHBOARD_ROOT_PATH", "must not be /healthz, where the health check is served")
	}
	switch {
	case c.TLSCertFile != "" && c.TLSKeyFile == "":
		return errorf("DASHBOARD_TLS_KEY_FILE", "must be set with DASHBOARD_TLS_CERT_FILE")
	case c.TLSKeyFile != "" && c.TLSCertFile == "":
		return errorf("DASHBOARD_TLS_CERT_FILE", "must be set with DASHBOARD_TLS_KEY_FILE")
	}
	const required = "must be set: the dashboard is never served without authentication"
	switch {
	case c.User == "":
		return errorf("DASHBOARD_USER", required)
	case strings.ContainsRune(c.User, ':') || strings.ContainsFunc(c.User, unicode.IsControl):
		return errorf("DASHBOARD_USER", "must not contain ':' or control characters")
	case c.Password == "":
		return errorf("DASHBOARD_PASSWORD", required)
	case strings.ContainsFunc(c.Password, unicode.IsControl):
		return errorf("DASHBOARD_PASSWORD", "must not contain control characters such as a trailing newline (value not shown)")
	case len([]rune(c.Password)) < MinDashboardPassword:
		return errorf("DASHBOARD_PASSWORD", fmt.Sprintf("must be at least %d characters long (value not shown)", MinDashboardPassword))
	}
	return nil
}
