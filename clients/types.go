package clients

// EmbedRequest asks a provider for one vector per input.
type EmbedRequest struct {
	// Model names the embedding model; empty means the client's default.
	Model string
	// Input holds the texts, in order. Providers limit how many one request
	// may carry (OpenAI: 2048).
	Input []string
	// Dimensions, when positive, asks for shortened vectors (OpenAI
	// text-embedding-3 models; passed through to compatible servers).
	Dimensions int
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
