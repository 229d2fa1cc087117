package redact_test

import (
	"strings"
	"testing"

	"github.com/llmq/llmq/clients/internal/redact"
)

func TestSnippet(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		limit   int
		secrets []string
		inputs  []string
		want    string
	}{
		{name: "plain", in: "model not found", limit: 200, want: "model not found"},
		{name: "one line", in: "<html>\n\t<h1>502  Bad Gateway</h1>\r\n</html>", limit: 200, want: "<html> <h1>502 Bad Gateway</h1> </html>"},
		{name: "control characters", in: "a\x00b\x1bc", limit: 200, want: "a b c"},
		{name: "invalid UTF-8", in: "bad \xff byte", limit: 200, want: "bad \uFFFD byte"},
		{name: "cut", in: strings.Repeat("y", 300), limit: 10, want: strings.Repeat("y", 10) + "..."},
		{name: "cut at rune boundary", in: "ééééé", limit: 3, want: "é..."},
		{name: "secret", in: "Incorrect API key provided: sk-test-123456.", limit: 200, secrets: []string{"sk-test-123456"}, want: "Incorrect API key provided: [redacted]."},
		{name: "empty secret ignored", in: "no key", limit: 200, secrets: []string{""}, want: "no key"},
		{name: "input echoed", in: `invalid input "the secret plan" at 0`, limit: 200, inputs: []string{"the secret plan"}, want: `invalid input "[redacted]" at 0`},
		{name: "input cut by the limit", in: "bad: the secret plan", limit: 13, inputs: []string{"the secret plan"}, want: "bad: [redacted]..."},
		{name: "short input left alone", in: "an error", limit: 200, inputs: []string{"an"}, want: "an error"},
		{name: "input with newline", in: "echo: line one\nline two!", limit: 200, inputs: []string{"line one\nline two"}, want: "echo: [redacted]!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redact.Snippet(tt.in, tt.limit, tt.secrets, tt.inputs); got != tt.want {
				t.Errorf("Snippet(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
