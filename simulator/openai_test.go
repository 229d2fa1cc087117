package simulator_test

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/llmq/llmq/simulator"
)

// embeddingList is OpenAI's embedding answer, spelled out independently of
// the package's own types.
type embeddingList struct {
	Object string `json:"object"`
	Data   []struct {
		Object    string          `json:"object"`
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
	Model string `json:"model"`
	Usage struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

// decodeVector reads an embedding sent as a float array or as base64.
func decodeVector(t *testing.T, raw json.RawMessage) (v []float32, isBase64 bool) {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b)%4 != 0 {
			t.Fatalf("bad base64 embedding (%d bytes): %v", len(b), err)
		}
		v = make([]float32, len(b)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return v, true
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode float embedding: %v", err)
	}
	return v, false
}

func sameBits(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

func TestEmbeddings(t *testing.T) {
	tests := []struct {
		name       string
		cfg        simulator.Config
		body       map[string]any
		texts      []string
		wantDim    int
		wantModel  string
		wantBase64 bool
	}{
		{
			name:      "single string, default dim and model",
			body:      map[string]any{"input": "hello"},
			texts:     []string{"hello"},
			wantDim:   simulator.DefaultDim,
			wantModel: simulator.DefaultModel,
		},
		{
			name:      "batch with dimensions",
			body:      map[string]any{"model": "text-embedding-3-large", "input": []string{"a", "bb", "ccc ddd"}, "dimensions": 256},
			texts:     []string{"a", "bb", "ccc ddd"},
			wantDim:   256,
			wantModel: "text-embedding-3-large",
		},
		{
			name:      "configured dim",
			cfg:       simulator.Config{Dim: 64},
			body:      map[string]any{"model": "m", "input": []string{"x"}, "encoding_format": "float"},
			texts:     []string{"x"},
			wantDim:   64,
			wantModel: "m",
		},
		{
			name:       "base64",
			body:       map[string]any{"model": "m", "input": []string{"hello", "world"}, "encoding_format": "base64"},
			texts:      []string{"hello", "world"},
			wantDim:    simulator.DefaultDim,
			wantModel:  "m",
			wantBase64: true,
		},
		{
			name:      "float only ignores base64",
			cfg:       simulator.Config{FloatOnly: true},
			body:      map[string]any{"model": "m", "input": []string{"hello"}, "encoding_format": "base64"},
			texts:     []string{"hello"},
			wantDim:   simulator.DefaultDim,
			wantModel: "m",
		},
		{
			name:      "directive without status is embedded whole",
			body:      map[string]any{"model": "m", "input": []string{"hello sim:sleep=1ms", "sim:card"}, "dimensions": 8},
			texts:     []string{"hello sim:sleep=1ms", "sim:card"},
			wantDim:   8,
			wantModel: "m",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, tt.cfg)
			resp, body := f.do(t, http.MethodPost, "/v1/embeddings", tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var got embeddingList
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got.Object != "list" || got.Model != tt.wantModel || len(got.Data) != len(tt.texts) {
				t.Fatalf("object %q model %q with %d items, want list %q with %d", got.Object, got.Model, len(got.Data), tt.wantModel, len(tt.texts))
			}
			wantTokens := 0
			for i, d := range got.Data {
				wantTokens += simulator.Tokens(tt.texts[i])
				if d.Object != "embedding" || d.Index != i {
					t.Errorf("item %d: object %q index %d", i, d.Object, d.Index)
				}
				v, isBase64 := decodeVector(t, d.Embedding)
				if isBase64 != tt.wantBase64 {
					t.Errorf("item %d: base64 = %v, want %v", i, isBase64, tt.wantBase64)
				}
				if want := simulator.Vector(tt.texts[i], tt.wantDim); !sameBits(v, want) {
					t.Errorf("item %d: vector (len %d) is not Vector(%q, %d)", i, len(v), tt.texts[i], tt.wantDim)
				}
			}
			if got.Usage.PromptTokens != wantTokens || got.Usage.TotalTokens != wantTokens {
				t.Errorf("usage = %+v, want %d tokens", got.Usage, wantTokens)
			}
			if st := f.sim.Stats(); st.Inputs != int64(len(tt.texts)) {
				t.Errorf("Stats.Inputs = %d, want %d", st.Inputs, len(tt.texts))
			}
		})
	}
}

// TestEmbeddingsBase64MatchesFloat checks that both encodings carry the same
// float32 values, bit for bit.
func TestEmbeddingsBase64MatchesFloat(t *testing.T) {
	f := setup(t, simulator.Config{})
	texts := []string{"alpha", "beta", "gamma ✓"}
	vectors := make(map[string][][]float32)
	for _, format := range []string{"float", "base64"} {
		resp, body := f.do(t, http.MethodPost, "/v1/embeddings", map[string]any{"input": texts, "encoding_format": format, "dimensions": 512})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", format, resp.StatusCode, body)
		}
		var got embeddingList
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("%s: decode: %v", format, err)
		}
		for _, d := range got.Data {
			v, _ := decodeVector(t, d.Embedding)
			vectors[format] = append(vectors[format], v)
		}
	}
	for i := range texts {
		if !sameBits(vectors["float"][i], vectors["base64"][i]) {
			t.Errorf("input %d: float and base64 answers differ", i)
		}
	}
}

