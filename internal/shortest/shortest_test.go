package shortest

import (
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

func check(t *testing.T, f float32) {
	t.Helper()
	want := strconv.AppendFloat(nil, float64(f), 'g', -1, 32)
	if got := AppendFloat32(nil, f); string(got) != string(want) {
		t.Fatalf("AppendFloat32(%#08x) = %s, strconv says %s", math.Float32bits(f), got, want)
	}
}

// TestSpecial checks zeros, infinities, NaN, the smallest and largest
// values, and the edges between %e and %f notation.
func TestSpecial(t *testing.T) {
	for _, f := range []float32{
		0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32, 1, -1, 0.1, 1e-4, 1e-5, 9.999999e-5,
		123456, 999999, 1e6, 1234567, 1e21, 1e-38, 1.17549435e-38, 3.4e38, 0.3, 2.5, 16777216, 16777217,
	} {
		check(t, f)
	}
	// Every power of two, whose interval of values that round to it is
	// not symmetric, and its neighbours.
	for e := uint32(0); e < 255; e++ {
		for _, m := range []uint32{0, 1, 1<<23 - 1} {
			b := e<<23 | m
			check(t, math.Float32frombits(b))
			check(t, math.Float32frombits(b|1<<31))
		}
	}
}

// TestExhaustive compares AppendFloat32 with strconv over the exponents
// embeddings use, 2^-20 to 2^3 (23 exponents, 193 million values), and
// over the whole range of bit patterns. By default it takes every 127th
// value of the first and every 16,411th of the second, to stay within
// seconds under the race detector; LLMQ_SHORTEST_EXHAUSTIVE=1 takes every
// one of the 2^32 bit patterns, on every CPU (a few minutes).
func TestExhaustive(t *testing.T) {
	if os.Getenv("LLMQ_SHORTEST_EXHAUSTIVE") == "1" {
		exhaustive(t)
		return
	}
	n := 0
	var want, got []byte
	cmp := func(b uint32) {
		f := math.Float32frombits(b)
		want = strconv.AppendFloat(want[:0], float64(f), 'g', -1, 32)
		got = AppendFloat32(got[:0], f)
		if string(got) != string(want) {
			t.Fatalf("AppendFloat32(%#08x) = %s, strconv says %s", b, got, want)
		}
		n++
	}
	for b := math.Float32bits(0x1p-20); b < math.Float32bits(0x1p3); b += 127 {
		cmp(b)
		cmp(b | 1<<31)
	}
	for b := uint64(0); b <= math.MaxUint32; b += 16411 {
		cmp(uint32(b))
	}
	t.Logf("%d values formatted as strconv does", n)
}

// exhaustive compares every float32 with strconv, a slice of the bit
// patterns per CPU.
func exhaustive(t *testing.T) {
	const slices = 256
	var (
		next   atomic.Uint32
		failed atomic.Bool
		wg     sync.WaitGroup
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			var want, got []byte
			for s := next.Add(1) - 1; s < slices && !failed.Load(); s = next.Add(1) - 1 {
				for b := uint64(s) << 24; b < uint64(s+1)<<24; b++ {
					f := math.Float32frombits(uint32(b))
					want = strconv.AppendFloat(want[:0], float64(f), 'g', -1, 32)
					got = AppendFloat32(got[:0], f)
					if string(got) != string(want) {
						failed.Store(true)
						t.Errorf("AppendFloat32(%#08x) = %s, strconv says %s", b, got, want)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if !failed.Load() {
		t.Log("all 2^32 float32 values formatted as strconv does")
	}
}

// TestAppend checks that AppendFloat32 appends: to nil, to a prefix with
// no spare capacity, and within spare capacity that it must not write
// past, value after value.
func TestAppend(t *testing.T) {
	vals := []float32{-0.012345678, 1e-7, 123456.7, 1, -3.4028235e+38, 0.5}
	var want []byte
	for _, f := range vals {
		want = strconv.AppendFloat(want, float64(f), 'g', -1, 32)
	}
	var got []byte
	for _, f := range vals {
		got = AppendFloat32(got, f)
	}
	if string(got) != string(want) {
		t.Errorf("appended to nil: %s, want %s", got, want)
	}
	prefix := []byte("prefix")
	if got := AppendFloat32(prefix[:len(prefix):len(prefix)], 0.25); string(got) != "prefix0.25" {
		t.Errorf("appended to a full slice: %s", got)
	}
	buf := make([]byte, 0, 64)
	got = buf
	for _, f := range vals {
		got = AppendFloat32(got, f)
	}
	if string(got) != string(want) {
		t.Errorf("appended within capacity: %s, want %s", got, want)
	}
}

// FuzzAppendFloat32 compares AppendFloat32 with strconv on any bits, and
// checks that the text parses back to them.
func FuzzAppendFloat32(f *testing.F) {
	for _, b := range []uint32{0, 1, 0x7f7fffff, 0x00800000, 0x3dcccccd, 0x80000000, 0x7fc00000, 0x4b800001} {
		f.Add(b)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 64 {
		f.Add(r.Uint32())
	}
	f.Fuzz(func(t *testing.T, b uint32) {
		v := math.Float32frombits(b)
		check(t, v)
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return
		}
		back, err := strconv.ParseFloat(string(AppendFloat32(nil, v)), 32)
		if err != nil || math.Float32bits(float32(back)) != b {
			t.Fatalf("%#08x: %s parses back to %#08x (%v)", b, AppendFloat32(nil, v), math.Float32bits(float32(back)), err)
		}
	})
}

// BenchmarkAppendFloat32 formats vectors of 1536 embedding-like values,
// a different one each time of 128: with one vector again and again the
// branch predictor learns its values and the figure flatters.
func BenchmarkAppendFloat32(b *testing.B) {
	const dims, vectors = 1536, 128
	v := make([]float32, dims*vectors)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range v {
		v[i] = float32(r.NormFloat64() * 0.03)
	}
	for _, bc := range []struct {
		name string
		fn   func([]byte, float32) []byte
	}{
		{"shortest", AppendFloat32},
		{"strconv", func(b []byte, f float32) []byte { return strconv.AppendFloat(b, float64(f), 'g', -1, 32) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var buf []byte
			i := 0
			for b.Loop() {
				buf = buf[:0]
				for _, f := range v[i*dims : (i+1)*dims] {
					buf = bc.fn(buf, f)
				}
				i = (i + 1) % vectors
			}
		})
	}
}
