package tasks

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/llmq/llmq/clients"
)

func TestEmbedResultRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   clients.Embeddings
	}{
		{"one vector", clients.Embeddings{Model: "m", InputTokens: 3, Vectors: [][]float32{{1, -2.5, 3.25}}}},
		{"several vectors", clients.Embeddings{Model: "text-embedding-3-small", InputTokens: 99,
			Vectors: [][]float32{{0.1, 0.2}, {float32(math.Inf(1)), -0}, {math.SmallestNonzeroFloat32, math.MaxFloat32}}}},
		{"no vectors", clients.Embeddings{Model: ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := EncodeEmbedResult(&tt.in)
			if err != nil {
				t.Fatal(err)
			}
			dim := 0
			if len(tt.in.Vectors) > 0 {
				dim = len(tt.in.Vectors[0])
			}
			if want := embedHeaderSize + len(tt.in.Model) + 4*len(tt.in.Vectors)*dim; len(b) != want {
				t.Errorf("encoded size = %d, want %d", len(b), want)
			}
			got, err := DecodeEmbedResult(b)
			if err != nil {
				t.Fatal(err)
			}
			if got.Model != tt.in.Model || got.InputTokens != tt.in.InputTokens || len(got.Vectors) != len(tt.in.Vectors) {
				t.Fatalf("got %+v, want %+v", got, tt.in)
			}
			for i := range got.Vectors {
				for j := range got.Vectors[i] {
					if math.Float32bits(got.Vectors[i][j]) != math.Float32bits(tt.in.Vectors[i][j]) {
						t.Errorf("vector %d[%d] = %v, want %v", i, j, got.Vectors[i][j], tt.in.Vectors[i][j])
					}
				}
			}
		})
	}
}

func TestEncodeEmbedResultRejectsRaggedVectors(t *testing.T) {
	_, err := EncodeEmbedResult(&clients.Embeddings{Vectors: [][]float32{{1, 2}, {3}}})
	if err == nil {
		t.Fatal("ragged vectors encoded without error")
	}
}

