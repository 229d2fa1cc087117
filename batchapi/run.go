package batchapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/job"
	"github.com/llmq/llmq/tasks"
)

// Run takes this replica's share of the open batches' work until ctx
// ends, then waits for the steps under way to stop. Every replica runs it.
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		s.sweep(ctx)
		select {
		case <-ctx.Done():
			s.wg.Wait()
			return nil
		case <-t.C:
		case id := <-s.kicks:
			s.try(ctx, id)
		}
	}
}

// kick asks Run to look at batch id now rather than at the next tick.
func (s *Server) kick(id string) {
	select {
	case s.kicks <- id:
	default:
	}
}

func (s *Server) sweep(ctx context.Context) {
	ids, err := s.rdb.ZRange(ctx, openKey, 0, -1).Result()
	if err != nil {
		if ctx.Err() == nil {
			s.log.WarnContext(ctx, "list open batches", slog.String("error", err.Error()))
		}
		return
	}
	for _, id := range ids {
		s.try(ctx, id)
	}
}

// KEYS: lease. ARGV: replica, ms. Renews or releases a lease held.
var renewScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == "0" then return redis.call("DEL", KEYS[1]) end
return redis.call("PEXPIRE", KEYS[1], ARGV[2])
`)

// try takes a step on batch id unless this replica is at it or another
// holds its lease.
func (s *Server) try(ctx context.Context, id string) {
	if ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	if s.working[id] {
		s.mu.Unlock()
		return
	}
	ok, err := s.rdb.SetNX(ctx, leaseKey(id), s.replica, s.cfg.Lease).Result()
	if err != nil || !ok {
		s.mu.Unlock()
		return
	}
	s.working[id] = true
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		sctx, cancel := context.WithCancel(ctx)
		renewed := make(chan struct{})
		go func() {
			defer close(renewed)
			t := time.NewTicker(s.cfg.Lease / 3)
			defer t.Stop()
			for {
				select {
				case <-sctx.Done():
					return
				case <-t.C:
					n, err := renewScript.Run(sctx, s.rdb, []string{leaseKey(id)}, s.replica, s.cfg.Lease.Milliseconds()).Int()
					if err == nil && n == 0 {
						s.log.Warn("lost the lease of a batch", slog.String("batch_id", id))
						cancel()
						return
					}
				}
			}
		}()
		if err := s.step(sctx, id); err != nil && sctx.Err() == nil {
			s.log.Error("batch step failed", slog.String("batch_id", id), slog.String("error", err.Error()))
		}
		cancel()
		<-renewed
		dctx, done := shutdownContext(ctx)
		_ = renewScript.Run(dctx, s.rdb, []string{leaseKey(id)}, s.replica, 0).Err()
		done()
		s.mu.Lock()
		delete(s.working, id)
		s.mu.Unlock()
	}()
}

// step does what batch id needs next, as far as it can now: validate and
// submit it, cancel or expire its job, or finalize it.
func (s *Server) step(ctx context.Context, id string) error {
	for {
		b, err := s.loadBatch(ctx, id, "")
		if errors.Is(err, errNotFound) {
			return s.rdb.ZRem(ctx, openKey, id).Err()
		}
		if err != nil {
			return err
		}
		status := b.get("status")
		switch {
		case ended(status):
			return s.closeBatch(ctx, b)
		case status == statusValidating:
			if err := s.validate(ctx, b); err != nil {
				return err
			}
			continue
		case status == statusFinalizing:
			return s.finalize(ctx, b)
		}
		// in_progress or cancelling
		st, err := job.GetStatus(ctx, s.rdb, id)
		switch {
		case errors.Is(err, job.ErrNotFound) && b.int("in_progress_at") == 0:
			// Cancelled while validating: nothing ran.
			if _, err := s.setStatus(ctx, id, statusCancelling, "status", statusCancelled, "cancelled_at", s.now().Unix(), "final", "1"); err != nil {
				return err
			}
			continue
		case errors.Is(err, job.ErrNotFound) || (err == nil && st.Submitting):
			if err := s.submit(ctx, b); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		}
		// The job is submitted in full here: a cancellation made while it
		// was being submitted is made again, for the batches sent since.
		if b.get("cancel_done") != "1" {
			reason := job.CancelReason("")
			if b.get("cancel") == "1" {
				reason = job.ReasonCancelled
			} else if s.now().Unix() >= b.int("expires_at") && !st.Finished {
				reason = job.ReasonExpired
				s.log.InfoContext(ctx, "batch expired", slog.String("batch_id", id))
			}
			if reason != "" {
				if _, err := job.Cancel(ctx, s.rdb, id, reason); err != nil {
					return err
				}
				if err := s.rdb.HSet(ctx, batchKey(id), "cancel_done", "1").Err(); err != nil {
					return err
				}
				continue
			}
		}
		if !st.Finished {
			return nil
		}
		if _, err := s.setStatus(ctx, id, statusInProgress+","+statusCancelling, "status", statusFinalizing, "finalizing_at", s.now().Unix()); err != nil {
			return err
		}
	}
}

// validate checks every line of the input file: a bad file fails the
// batch with its lines' errors, a good one puts it in progress.
func (s *Server) validate(ctx context.Context, b batchRecord) error {
	id := b.get("id")
	path, remove, err := s.localInput(ctx, b)
	if err != nil {
		return s.failBatch(ctx, id, statusValidating, []batchError{{Code: "invalid_file", Message: err.Error()}})
	}
	defer remove()
	res, err := s.checkFile(path, b.get("endpoint"))
	if err != nil {
		return err
	}
	if res.Bad > 0 {
		s.log.InfoContext(ctx, "batch input refused", slog.String("batch_id", id), slog.Int("bad_lines", res.Bad))
		return s.failBatch(ctx, id, statusValidating, res.Errors)
	}
	_, err = s.setStatus(ctx, id, statusValidating, "status", statusInProgress, "in_progress_at", s.now().Unix(),
		"total", res.Requests, "model", res.Model)
	return err
}

func (s *Server) checkFile(path, endpoint string) (*checkResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	res, err := checkLines(f, endpoint)
	if err != nil {
		return res, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	rd := job.NewReader(f, job.Limits{})
	if endpoint != endpointEmbeddings {
		rd = job.NewGenerateReader(f, tasks.ProviderOpenAI, "", false)
	}
	return res, checkJobLines(rd, res)
}

func (s *Server) failBatch(ctx context.Context, id, from string, errs []batchError) error {
	_, err := s.setStatus(ctx, id, from, "status", statusFailed, "failed_at", s.now().Unix(),
		"errors", encodeErrors(errs), "final", "1")
	return err
}

// localInput returns a local file with the batch's input: the store's
// own, or a copy of it.
func (s *Server) localInput(ctx context.Context, b batchRecord) (string, func(), error) {
	key := b.get("input_file_id")
	if p, ok := s.store.Path(key); ok {
		if _, err := os.Stat(p); err != nil {
			return "", nil, fmt.Errorf("the input file %s is no longer stored", key)
		}
		return p, func() {}, nil
	}
	rc, err := s.store.Open(ctx, key)
	if err != nil {
		return "", nil, fmt.Errorf("the input file %s could not be read: %w", key, err)
	}
	defer rc.Close()
	p, remove, err := job.Spool(rc, s.cfg.SpoolDir)
	if err != nil {
		return "", nil, err
	}
	return p, remove, nil
}

// submit enqueues the batch's job, or the rest of it.
func (s *Server) submit(ctx context.Context, b batchRecord) error {
	id := b.get("id")
	path, remove, err := s.localInput(ctx, b)
	if err != nil {
		return s.failBatch(ctx, id, statusInProgress+","+statusCancelling, []batchError{{Code: "invalid_file", Message: err.Error()}})
	}
	defer remove()
	start := time.Now()
	sum, err := job.NewSubmission(s.rdb, jobSpec(b.get("endpoint"), job.Spec{
		Path: path, Name: b.get("input_file_id"), ID: id, Provider: s.cfg.Provider,
		BatchSize: s.cfg.BatchSize, Retention: s.cfg.Retention, Strict: true,
	})).Run(ctx, nil)
	if errors.Is(err, job.ErrStrict) || errors.Is(err, job.ErrConflict) {
		return s.failBatch(ctx, id, statusInProgress+","+statusCancelling, []batchError{{Code: "invalid_file", Message: err.Error()}})
	}
	if err != nil {
		return fmt.Errorf("submit batch %s: %w", id, err)
	}
	s.log.InfoContext(ctx, "batch submitted", slog.String("batch_id", id), slog.Int("requests", sum.Items),
		slog.Int("unique", sum.Unique), slog.Int("tasks", sum.Batches), slog.Duration("elapsed", time.Since(start)))
	return nil
}

// jobSpec makes spec the spec of a batch to endpoint: an embedding job
// toward the configured provider, or a generation job, whose Batch API
// lines go to the workers' OpenAI-compatible provider.
func jobSpec(endpoint string, spec job.Spec) job.Spec {
	if endpoint != endpointEmbeddings {
		spec.Kind, spec.Provider = job.KindGeneration, tasks.ProviderOpenAI
	}
	return spec
}

// countWriter counts the bytes written to it.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// finalize counts the finished job's results, makes the output and error
// files, and ends the batch: completed, expired or cancelled.
func (s *Server) finalize(ctx context.Context, b batchRecord) error {
	id := b.get("id")
	st, err := job.GetStatus(ctx, s.rdb, id)
	if err != nil {
		return err
	}
	var out, errs countWriter
	sum, err := job.Export(ctx, s.rdb, st, job.ExportOptions{Out: &out, Errors: &errs})
	if err != nil {
		return fmt.Errorf("finalize batch %s: %w", id, err)
	}
	now := s.now()
	fields := []any{"completed", sum.Results, "failed", sum.Failed, "total", sum.Results + sum.Failed,
		"input_tokens", sum.InputTokens, "output_tokens", sum.OutputTokens, "final", "1"}
	for _, f := range []struct {
		kind, field, suffix string
		n                   int
		bytes               int64
	}{{kindOutput, "output_file_id", "output", sum.Results, out.n}, {kindError, "error_file_id", "error", sum.Failed, errs.n}} {
		if f.n == 0 {
			continue
		}
		// The ID is kept first, so that a finalize taken again makes no
		// second file.
		if err := s.rdb.HSetNX(ctx, batchKey(id), f.field, newID(filePrefix, now)).Err(); err != nil {
			return err
		}
		fid, err := s.rdb.HGet(ctx, batchKey(id), f.field).Result()
		if err != nil {
			return err
		}
		rec := &fileRecord{ID: fid, Owner: b.get("owner"), Filename: id + "_" + f.suffix + ".jsonl", Purpose: "batch_output",
			Kind: f.kind, Bytes: f.bytes, CreatedAt: now.Unix(), ExpiresAt: now.Add(s.cfg.Retention).Unix(), Batch: id}
		if err := s.saveFile(ctx, rec); err != nil {
			return err
		}
	}
	status, at := statusCompleted, "completed_at"
	switch {
	case b.get("cancel") == "1":
		status, at = statusCancelled, "cancelled_at"
	case st.CancelReason == job.ReasonExpired:
		status, at = statusExpired, "expired_at"
	}
	fields = append(fields, "status", status, at, now.Unix())
	if _, err := s.setStatus(ctx, id, statusFinalizing, fields...); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "batch ended", slog.String("batch_id", id), slog.String("status", status),
		slog.Int("completed", sum.Results), slog.Int("failed", sum.Failed))
	b, err = s.loadBatch(ctx, id, "")
	if err != nil {
		return err
	}
	return s.closeBatch(ctx, b)
}

// closeBatch takes an ended batch out of the open sets.
func (s *Server) closeBatch(ctx context.Context, b batchRecord) error {
	pipe := s.rdb.Pipeline()
	pipe.ZRem(ctx, openKey, b.get("id"))
	pipe.SRem(ctx, ownerOpen(b.get("owner")), b.get("id"))
	_, err := pipe.Exec(ctx)
	return err
}
