package job

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Status is a job's manifest and counts, read from its Redis hash without
// touching its tasks. Its JSON keys are the snake_case json tags of its
// fields and of Manifest's and Counters'.
type Status struct {
	Manifest
	Counters
	// Total is the number of unique items to embed: exact once the job is
	// submitted, until then the input's line count.
	Total int `json:"total"`
	// Pending counts the items queued and not yet running, or waiting for
	// a retry.
	Pending int `json:"pending"`
	// Submitting is true until every batch has been enqueued.
	Submitting bool `json:"submitting"`
	// Finished is true once every batch has finished, done or failed, or
	// was removed by Cancel.
	Finished bool `json:"finished"`
	// Rate is items finished per second, from the first batch started to
	// the last one finished; 0 before one has finished.
	Rate float64 `json:"rate"`
}

// GetStatus reads the job's status.
func GetStatus(ctx context.Context, rdb redis.Cmdable, id string) (*Status, error) {
	m, c, err := Load(ctx, rdb, id)
	if err != nil {
		return nil, err
	}
	s := &Status{Manifest: *m, Counters: *c, Submitting: m.Submitted == 0}
	s.Total = m.Unique
	if s.Submitting {
		s.Total = max(m.Lines, c.Queued)
	}
	s.Pending = max(c.Queued-c.Done-c.Failed-c.Cancelled-c.Active, 0)
	s.Finished = !s.Submitting && c.Done+c.Failed+c.Cancelled >= m.Unique
	if c.Updated > c.Started && c.Started > 0 {
		s.Rate = float64(c.Done+c.Failed) / (float64(c.Updated-c.Started) / 1000)
	}
	return s, nil
}

// ETA estimates the time left at the current rate; 0 when unknown.
func (s *Status) ETA() time.Duration {
	left := s.Total - s.Done - s.Failed
	if s.Rate <= 0 || left <= 0 {
		return 0
	}
	return time.Duration(float64(left) / s.Rate * float64(time.Second))
}
