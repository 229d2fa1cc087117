package batchapi

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestCheckLines checks the line rules of each endpoint, generation ones
// included: their batches are refused at creation for now, but their
// lines are already checked the same way.
func TestCheckLines(t *testing.T) {
	line := func(id, url, body string) string {
		return fmt.Sprintf(`{"custom_id": %q, "method": "POST", "url": %q, "body": %s}`, id, url, body)
	}
	chat := func(id, body string) string { return line(id, endpointChat, body) }
	tests := []struct {
		name     string
		endpoint string
		lines    []string
		want     string // line:code:param, space-separated
		model    string
	}{
		{"chat ok", endpointChat, []string{
			chat("a", `{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}`),
			chat("b", `{"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]}`),
		}, "", "gpt-4o-mini"},
		{"chat bad", endpointChat, []string{
			chat("a", `{"messages": [{"role": "user", "content": "hi"}]}`),
			chat("b", `{"model": "m", "messages": []}`),
			chat("c", `{"model": "m", "messages": [{"content": "no role"}]}`),
			chat("d", `{"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": true}`),
			chat("e", `"not an object"`),
			`{"custom_id": "f", "method": "GET", "url": "/v1/chat/completions", "body": {}}`,
		}, "1:invalid_body:body.model 2:invalid_body:body.messages 3:invalid_body:body.messages[0].role 4:invalid_body:body.stream 5:invalid_body:body 6:invalid_value:method", ""},
		{"completions", endpointCompletions, []string{
			line("a", endpointCompletions, `{"model": "m", "prompt": "Once upon"}`),
			line("b", endpointCompletions, `{"model": "m"}`),
		}, "2:invalid_body:body.prompt", "m"},
		{"embeddings", endpointEmbeddings, []string{
			line("a", endpointEmbeddings, `{"model": "e", "input": "x"}`),
			"",
			line("a", endpointEmbeddings, `{"model": "e", "input": "y"}`),
			line("", endpointEmbeddings, `{"model": "e", "input": "y"}`),
			line("c", endpointChat, `{"model": "e", "input": "y"}`),
			"[1, 2]",
		}, "3:duplicate_custom_id:custom_id 4:missing_required_parameter:custom_id 5:mismatched_url:url 6:invalid_json_line:", "e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := checkLines(strings.NewReader(strings.Join(tt.lines, "\n")), tt.endpoint)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range res.Errors {
				p := ""
				if e.Param != nil {
					p = *e.Param
				}
				got = append(got, fmt.Sprintf("%d:%s:%s", *e.Line, e.Code, p))
			}
			if strings.Join(got, " ") != tt.want || res.Bad != len(got) {
				t.Errorf("errors %v (%d bad), want %s", got, res.Bad, tt.want)
			}
			if res.Model != tt.model {
				t.Errorf("model %q, want %q", res.Model, tt.model)
			}
		})
	}
}

// TestCheckLinesLimits checks the cap on reported errors and a line over
// the length limit.
func TestCheckLinesLimits(t *testing.T) {
	bad := strings.Repeat("nope\n", 250)
	res, err := checkLines(strings.NewReader(bad), endpointEmbeddings)
	if err != nil || res.Bad != 250 || len(res.Errors) != maxReported || res.Requests != 250 {
		t.Errorf("250 bad lines: %d bad, %d reported, %v", res.Bad, len(res.Errors), err)
	}
	long := `{"custom_id": "a", "method": "POST", "url": "/v1/embeddings", "body": {"model": "m", "input": "` + strings.Repeat("x", 2<<20) + `"}}`
	res, err = checkLines(strings.NewReader(`{"custom_id": "z", "method": "POST", "url": "/v1/embeddings", "body": {"model": "m", "input": "y"}}`+"\n"+long), endpointEmbeddings)
	if err != nil || res.Bad != 1 || *res.Errors[0].Line != 2 || res.Errors[0].Code != "line_too_long" {
		t.Errorf("a 2 MiB line: %+v, %v", res.Errors, err)
	}
}

func TestIDs(t *testing.T) {
	now := time.Now()
	prev := ""
	for i := range 100 {
		id := newID(batchPrefix, now.Add(time.Duration(i)*time.Millisecond))
		if !validID(id, batchPrefix) || id <= prev {
			t.Fatalf("id %q after %q: want valid and sorted after", id, prev)
		}
		prev = id
	}
	for _, bad := range []string{"batch_", "file-06h3nr2pee3p58tg01cx1b66", "batch_06h3nr2pee3p58tg01cx1b6U", "batch_../../../etc/passwd00000"} {
		if validID(bad, batchPrefix) {
			t.Errorf("%q is valid", bad)
		}
	}
}
