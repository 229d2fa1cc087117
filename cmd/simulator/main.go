// Command simulator serves a stand-in for the OpenAI and Ollama HTTP APIs,
// for llmq's tests, demos and benchmarks. It is not a model: its embeddings
// and completions are deterministic pseudo-random values derived from a hash
// of the input text (see package simulator), and its faults, latency and rate
// limits are whatever its flags and the sim: directives in a request say.
//
// Usage:
//
//	simulator [flags]
//
// On start it prints one line to stdout,
//
//	simulator listening on http://127.0.0.1:PORT
//
// (https:// with -tls), then, with -admin-addr,
//
//	simulator admin listening on http://127.0.0.1:PORT
//
// and logs to stderr. The admin routes (/stats and /_sim/: outages, the
// event log) are served on the main address too, and on -admin-addr by a
// plain-HTTP listener of their own that the refuse and reset outages do not
// touch. Point OpenAI clients at
// {that URL}/v1 and Ollama clients at the URL itself. SIGINT or SIGTERM shut
// it down gracefully. Run it with -h for the flags.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/llmq/llmq/internal/service"
	"github.com/llmq/llmq/simulator"
)

func main() {
	service.MainError("simulator", func(ctx context.Context) error {
		return run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	})
}

// shutdownTimeout bounds the wait for requests in flight at shutdown.
const shutdownTimeout = 5 * time.Second

// options are the command's flags.
type options struct {
	addr      string
	adminAddr string
	tls       bool
	certOut   string
	cfg       simulator.Config
}

// parseFlags reads args; the API key defaults to $SIMULATOR_API_KEY. It
// returns flag.ErrHelp after printing the usage for -h.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("simulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: simulator [flags]

Serves an OpenAI- and Ollama-compatible HTTP API for tests, demos and
benchmarks. It is not a model: vectors and completions are deterministic
values derived from a hash of the input. Input texts may carry sim:key=value
directives (sim:status=429, sim:sleep=2s, ...; see package simulator).

Prints "simulator listening on URL" to stdout once it accepts connections.

