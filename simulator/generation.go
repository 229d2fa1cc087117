package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Limits of the OpenAI generation routes.
const (
	// MaxChoices is the largest n a generation request may ask for.
	MaxChoices = 128
	// MaxGenerationTokens is the longest generation, in tokens, the
	// simulator makes (max_tokens, max_completion_tokens, sim:tokens).
	MaxGenerationTokens = 1 << 20
	// SystemFingerprint is the system_fingerprint of OpenAI answers.
	SystemFingerprint = "fp_simulator"
)

// Answer returns the text of choice (0-based) that the OpenAI generation
// routes answer to prompt by model with tokens tokens: tokens words of the
// vocabulary Completion draws from, each followed by one space. The words
// are picked by a SplitMix64 stream seeded, as in Vector, from the SHA-256
// of model, a zero byte, prompt, a zero byte and choice in decimal; so an
// answer with more tokens extends one with fewer. For a chat, prompt is
// ChatPrompt of the messages' contents.
func Answer(model, prompt string, choice, tokens int) string {
	return strings.Join(answerTokens(model, prompt, choice, tokens), "")
}

func answerTokens(model, prompt string, choice, n int) []string {
	if n <= 0 {
		return nil
	}
	rng := seedOf(model + "\x00" + prompt + "\x00" + strconv.Itoa(choice))
	out := make([]string, n)
	for i := range out {
		out[i] = vocabulary[rng.next()%uint64(len(vocabulary))] + " "
	}
	return out
}

// ChatPrompt returns the prompt a chat's answer derives from: the texts of
// its messages' contents (a string content, or the "text" of each text
// part of an array content), concatenated without separator.
func ChatPrompt(contents ...string) string { return strings.Join(contents, "") }

// streamOptions is OpenAI's stream_options.
type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// chatCompletionRequest holds the fields of POST /v1/chat/completions that
// the simulator reads; the others are accepted and ignored.
type chatCompletionRequest struct {
	Model               string          `json:"model"`
	Messages            []openAIMessage `json:"messages"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	N                   *int            `json:"n"`
	Stream              bool            `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
}

type openAIMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// completionRequest holds the fields of POST /v1/completions the
// simulator reads.
type completionRequest struct {
	Model         string          `json:"model"`
	Prompt        json.RawMessage `json:"prompt"`
	MaxTokens     *int            `json:"max_tokens"`
	N             *int            `json:"n"`
	Stream        bool            `json:"stream"`
	StreamOptions *streamOptions  `json:"stream_options"`
}

// openAIChat answers POST /v1/chat/completions.
func (s *Simulator) openAIChat(w http.ResponseWriter, c *call) {
	var req chatCompletionRequest
	if err := json.Unmarshal(c.body, &req); err != nil {
		fail(w, openAI, invalid("", "We could not parse the JSON body of your request: %v.", err))
		return
	}
	if len(req.Messages) == 0 {
		fail(w, openAI, invalid("messages", "[] is too short - 'messages'."))
		return
	}
	contents := make([]string, len(req.Messages))
	for i, m := range req.Messages {
		if m.Role == "" {
			fail(w, openAI, invalid(fmt.Sprintf("messages.[%d].role", i), "Missing required parameter: 'messages.[%d].role'.", i))
			return
		}
		text, err := contentText(m.Content)
		if err != nil {
			fail(w, openAI, invalid(fmt.Sprintf("messages.[%d].content", i), "%v", err))
			return
		}
		contents[i] = text
	}
	maxTokens := req.MaxTokens
	param := "max_tokens"
	if req.MaxCompletionTokens != nil {
		maxTokens, param = req.MaxCompletionTokens, "max_completion_tokens"
	}
	s.generateOpenAI(w, c, openAIGeneration{
		chat:         true,
		model:        req.Model,
		prompts:      []string{ChatPrompt(contents...)},
		steering:     contents,
		n:            req.N,
		maxTokens:    maxTokens,
		maxParam:     param,
		stream:       req.Stream,
		includeUsage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage,
	})
}

// openAICompletions answers POST /v1/completions.
func (s *Simulator) openAICompletions(w http.ResponseWriter, c *call) {
	var req completionRequest
	if err := json.Unmarshal(c.body, &req); err != nil {
		fail(w, openAI, invalid("", "We could not parse the JSON body of your request: %v.", err))
		return
	}
	prompts, err := decodePrompt(req.Prompt)
	if err != nil {
		fail(w, openAI, invalid("prompt", "%v", err))
		return
	}
	s.generateOpenAI(w, c, openAIGeneration{
		model:        req.Model,
		prompts:      prompts,
		steering:     prompts,
		n:            req.N,
		maxTokens:    req.MaxTokens,
		maxParam:     "max_tokens",
		stream:       req.Stream,
		includeUsage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage,
	})
}

