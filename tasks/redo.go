package tasks

import (
	"context"
	"errors"
	"fmt"
)

// JobResultKeeper is implemented by a JobRecorder that keeps the result of
// a job batch's earlier run while some of its texts run again (JobRef.Redo):
// package job's Recorder does. The embed handler merges the texts it runs
// into that result.
type JobResultKeeper interface {
	// KeptResult returns the batch's earlier result, as stored by its task
	// (EncodeEmbedResult's layout).
	KeptResult(ctx context.Context, job JobRef) ([]byte, error)
}

// checkRedo reports why a batch's Redo indices cannot be run on texts
// texts: they must be in range and strictly increasing.
func checkRedo(redo []int, texts int) error {
	for i, r := range redo {
		if r < 0 || r >= texts || (i > 0 && r <= redo[i-1]) {
			return fmt.Errorf("%w: job redo index %d out of range or order (%d texts)", ErrInvalidPayload, r, texts)
		}
	}
	return nil
}

// toRun returns the payload whose texts are sent: p itself, or for a
// batch run again in part, only the texts listed in Redo.
func (p EmbedPayload) toRun() EmbedPayload {
	if p.Job == nil || len(p.Job.Redo) == 0 {
		return p
	}
	q := p
	q.Texts = make([]string, len(p.Job.Redo))
	for i, r := range p.Job.Redo {
		q.Texts[i] = p.Texts[r]
	}
	q.IDs = nil
	return q
}

// mergeRedo returns the result of the whole batch: the kept result, in
// which the texts of redo take what res, the run of those texts alone,
// got. Token counts add up.
func mergeRedo(kept []byte, texts int, redo []int, res *embedded) (*embedded, error) {
	old, err := DecodeEmbedResult(kept)
	if err != nil {
		return nil, fmt.Errorf("kept result: %w", err)
	}
	if len(old.Vectors) != texts || len(res.vectors) != len(redo) {
		return nil, fmt.Errorf("kept result: %d vectors for %d texts", len(old.Vectors), texts)
	}
	out := &embedded{model: res.model, tokens: old.InputTokens + res.tokens, requests: res.requests,
		vectors: make([][]float32, texts)}
	if out.model == "" {
		out.model = old.Model
	}
	copy(out.vectors, old.Vectors)
	again := make(map[int]bool, len(redo))
	for k, r := range redo {
		again[r] = true
		out.vectors[r] = res.vectors[k]
	}
	for _, e := range old.Errors {
		if !again[e.Index] {
			out.errs = append(out.errs, textFailure{index: e.Index, status: e.Status, err: errors.New(e.Reason)})
		}
	}
	for _, f := range res.errs {
		f.index = redo[f.index]
		out.errs = append(out.errs, f)
	}
	return out, nil
}
