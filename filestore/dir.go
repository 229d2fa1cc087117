package filestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Dir is a Store in a local directory: one file per key, written to a
// temporary name and renamed into place, so a reader never sees half a
// file.
type Dir struct {
	dir string
}

var _ Store = (*Dir)(nil)

// NewDir returns the store in dir, creating it if missing.
func NewDir(dir string) (*Dir, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("filestore: directory %q is not an absolute path", dir)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	return &Dir{dir: dir}, nil
}

func (d *Dir) String() string { return "file://" + d.dir }

// Path returns the file of key.
func (d *Dir) Path(key string) (string, bool) {
	if checkKey(key) != nil {
		return "", false
	}
	return filepath.Join(d.dir, key), true
}

// Put writes r to the file of key.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader, max int64) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(d.dir, ".put-*")
	if err != nil {
		return 0, fmt.Errorf("filestore: %w", err)
	}
	n, err := io.Copy(f, &limited{r: ctxReader{ctx, r}, n: max, max: max})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(d.dir, key))
	}
	if err != nil {
		_ = os.Remove(f.Name())
		if errors.Is(err, ErrTooLarge) {
			return 0, err
		}
		return 0, fmt.Errorf("filestore: put %s: %w", key, err)
	}
	return n, nil
}

// Open opens the file of key.
func (d *Dir) Open(_ context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(d.dir, key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	return f, nil
}

// Delete removes the file of key.
func (d *Dir) Delete(_ context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(d.dir, key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("filestore: %w", err)
	}
	return nil
}

// ctxReader stops reading once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
