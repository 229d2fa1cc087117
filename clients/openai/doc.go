// Package openai is a client for the embeddings, chat completions and text
// completions endpoints of the OpenAI API and of servers that speak it
// (vLLM, SGLang, llama.cpp's server, TGI, Hugging Face TEI, Ollama's /v1
// and others).
//
// A Client is built once per process around the provider's pooled
// *http.Client (clients.NewHTTPClient) and is safe for concurrent use. It
// sends exactly one HTTP request per call and never retries: a failure is
// returned for the caller's retry layer to judge. A non-2xx answer becomes a
// *clients.APIError (with the provider's error type and code, Retry-After
// and x-ratelimit-* headers); a request that no server could accept is
// refused before sending with an error wrapping ErrInvalidRequest. No error
// holds the API key or an input text.
//
// Vectors are asked for as base64 (encoding_format "base64"), about a
// quarter of the bytes of a JSON float array and decoded without parsing
// numbers; servers that ignore the encoding and send JSON arrays are
// understood too.
//
// Generation (Chat, Complete) forwards the caller's JSON body as it is,
// filling in only a missing model and, for a stream, stream_options
// .include_usage. A streamed answer (server-sent events) is read to its
// "data: [DONE]" and assembled into the body a non-streamed answer would
// have had; a stream cut before it is an error wrapping
// clients.ErrIncompleteStream, an error event a *clients.StreamError.
// Answers are bounded by Config.MaxAnswerBytes.
package openai
