package job

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/tasks"
)

// Kinds of job.
const (
	// KindEmbedding jobs embed texts, many per task (the default).
	KindEmbedding = "embedding"
	// KindGeneration jobs complete prompts and chats, one per task.
	KindGeneration = "generation"
)

// generateOptions are what a generation job's Reader needs besides the
// lines.
type generateOptions struct {
	provider string
	model    string
	stream   bool
}

// NewGenerateReader returns a Reader of a generation job's input, whose
// items carry a tasks.GeneratePayload for provider (tasks.ProviderOpenAI
// or tasks.ProviderOllama) with model as the model of lines naming none
// (empty: the worker's default) and stream as its Stream.
//
// Lines are {"id", "prompt"} or {"id", "messages"} with optional fields
// (simple format), or OpenAI Batch API requests to /v1/chat/completions
// or /v1/completions (batch format), told apart by the first line that
// parses, as for embeddings.
//
// Toward OpenAI a simple line is a chat completion request: its fields
// other than "id", "prompt" and "system" form the body as they are
// (temperature, max_tokens, response_format, tools, seed, n, ...), with
// "messages" built from "system" and "prompt" when the line has a prompt.
// A Batch API line's body is sent byte for byte, not streamed (its own
// "stream" is honoured), and needs provider openai. Toward Ollama a simple
// line may hold "model", "prompt", "system", "messages" and "options"
// (Ollama's model parameters), nothing else.
func NewGenerateReader(r io.Reader, provider, model string, stream bool) *Reader {
	rd := NewReader(r, Limits{})
	rd.gen = &generateOptions{provider: provider, model: model, stream: stream}
	return rd
}

// batchGenerateURLs are the Batch API endpoints a generation job runs.
var batchGenerateURLs = []string{tasks.EndpointChat, tasks.EndpointCompletions}

func (r *Reader) parseGenerate(b []byte) (Item, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return Item{}, r.bad("not a JSON object: %v", err)
	}
	_, hasCustomID := fields["custom_id"]
	_, hasBody := fields["body"]
	isBatch := hasCustomID || hasBody
	if r.Format == "" {
		r.Format = FormatSimple
		if isBatch {
			r.Format = FormatBatch
		}
	}
	switch {
	case r.Format == FormatBatch && !isBatch:
		return Item{}, r.bad("not an OpenAI Batch API request line (no custom_id or body), but the input's first line was")
	case r.Format == FormatBatch:
		return r.batchGenerateItem(fields)
	case isBatch:
		return Item{}, r.bad("an OpenAI Batch API request line, but the input's first line was {\"id\", \"prompt\"} or {\"id\", \"messages\"}")
	}
	return r.simpleGenerateItem(fields)
}

func (r *Reader) batchGenerateItem(fields map[string]json.RawMessage) (Item, error) {
	var l struct {
		CustomID string          `json:"custom_id"`
		Method   string          `json:"method"`
		URL      string          `json:"url"`
		Body     json.RawMessage `json:"body"`
	}
	for _, k := range []string{"custom_id", "method", "url"} {
		if v, ok := fields[k]; ok {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return Item{}, r.bad("%s must be a string", k)
			}
			switch k {
			case "custom_id":
				l.CustomID = s
			case "method":
				l.Method = s
			case "url":
				l.URL = s
			}
		}
	}
	l.Body = bytes.TrimSpace(fields["body"])
	switch {
	case l.CustomID == "":
		return Item{}, r.bad("no custom_id")
	case l.Method != "POST":
		return Item{}, r.bad("method %q: want POST", l.Method)
	case !slices.Contains(batchGenerateURLs, l.URL):
		return Item{}, r.bad("unsupported url %q: generation jobs run %s", l.URL, strings.Join(batchGenerateURLs, " and "))
	case len(l.Body) == 0 || l.Body[0] != '{':
		return Item{}, r.bad("body must be a JSON object")
	case r.gen.provider != tasks.ProviderOpenAI:
		return Item{}, r.bad("OpenAI Batch API lines need provider %s, not %s", tasks.ProviderOpenAI, r.gen.provider)
	}
	p := tasks.GeneratePayload{Provider: tasks.ProviderOpenAI, Endpoint: l.URL, Body: slices.Clone(l.Body), ID: l.CustomID}
	if err := p.Validate(); err != nil {
		return Item{}, r.bad("%s", strings.TrimPrefix(err.Error(), tasks.ErrInvalidPayload.Error()+": "))
	}
	return Item{Line: r.line, ID: l.CustomID, Generate: &p}, nil
}