// TestEmbeddingsChunked checks that a large answer is streamed without a
// Content-Length, as real providers send it.
func TestEmbeddingsChunked(t *testing.T) {
	f := setup(t, simulator.Config{})
	texts := make([]string, 100)
	for i := range texts {
		texts[i] = fmt.Sprintf("text %d", i)
	}
	resp, body := f.do(t, http.MethodPost, "/v1/embeddings", map[string]any{"input": texts})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if resp.ContentLength != -1 || !slices.Contains(resp.TransferEncoding, "chunked") {
		t.Errorf("ContentLength %d, TransferEncoding %v; want chunked", resp.ContentLength, resp.TransferEncoding)
	}
	if !json.Valid(body) {
		t.Errorf("body of %d bytes is not valid JSON", len(body))
	}
}

func TestEmbeddingsValidation(t *testing.T) {
	tooMany := make([]string, simulator.MaxInputs+1)
	for i := range tooMany {
		tooMany[i] = "x"
	}
	tests := []struct {
		name      string
		body      any
		wantParam string
	}{
		{"malformed JSON", `{"input": [`, "<null>"},
		{"not an object", `[1,2]`, "<null>"},
		{"missing input", map[string]any{"model": "m"}, "input"},
		{"null input", map[string]any{"input": nil}, "input"},
		{"empty list", map[string]any{"input": []string{}}, "input"},
		{"empty string", map[string]any{"input": ""}, "input"},
		{"empty string in list", map[string]any{"input": []string{"a", ""}}, "input"},
		{"null in list", map[string]any{"input": []any{"a", nil}}, "input"},
		{"token arrays", map[string]any{"input": [][]int{{1, 2}}}, "input"},
		{"number", map[string]any{"input": 3}, "input"},
		{"too many inputs", map[string]any{"input": tooMany}, "input"},
		{"negative dimensions", map[string]any{"input": "x", "dimensions": -1}, "dimensions"},
		{"huge dimensions", map[string]any{"input": "x", "dimensions": simulator.MaxDim + 1}, "dimensions"},
		{"unknown encoding", map[string]any{"input": "x", "encoding_format": "int8"}, "encoding_format"},
		{"unknown directive", map[string]any{"input": "x sim:bogus=1"}, "input"},
		{"bad directive status", map[string]any{"input": "x sim:status=abc"}, "input"},
		{"directive status out of range", map[string]any{"input": "x sim:status=200"}, "input"},
		{"bad directive duration", map[string]any{"input": "x sim:sleep=5"}, "input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, simulator.Config{})
			resp, body := f.do(t, http.MethodPost, "/v1/embeddings", tt.body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
			}
			e := decodeOpenAIError(t, body)
			if e.Error.Type != "invalid_request_error" || deref(e.Error.Param) != tt.wantParam || e.Error.Code != nil {
				t.Errorf("error = type %q param %s code %s, want invalid_request_error %s null",
					e.Error.Type, deref(e.Error.Param), deref(e.Error.Code), tt.wantParam)
			}
			if st := f.sim.Stats(); st.Inputs != 0 || st.ByStatus["400"] != 1 {
				t.Errorf("stats = %+v, want one 400 and no inputs", st)
			}
		})
	}
}

func TestAPIKey(t *testing.T) {
	const key = "sk-test-0123456789"
	tests := []struct {
		name       string
		method     string
		path       string
		body       any
		auth       string
		wantStatus int
	}{
		{"no header", http.MethodPost, "/v1/embeddings", map[string]any{"input": "x"}, "", http.StatusUnauthorized},
		{"wrong key", http.MethodPost, "/v1/embeddings", map[string]any{"input": "x"}, "Bearer sk-wrong-987654321", http.StatusUnauthorized},
		{"key without Bearer", http.MethodPost, "/v1/embeddings", map[string]any{"input": "x"}, key, http.StatusUnauthorized},
		{"prefix of key", http.MethodPost, "/v1/embeddings", map[string]any{"input": "x"}, "Bearer sk-test", http.StatusUnauthorized},
		{"right key", http.MethodPost, "/v1/embeddings", map[string]any{"input": "x"}, "Bearer " + key, http.StatusOK},
		{"models needs it too", http.MethodGet, "/v1/models", nil, "", http.StatusUnauthorized},
		{"models with key", http.MethodGet, "/v1/models", nil, "Bearer " + key, http.StatusOK},
		{"ollama routes need none", http.MethodPost, "/api/embed", map[string]any{"model": "m", "input": "x"}, "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, simulator.Config{APIKey: key})
			var hdr []string
			if tt.auth != "" {
				hdr = []string{"Authorization", tt.auth}
			}
			resp, body := f.do(t, tt.method, tt.path, tt.body, hdr...)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus != http.StatusUnauthorized {
				return
			}
			e := decodeOpenAIError(t, body)
			if e.Error.Message != "Incorrect API key provided." || e.Error.Type != "invalid_request_error" ||
				deref(e.Error.Code) != "invalid_api_key" || e.Error.Param != nil {
				t.Errorf("error = %+v", e.Error)
			}
			if strings.Contains(string(body), "sk-") {
				t.Errorf("401 body echoes a key: %s", body)
			}
		})
	}
}

func TestModels(t *testing.T) {
	f := setup(t, simulator.Config{})
	resp, body := f.do(t, http.MethodGet, "/v1/models", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var got struct {
		Object string `json:"object"`
		Data   []struct {
			ID     string `json:"id"`
			Object string `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if got.Object != "list" || len(got.Data) != 1 || got.Data[0].ID != "text-embedding-3-small" || got.Data[0].Object != "model" {
		t.Errorf("models = %s", body)
	}
}
