package tasks_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	goredis "github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/openai"
	"github.com/llmq/llmq/internal/redistest"
	"github.com/llmq/llmq/tasks"
)

// TestMalformedAnswer: a 200 whose body cannot be the answer is sent once
// more, at most, and then every text of the request fails with a reason
// that names the problem; a good second answer is used.
func TestMalformedAnswer(t *testing.T) {
	good := `{"object":"list","model":"m","data":[{"index":0,"embedding":[0.5,0.25]},{"index":1,"embedding":[1,2]}],"usage":{"prompt_tokens":4,"total_tokens":4}}`
	tests := []struct {
		name       string
		bodies     []string // answers in turn; the last repeats
		wantReqs   int64
		wantReason string // "" when the texts get vectors
	}{
		{"truncated JSON", []string{good[:60]}, 2, "truncated JSON"},
		{"wrong number of vectors", []string{`{"data":[{"index":0,"embedding":[0.5,0.25]}],"usage":{"prompt_tokens":4}}`}, 2, "1 vectors for 2 inputs"},
		{"value outside float32's range", []string{`{"data":[{"index":0,"embedding":[1e39,0.25]},{"index":1,"embedding":[1,2]}],"usage":{"prompt_tokens":4}}`}, 2, "number 1e39 outside float32's range"},
		{"cut once, whole the second time", []string{good[:60], good}, 2, ""},
	}
	server := redistest.Start(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: server.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reqs atomic.Int64
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := reqs.Add(1)
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(tt.bodies[min(int(n), len(tt.bodies))-1]))
			}))
			t.Cleanup(ts.Close)
			hc, _, err := clients.NewHTTPClient(clients.Config{Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(hc.CloseIdleConnections)
			oa, err := openai.New(hc, openai.Config{BaseURL: ts.URL + "/v1"})
			if err != nil {
				t.Fatal(err)
			}
			h := tasks.NewEmbedHandler(map[string]tasks.Embedder{tasks.ProviderOpenAI: oa}, slog.New(slog.DiscardHandler), tasks.WithItemResults(rdb))
			ids := []string{tt.name + "-a", tt.name + "-b"}
			payload, _ := json.Marshal(tasks.EmbedPayload{Texts: []string{"alpha", "beta"}, Items: ids})
			if err := h.ProcessTask(context.Background(), asynq.NewTask(tasks.TypeEmbed, payload)); err != nil {
				t.Fatalf("ProcessTask: %v", err)
			}
			if got := reqs.Load(); got != tt.wantReqs {
				t.Errorf("provider saw %d requests, want %d", got, tt.wantReqs)
			}
			for _, id := range ids {
				res, err := tasks.ReadItemResult(t.Context(), rdb, id)
				if err != nil {
					t.Fatalf("item %s: %v", id, err)
				}
				te := res.Err(0)
				switch {
				case tt.wantReason == "" && (te != nil || len(res.Vectors[0]) != 2):
					t.Errorf("item %s failed: %+v", id, te)
				case tt.wantReason != "" && (te == nil || !strings.Contains(te.Reason, tt.wantReason) || !strings.Contains(te.Reason, "malformed answer")):
					t.Errorf("item %s: %+v, want a malformed answer naming %q", id, te, tt.wantReason)
				}
			}
		})
	}
}
