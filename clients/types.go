package clients

import "fmt"

// MaxEmbedInputs is the most inputs one embeddings request may carry:
// OpenAI's limit, which llmq keeps to toward every provider.
const MaxEmbedInputs = 2048

// EmbedRequest asks a provider for one vector per input.
type EmbedRequest struct {
	// Model names the embedding model; empty means the client's default.
	Model string
	// Input holds the texts, in order. Providers limit how many one request
	// may carry (OpenAI: MaxEmbedInputs).
	Input []string
	// Dimensions, when positive, asks for shortened vectors (OpenAI
	// text-embedding-3 models; passed through to compatible servers).
	Dimensions int
}

// Validate reports why no provider could accept r, with an error wrapping
// ErrInvalidRequest: no inputs, more than maxInputs (when positive), or an
// empty input.
func (r EmbedRequest) Validate(maxInputs int) error {
	switch {
	case len(r.Input) == 0:
		return fmt.Errorf("%w: no inputs", ErrInvalidRequest)
	case maxInputs > 0 && len(r.Input) > maxInputs:
		return fmt.Errorf("%w: %d inputs, at most %d per request", ErrInvalidRequest, len(r.Input), maxInputs)
	}
	for i, s := range r.Input {
		if s == "" {
			return fmt.Errorf("%w: input %d is empty", ErrInvalidRequest, i)
		}
	}
	return nil
}

// Embeddings is a provider's answer to an EmbedRequest.
type Embeddings struct {
	// Model is the model that answered, as the provider names it.
	Model string
	// Vectors holds one vector per input, in input order.
	Vectors [][]float32
	// InputTokens is the provider's count of tokens read (0 if not reported).
	InputTokens int
}

// CheckVectors reports why vectors cannot be the answer to a request of
// inputs texts for vectors of dims dimensions (any number, all alike, when
// dims is not positive): not one vector per input, or a vector that is
// empty or of another length.
func CheckVectors(vectors [][]float32, inputs, dims int) error {
	if len(vectors) != inputs {
		return fmt.Errorf("%d vectors for %d inputs", len(vectors), inputs)
	}
	if inputs == 0 {
		return nil
	}
	want := dims
	if want <= 0 {
		want = len(vectors[0])
	}
	for i, v := range vectors {
		if len(v) == 0 || len(v) != want {
			return fmt.Errorf("vector %d has %d dimensions, want %d", i, len(v), want)
		}
	}
	return nil
}

// Message is one turn of a chat.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// GenerateRequest asks a provider for a completion: of Prompt when Messages
// is empty, otherwise of the chat in Messages.
type GenerateRequest struct {
	// Model names the generation model; empty means the client's default.
	Model string
	// Prompt is the text to complete (with System as its system prompt).
	Prompt string
	// System is an optional system prompt for Prompt.
	System string
	// Messages, when not empty, makes this a chat request.
	Messages []Message
	// Options are passed to the model as they are (temperature, seed,
	// num_predict, ...).
	Options map[string]any
	// Stream asks the provider to stream its answer; the client assembles
	// the parts into one Generation either way.
	Stream bool
}

// Generation is a provider's complete answer to a GenerateRequest.
type Generation struct {
	// Model is the model that answered.
	Model string `json:"model"`
	// Text is the generated text (the assistant message's content for chats).
	Text string `json:"text"`
	// DoneReason says why generation stopped ("stop", "length", ...), if told.
	DoneReason string `json:"done_reason,omitempty"`
	// InputTokens and OutputTokens are the provider's token counts.
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}
