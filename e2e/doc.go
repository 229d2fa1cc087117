// Package e2e tests llmq from the outside: it builds cmd/worker,
// cmd/enqueue and cmd/simulator, runs them as processes against a private
// redis-server on a free port and the provider simulator, and checks what a
// user would see — exit statuses, output files, results stored in Redis and
// the connection counts on both ends of the wire.
//
// The package holds only tests. They need redis-server on PATH (see make
// deps) and a Go toolchain to build the binaries:
//
//	go test -race ./e2e/
//
// Every test starts its own Redis, simulator and worker, so the tests run in
// parallel; no process outlives its test.
package e2e
