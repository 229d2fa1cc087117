package filestore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/llmq/llmq/filestore"
	"github.com/llmq/llmq/internal/miniotest"
)

// TestStores runs the same checks on a directory and on a real MinIO.
func TestStores(t *testing.T) {
	ctx := context.Background()
	m := miniotest.Start(t)
	mc, err := minio.New(strings.TrimPrefix(m.Endpoint, "http://"), &minio.Options{Creds: credentials.NewStaticV4(miniotest.AccessKey, miniotest.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.MakeBucket(ctx, "llmq", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", miniotest.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", miniotest.SecretKey)
	for _, tc := range []struct{ name, url string }{
		{"dir", "file://" + t.TempDir() + "/files"},
		{"s3", "s3://llmq/some/prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := filestore.Open(ctx, tc.url, filestore.S3Config{Endpoint: m.Endpoint, Region: "us-east-1"})
			if err != nil {
				t.Fatal(err)
			}
			// More than one multipart part of 16 MiB for S3.
			big := bytes.Repeat([]byte("0123456789abcdef"), 17<<20/16)
			n, err := s.Put(ctx, "file-a", bytes.NewReader(big), int64(len(big)))
			if err != nil || n != int64(len(big)) {
				t.Fatalf("put: %d, %v", n, err)
			}
			rc, err := s.Open(ctx, "file-a")
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, big) {
				t.Fatalf("read back %d bytes, %v; want the %d written", len(got), err, len(big))
			}
			if _, err := s.Put(ctx, "file-b", strings.NewReader("12345"), 4); !errors.Is(err, filestore.ErrTooLarge) {
				t.Errorf("put over the limit: %v, want ErrTooLarge", err)
			}
			if _, err := s.Open(ctx, "file-b"); !errors.Is(err, filestore.ErrNotFound) {
				t.Errorf("open of a refused put: %v, want ErrNotFound", err)
			}
			if err := s.Delete(ctx, "file-a"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Open(ctx, "file-a"); !errors.Is(err, filestore.ErrNotFound) {
				t.Errorf("open after delete: %v, want ErrNotFound", err)
			}
			if err := s.Delete(ctx, "file-a"); err != nil {
				t.Errorf("delete of a missing key: %v", err)
			}
			for _, bad := range []string{"../x", "a/b", "", ".."} {
				if _, err := s.Put(ctx, bad, strings.NewReader("x"), 10); err == nil {
					t.Errorf("put of key %q succeeded", bad)
				}
			}
		})
	}
	{
		objs := 0
		for o := range mc.ListObjects(ctx, "llmq", minio.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			objs++
		}
		if objs != 0 {
			t.Errorf("%d objects left in the bucket, want none", objs)
		}
	}
	if _, err := filestore.Open(ctx, "s3://missing-bucket", filestore.S3Config{Endpoint: m.Endpoint}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing bucket: %v", err)
	}
	for _, bad := range []string{"ftp://x", "file://host/path", "file://relative"} {
		if _, err := filestore.Open(ctx, bad, filestore.S3Config{}); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}
