package clients

import (
	"encoding/json"
	"errors"
	"fmt"
)

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
	// Alloc, when set, provides the memory the answer's vectors are
	// decoded into. A client that decodes them in place calls it at most
	// once per answer, with the number of float32s of all its vectors,
	// and uses the slice it returns, of that length, as their backing
	// array; other clients never call it. The memory is the caller's
	// again once it is done with the vectors.
	Alloc func(n int) []float32
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
// dims is not positive): not one vector per input, a vector that is
// empty or of another length, or a value that is NaN or infinite.
func CheckVectors(vectors [][]float32, inputs, dims int) error {
	if err := CheckShapes(vectors, inputs, dims); err != nil {
		return err
	}
	return checkFinite(vectors)
}

// CheckShapes is CheckVectors without the check of values (CheckFinite).
func CheckShapes(vectors [][]float32, inputs, dims int) error {
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

// CompletionRequest is an OpenAI-shaped generation request (chat or text
// completion) whose body the client forwards as it is.
type CompletionRequest struct {
	// Body is the JSON request object: model, messages or prompt,
	// temperature, max_tokens, tools, response_format and any other field,
	// known or not. It is sent unchanged, byte for byte, except that a
	// missing, null or empty "model" is set to the client's default and,
	// for a streamed request, "stream" is set to true and
	// "stream_options.include_usage" to true (keeping the other stream
	// options).
	Body json.RawMessage
	// Stream asks for a streamed answer (server-sent events) even when Body
	// does not say "stream": true; a Body that says it streams too. Either
	// way the parts are assembled into one Completion.
	Stream bool
}

// Completion is a provider's complete answer to a CompletionRequest.
type Completion struct {
	// Body is the provider's answer body as it came for a non-streamed
	// answer; for a streamed one, a body of the non-streamed shape
	// ("chat.completion" or "text_completion") assembled from the chunks.
	Body json.RawMessage
	// ID is the answer's id ("chatcmpl-...", "cmpl-...").
	ID string
	// Model is the model that answered, as the provider names it.
	Model string
	// Text and FinishReason are those of the first choice (index 0): the
	// assistant message's content for a chat, the text for a completion.
	Text         string
	FinishReason string
	// Choices holds every choice, in index order.
	Choices []CompletionChoice
	// InputTokens and OutputTokens are the provider's usage counts (0 if
	// not reported).
	InputTokens  int
	OutputTokens int
	// Streamed reports whether the answer came as a stream.
	Streamed bool
}

// CompletionChoice is one choice of a Completion.
type CompletionChoice struct {
	Index        int
	Text         string
	FinishReason string
}

// FinishReasons returns the finish reason of every choice, in index order.
func (c *Completion) FinishReasons() []string {
	out := make([]string, len(c.Choices))
	for i, ch := range c.Choices {
		out[i] = ch.FinishReason
	}
	return out
}

// ErrIncompleteStream marks a streamed answer that ended before its end
// marker (OpenAI's "data: [DONE]"): the connection was cut or the server
// stopped early. The answer is lost; sending the request again may succeed.
var ErrIncompleteStream = errors.New("stream ended before its end marker")

// ErrAnswerTooLarge marks an answer larger than the client's configured
// maximum; it was not read to the end.
var ErrAnswerTooLarge = errors.New("answer too large")

// StreamError is an error event a provider sent in the middle of a streamed
// answer, after its 2xx status. It never holds request text or credentials.
type StreamError struct {
	// Provider names the provider ("openai").
	Provider string
	// Type, Code and Message come from the event's error object.
	Type    string
	Code    string
	Message string
}

func (e *StreamError) Error() string {
	return describe(e.Provider+": error event in stream", e.Type, e.Code, e.Message)
}

// Permanent reports whether repeating the request cannot succeed: an
// exhausted quota or an invalid request. Other stream errors (server
// errors, overload) are not permanent.
func (e *StreamError) Permanent() bool {
	return quotaExhausted(e.Type, e.Code) || e.Type == "invalid_request_error"
}
