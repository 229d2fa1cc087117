package simulator

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"

	"github.com/segmentio/asm/base64"
)

// embeddingRequest is the body of POST /v1/embeddings.
type embeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	Dimensions     int             `json:"dimensions"`
	EncodingFormat string          `json:"encoding_format"`
}

type embeddingList struct {
	Object string         `json:"object"`
	Data   []embedding    `json:"data"`
	Model  string         `json:"model"`
	Usage  embeddingUsage `json:"usage"`
}

type embedding struct {
	Object string `json:"object"`
	Index  int    `json:"index"`
	// Embedding is a []float32 (base64 answers are written by
	// writeBase64Embeddings, as if it were the string of their base64).
	Embedding any `json:"embedding"`
}

type embeddingUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// openAIEmbeddings answers POST /v1/embeddings.
func (s *Simulator) openAIEmbeddings(w http.ResponseWriter, c *call) {
	var req embeddingRequest
	if err := json.Unmarshal(c.body, &req); err != nil {
		fail(w, openAI, invalid("", "We could not parse the JSON body of your request: %v.", err))
		return
	}
	inputs, err := decodeInput(req.Input)
	if err != nil {
		fail(w, openAI, invalid("input", "%v", err))
		return
	}
	switch {
	case req.Dimensions < 0 || req.Dimensions > MaxDim:
		fail(w, openAI, invalid("dimensions", "dimensions must be between 1 and %d, got %d.", MaxDim, req.Dimensions))
		return
	case req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64":
		fail(w, openAI, invalid("encoding_format", "encoding_format must be \"float\" or \"base64\", got %q.", req.EncodingFormat))
		return
	}
	d, err := parseDirectives(inputs...)
	if err != nil {
		fail(w, openAI, invalid("input", "%v", err))
		return
	}
	if !s.steer(w, c, openAI, d, sumTokens(inputs)) {
		return
	}

	dim := req.Dimensions
	if dim == 0 {
		dim = s.cfg.Dim
	}
	model := req.Model
	if model == "" {
		model = DefaultModel
	}
	s.countInputs(len(inputs))
	if req.EncodingFormat == "base64" && !s.cfg.FloatOnly {
		writeBase64Embeddings(w, model, inputs, dim)
		return
	}
	resp := embeddingList{
		Object: "list",
		Data:   make([]embedding, len(inputs)),
		Model:  model,
	}
	for i, in := range inputs {
		resp.Data[i] = embedding{Object: "embedding", Index: i, Embedding: Vector(in, dim)}
		resp.Usage.PromptTokens += Tokens(in)
	}
	resp.Usage.TotalTokens = resp.Usage.PromptTokens
	writeJSON(w, http.StatusOK, resp)
}

// writeBase64Embeddings answers an encoding_format=base64 request with the
// bytes writeJSON would write for its embeddingList, without going through
// encoding/json: an answer of 64 vectors of 1536 dimensions is half a
// megabyte of base64 strings, which encoding/json checks for escaping one
// byte at a time, and in benchmarks the simulator shares the machine with
// what it serves (for the same reason the base64 is SIMD's).
// TestBase64EmbeddingsAsJSON holds the two to the same bytes.
func writeBase64Embeddings(w http.ResponseWriter, model string, inputs []string, dim int) {
	quotedModel, _ := json.Marshal(model) // a string always marshals
	vecLen := base64.StdEncoding.EncodedLen(4 * dim)
	b := make([]byte, 0, 128+len(quotedModel)+len(inputs)*(vecLen+64))
	b = append(b, `{"object":"list","data":[`...)
	raw := make([]byte, 4*dim)
	tokens := 0
	for i, in := range inputs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"embedding":"`...)
		for j, f := range Vector(in, dim) {
			binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(f))
		}
		b = slices.Grow(b, vecLen)
		n := len(b)
		b = b[:n+vecLen]
		base64.StdEncoding.Encode(b[n:], raw)
		b = append(b, `"}`...)
		tokens += Tokens(in)
	}
	b = append(b, `],"model":`...)
	b = append(b, quotedModel...)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(tokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(tokens), 10)
	b = append(b, "}}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

type modelList struct {
	Object string  `json:"object"`
	Data   []model `json:"data"`
}

type model struct {
	ID     string `json:"id"`
	Object string `json:"object"`
}

// openAIModels answers GET /v1/models.
func (s *Simulator) openAIModels(w http.ResponseWriter, c *call) {
	writeJSON(w, http.StatusOK, modelList{
		Object: "list",
		Data:   []model{{ID: DefaultModel, Object: "model"}},
	})
}

// decodeInput reads an "input" that is a string or an array of strings and
// checks it: present, 1 to MaxInputs texts, none empty.
func decodeInput(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	var inputs []string
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, errors.New("input is required")
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("input: %w", err)
		}
		inputs = []string{s}
	case raw[0] == '[':
		if err := json.Unmarshal(raw, &inputs); err != nil {
			return nil, errors.New("input must be a string or an array of strings")
		}
	default:
		return nil, errors.New("input must be a string or an array of strings")
	}
	switch {
	case len(inputs) == 0:
		return nil, errors.New("input must not be empty")
	case len(inputs) > MaxInputs:
		return nil, fmt.Errorf("input must hold at most %d texts, got %d", MaxInputs, len(inputs))
	}
	for i, in := range inputs {
		if in == "" {
			return nil, fmt.Errorf("input[%d] must not be an empty string", i)
		}
	}
	return inputs, nil
}

// sumTokens is the sum of Tokens over texts.
func sumTokens(texts []string) int {
	n := 0
	for _, t := range texts {
		n += Tokens(t)
	}
	return n
}