// contentText reads a message content: a string, null, or an array of
// parts whose text parts it concatenates.
func contentText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return "", nil
	case raw[0] == '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case raw[0] == '[':
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(raw, &parts); err != nil {
			return "", fmt.Errorf("content must be a string or an array of content parts: %v", err)
		}
		var b strings.Builder
		for _, p := range parts {
			if p.Type == "text" {
				b.WriteString(p.Text)
			}
		}
		return b.String(), nil
	}
	return "", errors.New("content must be a string or an array of content parts")
}

// decodePrompt reads a completion prompt: a string or an array of strings.
func decodePrompt(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, errors.New("missing required parameter: 'prompt'")
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return []string{s}, nil
	}
	var ps []string
	if err := json.Unmarshal(raw, &ps); err != nil || len(ps) == 0 {
		return nil, errors.New("prompt must be a string or a non-empty array of strings (token arrays are not simulated)")
	}
	return ps, nil
}

// openAIGeneration is a chat or completion request, read.
type openAIGeneration struct {
	chat    bool
	model   string
	prompts []string // one for a chat; each gets n choices
	// steering holds the texts directives are read from.
	steering     []string
	n, maxTokens *int
	maxParam     string
	stream       bool
	includeUsage bool
}

type genUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type chatMessageOut struct {
	Role    string  `json:"role"`
	Content string  `json:"content"`
	Refusal *string `json:"refusal"`
}

type chatChoice struct {
	Index        int             `json:"index"`
	Message      chatMessageOut  `json:"message"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

type textChoice struct {
	Text         string          `json:"text"`
	Index        int             `json:"index"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

// genAnswer is a non-streamed answer, or (with Object ".chunk" and
// deltas) one chunk of a streamed one.
type genAnswer struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	Created           int64           `json:"created"`
	Model             string          `json:"model"`
	SystemFingerprint string          `json:"system_fingerprint,omitempty"`
	Choices           any             `json:"choices"`
	Usage             json.RawMessage `json:"usage,omitempty"`
}

type chatDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
	Refusal *string `json:"refusal,omitempty"`
}

