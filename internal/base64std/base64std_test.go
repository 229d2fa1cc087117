package base64std

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestAppendEncode compares AppendEncode with the standard library
// on every length up to 300 bytes (every padding and tail), random bytes
// and all 256 byte values, appended to a prefix.
func TestAppendEncode(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	src := make([]byte, 300)
	for i := range src {
		src[i] = byte(r.Uint32())
	}
	for n := range len(src) + 1 {
		want := base64.StdEncoding.AppendEncode([]byte("prefix"), src[:n])
		if got := AppendEncode([]byte("prefix"), src[:n]); string(got) != string(want) {
			t.Fatalf("%d bytes: %s, want %s", n, got, want)
		}
	}
	all := make([]byte, 256*3)
	for i := range all {
		all[i] = byte(i / 3 * (1 + i%3))
	}
	if got, want := AppendEncode(nil, all), base64.StdEncoding.AppendEncode(nil, all); string(got) != string(want) {
		t.Fatalf("all bytes: %s, want %s", got, want)
	}
}

func FuzzAppendEncode(f *testing.F) {
	f.Add([]byte{}, []byte("x"))
	f.Add([]byte("hello, world"), []byte(nil))
	f.Fuzz(func(t *testing.T, src, prefix []byte) {
		want := base64.StdEncoding.AppendEncode(append([]byte(nil), prefix...), src)
		if got := AppendEncode(append([]byte(nil), prefix...), src); string(got) != string(want) {
			t.Fatalf("%x: %s, want %s", src, got, want)
		}
	})
}

func BenchmarkAppendEncode(b *testing.B) {
	src := make([]byte, 6144) // a vector of 1536 dimensions
	for i := range src {
		src[i] = byte(i * 7919)
	}
	b.Run("pairs", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		var buf []byte
		for b.Loop() {
			buf = AppendEncode(buf[:0], src)
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

// decodeCases are inputs for Decode: random base64 of every length up to
// 300 bytes, with and without padding, and with a byte changed to
// something outside the alphabet (padding, a newline, which the standard
// library skips, and bad characters) at every place.
func decodeCases() [][]byte {
	r := rand.New(rand.NewPCG(7, 8))
	var cases [][]byte
	for n := range 301 {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(r.Uint32())
		}
		enc := base64.StdEncoding.EncodeToString(src)
		cases = append(cases, []byte(enc), []byte(strings.TrimRight(enc, "=")))
		if n%17 != 0 {
			continue
		}
		for i := range len(enc) {
			for _, c := range []byte{'=', '\n', '\r', '-', '_', ' ', 0, 0xff, '"'} {
				b := []byte(enc)
				b[i] = c
				cases = append(cases, b)
			}
		}
	}
	return cases
}

// TestDecode compares Decode with the standard library: the bytes, their
// count and the error, offset included.
func TestDecode(t *testing.T) {
	for _, src := range decodeCases() {
		checkDecode(t, src)
	}
}

func checkDecode(t *testing.T, src []byte) {
	t.Helper()
	want := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
	wn, werr := base64.StdEncoding.Decode(want, src)
	got := make([]byte, len(want))
	n, err := Decode(got, src)
	if n != wn || fmt.Sprint(err) != fmt.Sprint(werr) || string(got[:n]) != string(want[:wn]) {
		t.Fatalf("Decode(%q) = %d, %v, %x; want %d, %v, %x", src, n, err, got[:n], wn, werr, want[:wn])
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("aGVsbG8sIHdvcmxk"))
	f.Add([]byte("aGVsbG8s\nIHdvcmxkIQ=="))
	f.Add([]byte("aGVs=G8sIHdvcmxk"))
	f.Fuzz(func(t *testing.T, src []byte) { checkDecode(t, src) })
}

func BenchmarkDecode(b *testing.B) {
	src := make([]byte, 6144) // a vector of 1536 dimensions
	for i := range src {
		src[i] = byte(i * 7919)
	}
	enc := []byte(base64.StdEncoding.EncodeToString(src))
	dst := make([]byte, len(src))
	b.Run("pairs", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			if _, err := Decode(dst, enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			if _, err := base64.StdEncoding.Decode(dst, enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
