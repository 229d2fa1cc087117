package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/internal/genai"
)

// Defaults of the generation endpoints.
const (
	// DefaultChatModel is the model of a generation request that names
	// none.
	DefaultChatModel = "gpt-4o-mini"
	// DefaultMaxAnswerBytes is the default of Config.MaxAnswerBytes.
	DefaultMaxAnswerBytes = 16 << 20
)

// Compile-time checks that both methods have the same signature.
var _ = []func(*Client, context.Context, clients.CompletionRequest) (*clients.Completion, error){(*Client).Chat, (*Client).Complete}

// Chat sends req.Body to POST {BaseURL}/chat/completions in one request
// and returns the answer, streamed (req.Stream, or "stream": true in the
// body) or not; a stream is read to its "data: [DONE]" and assembled.
//
// The body goes out as it is, except for what clients.CompletionRequest
// says is filled in. A body that is not a JSON object, or whose "model" is
// not a string or "stream" not a boolean, is refused before sending with
// an error wrapping ErrInvalidRequest. A non-2xx answer is a
// *clients.APIError; an error event in a stream is a *clients.StreamError;
// a stream that ends before [DONE], cut or not, is an error wrapping
// clients.ErrIncompleteStream; an answer beyond Config.MaxAnswerBytes one
// wrapping clients.ErrAnswerTooLarge. Errors caused by ctx wrap ctx.Err(),
// and ending ctx stops a stream at once. Every request sent is reported as
// a span (operation "chat") and in the gen_ai.client.* metrics, with the
// time to the first chunk of a stream.
func (c *Client) Chat(ctx context.Context, req clients.CompletionRequest) (*clients.Completion, error) {
	return c.generate(ctx, genai.Chat, "openai chat", c.base+"/chat/completions", req)
}

// Complete is Chat for POST {BaseURL}/completions, the text completions
// endpoint (a "prompt" instead of "messages"); its span's operation is
// "text_completion".
func (c *Client) Complete(ctx context.Context, req clients.CompletionRequest) (*clients.Completion, error) {
	return c.generate(ctx, genai.TextCompletion, "openai completions", c.base+"/completions", req)
}

func (c *Client) generate(ctx context.Context, op, name, url string, req clients.CompletionRequest) (*clients.Completion, error) {
	body, model, stream, err := prepareBody(req.Body, c.chatModel, req.Stream)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	ctx, call := c.obs.Start(ctx, op, model)
	res, err := c.send(ctx, call, url, body, stream, op == genai.Chat)
	if res != nil {
		call.Usage(res.Model, res.InputTokens, res.OutputTokens)
		call.Generation(res.ID, res.FinishReasons())
	}
	call.End(err)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return res, nil
}

// send posts body and reads the answer; the response body has been read
// and closed when it returns.
func (c *Client) send(ctx context.Context, call *genai.Call, url string, body []byte, stream, chat bool) (*clients.Completion, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	if stream {
		hreq.Header.Set("Accept", "text/event-stream")
	} else {
		hreq.Header.Set("Accept", "application/json")
	}
	if c.auth != "" {
		hreq.Header.Set("Authorization", c.auth)
	}
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return nil, clients.ContextError(ctx, err)
	}
	defer clients.DrainClose(resp.Body)
	call.Response(resp)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.apiError(resp, nil)
	}
	// A server that does not stream answers JSON even when asked to.
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); stream && mt == "text/event-stream" {
		return c.readStream(ctx, call, resp.Body, chat)
	}
	raw, err := readLimited(resp.Body, c.maxAnswer)
	if err != nil {
		return nil, clients.ContextError(ctx, err)
	}
	res, err := decodeCompletion(raw, chat)
	if err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	return res, nil
}

// readLimited reads r to its end, failing once it passes max bytes.
func readLimited(r io.Reader, max int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, fmt.Errorf("%w: more than %d bytes", clients.ErrAnswerTooLarge, max)
	}
	return b, nil
}

// completionBody holds the fields of a non-streamed answer that a
// Completion reports.
type completionBody struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int     `json:"index"`
		Text    *string `json:"text"`
		Message *struct {
			Content *string `json:"content"`
		} `json:"message"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage `json:"usage"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// decodeCompletion reads a non-streamed answer, keeping raw as its Body.
