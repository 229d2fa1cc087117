package config

import "fmt"

// Generation configures generation tasks and jobs.
type Generation struct {
	// Provider is where generation goes when a task or command names no
	// provider: "openai" (any OpenAI-compatible server: chat completions)
	// or "ollama" (Ollama's native API). The worker uses it for payloads
	// without a provider, enqueue as the default of generate --provider.
	// Default "openai".
	Provider string `env:"GENERATION_PROVIDER" envDefault:"openai" help:"generation provider when a task names none: openai or ollama"`
}

// Validate reports an unknown Provider as an *Error.
func (c Generation) Validate() error {
	switch c.Provider {
	case "openai", "ollama":
		return nil
	}
	return errorf("GENERATION_PROVIDER", fmt.Sprintf("must be openai or ollama (got %q)", c.Provider))
}
