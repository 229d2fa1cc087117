package batchapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/internal/proctest"
	"github.com/llmq/llmq/internal/redistest"
)

// Two API keys: each sees only its own files and batches.
const (
	keyA = "sk-llmq-test-key-alpha-0001"
	keyB = "sk-llmq-test-key-bravo-0002"
	dim  = 8
)

type fixture struct {
	redis  *redistest.Server
	rdb    *redis.Client
	sim    string // simulator root URL
	store  string // FILE_STORE
	worker *proctest.Process
}

// setup starts Redis, the simulator and a worker.
func setup(t *testing.T, workerVars ...string) *fixture {
	t.Helper()
	f := &fixture{redis: redistest.Start(t), store: "file://" + t.TempDir()}
	f.rdb = redis.NewClient(&redis.Options{Addr: f.redis.Addr()})
	t.Cleanup(func() { f.rdb.Close() })
	_, f.sim = proctest.StartSimulator(t, bin["simulator"], "-dim", fmt.Sprint(dim))
	f.worker, _ = proctest.StartWorker(t, bin["worker"], append([]string{"REDIS_URL=" + f.redis.URL(),
		"OPENAI_BASE_URL=" + f.sim + "/v1", "OPENAI_API_KEY=sk-sim", "WORKER_CONCURRENCY=8", "LOG_LEVEL=warn"}, workerVars...)...)
	return f
}

// startAPI starts an API replica and returns it with its root URL.
func (f *fixture) startAPI(t *testing.T, vars ...string) (*proctest.Process, string) {
	t.Helper()
	addr := proctest.FreeAddr(t)
	env := proctest.Environ(append([]string{"REDIS_URL=" + f.redis.URL(), "API_ADDR=" + addr,
		"API_KEYS=alpha:" + keyA + ",bravo:" + keyB, "FILE_STORE=" + f.store, "LOG_LEVEL=info",
		"API_BATCH_SIZE=16"}, vars...)...)
	p := proctest.Start(t, bin["api"], env)
	p.WaitStdoutLine(t, "api listening on ", 15*time.Second)
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := raw(t, "GET", "http://"+addr+path, "", nil); code != http.StatusOK {
			t.Fatalf("api %s: %d %s", path, code, body)
		}
	}
	return p, "http://" + addr
}

func sdk(base, key string) *openai.Client {
	c := openai.NewClient(option.WithBaseURL(base+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0),
		option.WithRequestTimeout(30*time.Second))
	return &c
}

// request is one Batch API input line to /v1/embeddings.
func request(id, text string) string {
	b, _ := json.Marshal(map[string]any{"custom_id": id, "method": "POST", "url": "/v1/embeddings",
		"body": map[string]any{"model": "text-embedding-3-small", "input": text}})
	return string(b)
}

// chatRequest is one Batch API input line to /v1/chat/completions with
// one user message; extra adds body fields.
func chatRequest(id, content string, extra map[string]any) string {
	body := map[string]any{"model": "gpt-4o-mini", "messages": []map[string]string{{"role": "user", "content": content}}}
	for k, v := range extra {
		body[k] = v
	}
	b, _ := json.Marshal(map[string]any{"custom_id": id, "method": "POST", "url": "/v1/chat/completions", "body": body})
	return string(b)
}

func writeLines(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "batch.jsonl")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func upload(t *testing.T, c *openai.Client, path string) *openai.FileObject {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	fo, err := c.Files.New(context.Background(), openai.FileNewParams{File: fh, Purpose: openai.FilePurposeBatch})
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	return fo
}

func create(t *testing.T, c *openai.Client, fileID, window string) *openai.Batch {
	t.Helper()
	return createTo(t, c, fileID, window, openai.BatchNewParamsEndpointV1Embeddings)
}

// createTo creates a batch of the file's requests to endpoint.
func createTo(t *testing.T, c *openai.Client, fileID, window string, endpoint openai.BatchNewParamsEndpoint) *openai.Batch {
	t.Helper()
	b, err := c.Batches.New(context.Background(), openai.BatchNewParams{InputFileID: fileID,
		Endpoint: endpoint, CompletionWindow: openai.BatchNewParamsCompletionWindow(window),
		Metadata: map[string]string{"run": t.Name()}})
	if err != nil {
		t.Fatalf("create batch: %v", err)
	}
	return b
}

// poll waits until the batch has one of the statuses.
func poll(t *testing.T, c *openai.Client, id string, timeout time.Duration, statuses ...openai.BatchStatus) *openai.Batch {
	t.Helper()
	var b *openai.Batch
	proctest.Eventually(t, timeout, 100*time.Millisecond, func() (bool, string) {
		var err error
		b, err = c.Batches.Get(context.Background(), id)
		if err != nil {
			return false, err.Error()
		}
		for _, s := range statuses {
			if b.Status == s {
				return true, ""
			}
		}
		return false, fmt.Sprintf("batch %s is %s (%+v)", id, b.Status, b.RequestCounts)
	})
	return b
}

// outputLine is a Batch API output line.
type outputLine struct {
	ID       string `json:"id"`
	CustomID string `json:"custom_id"`
	Response *struct {
		StatusCode int `json:"status_code"`
		Body       struct {
			Data []struct {
				Embedding []float32 `json:"embedding"`
			} `json:"data"`
		} `json:"body"`
	} `json:"response"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func content(t *testing.T, c *openai.Client, fileID string) []outputLine {
	t.Helper()
	return contentAs[outputLine](t, c, fileID)
}

// contentAs reads a file's JSON lines as Ts.
func contentAs[T any](t *testing.T, c *openai.Client, fileID string) []T {
	t.Helper()
	resp, err := c.Files.Content(context.Background(), fileID, option.WithRequestTimeout(5*time.Minute))
	if err != nil {
		t.Fatalf("content of %s: %v", fileID, err)
	}
	defer resp.Body.Close()
	var out []T
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l T
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("content of %s: %v in %q", fileID, err, sc.Text())
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("content of %s: %v", fileID, err)
	}
	return out
}

// raw sends a request without an SDK and returns the status and body.
func raw(t *testing.T, method, url, key string, body io.Reader, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// peakRSS returns the process's peak resident memory (VmHWM), as text.
func peakRSS(p *proctest.Process) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
