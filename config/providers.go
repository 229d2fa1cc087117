package config

import (
	"time"

	"github.com/llmq/llmq/clients/ollama"
	"github.com/llmq/llmq/clients/openai"
)

// clientDefaults holds the defaults of variables that the provider clients
// define for their zero Config fields, so that each is written once. Load
// and Usage treat them as envDefault tags.
var clientDefaults = map[string]string{
	"OPENAI_BASE_URL":        openai.DefaultBaseURL,
	"OPENAI_EMBEDDING_MODEL": openai.DefaultModel,
	"OPENAI_CHAT_MODEL":      openai.DefaultChatModel,
	"OLLAMA_HOST":            ollama.DefaultHost,
	"OLLAMA_MODEL":           ollama.DefaultModel,
	"OLLAMA_EMBEDDING_MODEL": ollama.DefaultEmbeddingModel,
}

// OpenAI configures the OpenAI (or OpenAI-compatible) embeddings client.
type OpenAI struct {
	// BaseURL is the API root, with scheme http or https. Default
	// openai.DefaultBaseURL (https://api.openai.com/v1).
	BaseURL string `env:"OPENAI_BASE_URL" help:"OpenAI-compatible API root URL (http or https)"`
	// APIKey is sent as a bearer token. It is secret: never printed, logged
	// or put in an error. No default.
	APIKey string `env:"OPENAI_API_KEY" secret:"true" help:"OpenAI API key, sent as a bearer token"`
	// EmbeddingModel is the model embedding requests name. Default
	// openai.DefaultModel (text-embedding-3-small).
	EmbeddingModel string `env:"OPENAI_EMBEDDING_MODEL" help:"OpenAI embedding model"`
	// ChatModel is the model of generation requests (chat and text
	// completions) whose body names none. Default openai.DefaultChatModel
	// (gpt-4o-mini).
	ChatModel string `env:"OPENAI_CHAT_MODEL" help:"OpenAI generation model (chat and text completions)"`
	// MaxConns caps the connections to the API host; requests beyond it
	// wait. 0 means no cap. Default 100.
	MaxConns int `env:"OPENAI_MAX_CONNS" envDefault:"100" help:"cap on connections to the OpenAI host (0: no cap)"`
	// MaxIdleConns is how many idle connections are kept for reuse; at most
	// MaxConns when MaxConns is set. 0 means the HTTP client's default.
	// Default 20.
	MaxIdleConns int `env:"OPENAI_MAX_IDLE_CONNS" envDefault:"20" help:"idle connections kept for reuse (at most OPENAI_MAX_CONNS)"`
	// Timeout bounds one request, response body included. Default 30s.
	Timeout time.Duration `env:"OPENAI_TIMEOUT" envDefault:"30s" help:"timeout of one OpenAI request, response body included"`
	// GenerationTimeout bounds one chat or text completion request,
	// response body (or stream) included, in place of Timeout: a long
	// answer at tens of milliseconds per token takes minutes. The task's
	// own timeout (10 min) bounds it too. Default 10m.
	GenerationTimeout time.Duration `env:"OPENAI_GENERATION_TIMEOUT" envDefault:"10m" help:"timeout of one OpenAI chat or text completion request, answer included"`
	// RPM caps the requests sent to OpenAI per minute, by all workers on
	// the same Redis together. 0 means no limit. Default 0.
	RPM int `env:"OPENAI_RPM" envDefault:"0" help:"requests per minute to OpenAI, shared by every worker (0: no limit)"`
	// TPM caps the tokens sent to OpenAI per minute (estimated before a
	// request, corrected from the reported usage), by all workers
	// together. 0 means no limit. Default 0.
	TPM int `env:"OPENAI_TPM" envDefault:"0" help:"tokens per minute to OpenAI, shared by every worker (0: no limit)"`
}

