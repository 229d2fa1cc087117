package job_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/llmq/llmq/job"
)

// TestReaderInvalidUTF8 checks that a line that is not valid UTF-8 is a
// bad line naming the byte, not a text with U+FFFD in it.
func TestReaderInvalidUTF8(t *testing.T) {
	r := job.NewReader(strings.NewReader("{\"id\": \"a\", \"text\": \"ok\"}\n{\"id\": \"b\", \"text\": \"caf\xe9\"}\n"), job.Limits{})
	if it, err := r.Next(); err != nil || it.ID != "a" {
		t.Fatalf("line 1: %+v, %v", it, err)
	}
	_, err := r.Next()
	var le *job.LineError
	if !errors.As(err, &le) || le.Line != 2 || le.Reason != "not valid UTF-8 (at byte 24)" {
		t.Errorf("line 2: %v, want a bad line 2, not valid UTF-8 at byte 24", err)
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after line 2: %v, want EOF", err)
	}
}

// TestSubmitNoItems checks that an empty input, and one of bad lines
// only, make no job and return ErrNoItems.
func TestSubmitNoItems(t *testing.T) {
	rdb := setup(t)
	ctx := context.Background()
	for _, tc := range []struct{ name, content string }{
		{"empty", ""},
		{"blank lines", "\n  \n"},
		{"bad lines only", "not json\n{\"id\": \"x\"}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.content)
			_, err := job.NewSubmission(rdb, job.Spec{Path: path}).Run(ctx, nil)
			if !errors.Is(err, job.ErrNoItems) {
				t.Errorf("err %v, want ErrNoItems", err)
			}
			if keys := rdb.Keys(ctx, "llmq:*").Val(); len(keys) > 0 {
				t.Errorf("keys after a refused input: %v", keys)
			}
		})
	}
}
