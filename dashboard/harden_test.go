package dashboard

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/internal/proctest"
	"github.com/llmq/llmq/internal/redistest"
)

// logBuffer collects log lines from the server's goroutines.
type logBuffer struct{ proctest.Buffer }

func (l *logBuffer) count(msg string) int {
	return strings.Count(l.String(), `msg="`+msg+`"`)
}

func newLogger(b *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, nil))
}

func request(t *testing.T, method, url, user, pass string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestLoginThrottled sends 300 wrong passwords over HTTP: only the first
// burst is checked (and logged), the rest get 429 with Retry-After, even
// the right password, until the interval has passed; requests without
// credentials are not counted.
func TestLoginThrottled(t *testing.T) {
	var logs logBuffer
	const burst, interval = 5, 300 * time.Millisecond
	f := setup(t, Config{FailureBurst: burst, FailureInterval: interval, Logger: newLogger(&logs)})
	url := f.srv.URL + "/api/queues"

	for range 20 { // a browser's first requests carry no credentials
		if code, _, _ := request(t, "GET", url, "", ""); code != http.StatusUnauthorized {
			t.Fatalf("no credentials: %d, want 401", code)
		}
	}
	start := time.Now()
	codes := map[int]int{}
	var retryAfter string
	for i := range 300 {
		code, h, _ := request(t, "GET", url, testUser, "wrong-"+strconv.Itoa(i))
		codes[code]++
		if code == http.StatusTooManyRequests {
			retryAfter = h.Get("Retry-After")
		}
	}
	elapsed := time.Since(start)
	// Each interval that passed during the run allows one more check.
	allowed := burst + int(elapsed/interval) + 1
	if codes[http.StatusUnauthorized] < burst || codes[http.StatusUnauthorized] > allowed || codes[http.StatusTooManyRequests] != 300-codes[http.StatusUnauthorized] {
		t.Errorf("300 wrong passwords in %s: %v; want %d to %d answers 401, the rest 429", elapsed, codes, burst, allowed)
	}
	if retryAfter != "1" {
		t.Errorf("Retry-After %q, want 1 (second, rounded up)", retryAfter)
	}
	if n := logs.count("dashboard login failed"); n != codes[http.StatusUnauthorized] {
		t.Errorf("%d failed logins logged, want %d (one per password checked)", n, codes[http.StatusUnauthorized])
	}
	if n := logs.count("dashboard login throttled"); n < 1 || n > allowed {
		t.Errorf("%d throttling lines logged, want one per throttled spell", n)
	}
	if strings.Contains(logs.String(), "wrong-1") {
		t.Error("a tried password was logged")
	}
	if !strings.Contains(logs.String(), "client=127.0.0.1") || !strings.Contains(logs.String(), "user="+testUser) {
		t.Errorf("log lines lack the client address or user:\n%.500s", logs.String())
	}

	// Throttled: even the right password is not checked.
	if code, _, _ := request(t, "GET", url, testUser, testPassword); code != http.StatusTooManyRequests {
		t.Errorf("right password while throttled: %d, want 429", code)
	}
	time.Sleep(interval + 50*time.Millisecond)
	if code, _, _ := request(t, "GET", url, testUser, testPassword); code != http.StatusOK {
		t.Errorf("right password after the interval: %d, want 200", code)
	}
}

// TestAPINoStore checks Cache-Control on API answers, and that the UI's
// page has no internet fonts and a Content-Security-Policy.
func TestAPINoStore(t *testing.T) {
	f := setup(t, Config{RootPath: "/monitoring"})
	for _, path := range []string{"/monitoring/api/queues", "/monitoring/api/queues/embeddings/pending_tasks", "/monitoring/api/redis_info"} {
		code, h, _ := request(t, "GET", f.srv.URL+path, testUser, testPassword)
		if code != http.StatusOK || h.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: %d, Cache-Control %q; want 200 and no-store", path, code, h.Get("Cache-Control"))
		}
	}
	for _, path := range []string{"/monitoring/", "/monitoring/queues/embeddings"} {
		code, h, body := request(t, "GET", f.srv.URL+path, testUser, testPassword)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, code)
		}
		if urls := regexp.MustCompile(`(href|src)="https?://[^"]*"`).FindAllString(body, -1); len(urls) > 0 {
			t.Errorf("GET %s: the page loads %v", path, urls)
		}
		if !strings.Contains(body, `static/js/main.`) || !strings.Contains(body, `window.FLAG_ROOT_PATH`) {
			t.Errorf("GET %s: the page lost its scripts: %.500s", path, body)
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "font-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
		if h.Get("Content-Length") != strconv.Itoa(len(body)) {
			t.Errorf("GET %s: Content-Length %q for %d bytes", path, h.Get("Content-Length"), len(body))
		}
	}
	// Static files pass through untouched.
	code, h, body := request(t, "GET", f.srv.URL+"/monitoring/favicon.ico", testUser, testPassword)
	if code != http.StatusOK || h.Get("Content-Security-Policy") != "" || len(body) < 100 {
		t.Errorf("favicon: %d, %d bytes, CSP %q", code, len(body), h.Get("Content-Security-Policy"))
	}
}

