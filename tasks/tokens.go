package tasks

import "unicode/utf8"

// OpenAI's limits on one embeddings request, which the producers and the
// embed handler keep to.
const (
	// MaxInputTokens is the most tokens one input may hold.
	MaxInputTokens = 8192
	// MaxRequestTokens is the most tokens one request may hold, all inputs
	// together.
	MaxRequestTokens = 300_000
)

// EstimateTokens returns a conservative estimate of the tokens text holds
// for OpenAI's tokenizers (cl100k_base, o200k_base), without a tokenizer:
// one token per started run of 3 ASCII bytes plus 2 tokens per non-ASCII
// character, but never more than the text's UTF-8 length, which bounds the
// true count because every token is at least one byte.
//
// Why these ratios: English prose averages about 4 bytes per token and
// source code about 3, so 3 ASCII bytes per token over-counts both; CJK
// text averages 1 to 1.5 tokens per character and accented letters or
// emoji rarely take more than 2, so 2 per non-ASCII character over-counts
// those. Text made to defeat a tokenizer (long runs of punctuation, say)
// can hold more tokens than estimated. The cost of an under-estimate is
// bounded: the provider rejects the request with a 400, and the handler
// splits the batch until the too-long text stands alone and is reported as
// failed (see EmbedHandler).
func EstimateTokens(text string) int {
	ascii, other := 0, 0
	for i := 0; i < len(text); {
		if text[i] < utf8.RuneSelf {
			ascii++
			i++
			continue
		}
		_, size := utf8.DecodeRuneInString(text[i:])
		other++
		i += size
	}
	return min((ascii+2)/3+2*other, len(text))
}

// ShareTokens shares a request's total token count among its parts in
// proportion to their weights (their texts' lengths, say), by largest
// remainder, so that the shares add up to total. A part of weight 0 (a
// failed text) gets none; when every weight is 0, every share is.
func ShareTokens(total int, weights []int) []int {
	shares := make([]int, len(weights))
	sum := 0
	for _, w := range weights {
		sum += w
	}
	if total <= 0 || sum == 0 {
		return shares
	}
	given := 0
	rem := make([]float64, len(weights))
	for i, w := range weights {
		exact := float64(total) * float64(w) / float64(sum)
		shares[i] = int(exact)
		rem[i] = exact - float64(shares[i])
		given += shares[i]
	}
	for left := total - given; left > 0; left-- {
		best := -1
		for i := range rem {
			if weights[i] > 0 && (best < 0 || rem[i] > rem[best]) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		shares[best]++
		rem[best] = -1
	}
	return shares
}
