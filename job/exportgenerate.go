package job

import (
	"encoding/json"
	"strconv"

	"github.com/llmq/llmq/tasks"
)

// formatGenerate formats a generation job's item, from batch b, under
// id: an answer to the chunk's output or a failure to its errors. A
// duplicate (dup) reports no usage in the simple format, since it was not
// sent again; in the Batch API format its body is the provider's answer
// as it came.
//
// Simple output: {"id", "model", "text", "finish_reason", "usage":
// {"prompt_tokens", "completion_tokens", "total_tokens"}}, and failures
// {"id", "error": {"status", "message"}}. Batch API output: the response
// body is the provider's answer body, or for an Ollama answer a
// chat.completion body made from it.
func (e *exporter) formatGenerate(c *chunk, b *fetched, id string, dup bool, seq int) {
	res := b.gen
	if res == nil || res.Error != nil {
		c.sum.Failed++
		if e.errs == nil {
			return
		}
		status, reason, typ, code := 0, b.failed, "", ""
		if res != nil {
			status, reason, typ, code = res.Error.Status, res.Error.Message, res.Error.Type, res.Error.Code
		}
		if e.errFormat == FormatBatch {
			c.errs = e.batchFailure(c.errs, id, status, reason, typ, code, seq)
		} else {
			c.errs = simpleError(c.errs, id, &tasks.TextError{Status: status, Reason: reason})
		}
		return
	}
	c.sum.Results++
	in, out := res.InputTokens, res.OutputTokens
	if dup {
		in, out = 0, 0
	}
	c.sum.InputTokens += in
	c.sum.OutputTokens += out
	l := c.out
	if e.opts.Format == FormatBatch {
		l = append(l, `{"id":`...)
		l = appendJSON(l, requestID(e.st.ID, id))
		l = append(l, `,"custom_id":`...)
		l = appendJSON(l, id)
		l = append(l, `,"response":{"status_code":200,"request_id":`...)
		l = appendJSON(l, TaskID(e.st.ID, seq))
		l = append(l, `,"body":`...)
		if len(res.Body) > 0 {
			l = append(l, res.Body...)
		} else {
			l = appendChatBody(l, res)
		}
		l = append(l, "},\"error\":null}\n"...)
	} else {
		l = append(l, `{"id":`...)
		l = appendJSON(l, id)
		l = append(l, `,"model":`...)
		l = appendJSON(l, res.Model)
		l = append(l, `,"text":`...)
		l = appendJSON(l, res.Text)
		l = append(l, `,"finish_reason":`...)
		l = appendJSON(l, res.FinishReason)
		l = appendGenerationUsage(l, in, out)
		l = append(l, "}\n"...)
	}
	c.out = l
}

func appendGenerationUsage(l []byte, in, out int) []byte {
	l = append(l, `,"usage":{"prompt_tokens":`...)
	l = strconv.AppendInt(l, int64(in), 10)
	l = append(l, `,"completion_tokens":`...)
	l = strconv.AppendInt(l, int64(out), 10)
	l = append(l, `,"total_tokens":`...)
	l = strconv.AppendInt(l, int64(in+out), 10)
	return append(l, '}')
}

// appendChatBody writes an OpenAI chat.completion body for an answer that
// came without one (Ollama's).
func appendChatBody(l []byte, res *tasks.GenerateResult) []byte {
	type message struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	type choice struct {
		Index        int     `json:"index"`
		Message      message `json:"message"`
		FinishReason string  `json:"finish_reason"`
	}
	body := struct {
		ID      string   `json:"id,omitempty"`
		Object  string   `json:"object"`
		Model   string   `json:"model"`
		Choices []choice `json:"choices"`
		Usage   struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
			TotalTokens      int `json:"total_tokens"`
		} `json:"usage"`
	}{ID: res.ResponseID, Object: "chat.completion", Model: res.Model,
		Choices: []choice{{Message: message{Role: "assistant", Content: res.Text}, FinishReason: res.FinishReason}}}
	body.Usage.PromptTokens, body.Usage.CompletionTokens = res.InputTokens, res.OutputTokens
	body.Usage.TotalTokens = res.InputTokens + res.OutputTokens
	b, _ := json.Marshal(body)
	return append(l, b...)
}
