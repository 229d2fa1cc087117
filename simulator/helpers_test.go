package simulator_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llmq/llmq/simulator"
)

// fixture is a simulator served on a real port, and a client for it.
type fixture struct {
	sim    *simulator.Simulator
	srv    *httptest.Server
	client *http.Client
}

// setup starts a plain-HTTP simulator for cfg, closed when the test ends.
func setup(t *testing.T, cfg simulator.Config) fixture {
	t.Helper()
	sim := simulator.New(cfg)
	srv := simulator.Start(sim, false)
	t.Cleanup(srv.Close)
	return fixture{sim: sim, srv: srv, client: srv.Client()}
}

// do sends a request to path and returns the response with its body read.
// A string body is sent as it is, anything else as JSON; hdr holds header
// name and value pairs.
func (f fixture) do(t *testing.T, method, path string, body any, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("marshal body: %v", err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, f.srv.URL+path, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, out
}

// openAIError is OpenAI's error body, spelled out independently of the
// package's own types.
type openAIError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func decodeOpenAIError(t *testing.T, body []byte) openAIError {
	t.Helper()
	var e openAIError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("decode OpenAI error %q: %v", body, err)
	}
	if e.Error.Message == "" || e.Error.Type == "" {
		t.Fatalf("OpenAI error lacks message or type: %s", body)
	}
	return e
}

func decodeOllamaError(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		Error *string `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == nil || *e.Error == "" {
		t.Fatalf("not an Ollama error body: %s (%v)", body, err)
	}
	return *e.Error
}

func deref(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}

// part is one Ollama generation line, spelled out independently of the
// package's own types.
type part struct {
	Model     string  `json:"model"`
	CreatedAt string  `json:"created_at"`
	Response  *string `json:"response"`
	Message   *struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"message"`
	Done            bool   `json:"done"`
	DoneReason      string `json:"done_reason"`
	PromptEvalCount int    `json:"prompt_eval_count"`
	EvalCount       int    `json:"eval_count"`
	TotalDuration   int64  `json:"total_duration"`
}

// text returns the generated text of p, from response or message.
func (p part) text() string {
	if p.Message != nil {
		return p.Message.Content
	}
	if p.Response != nil {
		return *p.Response
	}
	return ""
}

// decodeLines decodes an NDJSON body.
func decodeLines(t *testing.T, body []byte) []part {
	t.Helper()
	var parts []part
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		var p part
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("decode line %q: %v", sc.Text(), err)
		}
		parts = append(parts, p)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scan: %v", err)
	}
	return parts
}

// jsonBody returns v as a JSON request body.
func jsonBody(t *testing.T, v any) io.Reader {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal body: %v", err)
	}
	return bytes.NewReader(raw)
}
