package openai

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// viaJSON decodes b the way Embed did before parseEmbedResponse.
func viaJSON(b []byte) (embedResponse, error) {
	var er embedResponse
	err := json.NewDecoder(bytes.NewReader(b)).Decode(&er)
	return er, err
}

// sameAs fails t unless er is what encoding/json makes of b.
func sameAs(t *testing.T, b []byte, er embedResponse) {
	t.Helper()
	want, err := viaJSON(b)
	if err != nil {
		t.Fatalf("parseEmbedResponse accepted %q, which encoding/json rejects: %v", b, err)
	}
	// nil and empty slices and RawMessages mean the same here.
	norm := func(er embedResponse) embedResponse {
		if len(er.Data) == 0 {
			er.Data = nil
		}
		for i := range er.Data {
			if len(er.Data[i].Embedding) == 0 {
				er.Data[i].Embedding = nil
			}
		}
		return er
	}
	if got, want := norm(er), norm(want); !reflect.DeepEqual(got, want) {
		t.Fatalf("parseEmbedResponse(%q) = %+v, encoding/json = %+v", b, got, want)
	}
}

var parseCases = []struct {
	name string
	body string
	// fast says whether parseEmbedResponse decodes it itself.
	fast bool
}{
	{"usual", `{"object":"list","data":[{"object":"embedding","index":0,"embedding":"AACAPwAAAEA="}],"model":"m","usage":{"prompt_tokens":3,"total_tokens":3}}`, true},
	{"whitespace", " \n{ \"data\" : [ { \"index\" : 1 , \"embedding\" : [ 1 , 2.5e-3 ] } ] , \"model\" : \"m\" }\t", true},
	{"arrays", `{"data":[{"index":0,"embedding":[1,-2,3.25,0,-0.0,1E+2]}]}`, true},
	{"empty", `{}`, true},
	{"empty data", `{"data":[]}`, true},
	{"unknown values of every kind", `{"x":{"a":[true,false,null,"s",-1.5e3,{}],"b":[]},"data":[{"index":0,"embedding":"AAAA","extra":[[[]]]}]}`, true},
	{"escaped base64", `{"data":[{"index":0,"embedding":"\/\/9\/fw=="}]}`, true},
	{"escaped model", `{"model":"a\"b\u00e9\\","data":[]}`, true},
	{"unicode model", `{"model":"modèle ✓"}`, true},
	{"invalid UTF-8 model", "{\"model\":\"a\xffb\"}", true},
	{"duplicate data", `{"data":[{"index":0,"embedding":[1]}],"data":[{"index":3}]}`, false},
	{"duplicate keys in an element", `{"data":[{"index":0,"embedding":[1],"index":2,"embedding":"AAAA"}]}`, true},
	{"trailing data", `{"data":[]} garbage`, true},
	{"embedding null", `{"data":[{"index":0,"embedding":null}]}`, true},
	{"negative zero index", `{"data":[{"index":-0,"embedding":[1]}]}`, true},

	{"key in other case", `{"DATA":[{"index":0,"embedding":[1]}]}`, false},
	{"Index in other case", `{"data":[{"Index":2,"embedding":[1]}]}`, false},
	{"Kelvin sign in key", "{\"usage\":{\"prompt_to\u212aens\":4}}", false},
	{"escaped key", `{"d\u0061ta":[{"index":0,"embedding":[1]}]}`, false},
	{"fractional index", `{"data":[{"index":1.0,"embedding":[1]}]}`, false},
	{"index as string", `{"data":[{"index":"1","embedding":[1]}]}`, false},
	{"null index", `{"data":[{"index":null,"embedding":[1]}]}`, false},
	{"huge index", `{"data":[{"index":99999999999999999999,"embedding":[1]}]}`, false},
	{"null data", `{"data":null}`, false},
	{"null element", `{"data":[null]}`, false},
	{"null model", `{"model":null}`, false},
	{"not an object", `[1,2]`, false},
	{"not JSON", `<html>oops</html>`, false},
	{"empty body", ``, false},
	{"truncated", `{"data":[{"index":0,"embedding":"AAAA`, false},
	{"control character in string", "{\"model\":\"a\tb\"}", false},
	{"control character in base64", "{\"data\":[{\"index\":0,\"embedding\":\"AAAA\nAAAA\"}]}", false},
	{"bad escape", `{"model":"\x41"}`, false},
	{"short unicode escape", `{"model":"\u12"}`, false},
	{"leading zero", `{"x":01}`, false},
	{"bare minus", `{"x":-}`, false},
	{"dot without digits", `{"x":1.}`, false},
	{"exponent without digits", `{"x":1e}`, false},
	{"bad literal", `{"x":tru}`, false},
	{"missing colon", `{"data" []}`, false},
	{"trailing comma", `{"data":[],}`, false},
	{"too deep", `{"x":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`, false},
}

