package tasks

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/pkoukk/tiktoken-go"
	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"
)

// MaxTextBytes is the longest text, in bytes, that producers and the
// embed handler accept whatever the model: the longest input line of a
// job (job.MaxLineBytes). No embedding model takes a text near it.
const MaxTextBytes = 1 << 20

// OpenAI tokenizers that CountTokens knows.
const (
	EncodingCL100K = "cl100k_base"
	EncodingO200K  = "o200k_base"
)

// Encoding returns the tokenizer of an OpenAI model: cl100k_base for the
// embedding models (text-embedding-3-*, text-embedding-ada-002, and the
// worker's default model, which a payload of provider openai without a
// model gets), o200k_base for the gpt-4o family; "" for any other model,
// whose tokens are not counted.
func Encoding(provider, model string) string {
	switch {
	case model == "" && (provider == "" || provider == ProviderOpenAI):
		return EncodingCL100K
	case strings.HasPrefix(model, "text-embedding-3-"), model == "text-embedding-ada-002":
		return EncodingCL100K
	case strings.HasPrefix(model, "gpt-4o"), strings.HasPrefix(model, "chatgpt-4o"):
		return EncodingO200K
	}
	return ""
}

var (
	loaderOnce sync.Once
	encMu      sync.Mutex
	encodings  = map[string]*tiktoken.Tiktoken{}
)

// tokenizer returns the named tokenizer, loading it on first use from the
// vocabularies compiled into the binary (tiktoken-go-loader): nothing is
// fetched.
func tokenizer(name string) (*tiktoken.Tiktoken, error) {
	loaderOnce.Do(func() { tiktoken.SetBpeLoader(tiktokenloader.NewOfflineLoader()) })
	encMu.Lock()
	defer encMu.Unlock()
	if t, ok := encodings[name]; ok {
		return t, nil
	}
	t, err := tiktoken.GetEncoding(name)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", name, err)
	}
	encodings[name] = t
	return t, nil
}

// CountTokens returns the exact number of tokens text holds in the named
// tokenizer (Encoding), special-token markers counted as plain text.
func CountTokens(encoding, text string) (int, error) {
	t, err := tokenizer(encoding)
	if err != nil {
		return 0, err
	}
	return len(t.EncodeOrdinary(text)), nil
}

// TokenCheck is the outcome of CheckTokens.
type TokenCheck struct {
	// Tokens is the count: estimated (EstimateTokens) unless Exact.
	Tokens int
	// Exact is true when Tokens was counted with the model's tokenizer.
	Exact bool
	// Over is true when the text is known to exceed the limit.
	Over bool
}

// CheckTokens checks that texts, together, hold at most limit tokens for
// the model of encoding (Encoding). The estimate comes first and costs
// little: within it, the texts are accepted. Above it they are counted
// exactly with the model's tokenizer, and refused only if that count is
// over the limit too. Without a tokenizer (encoding "") the texts are
// never refused on the estimate: the provider's answer decides, and the
// embed handler isolates a text it rejects.
func CheckTokens(encoding string, limit int, texts ...string) TokenCheck {
	n := 0
	for _, t := range texts {
		n += EstimateTokens(t)
	}
	if n <= limit || encoding == "" {
		return TokenCheck{Tokens: n}
	}
	exact := 0
	for _, t := range texts {
		c, err := CountTokens(encoding, t)
		if err != nil {
			// The vocabulary is compiled in: this does not happen, and
			// then the estimate stands.
			return TokenCheck{Tokens: n, Over: true}
		}
		exact += c
	}
	return TokenCheck{Tokens: exact, Exact: true, Over: exact > limit}
}

// checkText reports why the embed handler does not send text to the
// provider: larger than MaxTextBytes, or more than MaxInputTokens for a
// model whose tokenizer is known. The reason reads as enqueue's.
func checkText(p EmbedPayload, text string) error {
	if len(text) > MaxTextBytes {
		return fmt.Errorf("%w: text of %d bytes, at most %d (not sent)", ErrTextTooLong, len(text), MaxTextBytes)
	}
	if c := CheckTokens(Encoding(p.provider(), p.Model), MaxInputTokens, text); c.Over {
		return fmt.Errorf("%w: %d tokens, at most %d (not sent)", ErrTextTooLong, c.Tokens, MaxInputTokens)
	}
	return nil
}

// ErrTextTooLong marks a text the embed handler refused to send.
var ErrTextTooLong = errors.New("text too long")