func (r *Reader) simpleGenerateItem(fields map[string]json.RawMessage) (Item, error) {
	it := Item{Line: r.line}
	id := fields["id"]
	switch {
	case len(id) == 0 || string(id) == "null":
		it.ID = strconv.Itoa(r.line)
	case id[0] == '"':
		if err := json.Unmarshal(id, &it.ID); err != nil {
			return Item{}, r.bad("id: %v", err)
		}
	default:
		var n json.Number
		if err := json.Unmarshal(id, &n); err != nil {
			return Item{}, r.bad("id must be a string or a number")
		}
		it.ID = n.String()
	}
	var prompt, system string
	for k, v := range map[string]*string{"prompt": &prompt, "system": &system} {
		if raw, ok := fields[k]; ok && string(raw) != "null" {
			if err := json.Unmarshal(raw, v); err != nil {
				return Item{}, r.bad("%s must be a string", k)
			}
		}
	}
	messages := bytes.TrimSpace(fields["messages"])
	if string(messages) == "null" {
		messages = nil
	}
	switch {
	case prompt == "" && len(messages) == 0:
		return Item{}, r.bad(`no "prompt" and no "messages"`)
	case prompt != "" && len(messages) > 0:
		return Item{}, r.bad(`both "prompt" and "messages": give one`)
	case len(messages) > 0 && (messages[0] != '[' || string(messages) == "[]"):
		return Item{}, r.bad(`"messages" must be a non-empty array`)
	case system != "" && len(messages) > 0:
		return Item{}, r.bad(`"system" goes with "prompt"; put a system message in "messages"`)
	}
	var p tasks.GeneratePayload
	var err error
	if r.gen.provider == tasks.ProviderOllama {
		p, err = r.ollamaPayload(fields, prompt, system, messages)
	} else {
		p, err = r.openAIPayload(fields, prompt, system, messages)
	}
	if err != nil {
		return Item{}, err
	}
	p.ID, p.Stream = it.ID, r.gen.stream
	if err := p.Validate(); err != nil {
		return Item{}, r.bad("%s", strings.TrimPrefix(err.Error(), tasks.ErrInvalidPayload.Error()+": "))
	}
	it.Generate = &p
	return it, nil
}

// openAIPayload makes a simple line a chat completion request: the line's
// fields but id, prompt and system, as they are, and the messages.
func (r *Reader) openAIPayload(fields map[string]json.RawMessage, prompt, system string, messages json.RawMessage) (tasks.GeneratePayload, error) {
	body := make(map[string]json.RawMessage, len(fields)+1)
	for k, v := range fields {
		switch k {
		case "id", "prompt", "system":
		default:
			body[k] = v
		}
	}
	if prompt != "" {
		var msgs []clients.Message
		if system != "" {
			msgs = append(msgs, clients.Message{Role: "system", Content: system})
		}
		msgs = append(msgs, clients.Message{Role: "user", Content: prompt})
		b, err := json.Marshal(msgs)
		if err != nil {
			return tasks.GeneratePayload{}, r.bad("prompt: %v", err)
		}
		body["messages"] = b
	} else {
		body["messages"] = messages
	}
	if _, ok := body["model"]; !ok && r.gen.model != "" {
		body["model"], _ = json.Marshal(r.gen.model)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return tasks.GeneratePayload{}, r.bad("%v", err)
	}
	return tasks.GeneratePayload{Provider: tasks.ProviderOpenAI, Endpoint: tasks.EndpointChat, Body: b}, nil
}

// ollamaFields are the fields a simple line may hold for Ollama.
var ollamaFields = []string{"id", "model", "prompt", "system", "messages", "options"}

func (r *Reader) ollamaPayload(fields map[string]json.RawMessage, prompt, system string, messages json.RawMessage) (tasks.GeneratePayload, error) {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(ollamaFields, k) {
			return tasks.GeneratePayload{}, r.bad("field %q is not one for Ollama (%s; model parameters go in \"options\")", k, strings.Join(ollamaFields, ", "))
		}
	}
	p := tasks.GeneratePayload{Provider: tasks.ProviderOllama, Model: r.gen.model, Prompt: prompt, System: system}
	if raw, ok := fields["model"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &p.Model); err != nil {
			return tasks.GeneratePayload{}, r.bad("model must be a string")
		}
	}
	if len(messages) > 0 {
		if err := json.Unmarshal(messages, &p.Messages); err != nil {
			return tasks.GeneratePayload{}, r.bad(`"messages" must be an array of {"role", "content"} with string values`)
		}
	}
	if raw, ok := fields["options"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &p.Options); err != nil {
			return tasks.GeneratePayload{}, r.bad(`"options" must be an object`)
		}
	}
	return p, nil
}