func TestParseEmbedResponse(t *testing.T) {
	for _, tt := range parseCases {
		t.Run(tt.name, func(t *testing.T) {
			var er embedResponse
			fast := parseEmbedResponse([]byte(tt.body), &er)
			if fast != tt.fast {
				t.Fatalf("parseEmbedResponse = %v, want %v", fast, tt.fast)
			}
			if fast {
				sameAs(t, []byte(tt.body), er)
			}
		})
	}
}

// TestDecodeEmbedResponse checks that what the fast path leaves alone is
// decoded, or refused, by encoding/json as before.
func TestDecodeEmbedResponse(t *testing.T) {
	for _, tt := range parseCases {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{Body: io.NopCloser(strings.NewReader(tt.body)), ContentLength: -1}
			var er embedResponse
			_, err := decodeEmbedResponse(resp, &er)
			want, wantErr := viaJSON([]byte(tt.body))
			if (err == nil) != (wantErr == nil) {
				t.Fatalf("error = %v, encoding/json: %v", err, wantErr)
			}
			if err == nil && !tt.fast && !reflect.DeepEqual(er, want) {
				t.Errorf("decoded %+v, encoding/json %+v", er, want)
			}
		})
	}
}

func TestReadBody(t *testing.T) {
	for _, size := range []int{0, 1, minBody - 1, minBody, minBody + 1, 3*minBody + 7} {
		body := strings.Repeat("x", size)
		for _, length := range []int64{int64(size), -1} {
			t.Run(fmt.Sprintf("%d bytes, Content-Length %d", size, length), func(t *testing.T) {
				resp := &http.Response{Body: io.NopCloser(iotest.HalfReader(strings.NewReader(body))), ContentLength: length}
				got, err := readBody(resp)
				if err != nil || string(got) != body {
					t.Errorf("readBody = %d bytes, %v; want %d", len(got), err, size)
				}
				releaseBody(got)
			})
		}
	}
	t.Run("shorter than its length", func(t *testing.T) {
		resp := &http.Response{Body: io.NopCloser(strings.NewReader("abc")), ContentLength: 10}
		if _, err := readBody(resp); err == nil {
			t.Error("readBody accepted a body shorter than its Content-Length")
		}
	})
	t.Run("too large", func(t *testing.T) {
		resp := &http.Response{Body: io.NopCloser(strings.NewReader("")), ContentLength: maxResponse + 1}
		if _, err := readBody(resp); err == nil {
			t.Error("readBody accepted a Content-Length beyond maxResponse")
		}
	})
	t.Run("read error", func(t *testing.T) {
		resp := &http.Response{Body: io.NopCloser(iotest.ErrReader(io.ErrUnexpectedEOF)), ContentLength: -1}
		if _, err := readBody(resp); err == nil {
			t.Error("readBody hid a read error")
		}
	})
}

