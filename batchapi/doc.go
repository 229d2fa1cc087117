// Package batchapi serves OpenAI's Files and Batch API in front of llmq's
// jobs, so that the official SDKs submit work to llmq unchanged:
//
//	POST/GET /v1/files, GET/DELETE /v1/files/{id}, GET /v1/files/{id}/content
//	POST/GET /v1/batches, GET /v1/batches/{id}, POST /v1/batches/{id}/cancel
//
// A batch is an llmq job (package job) whose ID is the batch's ID, run by
// the ordinary workers; the API process only validates the input file,
// submits the job, follows it and streams its results. Uploaded files are
// kept in a filestore.Store; a batch's output and error files are not
// stored at all: reading them runs job.Export into the response, in input
// order and in bounded memory.
//
// State. Every file and batch record lives in Redis, so any replica
// answers for any batch. The work on a batch (validate and submit, follow,
// cancel, expire, finalize) is a step that any replica may take: each
// replica looks at the open batches every Config.Tick and takes a step on
// one under a lease (a Redis key with a time to live, renewed while the
// step runs). A replica that dies mid-step loses its lease, and another
// takes the step again; every step is idempotent (job.Submission.Run
// resumes a half-submitted job), so a restart loses nothing.
//
// Authentication. Requests carry "Authorization: Bearer KEY" with one of
// Config.Keys. Redis never sees a key: records name their owner by the
// SHA-256 of the key, and a record of another owner answers 404, as if it
// did not exist.
//
// Redis keys, besides the jobs' own:
//
//	llmq:api:file:{ID}         HASH  a file's record (upload, or a batch's output or errors)
//	llmq:api:batch:{ID}        HASH  a batch's record
//	llmq:api:{OWNER}:files     ZSET  the owner's file IDs (lexical order is creation order)
//	llmq:api:{OWNER}:batches   ZSET  the owner's batch IDs
//	llmq:api:{OWNER}:open      SET   the owner's batches that have not ended
//	llmq:api:open              ZSET  every batch that has not ended
//	llmq:api:lease:{ID}        STRING  the replica taking a step on the batch
package batchapi
