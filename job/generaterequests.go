package job

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/tasks"
)

// GenerateRequest is one OpenAI Batch API request of a generation job,
// already parsed: what a Batch API server hands on for its
// /v1/chat/completions and /v1/completions lines.
type GenerateRequest struct {
	// CustomID is the request's custom_id, unique within the job.
	CustomID string
	// URL is tasks.EndpointChat or tasks.EndpointCompletions.
	URL string
	// Body is the request body, a JSON object, sent as it is (a missing
	// model becomes the worker's OPENAI_CHAT_MODEL).
	Body json.RawMessage
}

// SubmitGenerateRequests submits reqs, in their order, as a generation job
// toward OpenAI under spec, whose Kind and Provider it sets (Path and Name
// are its own). It writes the requests as Batch API lines to a temporary
// file in dir (empty: os.TempDir), removed before it returns, and runs a
// Submission of that file, so memory stays bounded and a job from a file
// keeps every guarantee: the same requests in the same order under the
// same spec make the same job (spec.ID names it when set), and submitting
// them again enqueues only what is missing; identical requests are sent
// once; a bad request is passed to bad (it may be nil) as a *LineError
// whose Line is its place in reqs, from 1, and skipped, or with
// spec.Strict nothing is enqueued (ErrStrict). An error yielded by reqs
// stops the submission before anything is enqueued. Export writes the
// job's results in Batch API format, each response body the provider's
// answer body.
func SubmitGenerateRequests(ctx context.Context, rdb redis.UniversalClient, spec Spec, reqs iter.Seq2[GenerateRequest, error], dir string, bad func(*LineError)) (*Summary, error) {
	f, err := os.CreateTemp(dir, "llmq-generate-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("generation job: %w", err)
	}
	defer os.Remove(f.Name())
	if err := writeRequests(f, reqs); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("generation job: %w", err)
	}
	spec.Path, spec.Kind, spec.Provider = f.Name(), KindGeneration, tasks.ProviderOpenAI
	if spec.Name == "" {
		spec.Name = "requests"
	}
	return NewSubmission(rdb, spec).Run(ctx, bad)
}

// batchLine is an OpenAI Batch API request line.
type batchLine struct {
	CustomID string          `json:"custom_id"`
	Method   string          `json:"method"`
	URL      string          `json:"url"`
	Body     json.RawMessage `json:"body"`
}

func writeRequests(f *os.File, reqs iter.Seq2[GenerateRequest, error]) error {
	w := bufio.NewWriterSize(f, 64<<10)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	n := 0
	for r, err := range reqs {
		n++
		if err != nil {
			return fmt.Errorf("generation job: request %d: %w", n, err)
		}
		body := r.Body
		if !json.Valid(body) {
			// Written as a string, it is reported as a bad line.
			body, _ = json.Marshal(string(body))
		}
		if err := enc.Encode(batchLine{CustomID: r.CustomID, Method: "POST", URL: r.URL, Body: body}); err != nil {
			return fmt.Errorf("generation job: request %d: %w", n, err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("generation job: %w", err)
	}
	return nil
}
