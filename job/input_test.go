package job

import (
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

// readAll reads every line of in, returning the items and the bad lines.
func readAll(t *testing.T, in string, limits Limits) (*Reader, []Item, []*LineError) {
	t.Helper()
	r := NewReader(strings.NewReader(in), limits)
	var items []Item
	var bad []*LineError
	for {
		it, err := r.Next()
		var le *LineError
		switch {
		case err == nil:
			items = append(items, it)
		case errors.Is(err, io.EOF):
			return r, items, bad
		case errors.As(err, &le):
			bad = append(bad, le)
		default:
			t.Fatal(err)
		}
	}
}

func TestReaderSimple(t *testing.T) {
	in := `{"id": "a", "text": "first"}

{"text": "no id"}
{"id": 7, "text": "numeric id"}
not json
{"id": "b", "text": ""}
{"id": "c"}
{"id": "d", "text": "` + strings.TrimSpace(strings.Repeat("x y ", 10)) + `"}
{"custom_id": "e", "method": "POST", "url": "/v1/embeddings", "body": {"input": "x"}}
{"id": "f", "text": "last, no newline"}`
	r, items, bad := readAll(t, in, Limits{InputTokens: 10})
	if r.Format != FormatSimple {
		t.Errorf("format %q, want simple", r.Format)
	}
	want := []Item{
		{Line: 1, ID: "a", Texts: []string{"first"}},
		{Line: 3, ID: "3", Texts: []string{"no id"}},
		{Line: 4, ID: "7", Texts: []string{"numeric id"}},
		{Line: 10, ID: "f", Texts: []string{"last, no newline"}},
	}
	if len(items) != len(want) {
		t.Fatalf("items %+v, want %+v", items, want)
	}
	for i := range want {
		if items[i].Line != want[i].Line || items[i].ID != want[i].ID || !slices.Equal(items[i].Texts, want[i].Texts) {
			t.Errorf("item %d = %+v, want %+v", i, items[i], want[i])
		}
	}
	wantBad := map[int]string{5: "not a JSON object", 6: "empty", 7: `no "text"`, 8: "text too long: 20 tokens, at most 10", 9: "Batch API request line"}
	if len(bad) != len(wantBad) {
		t.Fatalf("bad lines %v, want lines %v", bad, wantBad)
	}
	for _, b := range bad {
		if !strings.Contains(b.Reason, wantBad[b.Line]) {
			t.Errorf("line %d: %q, want it to contain %q", b.Line, b.Reason, wantBad[b.Line])
		}
		if !errors.Is(b, ErrBadLine) {
			t.Errorf("line %d: not ErrBadLine", b.Line)
		}
	}
}

func TestReaderBatch(t *testing.T) {
	line := func(id, url, body string) string {
		return `{"custom_id": "` + id + `", "method": "POST", "url": "` + url + `", "body": ` + body + "}\n"
	}
	in := line("r1", "/v1/embeddings", `{"model": "m", "input": "one", "dimensions": 8}`) +
		line("r2", "/v1/embeddings", `{"model": "m", "input": ["two", "three"], "dimensions": 8}`) +
		line("r3", "/v1/chat/completions", `{"model": "m"}`) +
		line("r4", "/v1/embeddings", `{"model": "other", "input": "x", "dimensions": 8}`) +
		line("r5", "/v1/embeddings", `{"model": "m", "input": [1, 2], "dimensions": 8}`) +
		line("r6", "/v1/embeddings", `{"model": "m", "input": ["ok", ""], "dimensions": 8}`) +
		line("", "/v1/embeddings", `{"model": "m", "input": "x", "dimensions": 8}`) +
		line("r8", "/v1/embeddings", `{"model": "m", "input": "x", "dimensions": 16}`) +
		line("r9", "/v1/embeddings", `{"model": "m", "input": "x", "dimensions": 8, "encoding_format": "base64"}`) +
		`{"id": "simple", "text": "x"}` + "\n"
	r, items, bad := readAll(t, in, Limits{})
	if r.Format != FormatBatch || r.Model != "m" || r.Dimensions != 8 || r.Encoding != "float" {
		t.Errorf("reader settled on %q %q %d %q", r.Format, r.Model, r.Dimensions, r.Encoding)
	}
	if len(items) != 2 || items[0].ID != "r1" || !slices.Equal(items[1].Texts, []string{"two", "three"}) {
		t.Fatalf("items %+v", items)
	}
	wantBad := map[int]string{
		3: `unsupported url "/v1/chat/completions"`, 4: `model "other" differs`, 5: "token arrays are not supported",
		6: "input[1] is an empty text", 7: "no custom_id", 8: "dimensions 16 differ", 9: `encoding_format "base64" differs`,
		10: "not an OpenAI Batch API request line",
	}
	if len(bad) != len(wantBad) {
		t.Fatalf("bad lines %v", bad)
	}
	for _, b := range bad {
		if !strings.Contains(b.Reason, wantBad[b.Line]) {
			t.Errorf("line %d: %q, want it to contain %q", b.Line, b.Reason, wantBad[b.Line])
		}
	}
}

func TestReaderLongLine(t *testing.T) {
	in := `{"id": "a", "text": "` + strings.Repeat("y", MaxLineBytes+10) + "\"}\n" + `{"id": "b", "text": "after"}` + "\n"
	_, items, bad := readAll(t, in, Limits{})
	if len(bad) != 1 || bad[0].Line != 1 || !strings.Contains(bad[0].Reason, "longer than") {
		t.Errorf("bad lines %v, want line 1 too long", bad)
	}
	if len(items) != 1 || items[0].ID != "b" || items[0].Line != 2 {
		t.Errorf("items %+v, want b on line 2", items)
	}
}

// TestGenerateReader checks what a generation job's reader makes of each
// kind of line, and the reason it gives for each bad one.
func TestGenerateReader(t *testing.T) {
	tests := []struct {
		name     string
		provider string
		line     string
		want     string // the payload as JSON, or the reason of a bad line
	}{
		{"prompt toward openai", "openai", `{"id": 7, "prompt": "hi", "temperature": 0, "seed": 12345678901234567}`,
			`{"provider":"openai","stream":true,"id":"7","endpoint":"/v1/chat/completions","body":{"messages":[{"role":"user","content":"hi"}],"model":"dm","seed":12345678901234567,"temperature":0}}`},
		{"own model kept", "openai", `{"id": "a", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "model": "m"}`,
			`{"provider":"openai","stream":true,"id":"a","endpoint":"/v1/chat/completions","body":{"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"model":"m"}}`},
		{"prompt toward ollama", "ollama", `{"id": "a", "prompt": "hi", "system": "s", "options": {"num_predict": 4}}`,
			`{"provider":"ollama","model":"dm","prompt":"hi","system":"s","options":{"num_predict":4},"stream":true,"id":"a"}`},
		{"batch line", "openai", `{"custom_id": "r", "method": "POST", "url": "/v1/completions", "body": {"prompt": "x",  "n": 2}}`,
			`{"provider":"openai","id":"r","endpoint":"/v1/completions","body":{"prompt":"x","n":2}}`},
		{"batch line toward ollama", "ollama", `{"custom_id": "r", "method": "POST", "url": "/v1/completions", "body": {}}`, "line 1: OpenAI Batch API lines need provider openai, not ollama"},
		{"batch without custom_id", "openai", `{"method": "POST", "url": "/v1/completions", "body": {}}`, "line 1: no custom_id"},
		{"batch GET", "openai", `{"custom_id": "r", "method": "GET", "url": "/v1/completions", "body": {}}`, `line 1: method "GET": want POST`},
		{"messages not an array", "openai", `{"id": "a", "messages": "hi"}`, `line 1: "messages" must be a non-empty array`},
		{"empty messages", "openai", `{"id": "a", "messages": []}`, `line 1: "messages" must be a non-empty array`},
		{"prompt not a string", "openai", `{"id": "a", "prompt": 3}`, "line 1: prompt must be a string"},
		{"ollama messages of parts", "ollama", `{"id": "a", "messages": [{"role": "user", "content": [{"type": "text"}]}]}`, `line 1: "messages" must be an array of {"role", "content"} with string values`},
		{"not JSON", "openai", `{"id": `, "line 1: not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewGenerateReader(strings.NewReader(tt.line+"\n"), tt.provider, "dm", true)
			it, err := r.Next()
			if err != nil {
				var le *LineError
				if !errors.As(err, &le) || !strings.HasPrefix(le.Error(), tt.want) {
					t.Fatalf("Next() = %v, want %q", err, tt.want)
				}
				return
			}
			got, _ := json.Marshal(it.Generate)
			if string(got) != tt.want {
				t.Errorf("payload\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}
