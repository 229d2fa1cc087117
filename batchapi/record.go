package batchapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

func fileKey(id string) string       { return "llmq:api:file:{" + id + "}" }
func batchKey(id string) string      { return "llmq:api:batch:{" + id + "}" }
func leaseKey(id string) string      { return "llmq:api:lease:{" + id + "}" }
func ownerFiles(owner string) string { return "llmq:api:{" + owner + "}:files" }
func ownerBatch(owner string) string { return "llmq:api:{" + owner + "}:batches" }
func ownerOpen(owner string) string  { return "llmq:api:{" + owner + "}:open" }

const openKey = "llmq:api:open"

// Kinds of file records.
const (
	kindUpload = "upload"
	kindOutput = "output"
	kindError  = "error"
)

// fileRecord is a file's Redis hash.
type fileRecord struct {
	ID, Owner, Filename, Purpose, Kind string
	Bytes, CreatedAt, ExpiresAt        int64
	// Batch is the batch whose output or errors the file is.
	Batch string
}

func (f *fileRecord) fields() []any {
	return []any{"id", f.ID, "owner", f.Owner, "filename", f.Filename, "purpose", f.Purpose, "kind", f.Kind,
		"bytes", f.Bytes, "created_at", f.CreatedAt, "expires_at", f.ExpiresAt, "batch", f.Batch}
}

// fileObject is OpenAI's file object.
type fileObject struct {
	ID        string `json:"id"`
	Object    string `json:"object"`
	Bytes     int64  `json:"bytes"`
	CreatedAt int64  `json:"created_at"`
	ExpiresAt *int64 `json:"expires_at"`
	Filename  string `json:"filename"`
	Purpose   string `json:"purpose"`
	Status    string `json:"status"`
}

func (f *fileRecord) object() fileObject {
	o := fileObject{ID: f.ID, Object: "file", Bytes: f.Bytes, CreatedAt: f.CreatedAt, Filename: f.Filename,
		Purpose: f.Purpose, Status: "processed"}
	if f.ExpiresAt > 0 {
		o.ExpiresAt = &f.ExpiresAt
	}
	return o
}

func i64(h map[string]string, k string) int64 { v, _ := strconv.ParseInt(h[k], 10, 64); return v }

// errNotFound is a record that does not exist or is another owner's.
var errNotFound = errors.New("not found")

func (s *Server) loadFile(ctx context.Context, id, owner string) (*fileRecord, error) {
	if !validID(id, filePrefix) {
		return nil, errNotFound
	}
	h, err := s.rdb.HGetAll(ctx, fileKey(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("read file %s: %w", id, err)
	}
	if h["id"] == "" || h["owner"] != owner {
		return nil, errNotFound
	}
	if e := i64(h, "expires_at"); e > 0 && s.now().Unix() >= e {
		return nil, errNotFound
	}
	return &fileRecord{ID: h["id"], Owner: h["owner"], Filename: h["filename"], Purpose: h["purpose"], Kind: h["kind"],
		Bytes: i64(h, "bytes"), CreatedAt: i64(h, "created_at"), ExpiresAt: i64(h, "expires_at"), Batch: h["batch"]}, nil
}

func (s *Server) saveFile(ctx context.Context, f *fileRecord) error {
	pipe := s.rdb.Pipeline()
	pipe.HSet(ctx, fileKey(f.ID), f.fields()...)
	if f.ExpiresAt > 0 {
		pipe.ExpireAt(ctx, fileKey(f.ID), unixTime(f.ExpiresAt))
	}
	pipe.ZAdd(ctx, ownerFiles(f.Owner), redis.Z{Member: f.ID})
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("save file %s: %w", f.ID, err)
	}
	return nil
}

// Batch statuses.
const (
	statusValidating = "validating"
	statusFailed     = "failed"
	statusInProgress = "in_progress"
	statusFinalizing = "finalizing"
	statusCompleted  = "completed"
	statusExpired    = "expired"
	statusCancelling = "cancelling"
	statusCancelled  = "cancelled"
)

func ended(status string) bool {
	switch status {
	case statusFailed, statusCompleted, statusExpired, statusCancelled:
		return true
	}
	return false
}

// batchRecord is a batch's Redis hash: every field of the batch object
// that is not derived from its job, and the work's flags.
type batchRecord struct {
	h map[string]string
}

func (b batchRecord) get(k string) string { return b.h[k] }
func (b batchRecord) int(k string) int64  { return i64(b.h, k) }

func (s *Server) loadBatch(ctx context.Context, id, owner string) (batchRecord, error) {
	if !validID(id, batchPrefix) {
		return batchRecord{}, errNotFound
	}
	h, err := s.rdb.HGetAll(ctx, batchKey(id)).Result()
	if err != nil {
		return batchRecord{}, fmt.Errorf("read batch %s: %w", id, err)
	}
	if h["id"] == "" || (owner != "" && h["owner"] != owner) {
		return batchRecord{}, errNotFound
	}
	return batchRecord{h: h}, nil
}

// setStatus moves batch id from one of the statuses in from to status, and
// sets the other fields (name, value pairs); it reports whether it did.
var setStatusScript = redis.NewScript(`
local cur = redis.call("HGET", KEYS[1], "status")
if not cur then return 0 end
local ok = false
for s in string.gmatch(ARGV[1], "[^,]+") do if s == cur then ok = true end end
if not ok then return 0 end
for i = 2, #ARGV, 2 do redis.call("HSET", KEYS[1], ARGV[i], ARGV[i+1]) end
return 1
`)

func (s *Server) setStatus(ctx context.Context, id, from string, fields ...any) (bool, error) {
	n, err := setStatusScript.Run(ctx, s.rdb, []string{batchKey(id)}, append([]any{from}, fields...)...).Int()
	if err != nil {
		return false, fmt.Errorf("batch %s: %w", id, err)
	}
	return n == 1, nil
}

// batchError is one entry of a batch's errors.data.
type batchError struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Param   *string `json:"param"`
	Line    *int    `json:"line"`
}

func encodeErrors(errs []batchError) string {
	b, _ := json.Marshal(errs)
	return string(b)
}