// Validate reports the first unusable field as an *Error.
func (c OpenAI) Validate() error {
	return firstError(
		checkHTTPURL("OPENAI_BASE_URL", c.BaseURL),
		checkToken("OPENAI_API_KEY", c.APIKey),
		checkNotEmpty("OPENAI_EMBEDDING_MODEL", c.EmbeddingModel),
		checkNotEmpty("OPENAI_CHAT_MODEL", c.ChatModel),
		checkNotNegative("OPENAI_MAX_CONNS", c.MaxConns),
		checkNotNegative("OPENAI_MAX_IDLE_CONNS", c.MaxIdleConns),
		checkIdleConns("OPENAI_MAX_IDLE_CONNS", c.MaxIdleConns, "OPENAI_MAX_CONNS", c.MaxConns),
		checkPositive("OPENAI_TIMEOUT", c.Timeout),
		checkPositive("OPENAI_GENERATION_TIMEOUT", c.GenerationTimeout),
		checkNotNegative("OPENAI_RPM", c.RPM),
		checkNotNegative("OPENAI_TPM", c.TPM),
	)
}

// Ollama configures the Ollama client, used for generation and embeddings.
type Ollama struct {
	// Host is the server's root URL, with scheme http or https. Default
	// ollama.DefaultHost (http://127.0.0.1:11434).
	Host string `env:"OLLAMA_HOST" help:"Ollama server URL (http or https)"`
	// Model is the generation model. Default ollama.DefaultModel
	// (llama3.2).
	Model string `env:"OLLAMA_MODEL" help:"Ollama generation model"`
	// EmbeddingModel is the embedding model. Default
	// ollama.DefaultEmbeddingModel (nomic-embed-text).
	EmbeddingModel string `env:"OLLAMA_EMBEDDING_MODEL" help:"Ollama embedding model"`
	// MaxConns caps the connections to the server; requests beyond it wait.
	// 0 means no cap. Default 50.
	MaxConns int `env:"OLLAMA_MAX_CONNS" envDefault:"50" help:"cap on connections to the Ollama server (0: no cap)"`
	// MaxIdleConns is how many idle connections are kept for reuse; at most
	// MaxConns when MaxConns is set. 0 means the HTTP client's default.
	// Default 10.
	MaxIdleConns int `env:"OLLAMA_MAX_IDLE_CONNS" envDefault:"10" help:"idle connections kept for reuse (at most OLLAMA_MAX_CONNS)"`
	// Timeout bounds one request, response body included; generation without
	// streaming answers only when done. Default 120s.
	Timeout time.Duration `env:"OLLAMA_TIMEOUT" envDefault:"120s" help:"timeout of one Ollama request, response body included"`
	// RPM caps the requests sent to Ollama per minute, by all workers on
	// the same Redis together. 0 means no limit. Default 0.
	RPM int `env:"OLLAMA_RPM" envDefault:"0" help:"requests per minute to Ollama, shared by every worker (0: no limit)"`
	// TPM caps the tokens sent to Ollama per minute, by all workers
	// together. 0 means no limit. Default 0.
	TPM int `env:"OLLAMA_TPM" envDefault:"0" help:"tokens per minute to Ollama, shared by every worker (0: no limit)"`
}

// Validate reports the first unusable field as an *Error.
func (c Ollama) Validate() error {
	return firstError(
		checkHTTPURL("OLLAMA_HOST", c.Host),
		checkNotEmpty("OLLAMA_MODEL", c.Model),
		checkNotEmpty("OLLAMA_EMBEDDING_MODEL", c.EmbeddingModel),
		checkNotNegative("OLLAMA_MAX_CONNS", c.MaxConns),
		checkNotNegative("OLLAMA_MAX_IDLE_CONNS", c.MaxIdleConns),
		checkIdleConns("OLLAMA_MAX_IDLE_CONNS", c.MaxIdleConns, "OLLAMA_MAX_CONNS", c.MaxConns),
		checkPositive("OLLAMA_TIMEOUT", c.Timeout),
		checkNotNegative("OLLAMA_RPM", c.RPM),
		checkNotNegative("OLLAMA_TPM", c.TPM),
	)
}