func TestPlain(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want bool
	}{
		{"", true},
		{"AACAPwAAAEA=", true},
		{strings.Repeat("A", 17) + "é✓\x7f", true},
		{strings.Repeat("A", 17) + "\x1f", false},
		{strings.Repeat("A", 8) + "\x00" + strings.Repeat("A", 8), false},
		{"\x80\x9f\xff\xa0\x80\x9f\xff\xa0", true},
		{"\x80\x9f\xff\xa0\x80\x9f\xff\x19", false},
		{`a\b`, false},
	} {
		if got := plain([]byte(tt.s)); got != tt.want {
			t.Errorf("plain(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

// FuzzParseEmbedResponse checks that parseEmbedResponse only ever accepts
// what encoding/json accepts, and decodes it the same.
func FuzzParseEmbedResponse(f *testing.F) {
	for _, tt := range parseCases {
		f.Add([]byte(tt.body))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var er embedResponse
		if parseEmbedResponse(b, &er) {
			sameAs(t, b, er)
		}
	})
}

// TestDecodeBase64 checks the decoding of base64 vectors into a vector of
// a known length, and the ways out of it: escapes, another length, bad
// base64, whose error must be encoding/base64's, at the same offset.
func TestDecodeBase64(t *testing.T) {
	long := make([]float32, 1536)
	for i := range long {
		long[i] = float32(i)*0.37 - 200
	}
	raw := make([]byte, 4*len(long))
	for i, x := range long {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	longB64 := base64.StdEncoding.EncodeToString(raw)
	if !strings.Contains(longB64, "/") {
		t.Fatal("the long vector's base64 has no slash to escape")
	}
	// A prefix of long whose base64, with every slash escaped, has the
	// length of a whole number of floats: decodeBase64 tries that many
	// in place, then unquotes.
	var escaped json.RawMessage
	var escapedWant []float32
	for n := len(long); n > 0 && escaped == nil; n-- {
		e := json.RawMessage(`"` + strings.ReplaceAll(base64.StdEncoding.EncodeToString(raw[:4*n]), "/", `\/`) + `"`)
		if k := base64Floats(e); k > 0 && k != n {
			escaped, escapedWant = e, long[:n]
		}
	}
	if escaped == nil {
		t.Fatal("no prefix of the long vector escapes to a whole number of floats")
	}
	bad := []byte(longB64)
	bad[5000] = '*'
	quote := func(s string) json.RawMessage { return json.RawMessage(`"` + s + `"`) }
	for _, tt := range []struct {
		name    string
		raw     json.RawMessage
		into    int // the length of the vector offered, if any
		want    []float32
		inPlace bool // the answer is the vector offered
		wantErr string
	}{
		{name: "into a vector of its length", raw: quote("AACAPwAAAEA="), into: 2, want: []float32{1, 2}, inPlace: true},
		{name: "long, into a vector of its length", raw: quote(longB64), into: len(long), want: long, inPlace: true},
		{name: "no vector offered", raw: quote(longB64), want: long},
		{name: "shorter than the vector offered", raw: quote("AACAPwAAAEA="), into: 3, want: []float32{1, 2}},
		{name: "longer than the vector offered", raw: quote("AACAPwAAAEA="), into: 1, want: []float32{1, 2}},
		{name: "escaped, into a vector of its length", raw: quote(`\/\/9\/fw==`), into: 1, want: []float32{math.MaxFloat32}, inPlace: true},
		{name: "long and escaped", raw: quote(strings.ReplaceAll(longB64, "/", `\/`)), into: len(long), want: long, inPlace: true},
		{name: "escaped to the length of the vector offered", raw: escaped, into: base64Floats(escaped), want: escapedWant},
		{name: "bad base64", raw: quote("AAA!"), into: 1, wantErr: "embedding base64: illegal base64 data at input byte 3"},
		{name: "long, bad base64", raw: quote(string(bad)), into: len(long), wantErr: "embedding base64: illegal base64 data at input byte 5000"},
		{name: "not whole float32s", raw: quote("AAAA"), into: 1, wantErr: "3 bytes is not a whole number of float32s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var into []float32
			if tt.into > 0 {
				into = make([]float32, tt.into)
			}
			got, err := decodeBase64(tt.raw, into)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("decoded %d floats %v…, want %d: %v…", len(got), got[:min(4, len(got))], len(tt.want), tt.want[:min(4, len(tt.want))])
			}
			if inPlace := len(got) > 0 && len(into) > 0 && &got[0] == &into[0]; inPlace != tt.inPlace {
				t.Errorf("decoded into the vector offered: %v, want %v", inPlace, tt.inPlace)
			}
		})
	}
}
