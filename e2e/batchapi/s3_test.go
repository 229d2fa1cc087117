package batchapi

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/openai/openai-go/v3"

	"github.com/llmq/llmq/internal/miniotest"
)

// TestS3Store runs two API replicas on one S3 bucket (a real MinIO),
// configured by the standard AWS variables: a file uploaded through one is
// a batch input for the other, and either serves the files.
func TestS3Store(t *testing.T) {
	f := setup(t)
	m := miniotest.Start(t)
	ctx := context.Background()
	mc, err := minio.New(strings.TrimPrefix(m.Endpoint, "http://"), &minio.Options{Creds: credentials.NewStaticV4(miniotest.AccessKey, miniotest.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.MakeBucket(ctx, "llmq", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	vars := []string{"FILE_STORE=s3://llmq/uploads", "AWS_ENDPOINT_URL=" + m.Endpoint, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=" + miniotest.AccessKey, "AWS_SECRET_ACCESS_KEY=" + miniotest.SecretKey}
	_, baseA := f.startAPI(t, vars...)
	_, baseB := f.startAPI(t, vars...)
	a, b := sdk(baseA, keyA), sdk(baseB, keyA)
	var lines []string
	for i := range 300 {
		lines = append(lines, request(fmt.Sprintf("r%d", i), fmt.Sprintf("s3 text %d", i)))
	}
	in := upload(t, a, writeLines(t, lines...))
	st, err := mc.StatObject(ctx, "llmq", "uploads/"+in.ID, minio.StatObjectOptions{})
	if err != nil || st.Size != in.Bytes {
		t.Fatalf("object of %s: %+v, %v; want %d bytes", in.ID, st, err, in.Bytes)
	}
	bt := create(t, b, in.ID, "24h")
	bt = poll(t, a, bt.ID, 60*time.Second, openai.BatchStatusCompleted, openai.BatchStatusFailed)
	if bt.Status != openai.BatchStatusCompleted || bt.RequestCounts.Completed != 300 {
		t.Fatalf("batch %s %+v", bt.Status, bt.RequestCounts)
	}
	if out := content(t, b, bt.OutputFileID); len(out) != 300 || out[299].CustomID != "r299" {
		t.Errorf("%d output lines through the other replica", len(out))
	}
	if got := content(t, b, in.ID); len(got) != 300 {
		t.Errorf("input read back through the other replica: %d lines", len(got))
	}
	if _, err := a.Files.Delete(ctx, in.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := mc.StatObject(ctx, "llmq", "uploads/"+in.ID, minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != minio.NoSuchKey {
		t.Errorf("object after delete: %v, want NoSuchKey", err)
	}
}
