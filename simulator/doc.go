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
//	POST /v1/embeddings        {"model","input": str | [str],"dimensions","encoding_format"}
//	POST /v1/chat/completions  {"model","messages","max_tokens","max_completion_tokens","n","stream","stream_options"}
//	POST /v1/completions       {"model","prompt": str | [str],"max_tokens","n","stream","stream_options"}
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
// And its own routes, which are neither delayed, limited nor counted:
//
//	GET    /stats                 the Stats as JSON
//	DELETE /stats                 resets them
//	GET    /_sim/outage           {"mode","in_flight"}: the Outage in force
//	POST   /_sim/outage?mode=M[&for=DUR]
//	                              switches to outage M (none, 503, refuse,
//	                              reset, hang), back to none after DUR if given
//	GET    /_sim/events?since=N   {"events":[Event...],"next"}: what was seen
//	DELETE /_sim/events           empties the event log and kept bodies
//	GET    /_sim/bodies           the latest request bodies (Config.KeepBodies)
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
// # OpenAI generation
//
// /v1/chat/completions and /v1/completions answer in OpenAI's shapes, with
// an id ("chatcmpl-..." or "cmpl-..."), created, model (the request's,
// which is required), choices and usage. Each prompt gets n choices
// (default 1); choice i of prompt p has index p*n+i and the text
// Answer(model, prompt, i, tokens). A chat's prompt is ChatPrompt of its
// message contents. The length in tokens is sim:tokens when given, capped
// by max_completion_tokens (or else max_tokens); without sim:tokens it is
// that cap, or DefaultTokens when there is none. finish_reason is "length"
// when the cap set the length and "stop" otherwise. usage counts
// Tokens(prompt) per prompt and the length per choice. Other request fields
// (temperature, tools, response_format, seed, ...) are accepted and
// ignored.
//
// With "stream": true the answer is server-sent events, flushed one by one:
// "data: {chunk}" per token position with one choice per choice (a chat's
// first carries the assistant role), then one chunk per choice with its
// finish_reason, then, with stream_options.include_usage, a chunk with no
// choices and the usage (the others then carry "usage": null), and finally
// "data: [DONE]". Config.TimeToFirstToken passes before the first token,
// Config.TokenLatency between tokens, streamed or not.
//
// # Rate limits, saturation and outages
//
// With Config.RequestsPerMinute or TokensPerMinute set, the simulator
// enforces a limit (see Config) and every API answer carries OpenAI's
// x-ratelimit-limit-, -remaining- and -reset-requests/-tokens headers, the
// resets written like "1s", "6m0s" or "20ms" (FormatReset). A request's
// token cost is its usage as answered: the prompt tokens of an embedding
// request; prompt plus completion tokens of a generation. A request that
// finds a bucket short is answered 429 with Retry-After and
// retry-after-ms set to when it would pass. Config.Capacity makes service
// time grow with the requests in flight. SetOutage and /_sim/outage switch
// outages at run time (see Outage); refusing and resetting connections
// needs the server to accept through Listener, which Start does. Events
// and /_sim/events log every request (arrival time, path, status, token
// cost) and every accepted or reset connection, so a test can count the
// rate in any window.
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
//	sim:stream_cut=K      cut the connection after K token positions of a
//	                      stream (no chunk terminator, no [DONE])
//	sim:stream_error=K    after K token positions, send an error event,
//	                      data: {"error":{...}}, and end without [DONE]
//	sim:stream_no_done=1  end a complete stream without data: [DONE]
//
// DUR is a Go duration ("2s", "300ms"). When a request carries the same key
// twice, the first one counts. A malformed directive or an unknown key is a
// 400, so a typo cannot silently turn a fault test into a passing one.
// Directives stay part of the text: an input carrying only sim:sleep=1s is
// embedded as Vector of the whole input, directive included.
//
// Every API request is handled in this order: its body is read (413 beyond
// 64 MiB), the outage answers 503 or hangs, Config.Latency passes, then
// come unknown route (404) or method (405), the API key (401, /v1 only),
// random faults, request validation (400), the rate limit (429), sim:sleep,
// the error or garbage directives ask for, and finally the answer. A client that leaves during a wait ends it: the handler returns
// without answering.
package simulator
