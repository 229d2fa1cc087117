package job

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// referenceVector is how a vector was written as JSON floats before the
// export formatted stored bytes: strconv's shortest float32 'g' form, and
// 0 for NaN and infinities.
func referenceVector(v []float32) []byte {
	l := []byte{'['}
	for i, f := range v {
		if i > 0 {
			l = append(l, ',')
		}
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			l = append(l, '0')
			continue
		}
		l = strconv.AppendFloat(l, float64(f), 'g', -1, 32)
	}
	return append(l, ']')
}

// referenceBase64 is the base64 of a vector's little-endian float32
// bytes, in a JSON string.
func referenceBase64(v []float32) []byte {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return []byte(`"` + base64.StdEncoding.EncodeToString(raw) + `"`)
}

func storedBytes(v []float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, f := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return b
}

// TestVectorFormats checks appendVector and appendBase64, which read
// stored bytes, against the reference forms of the same floats: vectors
// of every length up to 40 (base64 padding), embedding-like values,
// random bits, and the edges (zeros, NaN, infinities, subnormals, the
// largest values, powers of ten and of two).
func TestVectorFormats(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var vectors [][]float32
	for n := range 41 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * 0.05)
		}
		vectors = append(vectors, v)
	}
	bitsVec := make([]float32, 4096)
	for i := range bitsVec {
		bitsVec[i] = math.Float32frombits(r.Uint32())
	}
	edges := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), math.Float32frombits(0x7fc00001), math.Float32frombits(0xffc00000),
		float32(math.Inf(1)), float32(math.Inf(-1)), math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32,
		1e-5, 1e-4, 9.999999e-5, 0.1, 1, 123456, 999999, 1e6, 1234567, 1e21, 1e-38, 1.17549435e-38, 16777216, 16777217}
	for e := range 255 {
		edges = append(edges, math.Float32frombits(uint32(e)<<23), math.Float32frombits(uint32(e)<<23|1<<31|1<<22))
	}
	vectors = append(vectors, bitsVec, edges)
	for _, v := range vectors {
		raw := storedBytes(v)
		if got, want := appendVector([]byte("x"), raw), append([]byte("x"), referenceVector(v)...); string(got) != string(want) {
			t.Errorf("appendVector of %d floats:\n got %s\nwant %s", len(v), got, want)
		}
		if got, want := appendBase64([]byte("x"), raw), append([]byte("x"), referenceBase64(v)...); string(got) != string(want) {
			t.Errorf("appendBase64 of %d floats:\n got %s\nwant %s", len(v), got, want)
		}
	}
}

// TestAppendJSON compares appendJSON with json.Marshal on every single
// byte, ids and model names, escapes, non-ASCII and invalid UTF-8.
func TestAppendJSON(t *testing.T) {
	in := []string{"", "doc-1", "text-embedding-3-small", "a b", `q"uote`, `back\slash`, "<tag>", "a&b", "tab\t", "é", "日本",
		"\u2028\u2029", "\xff", "bad \xc3", "\x7f", "~!@#$%^*()_+{}|:?[];',./`"}
	for c := range 256 {
		in = append(in, string([]byte{byte(c)}), "id-"+string([]byte{byte(c)})+"-x")
	}
	for _, s := range in {
		checkAppendJSON(t, s)
	}
}

func checkAppendJSON(t *testing.T, s string) {
	t.Helper()
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendJSON([]byte("x"), s); string(got) != "x"+string(want) {
		t.Errorf("appendJSON(%q) = %s, json.Marshal %s", s, got[1:], want)
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("doc-1")
	f.Add("<\u2028\xff")
	f.Fuzz(checkAppendJSON)
}
