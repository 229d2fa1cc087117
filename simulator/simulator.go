package simulator

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults and limits.
const (
	// DefaultDim is the vector length when neither the request nor
	// Config.Dim names one.
	DefaultDim = 1536
	// MaxDim is the longest vector the simulator makes.
	MaxDim = 8192
	// MaxInputs is the most inputs one embedding request may carry
	// (OpenAI's limit).
	MaxInputs = 2048
	// DefaultRetryAfter is the Retry-After sent with 429s by default.
	DefaultRetryAfter = time.Second
	// DefaultModel is the model named in answers to requests that name none,
	// and the one model /v1/models lists.
	DefaultModel = "text-embedding-3-small"
	// Version is what /api/version reports.
	Version = "0.0.0-simulator"
)

// maxBody bounds a request body: 2048 inputs of OpenAI's 8191-token limit.
const maxBody = 64 << 20

// Config configures a Simulator. Zero values mean the documented defaults.
type Config struct {
	// Dim is the vector length when a request names no dimensions.
	// Default DefaultDim; at most MaxDim.
	Dim int
	// Latency is added before answering every API request (not /stats).
	// A request whose context ends during the wait gets no answer.
	Latency time.Duration
	// ErrorRate is the fraction, in [0,1], of API requests answered 500
	// with a provider-shaped error body.
	ErrorRate float64
	// RateLimitRate is the fraction, in [0,1], of API requests answered 429
	// with Retry-After. When ErrorRate+RateLimitRate exceeds 1, rate limits
	// take their full share and errors the rest.
	RateLimitRate float64
	// RetryAfter is the Retry-After sent with 429s. Default
	// DefaultRetryAfter.
	RetryAfter time.Duration
	// FloatOnly ignores encoding_format=base64 and always answers float
	// arrays, like compatible servers that do not support base64.
	FloatOnly bool
	// APIKey, if not empty, is required on the /v1 routes as
	// "Authorization: Bearer <APIKey>"; other requests get 401.
	APIKey string
	// Seed seeds the random choice of failed requests: the same seed fails
	// the same positions in a sequence of requests.
	Seed uint64

	// TimeToFirstToken passes before the first token of a generation, on
	// the OpenAI and Ollama generation routes, streamed or not.
	TimeToFirstToken time.Duration
	// TokenLatency passes between two consecutive tokens of a generation
	// (sim:stream_delay overrides it for one request). A non-streamed
	// answer of n tokens is sent after TimeToFirstToken + (n-1)*TokenLatency.
	TokenLatency time.Duration
	// RequestsPerMinute and TokensPerMinute, when positive, are a rate limit
	// the simulator enforces itself, the way OpenAI does: each is a bucket
	// holding up to the limit, refilled continuously at limit/60 per second;
	// a request takes 1 request and its token cost (see the package
	// documentation) or is answered 429 with Retry-After. Every API answer
	// carries the x-ratelimit-* headers of the limits set.
	RequestsPerMinute int
	TokensPerMinute   int
	// Capacity, when positive, makes the simulator saturate: every wait of
	// Latency, TimeToFirstToken and TokenLatency is multiplied by
	// max(1, inflight/Capacity), inflight being the API requests being
	// served when the wait begins.
	Capacity int
	// KeepBodies is how many of the latest API request bodies are kept for
	// Bodies and GET /_sim/bodies. 0 keeps none.
	KeepBodies int
}

// Validate reports the first field that cannot be used, naming it.
func (c Config) Validate() error {
	switch {
	case c.Dim < 0 || c.Dim > MaxDim:
		return fmt.Errorf("Config.Dim must be between 0 and %d, got %d", MaxDim, c.Dim)
	case c.Latency < 0:
		return fmt.Errorf("Config.Latency must not be negative, got %s", c.Latency)
	case !(c.ErrorRate >= 0 && c.ErrorRate <= 1):
		return fmt.Errorf("Config.ErrorRate must be between 0 and 1, got %g", c.ErrorRate)
	case !(c.RateLimitRate >= 0 && c.RateLimitRate <= 1):
		return fmt.Errorf("Config.RateLimitRate must be between 0 and 1, got %g", c.RateLimitRate)
	case c.RetryAfter < 0:
		return fmt.Errorf("Config.RetryAfter must not be negative, got %s", c.RetryAfter)
	case c.TimeToFirstToken < 0:
		return fmt.Errorf("Config.TimeToFirstToken must not be negative, got %s", c.TimeToFirstToken)
	case c.TokenLatency < 0:
		return fmt.Errorf("Config.TokenLatency must not be negative, got %s", c.TokenLatency)
	case c.RequestsPerMinute < 0:
		return fmt.Errorf("Config.RequestsPerMinute must not be negative, got %d", c.RequestsPerMinute)
	case c.TokensPerMinute < 0:
		return fmt.Errorf("Config.TokensPerMinute must not be negative, got %d", c.TokensPerMinute)
	case c.Capacity < 0:
		return fmt.Errorf("Config.Capacity must not be negative, got %d", c.Capacity)
	case c.KeepBodies < 0:
		return fmt.Errorf("Config.KeepBodies must not be negative, got %d", c.KeepBodies)
	}
	return nil
}

