package clients

import (
	"math"
	"strings"
	"testing"
)

// TestCheckFinite checks checkFinite against math's own NaN and infinity
// tests over float32 bit patterns: every exponent with mantissas at its
// edges, and a stride through all 2^32.
func TestCheckFinite(t *testing.T) {
	var patterns []uint32
	for e := uint32(0); e < 256; e++ {
		for _, m := range []uint32{0, 1, 2, 1 << 22, 1<<23 - 2, 1<<23 - 1} {
			patterns = append(patterns, e<<23|m, 1<<31|e<<23|m)
		}
	}
	for b := uint64(0); b < 1<<32; b += 65521 {
		patterns = append(patterns, uint32(b))
	}
	for _, b := range patterns {
		x := math.Float32frombits(b)
		bad := math.IsNaN(float64(x)) || math.IsInf(float64(x), 0)
		err := checkFinite([][]float32{{0.5, -1}, {2, x, 3}})
		if (err != nil) != bad {
			t.Fatalf("checkFinite of %v (%#08x) = %v, want an error: %t", x, b, err, bad)
		}
		if bad && !strings.HasPrefix(err.Error(), "vector 1: value 1 is ") {
			t.Fatalf("checkFinite of %v: %q, want it to name vector 1, value 1", x, err)
		}
	}
}

func BenchmarkCheckFinite(b *testing.B) {
	vectors := make([][]float32, 128)
	for i := range vectors {
		vectors[i] = make([]float32, 1536)
		for j := range vectors[i] {
			vectors[i][j] = float32(math.Sin(float64(i*1536 + j)))
		}
	}
	b.SetBytes(128 * 1536 * 4)
	for b.Loop() {
		if err := checkFinite(vectors); err != nil {
			b.Fatal(err)
		}
	}
}
