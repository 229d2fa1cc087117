package batchapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/filestore"
	"github.com/llmq/llmq/tasks"
)

// Key is an API key and the name it has in logs.
type Key struct {
	Name, Secret string
}

// Config configures a Server. Zero fields take the defaults in their
// documentation.
type Config struct {
	// Keys are the API keys; at least one is required.
	Keys []Key
	// MaxUploadBytes is the largest upload. Default 512 MiB.
	MaxUploadBytes int64
	// MaxOpenBatches is how many unfinished batches a key may have.
	// Default 100.
	MaxOpenBatches int
	// MaxCompletionWindow is the longest completion_window. Default 24h.
	MaxCompletionWindow time.Duration
	// Provider of the embedding tasks. Default tasks.ProviderOpenAI.
	// Generation batches always go to tasks.ProviderOpenAI: their lines
	// are OpenAI request bodies.
	Provider string
	// BatchSize is the most texts per task. Default 128.
	BatchSize int
	// Retention is how long a batch's job, and so its output, stays in
	// Redis after its last activity. Default tasks.DefaultRetention.
	Retention time.Duration
	// SpoolDir holds local copies of input files that the store has not
	// on local disk. Default os.TempDir().
	SpoolDir string
	// Tick is how often the replica looks at the open batches. Default
	// 500ms.
	Tick time.Duration
	// Lease is how long a step on a batch is this replica's without
	// renewal: the time another replica waits to take over from one that
	// died. Default 10s.
	Lease time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if len(c.Keys) == 0 {
		return c, errors.New("batchapi: no API keys")
	}
	if c.MaxUploadBytes <= 0 {
		c.MaxUploadBytes = 512 << 20
	}
	if c.MaxOpenBatches <= 0 {
		c.MaxOpenBatches = 100
	}
	if c.MaxCompletionWindow <= 0 {
		c.MaxCompletionWindow = 24 * time.Hour
	}
	if c.Provider == "" {
		c.Provider = tasks.ProviderOpenAI
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 128
	}
	if c.Retention <= 0 {
		c.Retention = tasks.DefaultRetention
	}
	if c.Tick <= 0 {
		c.Tick = 500 * time.Millisecond
	}
	if c.Lease <= 0 {
		c.Lease = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// Server is the HTTP API, and the replica's share of the batches' work
// (Run).
type Server struct {
	rdb    redis.UniversalClient
	store  filestore.Store
	cfg    Config
	log    *slog.Logger
	owners map[[32]byte]string // hash of a key → its name
	mux    *http.ServeMux
	now    func() time.Time
	// replica names this process in leases.
	replica string

	mu      sync.Mutex
	working map[string]bool // batches this replica takes a step on
	kicks   chan string
	wg      sync.WaitGroup
}

// New returns a Server storing records in rdb and uploads in store.
func New(rdb redis.UniversalClient, store filestore.Store, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{rdb: rdb, store: store, cfg: cfg, log: cfg.Logger, owners: map[[32]byte]string{},
		now: time.Now, working: map[string]bool{}, kicks: make(chan string, 64)}
	s.replica = newID("r", time.Now())
	for _, k := range cfg.Keys {
		if k.Secret == "" {
			return nil, errors.New("batchapi: an empty API key")
		}
		s.owners[sha256.Sum256([]byte(k.Secret))] = k.Name
	}
	m := http.NewServeMux()
	m.HandleFunc("POST /v1/files", s.auth(s.uploadFile))
	m.HandleFunc("GET /v1/files", s.auth(s.listFiles))
	m.HandleFunc("GET /v1/files/{id}", s.auth(s.getFile))
	m.HandleFunc("DELETE /v1/files/{id}", s.auth(s.deleteFile))
	m.HandleFunc("GET /v1/files/{id}/content", s.auth(s.fileContent))
	m.HandleFunc("POST /v1/batches", s.auth(s.createBatch))
	m.HandleFunc("GET /v1/batches", s.auth(s.listBatches))
	m.HandleFunc("GET /v1/batches/{id}", s.auth(s.getBatch))
	m.HandleFunc("POST /v1/batches/{id}/cancel", s.auth(s.cancelBatch))
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	m.HandleFunc("GET /readyz", s.ready)
	m.HandleFunc("/", s.auth(func(w http.ResponseWriter, r *http.Request, _ owner) {
		writeError(w, &apiError{status: http.StatusNotFound, Type: typeInvalid,
			Message: fmt.Sprintf("Invalid URL (%s %s): llmq serves the Files and Batch API only", r.Method, r.URL.Path)})
	}))
	s.mux = m
	return s, nil
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if err := s.rdb.Ping(r.Context()).Err(); err != nil {
		http.Error(w, "redis: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// owner is the caller: the hex SHA-256 of its key, which records store,
// and the key's name.
type owner struct {
	id, name string
}

func (s *Server) auth(h func(http.ResponseWriter, *http.Request, owner)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			writeError(w, &apiError{status: http.StatusUnauthorized, Type: typeInvalid,
				Message: "You didn't provide an API key. Send it as 'Authorization: Bearer KEY'."})
			return
		}
		sum := sha256.Sum256([]byte(key))
		name := ""
		for h, n := range s.owners {
			if subtle.ConstantTimeCompare(h[:], sum[:]) == 1 {
				name = n
			}
		}
		if name == "" {
			writeError(w, &apiError{status: http.StatusUnauthorized, Type: typeInvalid, Code: strp("invalid_api_key"),
				Message: "Incorrect API key provided."})
			return
		}
		h(w, r, owner{id: hex.EncodeToString(sum[:16]), name: name})
	}
}

// internal answers 500 for an unexpected error and logs it.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "request failed", slog.String("method", r.Method),
		slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	writeError(w, &apiError{status: http.StatusInternalServerError, Type: typeServer, Message: "internal error: " + err.Error()})
}

// Wait waits for the steps under way to end, after Run's context ended.
func (s *Server) Wait() { s.wg.Wait() }

// shutdownContext is for the last writes of a step whose context ended.
func shutdownContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}
