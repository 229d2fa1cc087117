package simulator_test

import (
	"math"
	"strings"
	"testing"

	"github.com/llmq/llmq/simulator"
)

func TestVector(t *testing.T) {
	tests := []struct {
		name string
		text string
		dim  int
	}{
		{"short text default dim", "hello", 1536},
		{"unicode", "héllo wörld ✓", 256},
		{"one component", "x", 1},
		{"large", strings.Repeat("lorem ipsum ", 1000), 3072},
		{"with directive", "hello sim:sleep=1s", 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := simulator.Vector(tt.text, tt.dim), simulator.Vector(tt.text, tt.dim)
			if len(a) != tt.dim {
				t.Fatalf("len = %d, want %d", len(a), tt.dim)
			}
			var sum float64
			for i := range a {
				if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
					t.Fatalf("component %d differs between calls: %v, %v", i, a[i], b[i])
				}
				if a[i] < -1 || a[i] > 1 {
					t.Fatalf("component %d = %v, outside [-1,1]", i, a[i])
				}
				sum += float64(a[i]) * float64(a[i])
			}
			if norm := math.Sqrt(sum); math.Abs(norm-1) > 1e-5 {
				t.Errorf("norm = %v, want 1", norm)
			}
		})
	}
}

func TestVectorDistinct(t *testing.T) {
	a, b := simulator.Vector("hello", 64), simulator.Vector("hello.", 64)
	var dot float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
	}
	if dot > 0.9 {
		t.Errorf("different texts give near-identical vectors: cosine %v", dot)
	}
}

// TestVectorPrefix checks that a shorter vector is the longer one's prefix,
// renormalised.
func TestVectorPrefix(t *testing.T) {
	long, short := simulator.Vector("prefix", 1536), simulator.Vector("prefix", 256)
	ratio := float64(short[0]) / float64(long[0])
	for i := range short {
		if got := float64(long[i]) * ratio; math.Abs(got-float64(short[i])) > 1e-6 {
			t.Fatalf("component %d: short %v, long*ratio %v", i, short[i], got)
		}
	}
}

// TestVectorGolden pins the algorithm: a change here changes every vector
// any stored fixture or benchmark baseline holds.
func TestVectorGolden(t *testing.T) {
	got := simulator.Vector("hello", 4)
	want := []uint32{0xbf31df5f, 0x3b3757ba, 0xbf3258be, 0xbe36d60e} // computed independently from the documented algorithm
	for i := range want {
		if math.Float32bits(got[i]) != want[i] {
			t.Errorf("Vector(\"hello\", 4)[%d] = %#x (%v), want %#x", i, math.Float32bits(got[i]), got[i], want[i])
		}
	}
}

func TestVectorNonPositiveDim(t *testing.T) {
	for _, dim := range []int{0, -1} {
		if v := simulator.Vector("x", dim); v != nil {
			t.Errorf("Vector(x, %d) = %v, want nil", dim, v)
		}
	}
}

func TestTokens(t *testing.T) {
	tests := []struct {
		name string
		text string
		want int
	}{
		{"empty", "", 0},
		{"one byte", "a", 1},
		{"four bytes", "abcd", 1},
		{"five bytes", "abcde", 2},
		{"multibyte counts bytes", "✓✓", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := simulator.Tokens(tt.text); got != tt.want {
				t.Errorf("Tokens(%q) = %d, want %d", tt.text, got, tt.want)
			}
		})
	}
}

func TestCompletion(t *testing.T) {
	tests := []struct {
		name   string
		prompt string
		n      int
	}{
		{"default count", "Why is the sky blue?", simulator.DefaultTokens},
		{"one", "hi", 1},
		{"many", "write a story", 500},
		{"zero", "hi", 0},
		{"negative", "hi", -3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := simulator.Completion(tt.prompt, tt.n)
			if len(got) != max(tt.n, 0) {
				t.Fatalf("len = %d, want %d", len(got), max(tt.n, 0))
			}
			again := simulator.Completion(tt.prompt, tt.n)
			for i, tok := range got {
				if tok != again[i] {
					t.Fatalf("token %d differs between calls: %q, %q", i, tok, again[i])
				}
				if len(tok) < 2 || !strings.HasSuffix(tok, " ") || strings.TrimSpace(tok) != tok[:len(tok)-1] {
					t.Fatalf("token %d = %q, want a word and one trailing space", i, tok)
				}
			}
			if longer := simulator.Completion(tt.prompt, tt.n+3); tt.n > 0 && strings.Join(longer[:tt.n], "") != strings.Join(got, "") {
				t.Errorf("a longer completion does not extend a shorter one")
			}
		})
	}
	if a, b := strings.Join(simulator.Completion("a", 16), ""), strings.Join(simulator.Completion("b", 16), ""); a == b {
		t.Errorf("different prompts give the same completion %q", a)
	}
}

func BenchmarkVector(b *testing.B) {
	for b.Loop() {
		simulator.Vector("The quick brown fox jumps over the lazy dog", simulator.DefaultDim)
	}
}
