// Package job runs bulk jobs: a JSONL file in, one vector or one answer
// per line out, through ordinary embedding or generation tasks.
//
// A job is a set of tasks.TypeEmbed tasks with deterministic IDs (JOB:n for
// batch n) and a manifest in Redis:
//
//	Submission.Run: hash the input, create the manifest, read the input a
//	                line at a time (Reader), drop duplicate texts, pack
//	                the rest into batches (up to the batch size and the
//	                token limits) and enqueue one task per batch
//	worker:         tasks.EmbedHandler runs each task and reports it to a
//	                Recorder, which keeps the job's counters
//	GetStatus:      the manifest and counters, without touching the tasks
//	Export:         the batches' results in input order, duplicates copied
//	Delete:         the tasks and the job's keys
//	Cancel:         remove the queued batches (running ones finish); Export
//	                then reports the items not run as cancelled or expired
//	List:           the jobs Redis knows, newest first, with their State
//
// Every producer sends its tasks with Enqueue (a PRODUCER span, its headers
// in the task, a task asynq already holds counted as already queued).
// TaskSet does the same for tasks that are not a job — enqueue embed
// --text, enqueue generate — and follows them to their results in order.
//
// Input formats (Reader): {"id", "text"} lines, or OpenAI Batch API
// requests to /v1/embeddings ({"custom_id", "method", "url", "body"}).
// Export writes the matching output format: {"id", "embedding", "model",
// "usage"}, or Batch API output lines, with vectors as JSON floats or
// base64; or a Parquet file (FormatParquet). With ExportOptions.Follow it
// exports a running job as its batches finish.
//
// Idempotency. The job ID is a hash of the input's bytes and every setting
// that shapes its tasks, so submitting the same input the same way — again,
// or after a crash — makes the same batches with the same task IDs, and
// asynq refuses those it already holds. Counters are kept per batch with
// bitmaps, so a batch that runs twice (delivery is at least once) counts
// once.
//
// Memory. Submission reads the input twice and holds one line, the open
// batch, the batches being sent and two hash tables sized by the line count
// (27 bytes per line): one of item IDs, to refuse duplicates, and one of
// texts, to embed each once. Export reads and formats a window of batches
// in parallel and holds them and a few recent ones, for duplicates.
//
// Generation jobs (Spec.Kind KindGeneration) go the same way, with one
// tasks.TypeGenerate task per unique request (JOB:n for the n-th), read
// by NewGenerateReader: {"id", "prompt"} and {"id", "messages"} lines,
// or OpenAI Batch API requests to /v1/chat/completions and
// /v1/completions, whose bodies are sent as they are. Identical requests
// are sent once. Each task's result (tasks.GenerateResult) holds the
// provider's answer body, the text, finish reason and usage; Export
// writes {"id", "model", "text", "finish_reason", "usage"} lines or
// Batch API output lines whose response body is the provider's. A Batch
// API server that has parsed its requests submits them with
// SubmitGenerateRequests.
//
// Redis keys are listed with keys, in manifest.go.
package job