func decodeCompletion(raw []byte, chat bool) (*clients.Completion, error) {
	var cb completionBody
	if err := json.Unmarshal(raw, &cb); err != nil {
		return nil, err
	}
	res := &clients.Completion{Body: raw, ID: cb.ID, Model: cb.Model}
	for _, ch := range cb.Choices {
		cc := clients.CompletionChoice{Index: ch.Index}
		switch {
		case chat && ch.Message != nil && ch.Message.Content != nil:
			cc.Text = *ch.Message.Content
		case !chat && ch.Text != nil:
			cc.Text = *ch.Text
		}
		if ch.FinishReason != nil {
			cc.FinishReason = *ch.FinishReason
		}
		res.Choices = append(res.Choices, cc)
	}
	if cb.Usage != nil {
		res.InputTokens, res.OutputTokens = cb.Usage.PromptTokens, cb.Usage.CompletionTokens
	}
	finish(res)
	return res, nil
}

// finish sorts res's choices by index and fills Text and FinishReason.
func finish(res *clients.Completion) {
	sort.SliceStable(res.Choices, func(i, j int) bool { return res.Choices[i].Index < res.Choices[j].Index })
	if len(res.Choices) > 0 {
		res.Text, res.FinishReason = res.Choices[0].Text, res.Choices[0].FinishReason
	}
}

// field is one member of a JSON object, its value as it was written.
type field struct {
	key string
	val json.RawMessage
}

// prepareBody checks that raw is a JSON object and returns the body to
// send: raw itself when nothing needs filling in, otherwise raw's members
// in their order, values verbatim, with "model" set to defModel when it
// is missing, null or "", and, for a stream (forceStream or "stream":
// true), "stream" and "stream_options.include_usage" set to true. It also
// returns the model and whether the answer streams.
func prepareBody(raw json.RawMessage, defModel string, forceStream bool) ([]byte, string, bool, error) {
	fields, err := members(raw)
	if err != nil {
		return nil, "", false, fmt.Errorf("%w: body: %v", ErrInvalidRequest, err)
	}
	changed := false
	model, stream := "", forceStream
	hasModel, hasStream, hasOptions := false, false, false
	for i := range fields {
		f := &fields[i]
		switch f.key {
		case "model":
			hasModel = true
			if isNull(f.val) {
				f.val, changed = quote(defModel), true
				model = defModel
				continue
			}
			if err := json.Unmarshal(f.val, &model); err != nil {
				return nil, "", false, fmt.Errorf("%w: model must be a string", ErrInvalidRequest)
			}
			if model == "" {
				f.val, changed, model = quote(defModel), true, defModel
			}
		case "stream":
			hasStream = true
			var b *bool
			if err := json.Unmarshal(f.val, &b); err != nil {
				return nil, "", false, fmt.Errorf("%w: stream must be a boolean", ErrInvalidRequest)
			}
			stream = stream || b != nil && *b
		}
	}
	if !hasModel {
		fields = append(fields, field{key: "model", val: quote(defModel)})
		model, changed = defModel, true
	}
	if stream {
		for i := range fields {
			f := &fields[i]
			switch f.key {
			case "stream":
				if string(bytes.TrimSpace(f.val)) != "true" {
					f.val, changed = json.RawMessage("true"), true
				}
			case "stream_options":
				hasOptions = true
				opts, err := withIncludeUsage(f.val)
				if err != nil {
					return nil, "", false, fmt.Errorf("%w: stream_options: %v", ErrInvalidRequest, err)
				}
				if opts != nil {
					f.val, changed = opts, true
				}
			}
		}
		if !hasStream {
			fields, changed = append(fields, field{key: "stream", val: json.RawMessage("true")}), true
		}
		if !hasOptions {
			fields, changed = append(fields, field{key: "stream_options", val: json.RawMessage(`{"include_usage":true}`)}), true
		}
	}
	if !changed {
		return raw, model, stream, nil
	}
	return encodeMembers(fields), model, stream, nil
}

// withIncludeUsage returns the stream options raw with include_usage set
// to true, or nil when it already is.
func withIncludeUsage(raw json.RawMessage) (json.RawMessage, error) {
	if isNull(raw) {
		return json.RawMessage(`{"include_usage":true}`), nil
	}
	fields, err := members(raw)
	if err != nil {
		return nil, err
	}
	for i := range fields {
		if fields[i].key == "include_usage" {
			if string(bytes.TrimSpace(fields[i].val)) == "true" {
				return nil, nil
			}
			fields[i].val = json.RawMessage("true")
			return encodeMembers(fields), nil
		}
	}
	return encodeMembers(append(fields, field{key: "include_usage", val: json.RawMessage("true")})), nil
}

// members splits a JSON object into its members, in order, values as
// written. Anything but exactly one object is an error.
func members(raw []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var fields []field
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, err
		}
		fields = append(fields, field{key: key, val: val})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return fields, nil
}

func encodeMembers(fields []field) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(quote(f.key))
		b.WriteByte(':')
		b.Write(f.val)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func quote(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}
