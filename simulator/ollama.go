package simulator

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// ollamaEmbedRequest is the body of POST /api/embed.
type ollamaEmbedRequest struct {
	Model      string          `json:"model"`
	Input      json.RawMessage `json:"input"`
	Dimensions int             `json:"dimensions"`
	Truncate   *bool           `json:"truncate"` // accepted and ignored: inputs are never too long
}

type ollamaEmbedResponse struct {
	Model           string      `json:"model"`
	Embeddings      [][]float32 `json:"embeddings"`
	TotalDuration   int64       `json:"total_duration"`
	LoadDuration    int64       `json:"load_duration"`
	PromptEvalCount int         `json:"prompt_eval_count"`
}

// ollamaEmbed answers POST /api/embed.
func (s *Simulator) ollamaEmbed(w http.ResponseWriter, c *call) {
	var req ollamaEmbedRequest
	if err := json.Unmarshal(c.body, &req); err != nil {
		fail(w, ollama, invalid("", "invalid request body: %v", err))
		return
	}
	if req.Model == "" {
		fail(w, ollama, invalid("model", "model is required"))
		return
	}
	inputs, err := decodeInput(req.Input)
	if err != nil {
		fail(w, ollama, invalid("input", "%v", err))
		return
	}
	if req.Dimensions < 0 || req.Dimensions > MaxDim {
		fail(w, ollama, invalid("dimensions", "dimensions must be between 1 and %d, got %d", MaxDim, req.Dimensions))
		return
	}
	d, err := parseDirectives(inputs...)
	if err != nil {
		fail(w, ollama, invalid("input", "%v", err))
		return
	}
	if !s.steer(w, c, ollama, d, sumTokens(inputs)) {
		return
	}

	dim := req.Dimensions
	if dim == 0 {
		dim = s.cfg.Dim
	}
	resp := ollamaEmbedResponse{Model: req.Model, Embeddings: make([][]float32, len(inputs))}
	for i, in := range inputs {
		resp.Embeddings[i] = Vector(in, dim)
		resp.PromptEvalCount += Tokens(in)
	}
	s.countInputs(len(inputs))
	resp.TotalDuration = int64(time.Since(c.start))
	writeJSON(w, http.StatusOK, resp)
}

// ollamaOptions are the model options the simulator reads; others are
// accepted and ignored.
type ollamaOptions struct {
	NumPredict int `json:"num_predict"`
}

// generateRequest is the body of POST /api/generate.
type generateRequest struct {
	Model   string        `json:"model"`
	Prompt  string        `json:"prompt"`
	System  string        `json:"system"`
	Stream  *bool         `json:"stream"`
	Options ollamaOptions `json:"options"`
}

