package batchapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/llmq/llmq/simulator"
)

// TestGoSDK runs the whole flow through the official Go SDK: upload,
// create, poll, download the output and error files, list, and cancel.
func TestGoSDK(t *testing.T) {
	f := setup(t)
	_, base := f.startAPI(t)
	c := sdk(base, keyA)
	ctx := context.Background()

	// 120 requests: one the provider refuses, one repeating another's text.
	var lines []string
	for i := range 120 {
		text := fmt.Sprintf("document %d", i)
		switch i {
		case 7:
			text = "refused sim:status=400"
		case 50:
			text = "document 3"
		}
		lines = append(lines, request(fmt.Sprintf("req-%d", i), text))
	}
	in := upload(t, c, writeLines(t, lines...))
	if !strings.HasPrefix(in.ID, "file-") || in.Purpose != openai.FileObjectPurposeBatch || in.Bytes == 0 || in.Filename != "batch.jsonl" {
		t.Errorf("uploaded file %+v", in)
	}
	b := create(t, c, in.ID, "24h")
	if !strings.HasPrefix(b.ID, "batch_") || b.Status != openai.BatchStatusValidating || b.InputFileID != in.ID ||
		b.Endpoint != "/v1/embeddings" || b.Metadata["run"] != t.Name() || b.ExpiresAt-b.CreatedAt != 24*3600 {
		t.Errorf("created batch %+v", b)
	}
	b = poll(t, c, b.ID, 60*time.Second, openai.BatchStatusCompleted, openai.BatchStatusFailed)
	if b.Status != openai.BatchStatusCompleted {
		t.Fatalf("batch %s: %+v", b.Status, b.Errors)
	}
	if b.RequestCounts.Total != 120 || b.RequestCounts.Completed != 119 || b.RequestCounts.Failed != 1 {
		t.Errorf("request counts %+v, want 120 = 119 + 1", b.RequestCounts)
	}
	if b.InProgressAt == 0 || b.FinalizingAt == 0 || b.CompletedAt == 0 || b.Usage.InputTokens == 0 || b.Model != "text-embedding-3-small" {
		t.Errorf("timestamps, usage or model missing: %+v", b)
	}
	out := content(t, c, b.OutputFileID)
	if len(out) != 119 {
		t.Fatalf("%d output lines, want 119", len(out))
	}
	k := 0
	for i := range 120 {
		if i == 7 {
			continue
		}
		l := out[k]
		k++
		text := fmt.Sprintf("document %d", i)
		if i == 50 {
			text = "document 3"
		}
		if l.CustomID != fmt.Sprintf("req-%d", i) || l.Response == nil || l.Response.StatusCode != 200 {
			t.Fatalf("output line %d: %+v, want req-%d in input order", k, l, i)
		}
		if got, want := l.Response.Body.Data[0].Embedding, simulator.Vector(text, dim); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("req-%d: vector %v, want %v", i, got, want)
		}
	}
	errs := content(t, c, b.ErrorFileID)
	if len(errs) != 1 || errs[0].CustomID != "req-7" || errs[0].Response == nil || errs[0].Response.StatusCode != 400 {
		t.Errorf("error file %+v, want req-7 with status 400", errs)
	}
	of, err := c.Files.Get(ctx, b.OutputFileID)
	if err != nil || of.Purpose != openai.FileObjectPurposeBatchOutput || of.Bytes == 0 {
		t.Errorf("output file %+v, %v", of, err)
	}
	// The uploaded file reads back as it was.
	if got := content(t, c, in.ID); len(got) != 120 || got[0].CustomID != "req-0" {
		t.Errorf("input file read back: %d lines", len(got))
	}

	// Cancel: 200 slow requests make 13 tasks of 16 texts (API_BATCH_SIZE);
	// the worker runs 8 at once, so that 5 are still queued.
	var slow []string
	for i := range 200 {
		slow = append(slow, request(fmt.Sprintf("slow-%d", i), fmt.Sprintf("slow %d sim:sleep=1s", i)))
	}
	sf := upload(t, c, writeLines(t, slow...))
	cb := create(t, c, sf.ID, "24h")
	poll(t, c, cb.ID, 30*time.Second, openai.BatchStatusInProgress)
	time.Sleep(300 * time.Millisecond)
	cb, err = c.Batches.Cancel(ctx, cb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Status != openai.BatchStatusCancelling && cb.Status != openai.BatchStatusCancelled {
		t.Errorf("status after cancel %s, want cancelling", cb.Status)
	}
	cb = poll(t, c, cb.ID, 30*time.Second, openai.BatchStatusCancelled)
	if cb.CancellingAt == 0 || cb.CancelledAt == 0 || cb.RequestCounts.Total != 200 {
		t.Errorf("cancelled batch %+v", cb)
	}
	cerrs := content(t, c, cb.ErrorFileID)
	cancelled := 0
	for _, l := range cerrs {
		if l.Error != nil && l.Error.Code == "batch_cancelled" {
			cancelled++
		}
	}
	if cancelled == 0 || int64(cancelled) != cb.RequestCounts.Failed || cb.RequestCounts.Completed+cb.RequestCounts.Failed != 200 {
		t.Errorf("%d cancelled lines, counts %+v", cancelled, cb.RequestCounts)
	}
	if cb.RequestCounts.Completed > 0 && len(content(t, c, cb.OutputFileID)) != int(cb.RequestCounts.Completed) {
		t.Errorf("output of the cancelled batch does not match its count")
	}
	if _, err := c.Batches.Cancel(ctx, b.ID); !isStatus(err, http.StatusConflict) {
		t.Errorf("cancel of a completed batch: %v, want 409", err)
	}

	// Lists, a page of one at a time.
	var ids []string
	iter := c.Batches.ListAutoPaging(ctx, openai.BatchListParams{Limit: openai.Int(1)})
	for iter.Next() {
		ids = append(ids, iter.Current().ID)
	}
	if err := iter.Err(); err != nil || strings.Join(ids, " ") != cb.ID+" "+b.ID {
		t.Errorf("batches %v, %v; want [%s %s], newest first", ids, err, cb.ID, b.ID)
	}
	files := 0
	fiter := c.Files.ListAutoPaging(ctx, openai.FileListParams{Limit: openai.Int(2)})
	for fiter.Next() {
		files++
	}
	// Two uploads, two outputs and two error files.
	if err := fiter.Err(); err != nil || files != 6 {
		t.Errorf("%d files, %v; want 6", files, err)
	}
	page, err := c.Files.List(ctx, openai.FileListParams{Purpose: openai.String("batch")})
	if err != nil || len(page.Data) != 2 {
		t.Errorf("files of purpose batch: %v, %v", page, err)
	}
	if d, err := c.Files.Delete(ctx, in.ID); err != nil || !d.Deleted {
		t.Errorf("delete: %+v, %v", d, err)
	}
	if _, err := c.Files.Get(ctx, in.ID); !isStatus(err, http.StatusNotFound) {
		t.Errorf("get after delete: %v, want 404", err)
	}
}

