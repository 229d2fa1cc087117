package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/internal/genai"
	"github.com/llmq/llmq/clients/internal/redact"
)

// readStream reads a server-sent event stream of chunks to its
// "data: [DONE]" and assembles them into one Completion.
func (c *Client) readStream(ctx context.Context, call *genai.Call, body io.Reader, chat bool) (*clients.Completion, error) {
	br := bufio.NewReaderSize(body, 16<<10)
	a := &assembler{chat: chat, max: c.maxAnswer}
	var data []byte // the current event's data lines, joined by \n
	var event string
	for {
		line, err := readLine(br, c.maxAnswer)
		if err != nil {
			if errors.Is(err, clients.ErrAnswerTooLarge) {
				return nil, err
			}
			if err == io.EOF {
				err = errors.New("no data: [DONE]")
			} else {
				err = clients.ContextError(ctx, err)
			}
			return nil, fmt.Errorf("%w: %w", clients.ErrIncompleteStream, err)
		}
		if len(line) > 0 {
			name, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(name) {
			case "data":
				if data != nil {
					data = append(data, '\n')
				}
				data = append(data, value...)
				if len(data) > c.maxAnswer {
					return nil, fmt.Errorf("%w: an event of more than %d bytes", clients.ErrAnswerTooLarge, c.maxAnswer)
				}
			case "event":
				event = string(value)
			}
			continue // a line starting with ":" is a comment
		}
		// A blank line ends an event.
		if data == nil {
			event = ""
			continue
		}
		call.FirstChunk()
		if string(data) == "[DONE]" {
			return a.result()
		}
		if err := a.add(data, event == "error", c.key); err != nil {
			return nil, err
		}
		data, event = nil, ""
	}
}

// readLine returns the next line of br without its line ending, at most max
// bytes long.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		part, err := br.ReadSlice('\n')
		if len(line)+len(part) > max+2 {
			return nil, fmt.Errorf("%w: a line of more than %d bytes", clients.ErrAnswerTooLarge, max)
		}
		if err == bufio.ErrBufferFull {
			line = append(line, part...)
			continue
		}
		if err != nil {
			if err == io.EOF && len(line)+len(part) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if line == nil {
			line = part
		} else {
			line = append(line, part...)
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		return bytes.TrimSuffix(line, []byte("\r")), nil
	}
}

// chunk is one streamed chunk, as far as it is assembled.
type chunk struct {
	ID                string          `json:"id"`
	Created           json.RawMessage `json:"created"`
	Model             string          `json:"model"`
	SystemFingerprint json.RawMessage `json:"system_fingerprint"`
	ServiceTier       json.RawMessage `json:"service_tier"`
	Choices           []struct {
		Index int     `json:"index"`
		Text  *string `json:"text"`
		Delta *struct {
			Role      string     `json:"role"`
			Content   *string    `json:"content"`
			Refusal   *string    `json:"refusal"`
			ToolCalls []toolCall `json:"tool_calls"`
		} `json:"delta"`
		Logprobs     json.RawMessage `json:"logprobs"`
		FinishReason *string         `json:"finish_reason"`
	} `json:"choices"`
	Usage json.RawMessage `json:"usage"`
	Error json.RawMessage `json:"error"`
}

