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
//
// Task types:
//
//	TypeEmbed    "embedding:create"   payload EmbedPayload     result: binary, see EncodeEmbedResult
//	TypeGenerate "generation:create"  payload GeneratePayload  result: JSON clients.Generation
//
// Handlers depend on the small interfaces Embedder and Generator, which the
// provider clients in clients/openai and clients/ollama satisfy.
//
// Outcomes. A handler returns nil (done), an error wrapping asynq.SkipRetry
// (archived at once, with a readable reason, because repeating cannot
// help: a malformed payload, an empty text, too many inputs, an unknown
// provider or task type, a provider's 4xx other than 408/409/429, an
// exhausted quota), or any other error (retried with backoff: 408, 409,
// 429, 5xx, timeouts, connection failures). Use RetryDelay and IsFailure in
// the server's asynq.Config so that retries honour the provider's
// Retry-After and rate limits do not use up a task's retries.
package tasks
