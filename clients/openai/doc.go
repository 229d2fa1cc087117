// Package openai is a client for the embeddings endpoint of the OpenAI API
// and of servers that speak it (vLLM, Hugging Face TEI, Ollama's /v1 and
// others).
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
package openai