// TestReadyz checks /readyz over HTTP: 200 while Redis answers, 503 when
// it rejects the password or is down, each change logged once; and that
// an API answer of 500 is logged.
func TestReadyz(t *testing.T) {
	redis := redistest.Start(t)
	const redisPassword = "redis-secret-for-test"
	if _, err := redis.Command("CONFIG", "SET", "requirepass", redisPassword); err != nil {
		t.Fatal(err)
	}
	serve := func(password string, logs *logBuffer) *httptest.Server {
		d, err := New(Config{RedisConnOpt: asynq.RedisClientOpt{Addr: redis.Addr(), Password: password},
			User: testUser, Password: testPassword, Logger: newLogger(logs)})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(d)
		t.Cleanup(func() { srv.Close(); _ = d.Close() })
		return srv
	}
	var goodLogs, badLogs logBuffer
	good := serve(redisPassword, &goodLogs)
	bad := serve("wrong-redis-password", &badLogs)

	if code, h, body := request(t, "GET", good.URL+"/readyz", "", ""); code != http.StatusOK || body != "ready\n" || h.Get("Cache-Control") != "no-store" {
		t.Errorf("right Redis password: %d %q", code, body)
	}
	for range 3 {
		if code, _, body := request(t, "GET", bad.URL+"/readyz", "", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "WRONGPASS") {
			t.Errorf("wrong Redis password: %d %q, want 503 naming WRONGPASS", code, body)
		}
	}
	if n := badLogs.count("dashboard not ready"); n != 1 {
		t.Errorf("%d 'not ready' lines for 3 failed checks, want 1", n)
	}
	// The API of the dashboard with the wrong Redis password fails, and says so in the log.
	if code, _, _ := request(t, "GET", bad.URL+"/api/queues", testUser, testPassword); code != http.StatusInternalServerError {
		t.Errorf("API with a refused Redis password: %d, want 500", code)
	}
	if !strings.Contains(badLogs.String(), `msg="dashboard API error"`) || !strings.Contains(badLogs.String(), "path=/api/queues status=500") {
		t.Errorf("API error not logged:\n%s", badLogs.String())
	}

	redis.Stop()
	if code, _, body := request(t, "GET", good.URL+"/readyz", "", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "not ready: redis:") {
		t.Errorf("Redis down: %d %q, want 503", code, body)
	}
	if code, _, _ := request(t, "GET", good.URL+"/healthz", "", ""); code != http.StatusOK {
		t.Errorf("/healthz with Redis down: %d, want 200 (the process is alive)", code)
	}
	if n := goodLogs.count("dashboard not ready"); n != 1 {
		t.Errorf("%d 'not ready' lines, want 1", n)
	}
}
