// Package bench measures llmq's claims against baselines run in the same
// invocation, so that its ratios hold on a shared or busy machine: every
// figure is a median over repetitions, and every ratio the median of
// ratios taken within one repetition between runs made back to back.
//
// Run starts a private redis-server and, per scenario, provider simulators
// (TLS with HTTP/2, or plain HTTP/1.1 like Ollama), the latency proxy of
// package latencyproxy and the built bin/worker and bin/enqueue; it stops
// everything it started. The scenarios:
//
//   - client: a new http.Client and Transport per request vs Go's default
//     transport vs clients.NewHTTPClient, at concurrency 1 and 32, behind a
//     20 ms round trip: p50 and p99 latency, requests/s, connections
//     accepted by the simulator; and a cold vs a warm single request.
//   - drain: a bare asynq server with a no-op handler vs bin/worker on
//     embedding tasks at 0 ms and 20 ms provider latency: tasks/s,
//     efficiency against concurrency ÷ latency, CPU per task by process.
//   - generation: bin/worker draining streamed chat completions at
//     200 ms to the first token plus 10 ms per token, the generation
//     queue at concurrency 256 of its own, vs a bare asynq server whose
//     handler sleeps as long, and vs concurrency ÷ latency.
//   - batching: embeddings/s end to end (bin/enqueue to stored results)
//     with one text per task vs the default batch size, behind the proxy.
//   - enqueue: items/s of bin/enqueue on a large file vs sequential
//     asynq.Client.Enqueue calls, and enqueue's peak RSS.
//   - memory: bin/worker's peak RSS at concurrency 100.
//   - telemetry: the drain with traces and metrics on vs off, once the
//     worker has telemetry settings (reported as not available before).
//   - export: a job end to end with enqueue --wait --out against the
//     no-queue bound (a minimal direct client with the same batch size,
//     concurrency, output format and simulator), then enqueue results of
//     the finished job in each format: items/s and CPU per item.
//   - adaptive: bin/worker against a simulator that saturates beyond
//     AdaptiveCapacity requests in flight (simulator.Config.Capacity), at
//     each fixed concurrency of AdaptiveSweep and with the adaptive
//     in-flight limit at WorkerConcurrency: tasks/s, the simulator's p50
//     and p99 service time and its requests in flight; targets against
//     the best fixed rate and the latency of fixed WorkerConcurrency.
//   - profile: with Config.CPUProfile, a CPU profile of bin/worker under
//     load, summarised in the report.
//
// Report.WriteText prints the results; Report.WriteMarkdown writes
// BENCHMARKS.md with the machine, the date, the command and how each
// figure is measured.
package bench
