// Package job runs bulk embedding jobs: a JSONL file in, one vector per
// line out, through ordinary embedding tasks.
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
// Redis keys are listed with keys, in manifest.go.
package job
