package batchapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/cespare/xxhash/v2"

	"github.com/llmq/llmq/job"
)

// maxReported is the most line errors a failed batch lists.
const maxReported = 100

// checkResult is what validating an input file found.
type checkResult struct {
	// Requests counts the non-blank lines.
	Requests int
	// Model is the first line's body.model.
	Model string
	// Errors are the bad lines, in order; at most maxReported, and
	// Bad counts them all.
	Errors []batchError
	Bad    int
}

func (c *checkResult) add(line int, code, param, format string, args ...any) {
	c.Bad++
	if len(c.Errors) < maxReported {
		l := line
		c.Errors = append(c.Errors, batchError{Code: code, Message: fmt.Sprintf(format, args...), Param: strp(param), Line: &l})
	}
}

// requestLine is a Batch API input line.
type requestLine struct {
	CustomID *string         `json:"custom_id"`
	Method   string          `json:"method"`
	URL      string          `json:"url"`
	Body     json.RawMessage `json:"body"`
}

// checkLines reads a Batch API input file and checks every line against
// the batch's endpoint: a JSON object with a custom_id unique in the
// file, method POST, the batch's url and a body that the endpoint takes
// (checkBody). A line longer than job.MaxLineBytes stops the reading.
func checkLines(r io.Reader, endpoint string) (*checkResult, error) {
	res := &checkResult{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), job.MaxLineBytes+2)
	seen := map[uint64]struct{}{}
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		res.Requests++
		var l requestLine
		if err := json.Unmarshal(b, &l); err != nil {
			res.add(line, "invalid_json_line", "", "This line is not a JSON object: %v", err)
			continue
		}
		switch {
		case l.CustomID == nil || *l.CustomID == "":
			res.add(line, "missing_required_parameter", "custom_id", "Missing required parameter: 'custom_id'.")
			continue
		case l.Method != "POST":
			res.add(line, "invalid_value", "method", "Invalid value for 'method': %q. Batch requests are POST.", l.Method)
			continue
		case l.URL != endpoint:
			res.add(line, "mismatched_url", "url", "The url %q differs from the batch's endpoint %s: one batch holds requests to one endpoint.", l.URL, endpoint)
			continue
		}
		h := xxhash.Sum64String(*l.CustomID)
		if _, dup := seen[h]; dup {
			res.add(line, "duplicate_custom_id", "custom_id", "The custom_id %q is used by an earlier line: each request needs its own.", *l.CustomID)
			continue
		}
		seen[h] = struct{}{}
		model, param, msg := checkBody(endpoint, l.Body)
		if msg != "" {
			res.add(line, "invalid_body", param, "%s", msg)
			continue
		}
		if res.Model == "" {
			res.Model = model
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			res.Requests++
			res.add(line+1, "line_too_long", "", "This line is longer than %d bytes.", job.MaxLineBytes)
			return res, nil
		}
		return nil, fmt.Errorf("read input: %w", err)
	}
	if res.Requests == 0 {
		res.add(1, "empty_file", "", "The input file holds no requests.")
	}
	return res, nil
}

// checkBody checks a request body for endpoint, and returns its model or
// the problem, with the parameter at fault.
func checkBody(endpoint string, raw json.RawMessage) (model, param, problem string) {
	var body map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &body) != nil || body == nil {
		return "", "body", "Missing or invalid 'body': want the request's JSON object."
	}
	if err := json.Unmarshal(body["model"], &model); err != nil || model == "" {
		return "", "body.model", "Missing required parameter: 'body.model'."
	}
	switch endpoint {
	case endpointEmbeddings:
		if in := bytes.TrimSpace(body["input"]); len(in) == 0 || string(in) == "null" {
			return "", "body.input", "Missing required parameter: 'body.input'."
		}
	case endpointChat:
		var msgs []map[string]json.RawMessage
		if err := json.Unmarshal(body["messages"], &msgs); err != nil || len(msgs) == 0 {
			return "", "body.messages", "'body.messages' must be a non-empty array of messages."
		}
		for i, m := range msgs {
			var role string
			if json.Unmarshal(m["role"], &role) != nil || role == "" {
				return "", fmt.Sprintf("body.messages[%d].role", i), fmt.Sprintf("Missing required parameter: 'body.messages[%d].role'.", i)
			}
		}
		if s := bytes.TrimSpace(body["stream"]); string(s) == "true" {
			return "", "body.stream", "'body.stream' must not be true in a batch."
		}
	case endpointCompletions:
		if p := bytes.TrimSpace(body["prompt"]); len(p) == 0 || string(p) == "null" {
			return "", "body.prompt", "Missing required parameter: 'body.prompt'."
		}
	}
	return model, "", ""
}

// checkJobLines reads the file again with rd, the Reader of the batch's
// job, for what the job refuses beyond checkLines (for embeddings a model
// or dimensions differing between lines, empty or too long texts; for
// generation a body the provider's payload check refuses), and merges
// those line errors into res.
func checkJobLines(rd *job.Reader, res *checkResult) error {
	flagged := map[int]bool{}
	for _, e := range res.Errors {
		flagged[*e.Line] = true
	}
	var extra []batchError
	for {
		_, err := rd.Next()
		var le *job.LineError
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF):
		case errors.As(err, &le):
			if !flagged[le.Line] {
				l := le.Line
				extra = append(extra, batchError{Code: "invalid_body", Message: le.Reason, Line: &l})
			}
			continue
		default:
			return err
		}
		break
	}
	if len(extra) == 0 {
		return nil
	}
	res.Bad += len(extra)
	res.Errors = append(res.Errors, extra...)
	sort.SliceStable(res.Errors, func(i, j int) bool { return *res.Errors[i].Line < *res.Errors[j].Line })
	if len(res.Errors) > maxReported {
		res.Errors = res.Errors[:maxReported]
	}
	return nil
}
