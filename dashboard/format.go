package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/hibiken/asynqmon"

	"github.com/llmq/llmq/tasks"
)

// Limits of what the formatters show of a task.
const (
	// maxText is the most characters of a text, prompt or generated answer
	// shown.
	maxText = 120
	// maxIDs is the most item ids of an embedding task listed.
	maxIDs = 5
	// maxRaw is the largest payload of an unknown task type shown as is.
	maxRaw = 2048
)

// defaultModel stands for a model the task leaves to the worker's
// configuration.
const defaultModel = "(worker default)"

// embedSummary is what the dashboard shows of an embedding task's payload.
type embedSummary struct {
	Provider     string   `json:"provider"`
	Model        string   `json:"model"`
	Items        int      `json:"items"`
	Dimensions   int      `json:"dimensions,omitempty"`
	IDs          []string `json:"ids,omitempty"`
	FirstText    string   `json:"first_text,omitempty"`
	PayloadBytes int      `json:"payload_bytes"`
}

// generateSummary is what the dashboard shows of a generation task's
// payload.
type generateSummary struct {
	Provider     string `json:"provider"`
	Model        string `json:"model"`
	Items        int    `json:"items"`
	ID           string `json:"id,omitempty"`
	Prompt       string `json:"prompt,omitempty"`
	Messages     int    `json:"messages,omitempty"`
	LastMessage  string `json:"last_message,omitempty"`
	Stream       bool   `json:"stream"`
	PayloadBytes int    `json:"payload_bytes"`
}

// PayloadFormatter shows llmq's task payloads as a short JSON summary: for
// an embedding task its provider, model, item count, dimensions, first ids
// and the beginning of its first text; for a generation task its provider,
// model, id and the beginning of its prompt or last message. Payloads of
// other task types are shown as they are when printable and short.
var PayloadFormatter asynqmon.PayloadFormatter = asynqmon.PayloadFormatterFunc(FormatPayload)

// FormatPayload is the function behind PayloadFormatter.
func FormatPayload(taskType string, payload []byte) string {
	switch taskType {
	case tasks.TypeEmbed:
		var p tasks.EmbedPayload
		if err := json.Unmarshal(payload, &p); err != nil {
			return undecodable("payload", payload, err)
		}
		s := embedSummary{
			Provider: orDefault(p.Provider, tasks.ProviderOpenAI), Model: orDefault(p.Model, defaultModel),
			Items: len(p.Texts), Dimensions: p.Dimensions, PayloadBytes: len(payload),
		}
		if len(p.IDs) > maxIDs {
			s.IDs = append(p.IDs[:maxIDs-1:maxIDs-1], "…", p.IDs[len(p.IDs)-1])
		} else {
			s.IDs = p.IDs
		}
		if len(p.Texts) > 0 {
			s.FirstText = clip(p.Texts[0])
		}
		return marshal(s)
	case tasks.TypeGenerate:
		var p tasks.GeneratePayload
		if err := json.Unmarshal(payload, &p); err != nil {
			return undecodable("payload", payload, err)
		}
		s := generateSummary{
			Provider: orDefault(p.Provider, defaultModel), Model: orDefault(p.Model, defaultModel),
			Items: 1, ID: p.ID, Prompt: clip(p.Prompt), Messages: len(p.Messages), Stream: p.Stream, PayloadBytes: len(payload),
		}
		if n := len(p.Messages); n > 0 {
			m := p.Messages[n-1]
			s.LastMessage = m.Role + ": " + clip(m.Content)
		}
		return marshal(s)
	}
	return raw("payload", payload)
}

// embedResultSummary is what the dashboard shows of an embedding result.
type embedResultSummary struct {
	Model       string `json:"model"`
	Vectors     int    `json:"vectors"`
	Failed      int    `json:"failed,omitempty"`
	Dimensions  int    `json:"dimensions"`
	InputTokens int    `json:"input_tokens"`
	ResultBytes int    `json:"result_bytes"`
}

