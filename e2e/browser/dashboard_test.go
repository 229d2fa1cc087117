package browser

import (
	"bytes"
	"fmt"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/internal/proctest"
	"github.com/llmq/llmq/internal/redistest"
	"github.com/llmq/llmq/tasks"
)

const (
	user     = "ops"
	password = "correct-horse-battery"
	rootPath = "/monitoring"
)

// artifactDir is where the screenshot goes: out/test-artifacts at the
// module root (out/ is not committed).
var artifactDir = filepath.Join("..", "..", "out", "test-artifacts")

// TestDashboardInBrowser puts 7 pending and 2 scheduled embedding tasks and
// 3 pending generation tasks in Redis, starts the dashboard binary and
// opens its queues page in headless Chromium, without and with
// credentials.
func TestDashboardInBrowser(t *testing.T) {
	redis := redistest.Start(t)
	enqueue(t, redis)

	addr := proctest.FreeAddr(t)
	env := proctest.Environ("REDIS_URL="+redis.URL(), "DASHBOARD_ADDR="+addr, "DASHBOARD_ROOT_PATH="+rootPath,
		"DASHBOARD_USER="+user, "DASHBOARD_PASSWORD="+password)
	d := proctest.Start(t, bin["dashboard"], env)
	proctest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		if d.Exited() {
			t.Fatalf("dashboard exited: %s", d.Stderr.String())
		}
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	page := "http://" + addr + rootPath + "/"

	t.Run("401 without credentials", func(t *testing.T) {
		resp, err := http.Get(page)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Fatalf("GET %s: %s, WWW-Authenticate %q; want 401 with a Basic challenge", page, resp.Status, resp.Header.Get("WWW-Authenticate"))
		}
		// The browser, with no credentials to answer the challenge with,
		// gets no page at all.
		dom, stderr := chromium(t, page, "--dump-dom")
		if strings.Contains(dom, "embeddings") || strings.Contains(dom, "FLAG_ROOT_PATH") {
			t.Errorf("browser without credentials got the dashboard:\n%.2000s", dom)
		}
		if !strings.Contains(stderr, "ERR_INVALID_AUTH_CREDENTIALS") {
			t.Errorf("browser without credentials: want the page load to fail for want of credentials; chromium said:\n%s", stderr)
		}
	})

	// With the credentials in the URL, Chromium answers the dashboard's
	// challenge itself and sends them with the page's API requests.
	authed := "http://" + url.UserPassword(user, password).String() + "@" + addr + rootPath + "/"

	t.Run("queues page", func(t *testing.T) {
		want := map[string]string{tasks.QueueEmbeddings: "9", tasks.QueueGeneration: "3"}
		var rows map[string][]string
		var dom string
		for range 3 { // the page renders after its API requests return
			dom, _ = chromium(t, authed, "--dump-dom")
			if rows = queueRows(dom); len(rows) == len(want) {
				break
			}
		}
		if len(rows) != len(want) {
			t.Fatalf("queues table has rows %v, want %v; DOM:\n%.3000s", rows, want, dom)
		}
		for q, size := range want {
			// Columns: queue, state, size, memory, latency, processed, failed, error rate.
			cells := rows[q]
			if len(cells) < 3 || cells[1] != "run" || cells[2] != size {
				t.Errorf("row of %s: %q, want state run and size %s", q, cells, size)
			}
		}
	})

	t.Run("payloads summarised", func(t *testing.T) {
		dom, _ := chromium(t, strings.TrimSuffix(authed, "/")+"/queues/embeddings?status=pending", "--dump-dom")
		if n := strings.Count(dom, `"items"`); n != 7 {
			t.Errorf("pending tasks page shows %d payload summaries, want 7; DOM:\n%.3000s", n, dom)
		}
		if strings.Contains(dom, longText[:1000]) {
			t.Error("pending tasks page shows the long text of a payload")
		}
		saveScreenshot(t, strings.TrimSuffix(authed, "/")+"/queues/embeddings?status=pending", "dashboard-pending.png")
	})

	t.Run("screenshot", func(t *testing.T) {
		t.Logf("screenshot of the queues page: %s", saveScreenshot(t, authed, "dashboard.png"))
	})
}