func TestDecodeEmbedResultMalformed(t *testing.T) {
	good, err := EncodeEmbedResult(&clients.Embeddings{Model: "m", Vectors: [][]float32{{1, 2}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"JSON", []byte(`{"embedding":[1,2]}`)},
		{"truncated", good[:len(good)-1]},
		{"extra byte", append(append([]byte{}, good...), 0)},
		{"wrong magic", append([]byte("LQE9"), good[4:]...)},
		{"failures claimed but absent", append([]byte(embedMagicErrors), good[4:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeEmbedResult(tt.in); !errors.Is(err, ErrBadResult) {
				t.Fatalf("err = %v, want ErrBadResult", err)
			}
		})
	}
}

func TestEmbedResultWithErrors(t *testing.T) {
	tests := []struct {
		name    string
		vectors [][]float32
		errs    []TextError
	}{
		{"middle failed", [][]float32{{1, 2}, nil, {3, 4}}, []TextError{{Index: 1, Status: 400, Reason: "openai: HTTP 400: bad input"}}},
		{"all failed", [][]float32{nil, nil}, []TextError{{Index: 0, Status: 400, Reason: "a"}, {Index: 1, Reason: ""}}},
		{"long reason cut", [][]float32{nil}, []TextError{{Index: 0, Status: 422, Reason: strings.Repeat("x", 2*maxReason)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := encodeEmbedResult("m", 7, tt.vectors, tt.errs)
			if err != nil {
				t.Fatal(err)
			}
			if string(b[:4]) != embedMagicErrors {
				t.Errorf("magic %q, want %q", b[:4], embedMagicErrors)
			}
			got, err := DecodeEmbedResult(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Vectors) != len(tt.vectors) || len(got.Errors) != len(tt.errs) || got.InputTokens != 7 {
				t.Fatalf("got %+v", got)
			}
			for i, v := range tt.vectors {
				if (v == nil) != (got.Vectors[i] == nil) || (v != nil && !slices.Equal(v, got.Vectors[i])) {
					t.Errorf("vector %d = %v, want %v", i, got.Vectors[i], v)
				}
				if (v == nil) != (got.Err(i) != nil) {
					t.Errorf("Err(%d) = %v", i, got.Err(i))
				}
			}
			for i, e := range tt.errs {
				want := e
				if len(want.Reason) > maxReason {
					want.Reason = want.Reason[:maxReason]
				}
				if got.Errors[i] != want {
					t.Errorf("error %d = %+v, want %+v", i, got.Errors[i], want)
				}
			}
		})
	}
}

func TestEstimateTokens(t *testing.T) {
	tests := []struct {
		name string
		text string
		want int
	}{
		{"empty", "", 0},
		{"one byte", "a", 1},
		{"three ascii bytes", "abc", 1},
		{"four ascii bytes", "abcd", 2},
		{"CJK", "日本語", 6},
		{"accented", "é", 2},
		{"bounded by bytes", "\u00e9\u00e9", 4},
		{"prose", "The quick brown fox jumps over the lazy dog.", 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EstimateTokens(tt.text); got != tt.want {
				t.Errorf("EstimateTokens(%q) = %d, want %d", tt.text, got, tt.want)
			}
			if got := EstimateTokens(tt.text); got > len(tt.text) {
				t.Errorf("estimate %d above the byte count %d", got, len(tt.text))
			}
		})
	}
}

func TestShareTokens(t *testing.T) {
	tests := []struct {
		name    string
		total   int
		weights []int
		want    []int
	}{
		{"even", 9, []int{1, 1, 1}, []int{3, 3, 3}},
		{"remainders add up", 10, []int{1, 1, 1}, []int{4, 3, 3}},
		{"by weight", 7, []int{6, 1}, []int{6, 1}},
		{"failed parts get none", 5, []int{3, 0, 2}, []int{3, 0, 2}},
		{"no weight", 5, []int{0, 0}, []int{0, 0}},
		{"no tokens", 0, []int{4, 4}, []int{0, 0}},
		{"fewer tokens than parts", 2, []int{1, 1, 1, 1}, []int{1, 1, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ShareTokens(tt.total, tt.weights); !slices.Equal(got, tt.want) {
				t.Errorf("ShareTokens(%d, %v) = %v, want %v", tt.total, tt.weights, got, tt.want)
			}
		})
	}
}

// TestRawEmbedResult checks that DecodeRawEmbedResult agrees with
// DecodeEmbedResult: the same header and failures, each vector's stored
// bytes the little-endian bits of the decoded floats, and AppendVector
// those floats.
func TestRawEmbedResult(t *testing.T) {
	tests := []struct {
		name    string
		vectors [][]float32
		errs    []TextError
	}{
		{"no failures", [][]float32{{1, -2.5, 3.25}, {float32(math.NaN()), float32(math.Inf(-1)), math.SmallestNonzeroFloat32}}, nil},
		{"first and last failed", [][]float32{nil, {1, 2, 3}, {4, 5, 6}, nil}, []TextError{{Index: 0, Status: 400, Reason: "a"}, {Index: 3, Reason: "b"}}},
		{"middle failed", [][]float32{{1, 2, 3}, nil, {-0, 0.1, 7}}, []TextError{{Index: 1, Status: 500}}},
		{"all failed", [][]float32{nil}, []TextError{{Index: 0}}},
		{"no vectors", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := encodeEmbedResult("model", 11, tt.vectors, tt.errs)
			if err != nil {
				t.Fatal(err)
			}
			want, err := DecodeEmbedResult(b)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeRawEmbedResult(b)
			if err != nil {
				t.Fatal(err)
			}
			if got.Model != want.Model || got.InputTokens != want.InputTokens || got.Texts != len(want.Vectors) ||
				!slices.Equal(got.Errors, want.Errors) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
			for i, v := range want.Vectors {
				raw := got.Vector(i)
				if (v == nil) != (raw == nil) || (got.Err(i) == nil) != (want.Err(i) == nil) {
					t.Fatalf("text %d: vector %v, raw %x, Err %v", i, v, raw, got.Err(i))
				}
				if v == nil {
					continue
				}
				if got.Dims != len(v) || len(raw) != 4*len(v) {
					t.Fatalf("text %d: %d raw bytes, Dims %d, for %d floats", i, len(raw), got.Dims, len(v))
				}
				for j, f := range v {
					if bits := uint32(raw[4*j]) | uint32(raw[4*j+1])<<8 | uint32(raw[4*j+2])<<16 | uint32(raw[4*j+3])<<24; bits != math.Float32bits(f) {
						t.Errorf("text %d[%d]: raw bits %#x, decoded %#x", i, j, bits, math.Float32bits(f))
					}
				}
				floats := got.AppendVector([]float32{42}, i)
				if len(floats) != 1+len(v) || floats[0] != 42 {
					t.Fatalf("text %d: AppendVector = %v", i, floats)
				}
				for j, f := range v {
					if math.Float32bits(floats[1+j]) != math.Float32bits(f) {
						t.Errorf("text %d[%d]: AppendVector %v, decoded %v", i, j, floats[1+j], f)
					}
				}
			}
		})
	}
}