func isStatus(err error, code int) bool {
	var apierr *openai.Error
	return errors.As(err, &apierr) && apierr.StatusCode == code
}

// TestIsolation checks that a second key sees none of the first key's
// files and batches, that a missing or bad key gets 401, and that Redis
// holds no key in clear.
func TestIsolation(t *testing.T) {
	f := setup(t)
	_, base := f.startAPI(t)
	a, b := sdk(base, keyA), sdk(base, keyB)
	ctx := context.Background()
	in := upload(t, a, writeLines(t, request("x", "hello")))
	ba := create(t, a, in.ID, "24h")
	ba = poll(t, a, ba.ID, 30*time.Second, openai.BatchStatusCompleted)

	for name, err := range map[string]error{
		"get batch":  second(b.Batches.Get(ctx, ba.ID)),
		"cancel":     second(b.Batches.Cancel(ctx, ba.ID)),
		"get file":   second(b.Files.Get(ctx, in.ID)),
		"content":    second(b.Files.Content(ctx, ba.OutputFileID)),
		"delete":     second(b.Files.Delete(ctx, in.ID)),
		"batch from": second(b.Batches.New(ctx, openai.BatchNewParams{InputFileID: in.ID, Endpoint: openai.BatchNewParamsEndpointV1Embeddings, CompletionWindow: "24h"})),
	} {
		if !isStatus(err, http.StatusNotFound) {
			t.Errorf("%s with the other key: %v, want 404", name, err)
		}
	}
	if page, err := b.Batches.List(ctx, openai.BatchListParams{}); err != nil || len(page.Data) != 0 {
		t.Errorf("the other key lists %v, %v; want none", page, err)
	}
	if page, err := b.Files.List(ctx, openai.FileListParams{}); err != nil || len(page.Data) != 0 {
		t.Errorf("the other key lists files %v, %v; want none", page, err)
	}
	if _, err := sdk(base, "sk-not-a-key-of-this-server").Batches.Get(ctx, ba.ID); !isStatus(err, http.StatusUnauthorized) {
		t.Errorf("bad key: %v, want 401", err)
	}
	if code, body := raw(t, "GET", base+"/v1/batches", "", nil); code != http.StatusUnauthorized || !strings.Contains(body, `"error":{`) {
		t.Errorf("no key: %d %s, want 401 with an error object", code, body)
	}
	// Redis holds no key in clear.
	keys, err := f.rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		dump, _ := f.rdb.Dump(ctx, k).Result()
		for _, secret := range []string{keyA, keyB} {
			if strings.Contains(k, secret) || strings.Contains(dump, secret) {
				t.Errorf("Redis key %s holds an API key in clear", k)
			}
		}
	}
}

func second[T any](_ T, err error) error { return err }