type chatChunkChoice struct {
	Index        int             `json:"index"`
	Delta        chatDelta       `json:"delta"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

var jsonNull = json.RawMessage("null")

// generateOpenAI validates g, applies its directives and answers it,
// streamed or not.
func (s *Simulator) generateOpenAI(w http.ResponseWriter, c *call, g openAIGeneration) {
	if g.model == "" {
		fail(w, openAI, invalid("model", "you must provide a model parameter"))
		return
	}
	choices := 1
	if g.n != nil {
		choices = *g.n
		if choices < 1 || choices > MaxChoices {
			fail(w, openAI, invalid("n", "%d is not valid for n: it must be between 1 and %d.", choices, MaxChoices))
			return
		}
	}
	if g.maxTokens != nil && (*g.maxTokens < 1 || *g.maxTokens > MaxGenerationTokens) {
		fail(w, openAI, invalid(g.maxParam, "%s must be between 1 and %d, got %d.", g.maxParam, MaxGenerationTokens, *g.maxTokens))
		return
	}
	d, err := parseDirectives(g.steering...)
	if err != nil {
		fail(w, openAI, invalid("messages", "%v", err))
		return
	}
	if d.tokens > MaxGenerationTokens {
		fail(w, openAI, invalid("messages", "sim:tokens must be at most %d", MaxGenerationTokens))
		return
	}
	// The length: sim:tokens or, failing it, as much as max_tokens allows
	// or DefaultTokens; capped by max_tokens, which then is the reason.
	n, reason := DefaultTokens, "stop"
	switch {
	case d.hasTokens:
		n = d.tokens
		if g.maxTokens != nil && *g.maxTokens < n {
			n, reason = *g.maxTokens, "length"
		}
	case g.maxTokens != nil:
		n, reason = *g.maxTokens, "length"
	}
	promptTokens := 0
	for _, p := range g.prompts {
		promptTokens += Tokens(p)
	}
	total := len(g.prompts) * choices
	usage := genUsage{PromptTokens: promptTokens, CompletionTokens: total * n}
	usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens
	if !s.steer(w, c, openAI, d, usage.TotalTokens) {
		return
	}
	texts := make([][]string, total)
	for p, prompt := range g.prompts {
		for j := range choices {
			texts[p*choices+j] = answerTokens(g.model, prompt, j, n)
		}
	}
	s.statsMu.Lock()
	s.stats.CompletionTokens += int64(usage.CompletionTokens)
	s.statsMu.Unlock()

	ans := genAnswer{
		ID:      fmt.Sprintf("cmpl-sim%016x", s.seq.Add(1)),
		Object:  "text_completion",
		Created: time.Now().Unix(),
		Model:   g.model,
	}
	if g.chat {
		ans.ID = "chat" + ans.ID
		ans.Object = "chat.completion"
		ans.SystemFingerprint = SystemFingerprint
	}
	delay := s.cfg.TokenLatency
	if d.streamDelay > 0 {
		delay = d.streamDelay
	}
	if !g.stream {
		if err := s.waitTokens(c.r.Context(), n, delay); err != nil {
			return
		}
		if g.chat {
			cs := make([]chatChoice, total)
			for i, t := range texts {
				cs[i] = chatChoice{Index: i, Message: chatMessageOut{Role: "assistant", Content: strings.Join(t, "")}, Logprobs: jsonNull, FinishReason: reason}
			}
			ans.Choices = cs
		} else {
			cs := make([]textChoice, total)
			for i, t := range texts {
				cs[i] = textChoice{Text: strings.Join(t, ""), Index: i, Logprobs: jsonNull, FinishReason: &reason}
			}
			ans.Choices = cs
		}
		ans.Usage, _ = json.Marshal(usage)
		writeJSON(w, http.StatusOK, ans)
		return
	}
	s.streamOpenAI(w, c, g, d, ans, texts, n, reason, usage, delay)
}

// waitTokens waits as long as generating n tokens takes.
func (s *Simulator) waitTokens(ctx context.Context, n int, delay time.Duration) error {
	if err := s.wait(ctx, s.cfg.TimeToFirstToken); err != nil {
		return err
	}
	return s.wait(ctx, time.Duration(max(n-1, 0))*delay)
}

// streamOpenAI writes a generation as server-sent events: at each token
// position one chunk per choice (a chat's first chunk also carries the
// role), then one chunk per choice with its finish_reason, the usage chunk
// when asked, and "data: [DONE]". The stream faults of d cut it short.
func (s *Simulator) streamOpenAI(w http.ResponseWriter, c *call, g openAIGeneration, d directives, ans genAnswer, texts [][]string, n int, reason string, usage genUsage, delay time.Duration) {
	ans.Object += ".chunk"
	if !g.chat {
		ans.Object = "text_completion"
	}
	if g.includeUsage {
		ans.Usage = jsonNull
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if rc.Flush() != nil { // the headers go out at once, as a server's do
		return
	}
	ctx := c.r.Context()
	var buf bytes.Buffer
	send := func(v any) bool {
		buf.Reset()
		buf.WriteString("data: ")
		if err := json.NewEncoder(&buf).Encode(v); err != nil {
			return false
		}
		buf.WriteString("\n")
		if _, err := w.Write(buf.Bytes()); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	left := func() {
		s.statsMu.Lock()
		s.stats.Disconnects++
		s.statsMu.Unlock()
	}
	chunk := func(pos int, final bool) genAnswer {
		a := ans
		if g.chat {
			cs := make([]chatChunkChoice, len(texts))
			for i, t := range texts {
				cc := chatChunkChoice{Index: i, Logprobs: jsonNull}
				switch {
				case final:
					cc.FinishReason = &reason
				case pos < len(t):
					cc.Delta.Content = &t[pos]
				default:
					empty := ""
					cc.Delta.Content = &empty
				}
				if pos == 0 && !final {
					cc.Delta.Role = "assistant"
				}
				cs[i] = cc
			}
			a.Choices = cs
		} else {
			cs := make([]textChoice, len(texts))
			for i, t := range texts {
				tc := textChoice{Index: i, Logprobs: jsonNull}
				if final {
					tc.FinishReason = &reason
				} else if pos < len(t) {
					tc.Text = t[pos]
				}
				cs[i] = tc
			}
			a.Choices = cs
		}
		return a
	}
	positions := max(n, 1) // a chat of no tokens still sends its role
	if !g.chat {
		positions = n
	}
	for pos := 0; pos <= positions; pos++ {
		wait := delay
		if pos == 0 {
			wait = s.cfg.TimeToFirstToken
		}
		if pos == positions {
			wait = 0
		}
		if err := s.wait(ctx, wait); err != nil {
			left()
			return
		}
		switch {
		case d.hasStreamCut && d.streamCut == pos:
			// The connection drops: no chunk terminator, no [DONE].
			panic(http.ErrAbortHandler)
		case d.hasStreamError && d.streamError == pos:
			f := statusFailure(http.StatusInternalServerError)
			send(openAIErrorBody{Error: openAIError{Message: f.message, Type: "server_error"}})
			return
		case pos == positions:
			continue
		}
		if !send(chunk(pos, false)) {
			left()
			return
		}
	}
	if !send(chunk(0, true)) {
		left()
		return
	}
	if g.includeUsage {
		u := ans
		u.Choices = []struct{}{}
		u.Usage, _ = json.Marshal(usage)
		if !send(u) {
			left()
			return
		}
	}
	if d.streamNoDone {
		return
	}
	if _, err := w.Write([]byte("data: [DONE]\n\n")); err != nil {
		left()
	}
}
