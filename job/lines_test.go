package job_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// embeddingLine is a Batch API output line of an embedding job; E is
// []float32 for float vectors, string for base64 ones.
type embeddingLine[E any] struct {
	CustomID string `json:"custom_id"`
	Response struct {
		Body struct {
			Data []struct {
				Embedding E `json:"embedding"`
			} `json:"data"`
		} `json:"body"`
	} `json:"response"`
}

// decodeLines decodes each line of out, JSON lines, as a T.
func decodeLines[T any](t *testing.T, out string) []T {
	t.Helper()
	var ts []T
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var v T
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("output line %d %q: %v", len(ts)+1, l, err)
		}
		ts = append(ts, v)
	}
	return ts
}
