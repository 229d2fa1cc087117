package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"sync/atomic"
)

// telemetryMarker is what bin/worker --help lists once the worker can
// export traces and metrics; until then the telemetry scenario reports
// itself as not available.
const telemetryMarker = "OTEL_"

// telemetryEnv returns the worker's environment with telemetry on
// (traces of every task and metrics, exported over OTLP/HTTP to a sink in
// this process) and off.
func telemetryEnv(sinkURL string) (on, off []string) {
	on = []string{
		"OTEL_SDK_DISABLED=false",
		"OTEL_TRACES_EXPORTER=otlp",
		"OTEL_METRICS_EXPORTER=otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + sinkURL,
		"OTEL_TRACES_SAMPLER=always_on",
		"OTEL_METRIC_EXPORT_INTERVAL=1000",
	}
	off = []string{
		"OTEL_SDK_DISABLED=true",
		"OTEL_TRACES_EXPORTER=none",
		"OTEL_METRICS_EXPORTER=none",
	}
	return on, off
}

// otlpSink accepts OTLP/HTTP exports and throws them away, counting them.
// An empty 200 answer is a valid export response.
func otlpSink() (*httptest.Server, *atomic.Int64) {
	var exports atomic.Int64
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		exports.Add(1)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})), &exports
}

// workerHasTelemetry reports whether bin/worker --help lists telemetry
// settings.
func (e *env) workerHasTelemetry(ctx context.Context) bool {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(e.cfg.BinDir, "worker"), "--help")
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run()
	return bytes.Contains(out.Bytes(), []byte(telemetryMarker))
}

// telemetryCost is scenario 6: the worker's drain rate at 0 ms provider
// latency, where its own CPU matters most, with tracing and metrics on and
// off.
func telemetryCost(ctx context.Context, e *env, r *Report) error {
	cfg := e.cfg
	scen := "6. telemetry cost: worker drain at 0 ms provider latency"
	goal := "telemetry on vs off: drain throughput (no target set)"
	if !e.workerHasTelemetry(ctx) {
		r.row(scen, "not available", "bin/worker has no telemetry settings yet (its --help lists no OTEL_ variables)", "")
		r.Targets = append(r.Targets, Target{Goal: goal, Got: "not available", Status: NotMeasured})
		return nil
	}
	sink, exports := otlpSink()
	defer sink.Close()
	on, off := telemetryEnv(sink.URL)
	cases := []struct {
		name string
		env  []string
	}{{"telemetry off (baseline)", off}, {"traces and metrics on, exported over OTLP/HTTP", on}}
	s := []samples{{}, {}}
	for rep := range cfg.Reps {
		for i, c := range cases {
			e.progress("telemetry", "case", c.name, "rep", rep+1)
			spec := drainSpec{consumer: worker, tasks: cfg.DrainTasks, per: cfg.DrainBatch, concurrency: cfg.WorkerConcurrency,
				extraEnv: c.env, tag: fmt.Sprintf("telemetry %d %d", rep, i)}
			res, err := e.drain(ctx, spec)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			s[i].add("tasks/s", res.tasksPerSec(spec))
			addCPU(s[i], res.cpu, spec.tasks)
		}
		s[1].add("x", ratio(last(s[1]["tasks/s"]), last(s[0]["tasks/s"])))
	}
	for i, c := range cases {
		if !s[i].sane("tasks/s") {
			return fmt.Errorf("%s: %w", c.name, errInsane)
		}
		vs := ""
		if i == 1 {
			vs = fmtPct(s[1].med("x")) + " of the rate without telemetry"
		}
		r.row(scen, c.name, fmt.Sprintf("%s tasks/s · worker CPU %.0f µs per task", fmtRate(s[i].med("tasks/s")), s[i].med("cpu worker")), vs)
	}
	r.Notes = append(r.Notes, fmt.Sprintf("telemetry: the sink received %d OTLP exports", exports.Load()))
	if exports.Load() == 0 {
		return fmt.Errorf("telemetry on, but the worker exported nothing to %s", sink.URL)
	}
	r.Targets = append(r.Targets, Target{Goal: goal, Got: fmtPct(s[1].med("x")) + " of the rate without", Status: Met})
	return nil
}