// saveScreenshot takes a screenshot of page into the artifact directory
// under name, checks that it is a 1280x900 PNG with content, and returns
// its path.
func saveScreenshot(t *testing.T, page, name string) string {
	t.Helper()
	if err := os.MkdirAll(artifactDir, 0o755); err != nil {
		t.Fatal(err)
	}
	file, err := filepath.Abs(filepath.Join(artifactDir, name))
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(file)
	_, stderr := chromium(t, page, "--screenshot="+file)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("no screenshot: %v; chromium said:\n%s", err, stderr)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot %s: %v", file, err)
	}
	if got := img.Bounds().Size(); got.X != 1280 || got.Y != 900 {
		t.Errorf("screenshot is %v, want 1280x900", got)
	}
	colors := map[uint32]bool{}
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 4 {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 4 {
			r, g, b, _ := img.At(x, y).RGBA()
			colors[r>>8<<16|g>>8<<8|b>>8] = true
		}
	}
	if len(colors) < 20 {
		t.Errorf("screenshot has %d colours: a blank page?", len(colors))
	}
	return file
}

// TestDashboardRefusesToStartOpen checks that the binary exits with status
// 2 and says why when no password is configured.
func TestDashboardRefusesToStartOpen(t *testing.T) {
	addr := proctest.FreeAddr(t)
	d := proctest.Start(t, bin["dashboard"], proctest.Environ("REDIS_URL=redis://127.0.0.1:1/0", "DASHBOARD_ADDR="+addr))
	if code := d.Wait(t, 30*time.Second); code != 2 {
		t.Errorf("exit status %d, want 2", code)
	}
	if !strings.Contains(d.Stderr.String(), "DASHBOARD_PASSWORD: must be set") {
		t.Errorf("stderr %q, want it to name DASHBOARD_PASSWORD", d.Stderr.String())
	}
	if _, err := http.Get("http://" + addr + "/"); err == nil {
		t.Error("something answers on the dashboard's address")
	}
}

// longText is the second text of one embedding task.
var longText = strings.Repeat("a long text to embed ", 5000)

// enqueue puts the test's tasks in Redis.
func enqueue(t *testing.T, redis *redistest.Server) {
	t.Helper()
	client := asynq.NewClient(redis.ConnOpt())
	defer client.Close()
	add := func(task *asynq.Task, err error, opts ...asynq.Option) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Enqueue(task, opts...); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 9 {
		var opts []asynq.Option
		if i >= 7 {
			opts = append(opts, asynq.ProcessIn(time.Hour))
		}
		texts := []string{fmt.Sprintf("document %d", i)}
		if i == 0 {
			texts = append(texts, longText) // 100 kB the dashboard must not show
		}
		task, err := tasks.NewEmbedTask(tasks.EmbedPayload{Texts: texts})
		add(task, err, opts...)
	}
	for i := range 3 {
		task, err := tasks.NewGenerateTask(tasks.GeneratePayload{Prompt: fmt.Sprintf("question %d", i)})
		add(task, err)
	}
}

var (
	tbodyRE = regexp.MustCompile(`(?s)<tbody[^>]*>(.*?)</tbody>`)
	rowRE   = regexp.MustCompile(`(?s)<tr[^>]*>(.*?)</tr>`)
	cellRE  = regexp.MustCompile(`(?s)<t[dh][^>]*>(.*?)</t[dh]>`)
	tagRE   = regexp.MustCompile(`<[^>]*>`)
)

// queueRows returns the text of the cells of the queues table's rows, by
// queue name (the first cell).
func queueRows(dom string) map[string][]string {
	rows := map[string][]string{}
	body := tbodyRE.FindStringSubmatch(dom)
	if body == nil {
		return rows
	}
	for _, r := range rowRE.FindAllStringSubmatch(body[1], -1) {
		var cells []string
		for _, c := range cellRE.FindAllStringSubmatch(r[1], -1) {
			cells = append(cells, strings.TrimSpace(tagRE.ReplaceAllString(c[1], "")))
		}
		if len(cells) > 0 {
			rows[cells[0]] = cells
		}
	}
	return rows
}