// withDefaults fills zero fields and brings invalid ones into range, so that
// New never fails.
func (c Config) withDefaults() Config {
	if c.Dim <= 0 || c.Dim > MaxDim {
		c.Dim = DefaultDim
	}
	c.Latency = max(c.Latency, 0)
	c.ErrorRate = clamp01(c.ErrorRate)
	c.RateLimitRate = clamp01(c.RateLimitRate)
	if c.RetryAfter <= 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	c.TimeToFirstToken = max(c.TimeToFirstToken, 0)
	c.TokenLatency = max(c.TokenLatency, 0)
	c.RequestsPerMinute = max(c.RequestsPerMinute, 0)
	c.TokensPerMinute = max(c.TokensPerMinute, 0)
	c.Capacity = max(c.Capacity, 0)
	c.KeepBodies = max(c.KeepBodies, 0)
	return c
}

func clamp01(f float64) float64 {
	if !(f > 0) { // also NaN
		return 0
	}
	return min(f, 1)
}

// Simulator is an OpenAI- and Ollama-compatible http.Handler. It is safe for
// concurrent use. Set its ConnState method as the http.Server's ConnState to
// have connections counted; Start does.
type Simulator struct {
	cfg Config

	rngMu sync.Mutex
	rng   *rand.Rand

	statsMu sync.Mutex
	stats   Stats

	// inflight counts the API requests being served.
	inflight atomic.Int64
	// seq numbers generation answers for their ids.
	seq atomic.Uint64

	limit *limiter
	out   outages
	log   eventLog
}

// New returns a Simulator for cfg. Fields Config.Validate would reject are
// replaced by their defaults (Dim, RetryAfter) or clamped into range.
func New(cfg Config) *Simulator {
	cfg = cfg.withDefaults()
	s := &Simulator{
		cfg: cfg,
		rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
	}
	s.limit = newLimiter(cfg.RequestsPerMinute, cfg.TokensPerMinute, time.Now())
	s.out.init()
	s.log.keepBodies = cfg.KeepBodies
	s.ResetStats()
	return s
}

// route is one API endpoint.
type route struct {
	method string
	serve  func(s *Simulator, w http.ResponseWriter, c *call)
}

// call is an API request with its body read.
type call struct {
	r     *http.Request
	body  []byte
	start time.Time
	// cost is the token cost charged to the rate limit, once known.
	cost int
}

var routes = map[string]route{
	"/v1/embeddings":       {http.MethodPost, (*Simulator).openAIEmbeddings},
	"/v1/models":           {http.MethodGet, (*Simulator).openAIModels},
	"/v1/chat/completions": {http.MethodPost, (*Simulator).openAIChat},
	"/v1/completions":      {http.MethodPost, (*Simulator).openAICompletions},
	"/api/embed":           {http.MethodPost, (*Simulator).ollamaEmbed},
	"/api/generate":        {http.MethodPost, (*Simulator).ollamaGenerate},
	"/api/chat":            {http.MethodPost, (*Simulator).ollamaChat},
	"/api/version":         {http.MethodGet, (*Simulator).ollamaVersion},
	"/api/tags":            {http.MethodGet, (*Simulator).ollamaTags},
}

// unknownPath is the Stats.ByPath key of requests to no route.
const unknownPath = "unknown"

