package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// profileShow keeps the summary to the frames that say where a task's time
// goes: llmq's own code, HTTP/2 and TLS, JSON and base64, asynq's Redis
// calls and the garbage collector. Time in hidden frames still counts in
// the cumulative figures of the shown frames that call them.
const profileShow = `llmq/|net/http\.|crypto/tls\.\(\*Conn\)\.(Read|Write)$|encoding/|hibiken/asynq/internal/rdb|go-redis/v9\.\(\*baseClient\)\.process$|runtime\.gcBgMarkWorker$|runtime\.mallocgc$`

// cpuProfile profiles bin/worker draining tasks of BatchSize texts, the
// usual load, at 0 ms provider latency, where the worker is busiest, into
// Config.CPUProfile, and keeps the top of `go tool pprof -top -cum` for the
// report.
func cpuProfile(ctx context.Context, e *env, r *Report) error {
	if e.cfg.CPUProfile == "" {
		return nil
	}
	path, err := filepath.Abs(e.cfg.CPUProfile)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	spec := drainSpec{
		consumer: worker, tasks: 2 * e.cfg.MemoryTasks, per: e.cfg.BatchSize,
		concurrency: e.cfg.WorkerConcurrency, tag: "profile",
		extraEnv: []string{"LLMQ_CPUPROFILE=" + path},
	}
	e.progress("cpu profile", "file", path)
	res, err := e.drain(ctx, spec)
	if err != nil {
		return err
	}
	r.ProfileCPU = res.cpu.worker / time.Duration(spec.tasks*spec.per)
	us := float64(r.ProfileCPU) / float64(time.Microsecond)
	r.target("worker CPU per embedding ≤ 10 µs, profiled drain", fmt.Sprintf("%.1f µs", us), us <= 10)
	r.explain("bin/worker's CPU (/proc) draining %d tasks of %d texts at 0 ms provider latency, under the profiler; where it goes is under \"Where the worker spends its CPU\"",
		spec.tasks, spec.per)
	r.Notes = append(r.Notes, fmt.Sprintf("CPU profile of the worker: %s (go tool pprof %s %s)",
		e.cfg.CPUProfile, relative(filepath.Join(e.cfg.BinDir, "worker")), e.cfg.CPUProfile))
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-cum", "-nodecount=25", "-show", profileShow,
		filepath.Join(e.cfg.BinDir, "worker"), path)
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("go tool pprof failed (%v): the profile is not summarised here", err))
		return nil
	}
	r.Profile = profileSummary(out.String())
	return nil
}

// relative returns path relative to the working directory when it lies
// below it, for a report that does not name the machine's directories.
func relative(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	rel, err := filepath.Rel(wd, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return path
	}
	return rel
}

// profileSummary drops the lines of pprof's header that change from run to
// run without saying anything (file, build ID, time, the filter).
func profileSummary(top string) string {
	var b strings.Builder
	for line := range strings.Lines(top) {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "File:"), strings.HasPrefix(t, "Build ID:"), strings.HasPrefix(t, "Type:"),
			strings.HasPrefix(t, "Time:"), strings.HasPrefix(t, "Active filters:"), strings.HasPrefix(t, "show="):
			continue
		}
		b.WriteString(line)
	}
	return strings.TrimSpace(b.String())
}
