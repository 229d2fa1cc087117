// Package clients holds what every provider client shares: the pooled
// HTTP client constructor, the vocabulary of provider calls (embedding and
// generation requests and results), and the typed error a provider's
// non-2xx answer becomes.
//
// A process builds exactly one *http.Client per provider with NewHTTPClient
// at start-up and passes it to that provider's package (clients/openai,
// clients/ollama). Every goroutine shares it. Building a client or a
// transport per request throws away keep-alive and HTTP/2 and pays a
// TCP (and TLS) handshake on every call; nothing in this module does it.
//
// Provider clients never retry on their own: the task queue retries whole
// tasks, and one retry layer is enough. They classify failures instead, so
// the caller can tell a permanent failure (APIError.Permanent) from one worth
// retrying and can honour the provider's Retry-After (APIError.RetryAfter).
package clients
