package job

import (
	"encoding/base64"
	"math/rand/v2"
	"testing"
)

// TestAppendBase64Std compares appendBase64Std with the standard library
// on every length up to 300 bytes (every padding and tail), random bytes
// and all 256 byte values, appended to a prefix.
func TestAppendBase64Std(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	src := make([]byte, 300)
	for i := range src {
		src[i] = byte(r.Uint32())
	}
	for n := range len(src) + 1 {
		want := base64.StdEncoding.AppendEncode([]byte("prefix"), src[:n])
		if got := appendBase64Std([]byte("prefix"), src[:n]); string(got) != string(want) {
			t.Fatalf("%d bytes: %s, want %s", n, got, want)
		}
	}
	all := make([]byte, 256*3)
	for i := range all {
		all[i] = byte(i / 3 * (1 + i%3))
	}
	if got, want := appendBase64Std(nil, all), base64.StdEncoding.AppendEncode(nil, all); string(got) != string(want) {
		t.Fatalf("all bytes: %s, want %s", got, want)
	}
}

func FuzzAppendBase64Std(f *testing.F) {
	f.Add([]byte{}, []byte("x"))
	f.Add([]byte("hello, world"), []byte(nil))
	f.Fuzz(func(t *testing.T, src, prefix []byte) {
		want := base64.StdEncoding.AppendEncode(append([]byte(nil), prefix...), src)
		if got := appendBase64Std(append([]byte(nil), prefix...), src); string(got) != string(want) {
			t.Fatalf("%x: %s, want %s", src, got, want)
		}
	})
}

func BenchmarkAppendBase64(b *testing.B) {
	src := make([]byte, 6144) // a vector of 1536 dimensions
	for i := range src {
		src[i] = byte(i * 7919)
	}
	b.Run("pairs", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		var buf []byte
		for b.Loop() {
			buf = appendBase64Std(buf[:0], src)
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		var buf []byte
		for b.Loop() {
			buf = base64.StdEncoding.AppendEncode(buf[:0], src)
		}
	})
}
