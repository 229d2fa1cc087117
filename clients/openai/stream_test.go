package openai_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/openai"
)

// toolStream is a streamed chat answer as OpenAI sends one for a tool call
// with logprobs, with a comment line and CRLF line endings.
const toolStream = ": keep-alive\r\n\r\n" +
	`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-x","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null}` + "\r\n\r\n" +
	`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"logprobs":{"content":[{"token":"a","logprob":-0.1}]},"finish_reason":null}],"usage":null}` + "\r\n\r\n" +
	`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"logprobs":{"content":[{"token":"b","logprob":-0.2}]},"finish_reason":null}],"usage":null}` + "\r\n\r\n" +
	`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-x","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}` + "\r\n\r\n" +
	`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-x","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}` + "\r\n\r\n" +
	"data: [DONE]\r\n\r\n"

// TestStreamAssemblesToolCalls checks that tool call deltas and logprobs
// are assembled into the body of a non-streamed answer.
func TestStreamAssemblesToolCalls(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte(toolStream))
	}))
	defer ts.Close()
	defer ts.Client().CloseIdleConnections()
	c, err := openai.New(ts.Client(), openai.Config{BaseURL: ts.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Chat(t.Context(), clients.CompletionRequest{Body: json.RawMessage(`{"model":"gpt-x","messages":[],"tools":[]}`), Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != "chatcmpl-1" || res.Model != "gpt-x" || res.FinishReason != "tool_calls" || res.Text != "" || res.InputTokens != 12 || res.OutputTokens != 9 {
		t.Errorf("result %+v", res)
	}
	const want = `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-x","system_fingerprint":"fp_1",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},` +
		`"logprobs":{"content":[{"token":"a","logprob":-0.1},{"token":"b","logprob":-0.2}]},"finish_reason":"tool_calls"}],` +
		`"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}`
	if string(res.Body) != want {
		t.Errorf("Body\n%s\nwant\n%s", res.Body, want)
	}
}