// chatRequest is the body of POST /api/chat.
type chatRequest struct {
	Model    string        `json:"model"`
	Messages []chatMessage `json:"messages"`
	Stream   *bool         `json:"stream"`
	Options  ollamaOptions `json:"options"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ollamaGenerate answers POST /api/generate.
func (s *Simulator) ollamaGenerate(w http.ResponseWriter, c *call) {
	var req generateRequest
	if err := json.Unmarshal(c.body, &req); err != nil {
		fail(w, ollama, invalid("", "invalid request body: %v", err))
		return
	}
	s.generate(w, c, generation{
		model:      req.Model,
		prompt:     req.Prompt,
		steering:   []string{req.Prompt, req.System},
		stream:     req.Stream == nil || *req.Stream,
		numPredict: req.Options.NumPredict,
	})
}

// ollamaChat answers POST /api/chat.
func (s *Simulator) ollamaChat(w http.ResponseWriter, c *call) {
	var req chatRequest
	if err := json.Unmarshal(c.body, &req); err != nil {
		fail(w, ollama, invalid("", "invalid request body: %v", err))
		return
	}
	var prompt strings.Builder
	contents := make([]string, len(req.Messages))
	for i, m := range req.Messages {
		prompt.WriteString(m.Content)
		contents[i] = m.Content
	}
	s.generate(w, c, generation{
		model:      req.Model,
		chat:       true,
		prompt:     prompt.String(),
		steering:   contents,
		stream:     req.Stream == nil || *req.Stream,
		numPredict: req.Options.NumPredict,
	})
}

// generation is a generate or chat request, read.
type generation struct {
	model  string
	chat   bool
	prompt string // what the completion derives from
	// steering holds the texts directives are read from.
	steering   []string
	stream     bool
	numPredict int
}

// ollamaPart is one NDJSON line of a generation, or the whole of it.
type ollamaPart struct {
	Model     string `json:"model"`
	CreatedAt string `json:"created_at"`
	// Response is set for /api/generate, Message for /api/chat.
	Response        *string      `json:"response,omitempty"`
	Message         *chatMessage `json:"message,omitempty"`
	Done            bool         `json:"done"`
	DoneReason      string       `json:"done_reason,omitempty"`
	TotalDuration   int64        `json:"total_duration,omitempty"`
	PromptEvalCount int          `json:"prompt_eval_count,omitempty"`
	EvalCount       int          `json:"eval_count,omitempty"`
}

// part returns a part of g's answer carrying text.
func (g generation) part(text string) ollamaPart {
	p := ollamaPart{Model: g.model, CreatedAt: time.Now().UTC().Format(time.RFC3339Nano)}
	if g.chat {
		p.Message = &chatMessage{Role: "assistant", Content: text}
	} else {
		p.Response = &text
	}
	return p
}

// generate answers a generate or chat request: validates it, applies its
// directives, then streams or returns Completion(g.prompt, n).
func (s *Simulator) generate(w http.ResponseWriter, c *call, g generation) {
	if g.model == "" {
		fail(w, ollama, invalid("model", "model is required"))
		return
	}
	d, err := parseDirectives(g.steering...)
	if err != nil {
		fail(w, ollama, invalid("prompt", "%v", err))
		return
	}
	n, reason := DefaultTokens, "stop"
	switch {
	case d.hasTokens:
		n = d.tokens
	case g.numPredict > 0:
		n, reason = g.numPredict, "length"
	}
	if g.prompt == "" {
		n = 0
	}
	if !s.steer(w, c, ollama, d, Tokens(g.prompt)+n) {
		return
	}
	if g.prompt == "" {
		// Ollama answers an empty prompt by loading the model and saying so.
		p := g.part("")
		p.Done, p.DoneReason = true, "load"
		writeJSON(w, http.StatusOK, p)
		return
	}

	tokens := Completion(g.prompt, n)
	final := func(text string) ollamaPart {
		p := g.part(text)
		p.Done, p.DoneReason = true, reason
		p.PromptEvalCount, p.EvalCount = Tokens(g.prompt), n
		p.TotalDuration = int64(time.Since(c.start))
		return p
	}
	delay := s.cfg.TokenLatency
	if d.streamDelay > 0 {
		delay = d.streamDelay
	}

	if !g.stream {
		if err := s.waitTokens(c.r.Context(), n, delay); err != nil {
			return
		}
		writeJSON(w, http.StatusOK, final(strings.Join(tokens, "")))
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	for i, tok := range tokens {
		wait := delay
		if i == 0 {
			wait = s.cfg.TimeToFirstToken
		}
		if err := s.wait(c.r.Context(), wait); err != nil {
			return
		}
		if err := enc.Encode(g.part(tok)); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
	_ = enc.Encode(final(""))
}

type versionResponse struct {
	Version string `json:"version"`
}

// ollamaVersion answers GET /api/version.
func (s *Simulator) ollamaVersion(w http.ResponseWriter, c *call) {
	writeJSON(w, http.StatusOK, versionResponse{Version: Version})
}

type tagsResponse struct {
	Models []struct{} `json:"models"`
}

// ollamaTags answers GET /api/tags: no models are installed.
func (s *Simulator) ollamaTags(w http.ResponseWriter, c *call) {
	writeJSON(w, http.StatusOK, tagsResponse{Models: []struct{}{}})
}
