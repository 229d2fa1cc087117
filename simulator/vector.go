package simulator

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
)

// Vector returns the embedding of text with dim components; nil when dim is
// not positive. It is a pure function: the same text and dim always give the
// same vector, bit for bit, and the result has unit length.
//
// The algorithm is fixed, so other tools can reproduce it: the first 8 bytes
// of SHA-256(text), read little-endian, seed a SplitMix64 stream; component i
// is 2*(x>>11)/2^53 - 1 for the stream's i-th output x; the components are
// normalised to unit length in float64 and then rounded to float32. A shorter
// vector of the same text is therefore a prefix of a longer one, renormalised,
// as with OpenAI's shortened text-embedding-3 vectors.
func Vector(text string, dim int) []float32 {
	if dim <= 0 {
		return nil
	}
	start := seedOf(text)
	rng := start
	var sum float64
	for range dim {
		x := unit(rng.next())
		sum += x * x
	}
	out := make([]float32, dim)
	norm := math.Sqrt(sum)
	if norm == 0 {
		out[0] = 1 // unreachable in practice: every component would have to be 0
		return out
	}
	rng = start
	for i := range out {
		out[i] = float32(unit(rng.next()) / norm)
	}
	return out
}

// Tokens estimates how many tokens text holds: (len(text)+3)/4, which is 0
// for the empty string and at least 1 otherwise. Bytes, not runes, are
// counted, matching the rough four-bytes-per-token rule of thumb.
func Tokens(text string) int {
	return (len(text) + 3) / 4
}

// DefaultTokens is the number of tokens the server generates when a request
// does not say.
const DefaultTokens = 8

// Completion returns n generated tokens for prompt; nil when n is not
// positive. Each token is an English word followed by one space, picked from
// a fixed vocabulary by a SplitMix64 stream seeded as in Vector, so the same
// prompt always gets the same words and a longer completion extends a
// shorter one.
func Completion(prompt string, n int) []string {
	if n <= 0 {
		return nil
	}
	rng := seedOf(prompt)
	out := make([]string, n)
	for i := range out {
		out[i] = vocabulary[rng.next()%uint64(len(vocabulary))] + " "
	}
	return out
}

// vocabulary holds the words Completion draws from.
var vocabulary = [...]string{
	"the", "a", "queue", "worker", "batch", "vector", "token", "model",
	"request", "answer", "system", "data", "result", "value", "time", "job",
	"retry", "stream", "server", "client", "input", "output", "text", "word",
	"fast", "slow", "small", "large", "first", "next", "last", "every",
	"is", "was", "runs", "sends", "waits", "reads", "writes", "returns",
	"and", "or", "but", "so", "then", "when", "while", "because",
	"of", "to", "in", "on", "with", "from", "for", "by",
	"one", "two", "many", "all", "some", "more", "less", "each",
}

// splitMix64 is Steele, Lea and Flood's SplitMix64 generator. Its output is
// fully specified, unlike math/rand's, which keeps Vector stable.
type splitMix64 uint64

func (s *splitMix64) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// seedOf returns the stream for text: its SHA-256's first 8 bytes.
func seedOf(text string) splitMix64 {
	sum := sha256.Sum256([]byte(text))
	return splitMix64(binary.LittleEndian.Uint64(sum[:8]))
}

// unit maps x to [-1, 1) using its top 53 bits.
func unit(x uint64) float64 {
	return float64(x>>11)/(1<<53)*2 - 1
}
