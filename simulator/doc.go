// Package simulator is a stand-in for the embedding and generation
// providers llmq talks to: an http.Handler that speaks enough of the OpenAI
// and Ollama HTTP APIs for the module's tests, its demo and its benchmarks.
// It is not a model. Its vectors and completions are pseudo-random values
// derived from a SHA-256 hash of the input text, so the same text always
// gets the same answer, bit for bit, on every machine.
//
// # Routes
//
// OpenAI-compatible, under the base URL {server}/v1:
//
//	POST /v1/embeddings   {"model","input": str | [str],"dimensions","encoding_format"}
//	GET  /v1/models
//
// Ollama-compatible, under the host {server}:
//
//	POST /api/embed       {"model","input": str | [str],"dimensions","truncate"}
//	POST /api/generate    {"model","prompt","system","stream","options":{"num_predict"}}
//	POST /api/chat        {"model","messages":[{"role","content"}],"stream","options"}
//	GET  /api/version
//	GET  /api/tags
//
// And its own counters, which are neither delayed nor counted:
//
//	GET    /stats         the Stats as JSON
//	DELETE /stats         resets them
//
// Errors are shaped like the provider's: {"error":{"message","type","param",
// "code"}} under /v1 and {"error":"message"} under /api.
//
// Embeddings are Vector(text, dims), where dims is the request's dimensions
// when positive and Config.Dim otherwise. Usage counts Tokens(text) for each
// input. A generation is Completion(text, n) where text is the prompt (for
// /api/generate) or the message contents concatenated without separator (for
// /api/chat), and n is options.num_predict when positive, DefaultTokens
// otherwise. Generation streams by default, as Ollama does: one NDJSON line
// per token, flushed as it is written, then a final line with done=true and
// the counts. done_reason is "length" when num_predict set the count and
// "stop" otherwise.
//
// # Faults
//
// Config.ErrorRate and Config.RateLimitRate fail a share of API requests at
// random, from a generator seeded with Config.Seed. For faults a test can
// name, any input text, prompt, system prompt or message content may carry
// whitespace-separated directives of the form sim:key=value that steer the
// request they appear in:
//
//	sim:status=NNN        answer status NNN (400-599) with a provider-shaped
//	                      error body; 429 also gets the rate-limit headers
//	sim:code=X            use X as the OpenAI error code (insufficient_quota
//	                      also sets the type); without sim:status it implies
//	                      429 for insufficient_quota and rate_limit_exceeded
//	                      and 400 otherwise
//	sim:retry_after=DUR   send Retry-After and retry-after-ms with the error
//	                      (0 sends none, even with 429)
//	sim:sleep=DUR         wait DUR before answering
//	sim:stream_delay=DUR  wait DUR between streamed tokens
//	sim:tokens=N          generate N tokens
//	sim:garbage=1         answer 200 with a body that is not valid JSON
//
// DUR is a Go duration ("2s", "300ms"). When a request carries the same key
// twice, the first one counts. A malformed directive or an unknown key is a
// 400, so a typo cannot silently turn a fault test into a passing one.
// Directives stay part of the text: an input carrying only sim:sleep=1s is
// embedded as Vector of the whole input, directive included.
//
// Every API request is handled in this order: its body is read (413 beyond
// 64 MiB), Config.Latency passes, then come unknown route (404) or method
// (405), the API key (401, /v1 only), random faults, request validation
// (400), sim:sleep, the error or garbage directives ask for, and finally the
// answer. A client that leaves during a wait ends it: the handler returns
// without answering.
package simulator