Environment:
  SIMULATOR_API_KEY   default for -api-key

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8089", "listen `address`; port 0 picks a free port")
	fs.BoolVar(&o.tls, "tls", false, "serve HTTPS with HTTP/2, using a fresh self-signed certificate for 127.0.0.1, ::1 and localhost")
	fs.StringVar(&o.certOut, "cert-out", "", "with -tls, write the certificate as PEM to `file` (for SSL_CERT_FILE)")
	fs.IntVar(&o.cfg.Dim, "dim", simulator.DefaultDim, "vector length when a request names no dimensions")
	fs.DurationVar(&o.cfg.Latency, "latency", 0, "delay added before answering every API request")
	fs.Float64Var(&o.cfg.ErrorRate, "error-rate", 0, "fraction [0,1] of API requests answered 500")
	fs.Float64Var(&o.cfg.RateLimitRate, "rate-limit-rate", 0, "fraction [0,1] of API requests answered 429")
	fs.DurationVar(&o.cfg.RetryAfter, "retry-after", simulator.DefaultRetryAfter, "Retry-After sent with 429s")
	fs.BoolVar(&o.cfg.FloatOnly, "float-only", false, "answer float arrays even when base64 is asked for")
	// The key's default comes from the environment after parsing, so that
	// -h never prints it.
	fs.StringVar(&o.cfg.APIKey, "api-key", "", "require `key` as the Bearer token on /v1 routes (default $SIMULATOR_API_KEY)")
	fs.Uint64Var(&o.cfg.Seed, "seed", 0, "seed for the random choice of failed requests")
	fs.StringVar(&o.adminAddr, "admin-addr", "", "also serve /stats and /_sim/ (outages, events) on this `address`, untouched by outages")
	fs.DurationVar(&o.cfg.TimeToFirstToken, "ttft", 0, "time to the first token of a generation, streamed or not")
	fs.DurationVar(&o.cfg.TokenLatency, "token-latency", 0, "time between two generated tokens")
	fs.IntVar(&o.cfg.RequestsPerMinute, "rpm", 0, "enforce a rate limit of this many requests per minute, with OpenAI's x-ratelimit-* headers (0: none)")
	fs.IntVar(&o.cfg.TokensPerMinute, "tpm", 0, "enforce a rate limit of this many tokens per minute (0: none)")
	fs.IntVar(&o.cfg.Capacity, "capacity", 0, "saturate beyond this many requests in flight: waits grow by inflight/capacity (0: never)")
	fs.IntVar(&o.cfg.KeepBodies, "keep-bodies", 0, "keep the latest `n` request bodies for GET /_sim/bodies")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["api-key"] {
		o.cfg.APIKey = getenv("SIMULATOR_API_KEY")
	}
	if o.certOut != "" && !o.tls {
		return options{}, errors.New("-cert-out needs -tls")
	}
	if err := o.cfg.Validate(); err != nil {
		return options{}, fmt.Errorf("invalid flags: %w", err)
	}
	return o, nil
}

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	sim := simulator.New(o.cfg)
	srv := &http.Server{
		Handler:           sim,
		ConnState:         sim.ConnState,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if o.tls {
		cert, certPEM, err := selfSignedCert(time.Now())
		if err != nil {
			return err
		}
		if o.certOut != "" {
			if err := os.WriteFile(o.certOut, certPEM, 0o644); err != nil {
				return fmt.Errorf("write certificate: %w", err)
			}
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		scheme = "https"
	}

	raw, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ln := sim.Listener(raw)
	url := scheme + "://" + dialAddr(ln.Addr())
	var admin *http.Server
	adminErrc := make(chan error, 1)
	if o.adminAddr != "" {
		aln, err := net.Listen("tcp", o.adminAddr)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("listen on -admin-addr: %w", err)
		}
		admin = &http.Server{Handler: adminOnly(sim), ReadHeaderTimeout: 10 * time.Second}
		go func() { adminErrc <- admin.Serve(aln) }()
		defer func() {
			_ = admin.Close()
			<-adminErrc
		}()
		o.adminAddr = "http://" + dialAddr(aln.Addr())
	}
	errc := make(chan error, 1)
	go func() {
		if o.tls {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	fmt.Fprintf(stdout, "simulator listening on %s\n", url)
	if admin != nil {
		fmt.Fprintf(stdout, "simulator admin listening on %s\n", o.adminAddr)
	}
	logger.Info("simulator listening",
		slog.String("url", url),
		slog.Int("dim", o.cfg.Dim),
		slog.Duration("latency", o.cfg.Latency),
		slog.Float64("error_rate", o.cfg.ErrorRate),
		slog.Float64("rate_limit_rate", o.cfg.RateLimitRate),
		slog.Bool("float_only", o.cfg.FloatOnly),
		slog.Bool("api_key", o.cfg.APIKey != ""),
		slog.Uint64("seed", o.cfg.Seed),
		slog.Duration("ttft", o.cfg.TimeToFirstToken),
		slog.Duration("token_latency", o.cfg.TokenLatency),
		slog.Int("rpm", o.cfg.RequestsPerMinute),
		slog.Int("tpm", o.cfg.TokensPerMinute),
		slog.Int("capacity", o.cfg.Capacity))

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case err := <-adminErrc:
		adminErrc <- err
		return fmt.Errorf("serve admin: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("requests still running at shutdown; closing their connections", slog.Any("error", err))
		_ = srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	st := sim.Stats()
	logger.Info("stopped",
		slog.Int64("connections", st.Connections),
		slog.Int64("requests", st.Requests),
		slog.Int64("inputs", st.Inputs))
	return nil
}

// adminOnly serves the admin routes of sim and 404 for the rest.
func adminOnly(sim *simulator.Simulator) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stats" || strings.HasPrefix(r.URL.Path, simulator.AdminPrefix) {
			sim.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	})
}

// dialAddr is the host:port a client on this machine dials to reach a
// listener on addr: the loopback address when it listens on all of them.
func dialAddr(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	ip := tcp.IP
	if ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
}
