package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/llmq/llmq/internal/proctest"
	"github.com/llmq/llmq/internal/promtooltest"
)

// TestWorkerMetricsPassPromtool runs a job through a worker and checks
// its /metrics with promtool check metrics: the format and Prometheus'
// naming rules. It also checks that the runtime and process metrics and
// llmq's own are there.
func TestWorkerMetricsPassPromtool(t *testing.T) {
	t.Parallel()
	pt := promtooltest.Path(t)
	f := setup(t)
	s := f.startSimulator(t, false, "-dim", "8")
	w := f.startWorker(t,
		"OPENAI_BASE_URL="+s.url+"/v1",
		"OPENAI_API_KEY=sk-e2e-test",
		"OPENAI_EMBEDDING_MODEL=e2e-model",
		"OLLAMA_HOST=http://"+proctest.FreeAddr(t),
	)
	in := f.writeJSONL(t, "docs.jsonl", lines(corpus("doc", 20))...)
	if res := f.enqueue(t, "embed", "--file", in, "--batch-size", "4", "--wait", "--out", f.path("out.jsonl")); res.Code != 0 {
		t.Fatalf("enqueue exit status %d\n%s", res.Code, res.Stderr)
	}

	var body []byte
	proctest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() (bool, string) {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + w.addr + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			return false, fmt.Sprintf("/metrics: %s %v", resp.Status, err)
		}
		// The queue gauges come once this worker holds the reporter's lease.
		return bytes.Contains(body, []byte("\nllmq_queue_size")), "no llmq_queue_size yet"
	})
	for _, want := range []string{
		"go_goroutines", "go_memstats_heap_alloc_bytes", "process_open_fds", "process_resident_memory_bytes",
		"llmq_tasks_processed_total", "gen_ai_client_operation_duration_seconds_bucket",
		"http_client_request_duration_seconds_bucket", "http_client_open_connections",
	} {
		if !bytes.Contains(body, []byte("\n"+want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	cmd := exec.CommandContext(t.Context(), pt, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
