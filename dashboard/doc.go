// Package dashboard serves the asynqmon web UI for llmq's queues behind
// HTTP basic authentication.
//
// asynqmon (github.com/hibiken/asynqmon) is an http.Handler that shows
// queues, tasks, their payloads and results, the worker servers and Redis
// INFO, and can delete, run, archive and pause. It has no authentication of
// its own, so New always wraps it in BasicAuth and refuses to build a
// handler without credentials.
//
// Task payloads and results are shown through PayloadFormatter and
// ResultFormatter: an embedding task of 2,048 texts appears as its provider,
// model, item count and first ids, not as megabytes of text, and an
// embedding result as its vector count and dimensions instead of binary.
package dashboard
