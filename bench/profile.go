package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

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
		consumer: worker, tasks: e.cfg.MemoryTasks, per: e.cfg.BatchSize,
		concurrency: e.cfg.WorkerConcurrency, tag: "profile",
		extraEnv: []string{"LLMQ_CPUPROFILE=" + path},
	}
	e.progress("cpu profile", "file", path)
	if _, err := e.drain(ctx, spec); err != nil {
		return err
	}
	r.Notes = append(r.Notes, fmt.Sprintf("CPU profile of the worker: %s (go tool pprof %s %s)",
		e.cfg.CPUProfile, filepath.Join(e.cfg.BinDir, "worker"), e.cfg.CPUProfile))
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-cum", "-nodecount=30", filepath.Join(e.cfg.BinDir, "worker"), path)
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("go tool pprof failed (%v): the profile is not summarised here", err))
		return nil
	}
	r.Profile = strings.TrimSpace(out.String())
	return nil
}
