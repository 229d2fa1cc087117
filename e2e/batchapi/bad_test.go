package batchapi

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
)

// TestBadInput checks each way an upload or a batch can be wrong: a bad
// file fails its batch with the lines' numbers in errors.data, and a bad
// request is refused with OpenAI's error shape.
func TestBadInput(t *testing.T) {
	f := setup(t)
	_, base := f.startAPI(t, "API_MAX_UPLOAD_BYTES=4096", "API_MAX_OPEN_BATCHES=2")
	c := sdk(base, keyA)
	ctx := context.Background()

	type lineErr struct {
		line int64
		code string
	}
	for _, tc := range []struct {
		name     string
		endpoint openai.BatchNewParamsEndpoint // default /v1/embeddings
		lines    []string
		want     []lineErr
	}{
		{"not JSONL", "", []string{request("a", "ok"), "this is, not JSON", `{"custom_id": "c"`}, []lineErr{{2, "invalid_json_line"}, {3, "invalid_json_line"}}},
		{"mixed urls", "", []string{request("a", "ok"), strings.Replace(request("b", "x"), "/v1/embeddings", "/v1/chat/completions", 1)}, []lineErr{{2, "mismatched_url"}}},
		{"duplicate custom_id", "", []string{request("a", "one"), request("b", "two"), request("a", "three")}, []lineErr{{3, "duplicate_custom_id"}}},
		{"no body.input", "", []string{request("a", "one"), `{"custom_id": "b", "method": "POST", "url": "/v1/embeddings", "body": {"model": "m"}}`}, []lineErr{{2, "invalid_body"}}},
		{"two models", "", []string{request("a", "one"), strings.Replace(request("b", "two"), "text-embedding-3-small", "other", 1)}, []lineErr{{2, "invalid_body"}}},
		{"blank lines only", "", []string{"", "  "}, []lineErr{{1, "empty_file"}}},
		{"chat: streamed, no messages, an embedding line", openai.BatchNewParamsEndpointV1ChatCompletions, []string{
			chatRequest("a", "hello", nil), chatRequest("b", "hi", map[string]any{"stream": true}),
			`{"custom_id": "c", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m", "messages": []}}`,
			request("d", "an embedding"),
		}, []lineErr{{2, "invalid_body"}, {3, "invalid_body"}, {4, "mismatched_url"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := upload(t, c, writeLines(t, tc.lines...))
			endpoint := tc.endpoint
			if endpoint == "" {
				endpoint = openai.BatchNewParamsEndpointV1Embeddings
			}
			b := createTo(t, c, in.ID, "24h", endpoint)
			b = poll(t, c, b.ID, 20*time.Second, openai.BatchStatusFailed, openai.BatchStatusCompleted)
			if b.Status != openai.BatchStatusFailed || b.FailedAt == 0 {
				t.Fatalf("status %s, want failed", b.Status)
			}
			var got []lineErr
			for _, e := range b.Errors.Data {
				got = append(got, lineErr{e.Line, e.Code})
				if e.Message == "" {
					t.Errorf("line %d: no message", e.Line)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("errors %v, want %v (%+v)", got, tc.want, b.Errors.Data)
			}
			if b.OutputFileID != "" || b.ErrorFileID != "" {
				t.Errorf("a failed batch has files: %q %q", b.OutputFileID, b.ErrorFileID)
			}
			if n, _ := f.rdb.Exists(ctx, "llmq:job:{"+b.ID+"}").Result(); n != 0 {
				t.Errorf("a failed batch has a job")
			}
		})
	}

	// Over the size limit: 413, and nothing kept.
	big := strings.Repeat(request("big", strings.Repeat("x", 100))+"\n", 40)
	_, err := c.Files.New(ctx, openai.FileNewParams{File: openai.File(strings.NewReader(big), "big.jsonl", "application/jsonl"), Purpose: openai.FilePurposeBatch})
	if !isStatus(err, http.StatusRequestEntityTooLarge) {
		t.Errorf("upload over the limit: %v, want 413", err)
	}
	// A purpose llmq does not keep: 400.
	_, err = c.Files.New(ctx, openai.FileNewParams{File: openai.File(strings.NewReader(request("a", "b")), "a.jsonl", "application/jsonl"), Purpose: openai.FilePurposeFineTune})
	var perr *openai.Error
	if !isStatus(err, http.StatusBadRequest) || !asAPI(err, &perr) || perr.Param != "purpose" {
		t.Errorf("purpose fine-tune: %v, want 400", err)
	}
	// A file of another purpose is no batch input.
	ud, err := c.Files.New(ctx, openai.FileNewParams{File: openai.File(strings.NewReader(request("a", "b")), "a.jsonl", "application/jsonl"), Purpose: openai.FilePurposeUserData})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Batches.New(ctx, openai.BatchNewParams{InputFileID: ud.ID, Endpoint: openai.BatchNewParamsEndpointV1Embeddings, CompletionWindow: "24h"}); !isStatus(err, http.StatusBadRequest) {
		t.Errorf("batch of a user_data file: %v, want 400", err)
	}
	// The store kept only the upload that was accepted, and the batches' inputs.
	if files, err := c.Files.List(ctx, openai.FileListParams{}); err != nil || len(files.Data) != 8 {
		t.Errorf("files after refusals: %d, %v; want 8", len(files.Data), err)
	}

	good := upload(t, c, writeLines(t, request("a", "ok")))
	for _, tc := range []struct {
		name     string
		endpoint openai.BatchNewParamsEndpoint
		window   string
		code     string
	}{
		{"responses", openai.BatchNewParamsEndpointV1Responses, "24h", "unsupported_endpoint"},
		{"window too long", openai.BatchNewParamsEndpointV1Embeddings, "48h", "invalid_value"},
		{"window not a duration", openai.BatchNewParamsEndpointV1Embeddings, "soon", "invalid_value"},
	} {
		_, err := c.Batches.New(ctx, openai.BatchNewParams{InputFileID: good.ID, Endpoint: tc.endpoint, CompletionWindow: openai.BatchNewParamsCompletionWindow(tc.window)})
		var apierr *openai.Error
		if !isStatus(err, http.StatusBadRequest) || !asAPI(err, &apierr) || apierr.Code != tc.code || apierr.Type != "invalid_request_error" {
			t.Errorf("%s: %v, want 400 %s", tc.name, err, tc.code)
		}
	}
	if _, err := c.Batches.New(ctx, openai.BatchNewParams{InputFileID: "file-nope", Endpoint: openai.BatchNewParamsEndpointV1Embeddings, CompletionWindow: "24h"}); !isStatus(err, http.StatusNotFound) {
		t.Errorf("unknown input file: %v, want 404", err)
	}

	// Not multipart at all.
	if code, body := raw(t, "POST", base+"/v1/files", keyA, strings.NewReader("{}"), "Content-Type", "application/json"); code != 400 || !strings.Contains(body, `"type":"invalid_request_error"`) {
		t.Errorf("JSON upload: %d %s", code, body)
	}
	// No purpose.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "a.jsonl")
	fw.Write([]byte(request("a", "b")))
	mw.Close()
	if code, body := raw(t, "POST", base+"/v1/files", keyA, &buf, "Content-Type", mw.FormDataContentType()); code != 400 || !strings.Contains(body, `"param":"purpose"`) {
		t.Errorf("upload without purpose: %d %s", code, body)
	}

	// At most two open batches per key: slow ones stay open.
	slow := upload(t, c, writeLines(t, request("s", "slow sim:sleep=3s")))
	create(t, c, slow.ID, "24h")
	create(t, c, slow.ID, "24h")
	_, err = c.Batches.New(ctx, openai.BatchNewParams{InputFileID: slow.ID, Endpoint: openai.BatchNewParamsEndpointV1Embeddings, CompletionWindow: "24h"})
	if !isStatus(err, http.StatusTooManyRequests) {
		t.Errorf("third open batch: %v, want 429", err)
	}
	// The other key has its own allowance.
	other := sdk(base, keyB)
	create(t, other, upload(t, other, writeLines(t, request("s", "slow sim:sleep=3s"))).ID, "24h")
}

func asAPI(err error, target **openai.Error) bool {
	e, ok := err.(*openai.Error)
	if ok {
		*target = e
	}
	return ok
}

// TestExpiry gives a batch of slow requests (38 tasks of 1.5 s, 8 at a
// time) a 2-second window: what did
// not run by then ends as expired in the error file, and the batch is
// expired.
func TestExpiry(t *testing.T) {
	f := setup(t)
	_, base := f.startAPI(t)
	c := sdk(base, keyA)
	var lines []string
	for i := range 600 {
		lines = append(lines, request(fmt.Sprintf("r%d", i), fmt.Sprintf("slow %d sim:sleep=1500ms", i)))
	}
	b := create(t, c, upload(t, c, writeLines(t, lines...)).ID, "2s")
	b = poll(t, c, b.ID, 30*time.Second, openai.BatchStatusExpired, openai.BatchStatusCompleted)
	if b.Status != openai.BatchStatusExpired || b.ExpiredAt == 0 || b.ExpiredAt < b.ExpiresAt {
		t.Fatalf("batch %s expired at %d (expires_at %d), want expired", b.Status, b.ExpiredAt, b.ExpiresAt)
	}
	if b.RequestCounts.Failed == 0 || b.RequestCounts.Completed+b.RequestCounts.Failed != 600 {
		t.Errorf("counts %+v", b.RequestCounts)
	}
	expired := 0
	for _, l := range content(t, c, b.ErrorFileID) {
		if l.Error != nil && l.Error.Code == "batch_expired" {
			expired++
		}
	}
	if int64(expired) != b.RequestCounts.Failed {
		t.Errorf("%d expired lines, %d failed", expired, b.RequestCounts.Failed)
	}
}
