package simulator

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestBase64EmbeddingsAsJSON checks that writeBase64Embeddings writes the
// very bytes encoding/json writes for the same embeddingList.
func TestBase64EmbeddingsAsJSON(t *testing.T) {
	for _, tt := range []struct {
		name   string
		model  string
		inputs []string
		dim    int
	}{
		{"one", DefaultModel, []string{"hello"}, 8},
		{"several", "text-embedding-3-small", []string{"a", "second text", "ünïcödé ✓"}, 1536},
		{"model needing escapes", `m<&>"\` + "\u2028", []string{"x"}, 3},
		{"odd dimensions", "m", []string{"x", "y"}, 7},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := httptest.NewRecorder()
			list := embeddingList{Object: "list", Data: make([]embedding, len(tt.inputs)), Model: tt.model}
			for i, in := range tt.inputs {
				list.Data[i] = embedding{Object: "embedding", Index: i, Embedding: encodeBase64(Vector(in, tt.dim))}
				list.Usage.PromptTokens += Tokens(in)
			}
			list.Usage.TotalTokens = list.Usage.PromptTokens
			writeJSON(want, http.StatusOK, list)

			got := httptest.NewRecorder()
			writeBase64Embeddings(got, tt.model, tt.inputs, tt.dim)
			if got.Code != want.Code || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
				t.Errorf("status %d, type %q; want %d, %q", got.Code, got.Header().Get("Content-Type"), want.Code, want.Header().Get("Content-Type"))
			}
			if got.Body.String() != want.Body.String() {
				t.Errorf("body\n%s\nwant\n%s", got.Body, want.Body)
			}
		})
	}
}

// encodeBase64 returns the standard base64 of v's little-endian bytes, the
// form OpenAI sends for encoding_format=base64.
func encodeBase64(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(b)
}
