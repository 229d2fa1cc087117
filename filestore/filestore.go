package filestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
)

// Store keeps files by key.
type Store interface {
	// Put stores the bytes of r under key, replacing what was there, and
	// returns their count. It reads at most max bytes: a longer r fails
	// with ErrTooLarge and stores nothing.
	Put(ctx context.Context, key string, r io.Reader, max int64) (int64, error)
	// Open returns the content of key, or ErrNotFound.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Path returns the local file holding key, when the store has one
	// (file://), so that a reader may open it again without a copy.
	Path(key string) (string, bool)
	// String describes the store without credentials.
	String() string
}

// ErrNotFound is returned by Open for a key the store does not hold.
var ErrNotFound = errors.New("no such file in the store")

// ErrTooLarge is returned by Put for content over the limit.
var ErrTooLarge = errors.New("file too large")

var keyRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,200}$`)

func checkKey(key string) error {
	if !keyRE.MatchString(key) || strings.Trim(key, ".") == "" {
		return fmt.Errorf("filestore: bad key %q", key)
	}
	return nil
}

// Open returns the store that rawURL names: file:///path (a directory,
// created if missing) or s3://bucket/prefix, configured by s3 (see
// S3Config).
func Open(ctx context.Context, rawURL string, s3 S3Config) (Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("filestore: file URL %q: want file:///absolute/path", rawURL)
		}
		return NewDir(u.Path)
	case "s3":
		return NewS3(ctx, u.Host, strings.Trim(u.Path, "/"), s3)
	}
	return nil, fmt.Errorf("filestore: %q: want file:///path or s3://bucket/prefix", rawURL)
}

// limited reads at most max bytes of r, and fails with ErrTooLarge past
// them.
type limited struct {
	r   io.Reader
	n   int64 // bytes left
	max int64
}

func (l *limited) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, fmt.Errorf("%w: over %d bytes", ErrTooLarge, l.max)
	}
	return n, err
}
