package job

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis keys of a job. The hash tag {ID} keeps them in one Redis Cluster
// slot, so that one script may touch them all.
//
//	llmq:job:{ID}        HASH    the manifest (Manifest) and the counters
//	llmq:job:{ID}:sent   STRING  bitmap: batch n was enqueued
//	llmq:job:{ID}:run    STRING  bitmap: batch n is running
//	llmq:job:{ID}:done   STRING  bitmap: batch n has finished
//	llmq:job:{ID}:dups   HASH    batch n → JSON list of the Dups among its items
//	llmq:job:{ID}:cancelled HASH batch n → payload of a batch Cancel removed
//
// Tasks are asynq's own: asynq:{QUEUE}:t:ID:n for batch n. Every key
// expires RESULT_RETENTION after the job's last activity.
func keys(id string) []string {
	base := "llmq:job:{" + id + "}"
	return []string{base, base + ":sent", base + ":run", base + ":done", base + ":dups", base + ":cancelled"}
}

const (
	keyManifest = iota
	keySent
	keyRun
	keyDone
	keyDups
	keyCancelled
)

func key(id string, which int) string { return keys(id)[which] }

// TaskID returns the asynq task ID of a job's batch.
func TaskID(job string, batch int) string { return job + ":" + strconv.Itoa(batch) }

// ErrNotFound is returned for a job that Redis does not know, or no
// longer does (its retention passed, or it was deleted).
var ErrNotFound = errors.New("no such job")

// ErrConflict is returned when a job of the same ID exists with another
// input or other settings.
var ErrConflict = errors.New("job exists with another input or settings")

var idRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// CheckID reports whether id may name a job: 1 to 64 letters, digits and
// _ . - characters.
func CheckID(id string) error {
	if !idRE.MatchString(id) {
		return fmt.Errorf("job id %q: want 1 to 64 letters, digits, '_', '.' or '-'", id)
	}
	return nil
}

// Manifest describes a job. It is stored as a Redis hash; the field names
// are the json tags.
type Manifest struct {
	ID string `json:"id"`
	// Digest is a hash of the input and every setting that shapes the
	// tasks: two submissions with the same Digest make the same tasks.
	Digest     string `json:"digest"`
	Input      string `json:"input"`
	Format     Format `json:"format"`
	Provider   string `json:"provider"`
	Model      string `json:"model"`
	Dimensions int    `json:"dimensions"`
	Encoding   string `json:"encoding"`
	Queue      string `json:"queue"`
	BatchSize  int    `json:"batch_size"`
	Created    int64  `json:"created_ms"`
	Retention  int64  `json:"retention_s"`
	// Lines is the number of non-blank input lines, known before the
	// items are read.
	Lines int `json:"lines"`
	// Set once every batch was enqueued:
	Items     int   `json:"items"`
	Unique    int   `json:"unique"`
	Skipped   int   `json:"skipped"`
	Batches   int   `json:"batches"`
	Submitted int64 `json:"submitted_ms"`
	// Set by Cancel: why, and when it first ran.
	CancelReason CancelReason `json:"cancel_reason"`
	CancelledAt  int64        `json:"cancelled_ms"`
}

// Counters are the counts workers and producers keep in the manifest's
// hash, in items (unique ones: duplicates are not embedded).
type Counters struct {
	Queued int `json:"queued"`
	Active int `json:"active"`
	Done   int `json:"done"`
	Failed int `json:"failed"`
	// Cancelled counts the items of the batches Cancel removed unrun.
	Cancelled int   `json:"cancelled"`
	Started   int64 `json:"started_ms"`
	Updated   int64 `json:"updated_ms"`
}

// fields returns m as hash fields.
func (m *Manifest) fields() []any {
	return []any{
		"id", m.ID, "digest", m.Digest, "input", m.Input, "format", string(m.Format),
		"provider", m.Provider, "model", m.Model, "dimensions", m.Dimensions, "encoding", m.Encoding,
		"queue", m.Queue, "batch_size", m.BatchSize, "created_ms", m.Created,
		"retention_s", m.Retention, "lines", m.Lines,
	}
}

func (m *Manifest) totals() []any {
	return []any{"items", m.Items, "unique", m.Unique, "skipped", m.Skipped,
		"batches", m.Batches, "submitted_ms", m.Submitted}
}

// Load reads the job's manifest and counters.
func Load(ctx context.Context, rdb redis.Cmdable, id string) (*Manifest, *Counters, error) {
	h, err := rdb.HGetAll(ctx, key(id, keyManifest)).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("read job %s: %w", id, err)
	}
	if len(h) == 0 || h["id"] == "" {
		return nil, nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	n := func(k string) int { v, _ := strconv.Atoi(h[k]); return v }
	n64 := func(k string) int64 { v, _ := strconv.ParseInt(h[k], 10, 64); return v }
	m := &Manifest{
		ID: h["id"], Digest: h["digest"], Input: h["input"], Format: Format(h["format"]),
		Provider: h["provider"], Model: h["model"], Dimensions: n("dimensions"), Encoding: h["encoding"],
		Queue: h["queue"], BatchSize: n("batch_size"), Created: n64("created_ms"), Retention: n64("retention_s"),
		Lines: n("lines"), Items: n("items"), Unique: n("unique"), Skipped: n("skipped"),
		Batches: n("batches"), Submitted: n64("submitted_ms"),
		CancelReason: CancelReason(h["cancel_reason"]), CancelledAt: n64("cancelled_ms"),
	}
	c := &Counters{Queued: n("queued"), Active: max(n("active"), 0), Done: n("done"), Failed: n("failed"),
		Cancelled: n("cancelled"), Started: n64("started_ms"), Updated: n64("updated_ms")}
	return m, c, nil
}

// expire sets every key of the job to expire after the retention.
func expire(ctx context.Context, pipe redis.Pipeliner, id string, retention time.Duration) {
	for _, k := range keys(id) {
		pipe.PExpire(ctx, k, retention)
	}
}