type toolCall struct {
	Index    int    `json:"index"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// assembler builds one answer from the chunks of a stream, keeping at most
// max bytes of text.
type assembler struct {
	chat  bool
	max   int
	size  int
	first bool // a chunk with an id has been seen

	id, model                       string
	created, fingerprint, tier, use json.RawMessage
	choices                         []*choice
}

type choice struct {
	index            int
	role             string
	content, refusal *strings.Builder
	text             strings.Builder
	toolCalls        []*toolCall
	logprobs         map[string][]json.RawMessage
	finish           *string
}

func (a *assembler) grow(n int) error {
	a.size += n
	if a.size > a.max {
		return fmt.Errorf("%w: more than %d bytes assembled", clients.ErrAnswerTooLarge, a.max)
	}
	return nil
}

func (a *assembler) choice(index int) *choice {
	for _, c := range a.choices {
		if c.index == index {
			return c
		}
	}
	c := &choice{index: index}
	a.choices = append(a.choices, c)
	return c
}

// add folds one event's data into the answer; an error object in it, or
// an "error" event, is a *clients.StreamError.
func (a *assembler) add(data []byte, isError bool, key string) error {
	var ch chunk
	if err := json.Unmarshal(data, &ch); err != nil {
		if isError {
			return &clients.StreamError{Provider: Provider, Message: redact.Snippet(string(data), maxGarbageBytes, []string{key}, nil)}
		}
		return fmt.Errorf("decode stream chunk: %w", err)
	}
	if len(ch.Error) > 0 && !isNull(ch.Error) || isError {
		return streamError(ch.Error, data, key)
	}
	if !a.first && ch.ID != "" {
		a.first = true
		a.id, a.model, a.created, a.fingerprint, a.tier = ch.ID, ch.Model, ch.Created, ch.SystemFingerprint, ch.ServiceTier
	}
	if a.model == "" {
		a.model = ch.Model
	}
	if len(ch.Usage) > 0 && !isNull(ch.Usage) {
		a.use = ch.Usage
	}
	for _, cc := range ch.Choices {
		c := a.choice(cc.Index)
		if cc.FinishReason != nil {
			c.finish = cc.FinishReason
		}
		if cc.Text != nil {
			if err := a.grow(len(*cc.Text)); err != nil {
				return err
			}
			c.text.WriteString(*cc.Text)
		}
		if d := cc.Delta; d != nil {
			if d.Role != "" {
				c.role = d.Role
			}
			if d.Content != nil {
				if err := a.grow(len(*d.Content)); err != nil {
					return err
				}
				if c.content == nil {
					c.content = new(strings.Builder)
				}
				c.content.WriteString(*d.Content)
			}
			if d.Refusal != nil {
				if err := a.grow(len(*d.Refusal)); err != nil {
					return err
				}
				if c.refusal == nil {
					c.refusal = new(strings.Builder)
				}
				c.refusal.WriteString(*d.Refusal)
			}
			for _, tc := range d.ToolCalls {
				if err := a.grow(len(tc.Function.Name) + len(tc.Function.Arguments) + len(tc.ID)); err != nil {
					return err
				}
				c.addToolCall(tc)
			}
		}
		if len(cc.Logprobs) > 0 && !isNull(cc.Logprobs) {
			if err := a.grow(len(cc.Logprobs)); err != nil {
				return err
			}
			if err := c.addLogprobs(cc.Logprobs); err != nil {
				return fmt.Errorf("decode stream chunk logprobs: %w", err)
			}
		}
	}
	return nil
}

func (c *choice) addToolCall(tc toolCall) {
	for _, t := range c.toolCalls {
		if t.Index == tc.Index {
			if tc.ID != "" {
				t.ID = tc.ID
			}
			if tc.Type != "" {
				t.Type = tc.Type
			}
			t.Function.Name += tc.Function.Name
			t.Function.Arguments += tc.Function.Arguments
			return
		}
	}
	c.toolCalls = append(c.toolCalls, &tc)
}

// addLogprobs appends the arrays of one chunk's logprobs object to those
// seen so far, key by key ("content", "refusal"; or "tokens",
// "token_logprobs", "top_logprobs", "text_offset").
func (c *choice) addLogprobs(raw json.RawMessage) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	if c.logprobs == nil {
		c.logprobs = make(map[string][]json.RawMessage)
	}
	for k, v := range m {
		var items []json.RawMessage
		if isNull(v) {
			if _, ok := c.logprobs[k]; !ok {
				c.logprobs[k] = nil
			}
			continue
		}
		if err := json.Unmarshal(v, &items); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		c.logprobs[k] = append(c.logprobs[k], items...)
	}
	return nil
}

// streamError turns an error object into a *clients.StreamError.
func streamError(obj json.RawMessage, data []byte, key string) *clients.StreamError {
	secrets := []string{key}
	var f struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
	}
	var s string
	switch {
	case json.Unmarshal(obj, &f) == nil && f.Message+f.Type != "":
	case json.Unmarshal(obj, &s) == nil && s != "":
		f.Message = s
	case json.Unmarshal(data, &f) == nil && f.Message+f.Type != "":
	default:
		f.Message = string(data)
	}
	return &clients.StreamError{
		Provider: Provider,
		Type:     redact.Snippet(f.Type, maxField, secrets, nil),
		Code:     redact.Snippet(jsonScalar(f.Code), maxField, secrets, nil),
		Message:  redact.Snippet(f.Message, maxMessage, secrets, nil),
	}
}

// The shapes of an assembled answer.
type (
	assembledChat struct {
		ID                string           `json:"id"`
		Object            string           `json:"object"`
		Created           json.RawMessage  `json:"created,omitempty"`
		Model             string           `json:"model"`
		SystemFingerprint json.RawMessage  `json:"system_fingerprint,omitempty"`
		ServiceTier       json.RawMessage  `json:"service_tier,omitempty"`
		Choices           []assembledEntry `json:"choices"`
		Usage             json.RawMessage  `json:"usage,omitempty"`
	}
	assembledEntry struct {
		Index        int                          `json:"index"`
		Message      *assembledMessage            `json:"message,omitempty"`
		Text         *string                      `json:"text,omitempty"`
		Logprobs     map[string][]json.RawMessage `json:"logprobs"`
		FinishReason *string                      `json:"finish_reason"`
	}
	assembledMessage struct {
		Role      string          `json:"role"`
		Content   *string         `json:"content"`
		Refusal   *string         `json:"refusal"`
		ToolCalls []assembledCall `json:"tool_calls,omitempty"`
	}
	// assembledCall is a tool call as a non-streamed answer has it: no
	// index.
	assembledCall struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	}
)

// result is the assembled answer.
func (a *assembler) result() (*clients.Completion, error) {
	res := &clients.Completion{ID: a.id, Model: a.model, Streamed: true}
	body := assembledChat{
		ID:                a.id,
		Object:            "text_completion",
		Created:           a.created,
		Model:             a.model,
		SystemFingerprint: a.fingerprint,
		ServiceTier:       a.tier,
		Choices:           make([]assembledEntry, 0, len(a.choices)),
		Usage:             a.use,
	}
	if a.chat {
		body.Object = "chat.completion"
	}
	for _, c := range a.choices {
		e := assembledEntry{Index: c.index, Logprobs: c.logprobs, FinishReason: c.finish}
		cc := clients.CompletionChoice{Index: c.index}
		if c.finish != nil {
			cc.FinishReason = *c.finish
		}
		if a.chat {
			m := &assembledMessage{Role: c.role}
			for _, tc := range c.toolCalls {
				ac := assembledCall{ID: tc.ID, Type: tc.Type}
				ac.Function.Name, ac.Function.Arguments = tc.Function.Name, tc.Function.Arguments
				m.ToolCalls = append(m.ToolCalls, ac)
			}
			if m.Role == "" {
				m.Role = "assistant"
			}
			if c.content != nil {
				s := c.content.String()
				m.Content, cc.Text = &s, s
			}
			if c.refusal != nil {
				s := c.refusal.String()
				m.Refusal = &s
			}
			e.Message = m
		} else {
			s := c.text.String()
			e.Text, cc.Text = &s, s
		}
		body.Choices = append(body.Choices, e)
		res.Choices = append(res.Choices, cc)
	}
	finish(res)
	// The body lists choices in index order too.
	idx := make(map[int]assembledEntry, len(body.Choices))
	for _, e := range body.Choices {
		idx[e.Index] = e
	}
	for i, ch := range res.Choices {
		body.Choices[i] = idx[ch.Index]
	}
	if len(a.use) > 0 {
		var u usage
		if err := json.Unmarshal(a.use, &u); err != nil {
			return nil, fmt.Errorf("decode stream usage: %w", err)
		}
		res.InputTokens, res.OutputTokens = u.PromptTokens, u.CompletionTokens
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("assemble stream: %w", err)
	}
	res.Body = raw
	return res, nil
}
