// Package telemetry sets up what a process reports about itself: its logs,
// traces and metrics, and the instrumentation of the task path that is not
// in the provider clients.
//
// Everything here is built once in a binary's main and passed down.
//
//   - NewLogger builds the log/slog logger (config.Log).
//   - Setup builds the tracer and meter providers from the standard OTEL_*
//     environment (config.Telemetry): spans and metrics go to an OTLP
//     receiver, or nowhere, and metrics also to a Prometheus handler for
//     the worker's /metrics. It installs the W3C trace-context and baggage
//     propagator as the global one, and nothing else.
//   - Producer wraps each enqueue in a PRODUCER span and gives the task the
//     headers (asynq task headers, not the payload) that carry the span's
//     context to the worker.
//   - TaskMiddleware runs each task in a CONSUMER span, the child of its
//     producer's span, and counts runs by type, queue and outcome.
//   - QueueReporter reports queue sizes and latency from asynq's Inspector,
//     from one worker at a time, chosen by a lease in Redis.
//
// The provider calls themselves are reported by clients/openai and
// clients/ollama (GenAI spans and metrics) and the connection pools by
// clients (connections dialed, requests on reused connections, open
// connections); they take the providers built here.
//
// No span, metric or log line written here holds a task's payload, a
// provider key or a request header.
package telemetry
