package tasks

import (
	"errors"
	"math"
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
		{"wrong magic", append([]byte("LQE2"), good[4:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeEmbedResult(tt.in); !errors.Is(err, ErrBadResult) {
				t.Fatalf("err = %v, want ErrBadResult", err)
			}
		})
	}
}
