package tasks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"

	"github.com/llmq/llmq/clients"
)

// embedded is what embedAll got from the provider.
type embedded struct {
	model    string
	tokens   int
	vectors  [][]float32 // one per text; nil for a failed text
	errs     []textFailure
	requests int
	// bufs back the vectors: pooled, and handed back by release.
	bufs []*[]float32
}

// alloc is the clients.EmbedRequest.Alloc of e's requests: a pooled
// buffer of n float32s, kept in e.bufs until release.
func (e *embedded) alloc(n int) []float32 {
	b := vectorBuffer(n)
	e.bufs = append(e.bufs, b)
	return (*b)[:n]
}

// release hands e's vector buffers back to the pool once its result is
// stored: e.vectors must not be used after.
func (e *embedded) release() {
	for _, b := range e.bufs {
		releaseVectors(b)
	}
	e.bufs, e.vectors = nil, nil
}

type textFailure struct {
	index  int
	status int
	err    error
}

// textErrors returns the failures in index order, as stored.
func (e *embedded) textErrors() []TextError {
	if len(e.errs) == 0 {
		return nil
	}
	out := make([]TextError, len(e.errs))
	for i, f := range e.errs {
		out[i] = TextError{Index: f.index, Status: f.status, Reason: f.err.Error()}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// failedItems counts the job items with at least one failed text.
func (e *embedded) failedItems(j *JobRef) int {
	if len(j.Counts) == 0 {
		return len(e.errs)
	}
	failed := make(map[int]bool, len(e.errs))
	for _, f := range e.errs {
		failed[f.index] = true
	}
	n, start := 0, 0
	for _, c := range j.Counts {
		for i := start; i < start+c; i++ {
			if failed[i] {
				n++
				break
			}
		}
		start += c
	}
	return n
}

// embedAll embeds p's texts in requests within the provider's limits,
// isolating the texts the provider rejects. An error it returns fails the
// whole attempt.
//
// A text checkText refuses is not sent: it fails on its own, with the
// reason, as a text the provider rejected would.
func embedAll(ctx context.Context, emb Embedder, p EmbedPayload) (*embedded, error) {
	var refused []textFailure
	var keep []int
	for i, t := range p.Texts {
		if err := checkText(p, t); err != nil {
			refused = append(refused, textFailure{index: i, err: err})
		} else {
			keep = append(keep, i)
		}
	}
	if len(refused) == 0 {
		return embedRequests(ctx, emb, p)
	}
	out := &embedded{vectors: make([][]float32, len(p.Texts)), errs: refused}
	if len(keep) == 0 {
		return out, nil
	}
	q := p
	q.Texts, q.IDs = make([]string, len(keep)), nil
	for k, i := range keep {
		q.Texts[k] = p.Texts[i]
	}
	res, err := embedRequests(ctx, emb, q)
	if err != nil {
		return nil, err
	}
	out.model, out.tokens, out.requests, out.bufs = res.model, res.tokens, res.requests, res.bufs
	for k, i := range keep {
		out.vectors[i] = res.vectors[k]
	}
	for _, f := range res.errs {
		f.index = keep[f.index]
		out.errs = append(out.errs, f)
	}
	return out, nil
}

// embedRequests sends p's texts in requests within the provider's limits.
func embedRequests(ctx context.Context, emb Embedder, p EmbedPayload) (*embedded, error) {
	res := &embedded{vectors: make([][]float32, len(p.Texts))}
	start, tokens := 0, 0
	for i, text := range p.Texts {
		n := EstimateTokens(text)
		if i > start && (i-start == MaxEmbedInputs || tokens+n > MaxRequestTokens) {
			if err := res.embed(ctx, emb, p, start, i); err != nil {
				return nil, err
			}
			start, tokens = i, 0
		}
		tokens += n
	}
	if err := res.embed(ctx, emb, p, start, len(p.Texts)); err != nil {
		return nil, err
	}
	return res, nil
}

// embed sends texts [from, to) of p in one request, splitting it on an
// invalid-request rejection.
func (e *embedded) embed(ctx context.Context, emb Embedder, p EmbedPayload, from, to int) error {
	got, err := e.send(ctx, emb, p, from, to)
	if errors.Is(err, clients.ErrMalformedAnswer) {
		// Once more: a body cut by a proxy may come whole the second time;
		// a provider that answers so twice will a third time, and every
		// try costs its tokens.
		got, err = e.send(ctx, emb, p, from, to)
		if errors.Is(err, clients.ErrMalformedAnswer) {
			for i := from; i < to; i++ {
				e.errs = append(e.errs, textFailure{index: i, status: http.StatusOK, err: err})
			}
			return nil
		}
	}
	if err == nil {
		copy(e.vectors[from:to], got.Vectors)
		e.tokens += got.InputTokens
		if e.model == "" {
			e.model = got.Model
		}
		return nil
	}
	if errors.Is(err, clients.ErrDeferred) {
		// Not sent at all: the whole task comes back later, unsplit.
		return fmt.Errorf("embed %d texts: %w", to-from, err)
	}
	var apiErr *clients.APIError
	if !errors.As(err, &apiErr) || !splittable(apiErr) {
		return classify(fmt.Errorf("embed %d texts: %w", to-from, err))
	}
	if to-from == 1 {
		e.errs = append(e.errs, textFailure{index: from, status: apiErr.StatusCode, err: err})
		return nil
	}
	mid := from + (to-from)/2
	if err := e.embed(ctx, emb, p, from, mid); err != nil {
		return err
	}
	return e.embed(ctx, emb, p, mid, to)
}

// send sends texts [from, to) of p in one request. An answer with
// another number of vectors than texts is an ErrMalformedAnswer.
func (e *embedded) send(ctx context.Context, emb Embedder, p EmbedPayload, from, to int) (*clients.Embeddings, error) {
	e.requests++
	got, err := emb.Embed(ctx, clients.EmbedRequest{Model: p.Model, Input: p.Texts[from:to], Dimensions: p.Dimensions, Alloc: e.alloc})
	if err == nil && len(got.Vectors) != to-from {
		return nil, fmt.Errorf("embed %d texts: %w: provider returned %d vectors", to-from, clients.ErrMalformedAnswer, len(got.Vectors))
	}
	return got, err
}

// splittable reports whether a rejection may be caused by some of the
// request's texts only, so that sending them apart can succeed: an invalid
// request (400), too large (413) or unprocessable (422). Authentication,
// missing models and exhausted quotas fail every request alike.
func splittable(e *clients.APIError) bool {
	if e.QuotaExhausted() {
		return false
	}
	switch e.StatusCode {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return true
	}
	return false
}
