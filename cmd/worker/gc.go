package main

import (
	"os"
	"runtime/debug"
)

// workerGCPercent is the worker's garbage-collection target unless GOGC
// is set. Most of a busy worker's heap is the buffers it pools (answers,
// vectors, stored results), which hold no pointers and cost the collector
// nothing to scan: collecting when the heap has grown by half its live
// size, not by all of it, costs little CPU and keeps the peak down. At
// WORKER_CONCURRENCY=100 with 128 × 1536-dimension tasks, make bench's
// memory scenario peaked at 79 to 85 MB (medians of three runs) against
// 89 to 100 MB at Go's default of 100, at the same rate.
const workerGCPercent = 50

// setGCPercent applies workerGCPercent unless GOGC says otherwise.
func setGCPercent() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(workerGCPercent)
	}
}