// generateResultSummary is what the dashboard shows of a generation result.
type generateResultSummary struct {
	Model        string `json:"model"`
	Text         string `json:"text"`
	TextChars    int    `json:"text_chars"`
	DoneReason   string `json:"done_reason,omitempty"`
	InputTokens  int    `json:"input_tokens"`
	OutputTokens int    `json:"output_tokens"`
}

// ResultFormatter shows llmq's task results as a short JSON summary: an
// embedding result (binary, see tasks.EncodeEmbedResult) as its model,
// vector count and dimensions; a generation result as its model, token
// counts and the beginning of its text.
var ResultFormatter asynqmon.ResultFormatter = asynqmon.ResultFormatterFunc(FormatResult)

// Magic prefixes of the binary embedding results (tasks.EncodeEmbedResult).
var embedResultMagics = [][]byte{[]byte("LQE1"), []byte("LQE2")}

// FormatResult is the function behind ResultFormatter. asynqmon v0.7.2
// passes an empty task type for the result on a task's own page, so a
// result is also recognised by its content: an embedding result by its
// magic, a generation result by its JSON fields.
func FormatResult(taskType string, result []byte) string {
	if len(result) == 0 {
		return ""
	}
	if taskType == "" {
		taskType = resultType(result)
	}
	switch taskType {
	case tasks.TypeEmbed:
		r, err := tasks.DecodeEmbedResult(result)
		if err != nil {
			return undecodable("result", result, err)
		}
		s := embedResultSummary{Model: r.Model, Vectors: len(r.Vectors) - len(r.Errors), Failed: len(r.Errors), InputTokens: r.InputTokens, ResultBytes: len(result)}
		for _, v := range r.Vectors {
			if v != nil {
				s.Dimensions = len(v)
				break
			}
		}
		return marshal(s)
	case tasks.TypeGenerate:
		g, err := tasks.DecodeGenerateResult(result)
		if err != nil {
			return undecodable("result", result, err)
		}
		return marshal(generateResultSummary{
			Model: g.Model, Text: clip(g.Text), TextChars: utf8.RuneCountInString(g.Text), DoneReason: g.FinishReason,
			InputTokens: g.InputTokens, OutputTokens: g.OutputTokens,
		})
	}
	return raw("result", result)
}

// resultType guesses the task type of a result asynqmon did not name: ""
// when it looks like neither of llmq's.
func resultType(result []byte) string {
	for _, m := range embedResultMagics {
		if bytes.HasPrefix(result, m) {
			return tasks.TypeEmbed
		}
	}
	if len(result) > 0 && result[0] == '{' {
		var fields map[string]json.RawMessage
		if json.Unmarshal(result, &fields) == nil && fields["model"] != nil && fields["text"] != nil {
			return tasks.TypeGenerate
		}
	}
	return ""
}

// raw shows a payload or result of a type this package does not know: as
// it is when it is short, valid UTF-8 and printable, else by its size.
func raw(what string, b []byte) string {
	if len(b) <= maxRaw && utf8.Valid(b) && printable(string(b)) {
		return string(b)
	}
	return marshal(map[string]any{what + "_bytes": len(b), "shown": "no: too long or not printable"})
}

func undecodable(what string, b []byte, err error) string {
	return marshal(map[string]any{"error": fmt.Sprintf("%s does not decode: %v", what, err), what + "_bytes": len(b)})
}

func printable(s string) bool {
	for _, r := range s {
		if r < ' ' && r != '\n' && r != '\r' && r != '\t' {
			return false
		}
	}
	return true
}

// clip returns s cut to maxText characters, marking a cut with "…".
func clip(s string) string {
	if utf8.RuneCountInString(s) <= maxText {
		return s
	}
	r := []rune(s)
	return string(r[:maxText]) + "…"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func marshal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("cannot show: %v", err)
	}
	return string(b)
}
