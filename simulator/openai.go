package simulator

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
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
	// Embedding is a []float32, or a string holding the base64 of its
	// little-endian bytes.
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
	if !s.steer(w, c.r, openAI, d) {
		return
	}

	dim := req.Dimensions
	if dim == 0 {
		dim = s.cfg.Dim
	}
	b64 := req.EncodingFormat == "base64" && !s.cfg.FloatOnly
	resp := embeddingList{
		Object: "list",
		Data:   make([]embedding, len(inputs)),
		Model:  req.Model,
	}
	if resp.Model == "" {
		resp.Model = DefaultModel
	}
	for i, in := range inputs {
		var e any = Vector(in, dim)
		if b64 {
			e = encodeBase64(e.([]float32))
		}
		resp.Data[i] = embedding{Object: "embedding", Index: i, Embedding: e}
		resp.Usage.PromptTokens += Tokens(in)
	}
	resp.Usage.TotalTokens = resp.Usage.PromptTokens
	s.countInputs(len(inputs))
	writeJSON(w, http.StatusOK, resp)
}

// encodeBase64 returns the standard base64 of v's little-endian bytes, the
// form OpenAI sends for encoding_format=base64.
func encodeBase64(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(b)
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
