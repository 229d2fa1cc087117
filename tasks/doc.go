// Package tasks defines llmq's task types — their names, payloads and
// results — and the handlers that run them.
//
// One task's path through llmq is the whole product:
//
//	producer: NewEmbedTask(payload)            → asynq.Client.Enqueue → Redis
//	worker:   asynq.Server → Mux.ProcessTask   → EmbedHandler.ProcessTask
//	          → Embedder.Embed (one pooled *http.Client per provider)
//	          → EncodeEmbedResult → ResultWriter (stored in the task's hash)
//	reader:   asynq.Inspector.GetTaskInfo(queue, id).Result → DecodeEmbedResult
//	          (or DecodeRawEmbedResult, which leaves the vectors in the bytes)
//
// EmbedHandler chooses one sink per task, which begins, stores and fails
// the run: the task's own result, a job batch (the result, and the job's
// counters through a JobRecorder) or merged items (one key per item).
//
// Task types:
//
//	TypeEmbed     "embedding:create"  payload EmbedPayload      result: binary, see EncodeEmbedResult
//	TypeEmbedItem "embedding:item"    payload EmbedItemPayload  result: under ItemResultKey
//	TypeGenerate  "generation:create" payload GeneratePayload   result: JSON GenerateResult
//
// Bulk jobs (package job) are sets of ordinary TypeEmbed or TypeGenerate
// tasks whose payload names the job and the batch (EmbedPayload.Job,
// GeneratePayload.Job); the handlers report their progress to a
// JobRecorder.
//
// Generation goes to Ollama (Generator) or to an OpenAI-compatible
// server's chat and text completions (Completer): a payload's prompt or
// messages become a chat request, and an OpenAI request body
// (GeneratePayload.Body, from a Batch API line) is sent as it is.
//
// Micro-batching: a TypeEmbedItem task carries one text and joins an asynq
// group (ItemGroup). A worker whose asynq.Config has AggregateItems as its
// GroupAggregator merges a group's items into one TypeEmbed task, which
// embeds them in one provider request and stores each item's result under
// ItemResultKey(ItemID(item)), where ReadItemResult finds it:
//
//	producer: NewEmbedItemTask(item) → asynq group → AggregateItems → TypeEmbed task
//	worker:   EmbedHandler → one request for the group → SET llmq:item:<id> per item
//	reader:   ReadItemResult(ctx, rdb, ItemID(item))
//
// Partial failure: when the provider rejects a request of several texts as
// invalid, the handler splits it until the bad texts stand alone, stores
// them as failed with the provider's reason (the LQE2 layout) and the
// others with their vectors.
//
// Handlers depend on the small interfaces Embedder, Generator and
// Completer, which the provider clients in clients/openai and
// clients/ollama satisfy.
//
// Outcomes. A handler returns nil (done), an error wrapping asynq.SkipRetry
// (archived at once, with a readable reason, because repeating cannot
// help: a malformed payload, an empty text, too many inputs, an unknown
// provider or task type, a provider's 4xx other than 408/409/429, an
// exhausted quota), or any other error (retried with backoff: 408, 409,
// 429, 5xx, timeouts, connection failures). Behind a guard.Guard in a
// task run under guard.Patience, a 5xx, a connection failure or a request
// timeout comes back as a deferral (clients.ErrProviderFailed) until the
// patience bound. Use RetryDelay and IsFailure in the server's
// asynq.Config so that retries honour the provider's Retry-After and
// rate limits and deferrals do not use up a task's retries; Outcome tells
// what asynq does with a run's error, by the same decision.
package tasks