// ServeHTTP answers one request; see the package documentation for the
// routes and the order in which a request is checked.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/stats" {
		s.serveStats(w, r)
		return
	}
	if strings.HasPrefix(r.URL.Path, AdminPrefix) {
		s.serveAdmin(w, r)
		return
	}
	start := time.Now()
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	rt, known := routes[r.URL.Path]
	key := r.URL.Path
	if !known {
		key = unknownPath
	}
	s.countRequest(key)
	rec := &recorder{ResponseWriter: w, sim: s}
	c := &call{r: r, start: start}
	defer func() {
		rec.finish()
		s.log.request(start, key, rec.status, c.cost)
	}()

	fl := flavorOf(r.URL.Path)
	// Read the body first, as real servers do: from then on the server
	// watches the connection and cancels the context if the client leaves.
	body, err := io.ReadAll(http.MaxBytesReader(rec, r.Body, maxBody))
	if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
		fail(rec, fl, failure{status: http.StatusRequestEntityTooLarge, message: fmt.Sprintf("Request body exceeds %d bytes.", maxBody)})
		return
	}
	if err != nil {
		return // the client left
	}
	c.body = body
	s.log.body(r.URL.Path, body)
	switch s.Outage() {
	case OutageUnavailable:
		fail(rec, fl, statusFailure(http.StatusServiceUnavailable))
		return
	case OutageHang:
		s.statsMu.Lock()
		s.stats.Hung++
		s.statsMu.Unlock()
		<-r.Context().Done()
		return
	}
	s.limit.headers(rec.Header(), time.Now())
	if err := s.wait(r.Context(), s.cfg.Latency); err != nil {
		return
	}
	switch {
	case !known:
		f := statusFailure(http.StatusNotFound)
		f.message, f.code = "Unknown request URL: "+r.Method+" "+r.URL.Path+".", "unknown_url"
		fail(rec, fl, f)
		return
	case r.Method != rt.method:
		rec.Header().Set("Allow", rt.method)
		f := statusFailure(http.StatusMethodNotAllowed)
		f.message = "Method " + r.Method + " not allowed on " + r.URL.Path + "."
		fail(rec, fl, f)
		return
	case fl == openAI && !s.authorized(r):
		fail(rec, fl, statusFailure(http.StatusUnauthorized))
		return
	}
	if f, ok := s.inject(); ok {
		fail(rec, fl, f)
		return
	}
	rt.serve(s, rec, c)
}

// authorized reports whether r carries the configured API key, comparing in
// constant time.
func (s *Simulator) authorized(r *http.Request) bool {
	if s.cfg.APIKey == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.APIKey)) == 1
}

// inject draws whether this request fails at random, and how.
func (s *Simulator) inject() (failure, bool) {
	if s.cfg.ErrorRate == 0 && s.cfg.RateLimitRate == 0 {
		return failure{}, false
	}
	s.rngMu.Lock()
	u := s.rng.Float64()
	s.rngMu.Unlock()
	switch {
	case u < s.cfg.RateLimitRate:
		f := statusFailure(http.StatusTooManyRequests)
		f.message = fmt.Sprintf("Rate limit reached for requests. Limit: 3000 / min. Please try again in %s.", s.cfg.RetryAfter)
		f.retryAfter = s.cfg.RetryAfter
		return f, true
	case u < s.cfg.RateLimitRate+s.cfg.ErrorRate:
		return statusFailure(http.StatusInternalServerError), true
	}
	return failure{}, false
}

// steer carries out d for a request that passed validation and costs cost
// tokens: it charges the rate limit (answering 429 when spent), waits
// sim:sleep, then answers the error or the garbage d asks for. It reports
// whether the caller should go on and answer normally.
func (s *Simulator) steer(w http.ResponseWriter, c *call, fl flavor, d directives, cost int) bool {
	c.cost = cost
	if f, ok := s.limit.admit(w.Header(), cost, time.Now()); !ok {
		fail(w, fl, f)
		return false
	}
	if err := sleep(c.r.Context(), d.sleep); err != nil {
		return false
	}
	if f, ok := s.directiveFailure(d); ok {
		fail(w, fl, f)
		return false
	}
	if d.garbage {
		writeGarbage(w)
		return false
	}
	return true
}

// sleep waits d or until ctx ends, whichever comes first, and returns ctx's
// error in the second case.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait is sleep for a configured latency d, stretched by saturation: with
// Config.Capacity set, d is multiplied by max(1, inflight/Capacity).
func (s *Simulator) wait(ctx context.Context, d time.Duration) error {
	if s.cfg.Capacity > 0 && d > 0 {
		if f := float64(s.inflight.Load()) / float64(s.cfg.Capacity); f > 1 {
			d = time.Duration(float64(d) * f)
		}
	}
	return sleep(ctx, d)
}

