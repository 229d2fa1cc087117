package helm

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/config"
	"github.com/llmq/llmq/internal/promtooltest"
	"github.com/llmq/llmq/internal/redistest"
	"github.com/llmq/llmq/telemetry"
)

// unfinishedQueue fills queue embeddings of a private Redis with work in
// every unfinished state, through asynq itself: 1 retry (a task whose run
// failed), 2 active (running), 3 pending, 1 scheduled and 2 items waiting
// in a micro-batching group. It returns the Redis.
func unfinishedQueue(t *testing.T) *redistest.Server {
	t.Helper()
	srv := redistest.Start(t)
	const queue = "embeddings"
	release := make(chan struct{})
	s := asynq.NewServer(srv.ConnOpt(), asynq.Config{
		Concurrency:    2,
		Queues:         map[string]int{queue: 1},
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return time.Hour },
		LogLevel:       asynq.FatalLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc("test:fail", func(context.Context, *asynq.Task) error { return errors.New("provider down") })
	mux.HandleFunc("test:block", func(ctx context.Context, _ *asynq.Task) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	if err := s.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(release); s.Shutdown() })
	client := asynq.NewClient(srv.ConnOpt())
	t.Cleanup(func() { _ = client.Close() })
	inspector := asynq.NewInspector(srv.ConnOpt())
	t.Cleanup(func() { _ = inspector.Close() })
	enqueue := func(typ string, opts ...asynq.Option) {
		t.Helper()
		if _, err := client.Enqueue(asynq.NewTask(typ, nil), append(opts, asynq.Queue(queue))...); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(what string, ok func(*asynq.QueueInfo) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			info, err := inspector.GetQueueInfo(queue)
			if err == nil && ok(info) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("queue never had %s: %+v, %v", what, info, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	enqueue("test:fail")
	waitFor("a retry", func(i *asynq.QueueInfo) bool { return i.Retry == 1 })
	enqueue("test:block")
	enqueue("test:block")
	waitFor("2 active", func(i *asynq.QueueInfo) bool { return i.Active == 2 })
	for range 3 {
		enqueue("test:block")
	}
	enqueue("test:block", asynq.ProcessIn(time.Hour))
	// No GroupAggregator serves the queue: the items stay in their group.
	enqueue("test:item", asynq.Group("openai/text-embedding-3-small/0"))
	enqueue("test:item", asynq.Group("openai/text-embedding-3-small/0"))
	info, err := inspector.GetQueueInfo(queue)
	if err != nil {
		t.Fatal(err)
	}
	if info.Pending != 3 || info.Active != 2 || info.Scheduled != 1 || info.Retry != 1 || info.Aggregating != 2 {
		t.Fatalf("queue %+v, want 3 pending, 2 active, 1 scheduled, 1 retry, 2 aggregating", info)
	}
	return srv
}

// kedaCount is what KEDA's redis scalers read from key: LLEN of a list,
// ZCARD of a sorted set, SCARD of a set (their Lua script, in KEDA's
// pkg/scalers/redis_scaler.go), 0 for no key.
func kedaCount(t *testing.T, rdb *redis.Client, key string) int64 {
	t.Helper()
	ctx := t.Context()
	typ, err := rdb.Type(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	switch typ {
	case "list":
		n, err = rdb.LLen(ctx, key).Result()
	case "zset":
		n, err = rdb.ZCard(ctx, key).Result()
	case "set":
		n, err = rdb.SCard(ctx, key).Result()
	case "none":
		return 0
	default:
		t.Fatalf("%s is a %s: KEDA's redis scaler refuses it", key, typ)
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestKEDARedisTriggersSeeAllWork renders the redis triggers for a Redis
// holding unfinished work in every state and reads their keys as KEDA
// does: together they see all of it.
func TestKEDARedisTriggersSeeAllWork(t *testing.T) {
	srv := unfinishedQueue(t)
	m := render(t, "--set", "keda.enabled=true", "--set", "redis.url="+srv.URL(), "--set", "keda.listLength=4")
	if len(m.scaledObjects) != 1 {
		t.Fatalf("%d ScaledObjects", len(m.scaledObjects))
	}
	so := m.scaledObjects[0]
	checkKEDAValid(t, so, m.deployments["worker"])
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	got := map[string]int64{}
	for _, tr := range so.Spec.Triggers {
		if tr.Type != "redis" || tr.Metadata["address"] != srv.Addr() || tr.Metadata["databaseIndex"] != "0" || tr.Metadata["enableTLS"] != "false" {
			t.Errorf("trigger %s: %s %v", tr.Name, tr.Type, tr.Metadata)
		}
		if q, ok := strings.CutPrefix(tr.Metadata["listName"], "asynq:{embeddings}:"); ok {
			got[q] = kedaCount(t, rdb, tr.Metadata["listName"])
		}
	}
	want := map[string]int64{"pending": 3, "active": 2, "scheduled": 1, "retry": 1, "groups": 1}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("trigger on asynq:{embeddings}:%s reads %d, want %d", k, got[k], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("triggers of queue embeddings read %v, want %v", got, want)
	}
}

// TestKEDAPrometheusTriggerSeesAllWork reports the same queue through
// telemetry.QueueReporter (the worker's llmq_queue_size, as /metrics
// serves it), and evaluates the chart's prometheus trigger query on those
// series with promtool: it must count every unfinished task, and leave
// out archived and completed ones.
func TestKEDAPrometheusTriggerSeesAllWork(t *testing.T) {
	srv := unfinishedQueue(t)
	m := render(t, "--set", "keda.enabled=true", "--set", "keda.prometheus.serverAddress=http://prometheus-operated.monitoring:9090",
		"--namespace", "batch")
	if len(m.scaledObjects) != 1 || len(m.triggerAuths) != 0 {
		t.Fatalf("%d ScaledObjects, %d TriggerAuthentications; want 1 and 0", len(m.scaledObjects), len(m.triggerAuths))
	}
	so := m.scaledObjects[0]
	checkKEDAValid(t, so, m.deployments["worker"])
	queries := map[string]string{}
	for _, tr := range so.Spec.Triggers {
		if tr.Type != "prometheus" || tr.Metadata["serverAddress"] != "http://prometheus-operated.monitoring:9090" || tr.Metadata["ignoreNullValues"] != "false" || tr.Metadata["threshold"] != "100" {
			t.Errorf("trigger %s: %s %v", tr.Name, tr.Type, tr.Metadata)
		}
		queries[tr.Name] = tr.Metadata["query"]
	}
	if len(queries) != 2 || queries["unfinished-embeddings"] == "" || queries["unfinished-generation"] == "" {
		t.Fatalf("triggers %v, want one per queue", queries)
	}

	series := scrapeQueueMetrics(t, srv)
	var b strings.Builder
	b.WriteString("evaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n")
	for _, s := range series {
		// Prometheus adds the pod's namespace when it scrapes it.
		s.labels = strings.Replace(s.labels, "{", `{namespace="batch",pod="llmq-worker-0",`, 1)
		b.WriteString("      - series: " + strconv.Quote("llmq_queue_size"+s.labels) + "\n        values: " + strconv.Quote(s.value+"x3") + "\n")
	}
	// Another namespace's llmq must not count.
	b.WriteString("      - series: " + strconv.Quote(`llmq_queue_size{namespace="other",messaging_destination_name="embeddings",llmq_task_state="pending"}`) + "\n        values: \"1000x3\"\n")
	b.WriteString("    promql_expr_test:\n")
	for name, want := range map[string]string{"unfinished-embeddings": "9", "unfinished-generation": "0"} {
		b.WriteString("      - expr: " + strconv.Quote(queries[name]) + "\n        eval_time: 2m\n        exp_samples:\n          - labels: \"{}\"\n            value: " + want + "\n")
	}
	// No worker of this release reports (the others' series only): no
	// answer, which KEDA counts as a failure and answers with the fallback.
	b.WriteString("  - interval: 1m\n    input_series:\n")
	b.WriteString("      - series: " + strconv.Quote(`llmq_queue_size{namespace="other",messaging_destination_name="embeddings",llmq_task_state="pending"}`) + "\n        values: \"1000x3\"\n")
	b.WriteString("    promql_expr_test:\n")
	for _, name := range []string{"unfinished-embeddings", "unfinished-generation"} {
		b.WriteString("      - expr: " + strconv.Quote(queries[name]) + "\n        eval_time: 2m\n        exp_samples: []\n")
	}
	file := filepath.Join(t.TempDir(), "trigger_test.yaml")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), promtooltest.Path(t), "test", "rules", file).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Errorf("promtool test rules: %v\n%s\n%s", err, out, b.String())
	}
}

type sample struct{ labels, value string }

var queueSizeLine = regexp.MustCompile(`(?m)^llmq_queue_size(\{[^}]*\}) ([0-9.e+]+)$`)

// scrapeQueueMetrics runs the worker's QueueReporter on srv and returns
// the llmq_queue_size samples its Prometheus handler serves.
func scrapeQueueMetrics(t *testing.T, srv *redistest.Server) []sample {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tel, err := telemetry.Setup(t.Context(), config.Telemetry{}, telemetry.Options{ServiceName: "llmq-worker", Prometheus: true, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	rep, err := telemetry.StartQueueReporter(rdb, tel.Providers, logger, telemetry.QueueReporterConfig{TTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rep.Close() })
	ts := httptest.NewServer(tel.MetricsHandler())
	t.Cleanup(ts.Close)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := ts.Client().Get(ts.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out []sample
		for _, m := range queueSizeLine.FindAllStringSubmatch(string(body), -1) {
			out = append(out, sample{m[1], m[2]})
		}
		if len(out) > 0 {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("no llmq_queue_size in /metrics:\n%.3000s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
