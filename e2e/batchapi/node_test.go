package batchapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmq/llmq/internal/proctest"
	"github.com/llmq/llmq/simulator"
)

// nodeDeps returns a directory holding node/ (package.json, the lockfile
// and flow.mjs) with its node_modules installed by npm ci from the
// lockfile: a cache under ~/.cache/llmq keyed by the lockfile's hash, or
// $LLMQ_NODE_DEPS. It fails the test, saying why, when node or npm is
// missing or npm ci fails (it needs the npm registry once).
func nodeDeps(t *testing.T) (node, dir string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (want Node.js 20 or later on PATH): %v", err)
	}
	lock, err := os.ReadFile("node/package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(lock)
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(cache, "llmq", "node-openai-"+hex.EncodeToString(sum[:6]))
	if d := os.Getenv("LLMQ_NODE_DEPS"); d != "" {
		dir = d
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"package.json", "package-lock.json", "flow.mjs"} {
		b, err := os.ReadFile(filepath.Join("node", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai", "package.json")); err == nil {
		return node, dir
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("npm is not installed, and the OpenAI Node SDK is not in %s: install npm, or run npm ci there", dir)
	}
	start := time.Now()
	cmd := exec.Command(npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s (from e2e/batchapi/node/package-lock.json) failed: %v\n%s", dir, err, out)
	}
	t.Logf("installed the OpenAI Node SDK into %s in %s", dir, time.Since(start).Round(time.Millisecond))
	return node, dir
}

// TestNodeSDK runs node/flow.mjs, the official Node SDK's full flow, and
// checks what it saw.
func TestNodeSDK(t *testing.T) {
	node, dir := nodeDeps(t)
	f := setup(t)
	_, base := f.startAPI(t)
	var lines, slow []string
	for i := range 50 {
		text := fmt.Sprintf("node document %d", i)
		if i == 5 {
			text = "refused sim:status=422"
		}
		lines = append(lines, request(fmt.Sprintf("n%d", i), text))
	}
	for i := range 200 {
		slow = append(slow, request(fmt.Sprintf("s%d", i), fmt.Sprintf("slow %d sim:sleep=1s", i)))
	}
	var chat []string
	var answers [][2]string
	for i := range 5 {
		q := fmt.Sprintf("node question %d", i)
		chat = append(chat, chatRequest(fmt.Sprintf("q%d", i), q, nil))
		answers = append(answers, [2]string{fmt.Sprintf("q%d", i), simulator.Answer("gpt-4o-mini", q, 0, simulator.DefaultTokens)})
	}
	cmd := exec.Command(node, filepath.Join(dir, "flow.mjs"))
	cmd.Dir = dir
	cmd.Env = proctest.Environ("LLMQ_BASE_URL="+base, "LLMQ_KEY_A="+keyA, "LLMQ_KEY_B="+keyB,
		"LLMQ_INPUT="+writeLines(t, lines...), "LLMQ_SLOW_INPUT="+writeLines(t, slow...), "LLMQ_CHAT_INPUT="+writeLines(t, chat...))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	timer := time.AfterFunc(90*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("node flow.mjs: %v\n%s", err, stderr.String())
	}
	var got struct {
		File struct {
			ID, Purpose string
			Bytes       int
		}
		Created string
		Batch   struct {
			ID, Status string
			Counts     struct{ Total, Completed, Failed int }
			Metadata   map[string]string
		}
		Output      []string
		FirstVector []float32
		Errors      [][2]any
		Chat        struct {
			Status string
			Counts struct{ Total, Completed, Failed int }
			Usage  struct {
				InputTokens  int `json:"input_tokens"`
				OutputTokens int `json:"output_tokens"`
				TotalTokens  int `json:"total_tokens"`
			}
			Answers [][2]string
		}
		CancelStatus string
		Cancel       struct {
			Status         string
			Counts         struct{ Total, Completed, Failed int }
			CancelledLines int
		}
		List, Files []string
		Isolation   struct{ Get, Content, Cancel, List, BadKey int }
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("node output %q: %v", raw, err)
	}
	if !strings.HasPrefix(got.File.ID, "file-") || got.File.Purpose != "batch" || got.Created != "validating" {
		t.Errorf("upload and create: %+v, %s", got.File, got.Created)
	}
	if got.Batch.Status != "completed" || got.Batch.Counts.Total != 50 || got.Batch.Counts.Completed != 49 || got.Batch.Counts.Failed != 1 || got.Batch.Metadata["sdk"] != "node" {
		t.Errorf("batch %+v", got.Batch)
	}
	if len(got.Output) != 49 || got.Output[0] != "n0" || got.Output[5] != "n6" {
		t.Errorf("output custom_ids %v", got.Output)
	}
	if fmt.Sprint(got.FirstVector) != fmt.Sprint(simulator.Vector("node document 0", dim)) {
		t.Errorf("first vector %v, want the simulator's", got.FirstVector)
	}
	if fmt.Sprint(got.Errors) != "[[n5 422]]" {
		t.Errorf("errors %v, want n5 with 422", got.Errors)
	}
	if ch := got.Chat; ch.Status != "completed" || ch.Counts.Completed != 5 || fmt.Sprint(ch.Answers) != fmt.Sprint(answers) ||
		ch.Usage.OutputTokens != 5*simulator.DefaultTokens || ch.Usage.InputTokens == 0 || ch.Usage.TotalTokens != ch.Usage.InputTokens+ch.Usage.OutputTokens {
		t.Errorf("chat batch %+v, want answers %v", ch, answers)
	}
	if got.Cancel.Status != "cancelled" || got.Cancel.CancelledLines == 0 || got.Cancel.CancelledLines != got.Cancel.Counts.Failed ||
		got.Cancel.Counts.Completed+got.Cancel.Counts.Failed != 200 {
		t.Errorf("cancel (%s at once): %+v", got.CancelStatus, got.Cancel)
	}
	if len(got.List) != 3 || got.List[2] != got.Batch.ID {
		t.Errorf("batches listed %v, want three, newest first", got.List)
	}
	if len(got.Files) != 8 {
		t.Errorf("%d files listed, want 8 (3 inputs, 3 outputs, 2 error files)", len(got.Files))
	}
	if i := got.Isolation; i.Get != 404 || i.Content != 404 || i.Cancel != 404 || i.List != 0 || i.BadKey != 401 {
		t.Errorf("isolation %+v, want 404s, an empty list and 401", i)
	}
}
