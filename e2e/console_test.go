package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/llmq/llmq/internal/proctest"
)

// TestConsoleExportersWriteToStderr runs enqueue with the console trace
// and metric exporters: its standard output must still be the job ID
// alone, so that JOB=$(enqueue embed ...) works, and the spans and
// metrics must be on standard error.
func TestConsoleExportersWriteToStderr(t *testing.T) {
	f := setup(t)
	in := f.writeJSONL(t, "docs.jsonl", lines(corpus("doc", 3))...)
	res := proctest.Exec(t, time.Minute, nil, bin["enqueue"], proctest.Environ("REDIS_URL="+f.redis.URL(),
		"OTEL_TRACES_EXPORTER=console", "OTEL_METRICS_EXPORTER=console", "OTEL_SERVICE_NAME=console-check"),
		"embed", "--file", in)
	if res.Code != 0 {
		t.Fatalf("enqueue exit status %d\nstderr:\n%s", res.Code, res.Stderr)
	}
	if !regexp.MustCompile(`^[0-9a-zA-Z_-]+\n$`).MatchString(res.Stdout) {
		t.Errorf("stdout %.300q, want the job ID alone on one line", res.Stdout)
	}
	for _, want := range []string{
		`"SpanKind":4`,            // the PRODUCER span of the batch
		`"Value":"console-check"`, // its resource
		`"ScopeMetrics":`,         // the metric exporter's output
	} {
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr lacks %s:\n%.2000s", want, res.Stderr)
		}
	}
}
