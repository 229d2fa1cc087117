package main

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/guard"
)

// providerStats is one provider's entry in /stats: its connection pool's
// counts and, when it is guarded, its guard's state (breaker, in-flight
// limit, budget and announced block).
type providerStats struct {
	clients.StatsSnapshot
	Guard *guard.Snapshot `json:"guard,omitempty"`
}

// healthHandler serves /healthz (the process is alive), /readyz (Redis
// answers), /stats (per provider, connection pool counts and the guard's
// state, as JSON) and, when metrics is not nil, /metrics.
func healthHandler(rdb redis.UniversalClient, pools map[string]*clients.Stats, guards map[string]*guard.Guard, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := rdb.Ping(ctx).Err(); err != nil {
			http.Error(w, "redis unreachable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		out := make(map[string]providerStats, len(pools))
		for name, s := range pools {
			ps := providerStats{StatsSnapshot: s.Snapshot()}
			if g := guards[name]; g != nil {
				snap := g.Snapshot(ctx)
				ps.Guard = &snap
			}
			out[name] = ps
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	return mux
}
