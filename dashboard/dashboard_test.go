package dashboard

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/internal/redistest"
	"github.com/llmq/llmq/tasks"
)

const (
	testUser     = "ops"
	testPassword = "correct-horse-battery"
)

// fixture is a dashboard on a private Redis holding a few llmq tasks.
type fixture struct {
	srv   *httptest.Server
	redis *redistest.Server
}

// setup starts Redis, enqueues 3 embedding and 2 generation tasks, and
// serves a dashboard built from cfg (RedisConnOpt and credentials filled
// in) on an httptest server.
func setup(t *testing.T, cfg Config) *fixture {
	t.Helper()
	f := &fixture{redis: redistest.Start(t)}
	client := asynq.NewClient(f.redis.ConnOpt())
	defer client.Close()
	for i, text := range []string{"alpha", "beta", "gamma"} {
		task, err := tasks.NewEmbedTask(tasks.EmbedPayload{Texts: []string{text, strings.Repeat("long text ", 1000)}, IDs: []string{"a", "b"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Enqueue(task); err != nil {
			t.Fatalf("enqueue %d: %v", i, err)
		}
	}
	for _, p := range []string{"Why is the sky blue?", "Name three rivers."} {
		task, err := tasks.NewGenerateTask(tasks.GeneratePayload{Prompt: p})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Enqueue(task); err != nil {
			t.Fatal(err)
		}
	}
	cfg.RedisConnOpt = f.redis.ConnOpt()
	if cfg.User == "" {
		cfg.User, cfg.Password = testUser, testPassword
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(d)
	t.Cleanup(func() {
		f.srv.Close()
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	return f
}

// do sends a request, with the test credentials when auth is set, and
// returns the status and body.
func (f *fixture) do(t *testing.T, method, path string, auth bool) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth {
		req.SetBasicAuth(testUser, testPassword)
	}
	client := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestDashboard(t *testing.T) {
	f := setup(t, Config{RootPath: "/monitoring/", ReadOnly: true})

	tests := []struct {
		name, method, path string
		auth               bool
		want               int
		body               string // in the body
	}{
		{"health without credentials", "GET", "/healthz", false, http.StatusOK, "ok"},
		{"UI without credentials", "GET", "/monitoring/", false, http.StatusUnauthorized, "401 Unauthorized"},
		{"API without credentials", "GET", "/monitoring/api/queues", false, http.StatusUnauthorized, "401 Unauthorized"},
		{"asset without credentials", "GET", "/monitoring/favicon.ico", false, http.StatusUnauthorized, ""},
		{"root without credentials", "GET", "/", false, http.StatusUnauthorized, ""},
		{"UI", "GET", "/monitoring/", true, http.StatusOK, `window.FLAG_ROOT_PATH="\/monitoring"`},
		{"UI page", "GET", "/monitoring/queues/embeddings", true, http.StatusOK, "<div id=\"root\">"},
		{"root redirects", "GET", "/", true, http.StatusFound, ""},
		{"read-only delete", "DELETE", "/monitoring/api/queues/embeddings/pending_tasks:delete_all", true, http.StatusMethodNotAllowed, "read-only"},
		{"read-only pause", "POST", "/monitoring/api/queues/embeddings:pause", true, http.StatusMethodNotAllowed, "read-only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, h, body := f.do(t, tt.method, tt.path, tt.auth)
			if code != tt.want {
				t.Fatalf("%s %s: status %d, want %d; body %.200q", tt.method, tt.path, code, tt.want, body)
			}
			if !strings.Contains(body, tt.body) {
				t.Errorf("%s %s: body %.300q, want it to contain %q", tt.method, tt.path, body, tt.body)
			}
			if code == http.StatusFound && h.Get("Location") != "/monitoring/" {
				t.Errorf("Location = %q, want /monitoring/", h.Get("Location"))
			}
			if h.Get("X-Frame-Options") != "DENY" {
				t.Errorf("X-Frame-Options = %q", h.Get("X-Frame-Options"))
			}
		})
	}

	t.Run("queues", func(t *testing.T) {
		code, _, body := f.do(t, "GET", "/monitoring/api/queues", true)
		if code != http.StatusOK {
			t.Fatalf("status %d: %s", code, body)
		}
		var resp struct {
			Queues []struct {
				Queue   string `json:"queue"`
				Size    int    `json:"size"`
				Pending int    `json:"pending"`
			} `json:"queues"`
		}
		if err := json.Unmarshal([]byte(body), &resp); err != nil {
			t.Fatal(err)
		}
		got := map[string][2]int{}
		for _, q := range resp.Queues {
			got[q.Queue] = [2]int{q.Size, q.Pending}
		}
		want := map[string][2]int{tasks.QueueEmbeddings: {3, 3}, tasks.QueueGeneration: {2, 2}}
		if len(got) != len(want) || got[tasks.QueueEmbeddings] != want[tasks.QueueEmbeddings] || got[tasks.QueueGeneration] != want[tasks.QueueGeneration] {
			t.Errorf("queues (size, pending) = %v, want %v", got, want)
		}
	})

	t.Run("payloads summarised", func(t *testing.T) {
		code, _, body := f.do(t, "GET", "/monitoring/api/queues/embeddings/pending_tasks", true)
		if code != http.StatusOK {
			t.Fatalf("status %d: %s", code, body)
		}
		var resp struct {
			Tasks []struct {
				Type    string `json:"type"`
				Payload string `json:"payload"`
			} `json:"tasks"`
		}
		if err := json.Unmarshal([]byte(body), &resp); err != nil {
			t.Fatal(err)
		}
		if len(resp.Tasks) != 3 {
			t.Fatalf("%d pending tasks, want 3", len(resp.Tasks))
		}
		for _, task := range resp.Tasks {
			if !strings.Contains(task.Payload, `"items":2`) || !strings.Contains(task.Payload, `"model":"(worker default)"`) || len(task.Payload) > 400 {
				t.Errorf("payload shown as %q", task.Payload)
			}
		}
	})
}

func TestDashboardRootPath(t *testing.T) {
	f := setup(t, Config{})
	if code, _, body := f.do(t, "GET", "/", true); code != http.StatusOK || !strings.Contains(body, `window.FLAG_ROOT_PATH=""`) {
		t.Errorf("GET /: status %d, body %.300q", code, body)
	}
	if code, _, _ := f.do(t, "GET", "/api/queues", false); code != http.StatusUnauthorized {
		t.Errorf("GET /api/queues without credentials: status %d, want 401", code)
	}
	// Writable when not read-only.
	if code, _, body := f.do(t, "POST", "/api/queues/generation:pause", true); code != http.StatusNoContent {
		t.Errorf("pause: status %d, body %q", code, body)
	}
}

func TestNewErrors(t *testing.T) {
	opt := asynq.RedisClientOpt{Addr: "127.0.0.1:1"}
	tests := []struct {
		name string
		cfg  Config
		is   error
		want string
	}{
		{"no credentials", Config{RedisConnOpt: opt}, ErrNoCredentials, ""},
		{"no password", Config{RedisConnOpt: opt, User: "ops"}, ErrNoCredentials, ""},
		{"no redis", Config{User: "ops", Password: testPassword}, nil, "RedisConnOpt is required"},
		{"relative root", Config{RedisConnOpt: opt, User: "ops", Password: testPassword, RootPath: "monitoring"}, nil, "must start with a slash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(tt.cfg)
			if err == nil {
				d.Close()
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v, want %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}