// InFlight returns the number of API requests being served now.
func (s *Simulator) InFlight() int { return int(s.inflight.Load()) }

// ConnState counts connections. Set it as http.Server.ConnState: each
// StateNew is one accepted TCP connection.
func (s *Simulator) ConnState(_ net.Conn, st http.ConnState) {
	if st != http.StateNew {
		return
	}
	s.statsMu.Lock()
	s.stats.Connections++
	s.statsMu.Unlock()
	s.log.connection(time.Now(), KindConnection)
}

// Stats counts what a Simulator has served since New or the last ResetStats.
type Stats struct {
	// Connections is the number of TCP connections accepted (ConnState
	// StateNew).
	Connections int64 `json:"connections"`
	// Requests is the number of API requests received; /stats is not one.
	Requests int64 `json:"requests"`
	// Inputs is the number of embedding inputs embedded.
	Inputs int64 `json:"inputs"`
	// ByPath counts API requests by URL path; paths that match no route
	// count under "unknown".
	ByPath map[string]int64 `json:"by_path"`
	// ByStatus counts API requests by the status answered ("200", "429",
	// ...). A request whose client left before any answer counts as "499".
	ByStatus map[string]int64 `json:"by_status"`
	// CompletionTokens is the number of tokens generated by the OpenAI
	// generation routes, counted before the answer is written.
	CompletionTokens int64 `json:"completion_tokens"`
	// Disconnects counts streamed answers whose client left before their
	// end.
	Disconnects int64 `json:"disconnects"`
	// ResetConnections counts connections accepted and reset at once
	// (OutageReset), which Connections does not count.
	ResetConnections int64 `json:"reset_connections"`
	// Hung counts API requests left unanswered by OutageHang.
	Hung int64 `json:"hung"`
}

// Stats returns a copy of the counters. A request is counted in Requests and
// ByPath when it arrives, and in ByStatus and Inputs before its answer is
// written, so a client that has read an answer sees it counted.
func (s *Simulator) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	st := s.stats
	st.ByPath = make(map[string]int64, len(s.stats.ByPath))
	for k, v := range s.stats.ByPath {
		st.ByPath[k] = v
	}
	st.ByStatus = make(map[string]int64, len(s.stats.ByStatus))
	for k, v := range s.stats.ByStatus {
		st.ByStatus[k] = v
	}
	return st
}

// ResetStats sets every counter to zero.
func (s *Simulator) ResetStats() {
	s.statsMu.Lock()
	s.stats = Stats{ByPath: make(map[string]int64), ByStatus: make(map[string]int64)}
	s.statsMu.Unlock()
}

func (s *Simulator) countRequest(path string) {
	s.statsMu.Lock()
	s.stats.Requests++
	s.stats.ByPath[path]++
	s.statsMu.Unlock()
}

func (s *Simulator) countStatus(status int) {
	s.statsMu.Lock()
	s.stats.ByStatus[strconv.Itoa(status)]++
	s.statsMu.Unlock()
}

func (s *Simulator) countInputs(n int) {
	s.statsMu.Lock()
	s.stats.Inputs += int64(n)
	s.statsMu.Unlock()
}

// serveStats answers /stats: GET returns the Stats, DELETE resets them.
func (s *Simulator) serveStats(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, s.Stats())
	case http.MethodDelete:
		s.ResetStats()
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, DELETE")
		writeJSON(w, http.StatusMethodNotAllowed, ollamaErrorBody{Error: "method not allowed"})
	}
}

// recorder counts the status of the answer written through it.
type recorder struct {
	http.ResponseWriter
	sim    *Simulator
	wrote  bool
	status int
}

func (r *recorder) WriteHeader(status int) {
	if !r.wrote && status >= 200 {
		r.wrote = true
		r.status = status
		r.sim.countStatus(status)
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	return r.ResponseWriter.Write(b)
}

// FlushError flushes buffered data to the client; http.ResponseController
// calls it.
func (r *recorder) FlushError() error {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(r.ResponseWriter).Flush()
}

// Flush implements http.Flusher.
func (r *recorder) Flush() { _ = r.FlushError() }

// Unwrap lets http.ResponseController reach the server's writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// finish counts a request that ended without an answer.
func (r *recorder) finish() {
	if !r.wrote {
		r.status = 499
		r.sim.countStatus(499)
	}
}
