// Package ollama is a client for Ollama's native API: embeddings
// (/api/embed) and generation (/api/generate for a prompt, /api/chat for a
// conversation), streamed or not.
//
// A Client is built once per process around the provider's pooled
// *http.Client (clients.NewHTTPClient) and is safe for concurrent use. It
// sends exactly one HTTP request per call and never retries. A non-2xx
// answer becomes a *clients.APIError; an error Ollama reports in the middle
// of a stream, or a stream that ends before its final line, is a plain error
// (worth retrying). A request that cannot be valid is refused before sending
// with an error wrapping ErrInvalidRequest. No error holds a prompt, message
// or input text.
//
// Ollama over plain HTTP speaks HTTP/1.1, so each concurrent call holds its
// own connection: keep the pool's idle limit at or above the concurrency.
package ollama
