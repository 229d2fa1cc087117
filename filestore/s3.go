package filestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config says how to reach S3.
type S3Config struct {
	// Endpoint is the S3 endpoint URL (AWS_ENDPOINT_URL), such as
	// http://127.0.0.1:9000 for MinIO. Default https://s3.amazonaws.com.
	Endpoint string
	// Region is the bucket's region (AWS_REGION); empty asks the server.
	Region string
	// Credentials default to the chain in the package documentation.
	Credentials *credentials.Credentials
	// Transport defaults to minio-go's.
	Transport http.RoundTripper
}

// partSize is the size of the parts of a multipart upload: what one Put
// holds in memory.
const partSize = 16 << 20

// S3 is a Store in an S3 bucket, under a prefix.
type S3 struct {
	c      *minio.Client
	bucket string
	prefix string
	desc   string
}

var _ Store = (*S3)(nil)

// NewS3 returns the store in bucket under prefix, and checks that the
// bucket exists.
func NewS3(ctx context.Context, bucket, prefix string, cfg S3Config) (*S3, error) {
	if bucket == "" {
		return nil, errors.New("filestore: s3 URL without a bucket: want s3://bucket/prefix")
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = "https://s3.amazonaws.com"
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("filestore: AWS_ENDPOINT_URL %q: want http(s)://host[:port]", endpoint)
	}
	creds := cfg.Credentials
	if creds == nil {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.FileAWSCredentials{},
			&credentials.IAM{},
		})
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds: creds, Secure: u.Scheme == "https", Region: cfg.Region, Transport: cfg.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("filestore: s3 client: %w", err)
	}
	ok, err := c.BucketExists(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("filestore: s3 bucket %s at %s: %w", bucket, u.Host, err)
	}
	if !ok {
		return nil, fmt.Errorf("filestore: s3 bucket %s does not exist at %s", bucket, u.Host)
	}
	return &S3{c: c, bucket: bucket, prefix: prefix, desc: "s3://" + path.Join(bucket, prefix) + " at " + u.Host}, nil
}

func (s *S3) String() string { return s.desc }

func (s *S3) name(key string) string {
	if s.prefix == "" {
		return key
	}
	return s.prefix + "/" + key
}

// Path reports that S3 has no local files.
func (s *S3) Path(string) (string, bool) { return "", false }

// Put uploads r, in parts of 16 MiB.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, max int64) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	lr := &limited{r: r, n: max, max: max}
	info, err := s.c.PutObject(ctx, s.bucket, s.name(key), lr, -1, minio.PutObjectOptions{
		PartSize: partSize, ContentType: "application/octet-stream", DisableContentSha256: false,
	})
	if err != nil {
		if lr.n < 0 {
			// An aborted multipart upload leaves nothing; a single-part one
			// may have been sent whole before the limit showed.
			_ = s.Delete(context.WithoutCancel(ctx), key)
			return 0, fmt.Errorf("%w: over %d bytes", ErrTooLarge, max)
		}
		return 0, fmt.Errorf("filestore: put %s: %w", key, err)
	}
	return info.Size, nil
}

// Open streams the object of key.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	o, err := s.c.GetObject(ctx, s.bucket, s.name(key), minio.GetObjectOptions{})
	if err == nil {
		_, err = o.Stat()
	}
	if err != nil {
		if o != nil {
			o.Close()
		}
		if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		return nil, fmt.Errorf("filestore: get %s: %w", key, err)
	}
	return o, nil
}

// Delete removes the object of key.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := s.c.RemoveObject(ctx, s.bucket, s.name(key), minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("filestore: delete %s: %w", key, err)
	}
	return nil
}
