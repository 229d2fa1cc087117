package batchapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/job"
)

// Endpoints a batch may name. Embeddings run as embedding jobs, the
// other two as generation jobs toward the workers' OpenAI-compatible
// provider, each line's body sent as it is.
const (
	endpointEmbeddings  = "/v1/embeddings"
	endpointChat        = "/v1/chat/completions"
	endpointCompletions = "/v1/completions"
)

// runnable lists the endpoints whose batches this version runs.
var runnable = map[string]bool{endpointEmbeddings: true, endpointChat: true, endpointCompletions: true}

// openAIEndpoints are the other endpoints of OpenAI's Batch API.
var openAIEndpoints = map[string]bool{"/v1/responses": true, "/v1/moderations": true,
	"/v1/images/generations": true, "/v1/images/edits": true, "/v1/videos": true}

// batchObject is OpenAI's batch object.
type batchObject struct {
	ID               string            `json:"id"`
	Object           string            `json:"object"`
	Endpoint         string            `json:"endpoint"`
	Model            string            `json:"model,omitempty"`
	Errors           *batchErrors      `json:"errors"`
	InputFileID      string            `json:"input_file_id"`
	CompletionWindow string            `json:"completion_window"`
	Status           string            `json:"status"`
	OutputFileID     *string           `json:"output_file_id"`
	ErrorFileID      *string           `json:"error_file_id"`
	CreatedAt        int64             `json:"created_at"`
	InProgressAt     *int64            `json:"in_progress_at"`
	ExpiresAt        *int64            `json:"expires_at"`
	FinalizingAt     *int64            `json:"finalizing_at"`
	CompletedAt      *int64            `json:"completed_at"`
	FailedAt         *int64            `json:"failed_at"`
	ExpiredAt        *int64            `json:"expired_at"`
	CancellingAt     *int64            `json:"cancelling_at"`
	CancelledAt      *int64            `json:"cancelled_at"`
	RequestCounts    requestCounts     `json:"request_counts"`
	Usage            *usage            `json:"usage,omitempty"`
	Metadata         map[string]string `json:"metadata"`
}

type batchErrors struct {
	Object string       `json:"object"`
	Data   []batchError `json:"data"`
}

type requestCounts struct {
	Total     int `json:"total"`
	Completed int `json:"completed"`
	Failed    int `json:"failed"`
}

type usage struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int `json:"total_tokens"`
}

// object renders b; the counts of a batch under way come from its job.
func (s *Server) object(ctx context.Context, b batchRecord) batchObject {
	o := batchObject{ID: b.get("id"), Object: "batch", Endpoint: b.get("endpoint"), Model: b.get("model"),
		InputFileID: b.get("input_file_id"), CompletionWindow: b.get("completion_window"), Status: b.get("status"),
		OutputFileID: strp(b.get("output_file_id")), ErrorFileID: strp(b.get("error_file_id")), CreatedAt: b.int("created_at")}
	ts := func(k string) *int64 {
		if v := b.int(k); v > 0 {
			return &v
		}
		return nil
	}
	o.InProgressAt, o.ExpiresAt, o.FinalizingAt = ts("in_progress_at"), ts("expires_at"), ts("finalizing_at")
	o.CompletedAt, o.FailedAt, o.ExpiredAt = ts("completed_at"), ts("failed_at"), ts("expired_at")
	o.CancellingAt, o.CancelledAt = ts("cancelling_at"), ts("cancelled_at")
	if raw := b.get("errors"); raw != "" {
		o.Errors = &batchErrors{Object: "list"}
		_ = json.Unmarshal([]byte(raw), &o.Errors.Data)
	}
	_ = json.Unmarshal([]byte(b.get("metadata")), &o.Metadata)
	o.RequestCounts = requestCounts{Total: int(b.int("total")), Completed: int(b.int("completed")), Failed: int(b.int("failed"))}
	if b.get("final") == "1" {
		in, out := int(b.int("input_tokens")), int(b.int("output_tokens"))
		o.Usage = &usage{InputTokens: in, OutputTokens: out, TotalTokens: in + out}
	} else if !ended(o.Status) && o.Status != statusValidating {
		if st, err := job.GetStatus(ctx, s.rdb, o.ID); err == nil {
			// Unique items: a request repeating an earlier one counts
			// once until the batch is finalized.
			o.RequestCounts.Completed = min(st.Done, o.RequestCounts.Total)
			o.RequestCounts.Failed = min(st.Failed, o.RequestCounts.Total-o.RequestCounts.Completed)
		}
	}
	return o
}

type createBatchRequest struct {
	InputFileID      string            `json:"input_file_id"`
	Endpoint         string            `json:"endpoint"`
	CompletionWindow string            `json:"completion_window"`
	Metadata         map[string]string `json:"metadata"`
}

var windowRE = regexp.MustCompile(`^([1-9][0-9]{0,6})([smh])$`)

// parseWindow reads a completion_window such as 24h, 90m or 30s.
func parseWindow(w string) (time.Duration, bool) {
	m := windowRE.FindStringSubmatch(w)
	if m == nil {
		return 0, false
	}
	n, _ := strconv.Atoi(m[1])
	unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[m[2]]
	return time.Duration(n) * unit, true
}

// openScript admits a batch among its owner's open ones unless there are
// max of them. KEYS: open set, batch index. ARGV: id, max.
var openScript = redis.NewScript(`
if redis.call("SCARD", KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call("SADD", KEYS[1], ARGV[1])
redis.call("ZADD", KEYS[2], 0, ARGV[1])
return 1
`)

func (s *Server) createBatch(w http.ResponseWriter, r *http.Request, o owner) {
	ctx := r.Context()
	var req createBatchRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(&req); err != nil {
		writeError(w, badRequest("", "invalid_json", "The body is not a JSON object of the batch to create: "+err.Error()))
		return
	}
	switch {
	case req.InputFileID == "":
		writeError(w, badRequest("input_file_id", "missing_required_parameter", "Missing required parameter: 'input_file_id'."))
		return
	case req.Endpoint == "":
		writeError(w, badRequest("endpoint", "missing_required_parameter", "Missing required parameter: 'endpoint'."))
		return
	case openAIEndpoints[req.Endpoint]:
		writeError(w, badRequest("endpoint", "unsupported_endpoint", fmt.Sprintf("llmq does not run batches to %s; it runs /v1/embeddings, /v1/chat/completions and /v1/completions.", req.Endpoint)))
		return
	case !runnable[req.Endpoint]:
		writeError(w, badRequest("endpoint", "invalid_value", fmt.Sprintf("Invalid value for 'endpoint': %q.", req.Endpoint)))
		return
	case req.CompletionWindow == "":
		writeError(w, badRequest("completion_window", "missing_required_parameter", "Missing required parameter: 'completion_window'."))
		return
	}
	window, ok := parseWindow(req.CompletionWindow)
	if !ok || window > s.cfg.MaxCompletionWindow {
		writeError(w, badRequest("completion_window", "invalid_value", fmt.Sprintf(
			"Invalid value for 'completion_window': %q. Give a duration such as 24h, 90m or 30s, at most %s.", req.CompletionWindow, s.cfg.MaxCompletionWindow)))
		return
	}
	if e := checkMetadata(req.Metadata); e != nil {
		writeError(w, e)
		return
	}
	f, err := s.loadFile(ctx, req.InputFileID, o.id)
	if errors.Is(err, errNotFound) {
		writeError(w, notFound(fmt.Sprintf("No such File object: %s", req.InputFileID)))
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if f.Purpose != "batch" || f.Kind != kindUpload {
		writeError(w, badRequest("input_file_id", "invalid_value", fmt.Sprintf(
			"File %s has purpose %q: a batch's input file must be uploaded with purpose batch.", f.ID, f.Purpose)))
		return
	}
	if err := s.pruneOpen(ctx, o.id); err != nil {
		s.internal(w, r, err)
		return
	}
	now := s.now()
	id := newID(batchPrefix, now)
	meta, _ := json.Marshal(req.Metadata)
	if req.Metadata == nil {
		meta = []byte("null")
	}
	fields := []any{"id", id, "owner", o.id, "endpoint", req.Endpoint, "input_file_id", f.ID,
		"completion_window", req.CompletionWindow, "status", statusValidating, "created_at", now.Unix(),
		"expires_at", now.Add(window).Unix(), "metadata", string(meta)}
	if err := s.rdb.HSet(ctx, batchKey(id), fields...).Err(); err != nil {
		s.internal(w, r, err)
		return
	}
	n, err := openScript.Run(ctx, s.rdb, []string{ownerOpen(o.id), ownerBatch(o.id)}, id, s.cfg.MaxOpenBatches).Int()
	if err == nil && n == 0 {
		s.rdb.Del(ctx, batchKey(id))
		writeError(w, &apiError{status: http.StatusTooManyRequests, Type: typeInvalid, Code: strp("batch_limit_reached"),
			Message: fmt.Sprintf("This key has %d batches that have not ended, the most it may have (API_MAX_OPEN_BATCHES).", s.cfg.MaxOpenBatches)})
		return
	}
	if err == nil {
		err = s.rdb.ZAdd(ctx, openKey, redis.Z{Member: id}).Err()
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.log.InfoContext(ctx, "batch created", "batch_id", id, "input_file_id", f.ID, "key", o.name)
	b, err := s.loadBatch(ctx, id, o.id)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.kick(id)
	writeJSON(w, s.object(ctx, b))
}

// pruneOpen drops from the owner's open set the batches that ended or
// whose record is gone (a replica that died while creating one).
func (s *Server) pruneOpen(ctx context.Context, owner string) error {
	ids, err := s.rdb.SMembers(ctx, ownerOpen(owner)).Result()
	if err != nil {
		return err
	}
	for _, id := range ids {
		st, err := s.rdb.HGet(ctx, batchKey(id), "status").Result()
		if errors.Is(err, redis.Nil) || (err == nil && ended(st)) {
			s.rdb.SRem(ctx, ownerOpen(owner), id)
		} else if err != nil {
			return err
		}
	}
	return nil
}

func checkMetadata(m map[string]string) *apiError {
	if len(m) > 16 {
		return badRequest("metadata", "invalid_value", "metadata holds at most 16 pairs")
	}
	for k, v := range m {
		if len(k) > 64 || len(v) > 512 {
			return badRequest("metadata", "invalid_value", "metadata keys are at most 64 characters, values at most 512")
		}
	}
	return nil
}

func (s *Server) getBatch(w http.ResponseWriter, r *http.Request, o owner) {
	b, err := s.loadBatch(r.Context(), r.PathValue("id"), o.id)
	if err != nil {
		s.batchErr(w, r, err)
		return
	}
	writeJSON(w, s.object(r.Context(), b))
}

func (s *Server) batchErr(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errNotFound) {
		writeError(w, notFound(fmt.Sprintf("No batch found with id '%s'.", r.PathValue("id"))))
		return
	}
	s.internal(w, r, err)
}

// listBatches is GET /v1/batches: newest first, after a batch ID, with a
// limit from 1 to 100 (default 20).
func (s *Server) listBatches(w http.ResponseWriter, r *http.Request, o owner) {
	q := r.URL.Query()
	limit, e := parseLimit(q.Get("limit"), 20, 100)
	if e != nil {
		writeError(w, e)
		return
	}
	var out []batchObject
	more, err := s.page(r.Context(), ownerBatch(o.id), q.Get("after"), false, limit, func(id string) (bool, error) {
		b, err := s.loadBatch(r.Context(), id, o.id)
		if errors.Is(err, errNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		out = append(out, s.object(r.Context(), b))
		return true, nil
	})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	l := listObject[batchObject]{Object: "list", Data: out, HasMore: more}
	if len(out) > 0 {
		l.FirstID, l.LastID = &out[0].ID, &out[len(out)-1].ID
	}
	if l.Data == nil {
		l.Data = []batchObject{}
	}
	writeJSON(w, l)
}

// cancelBatch is POST /v1/batches/{id}/cancel: the batch turns
// cancelling, its job is cancelled (queued requests are removed, running
// ones finish), and once nothing runs it is cancelled, with its output
// and error files.
func (s *Server) cancelBatch(w http.ResponseWriter, r *http.Request, o owner) {
	ctx := r.Context()
	b, err := s.loadBatch(ctx, r.PathValue("id"), o.id)
	if err != nil {
		s.batchErr(w, r, err)
		return
	}
	id := b.get("id")
	ok, err := s.setStatus(ctx, id, statusValidating+","+statusInProgress,
		"status", statusCancelling, "cancelling_at", s.now().Unix(), "cancel", "1")
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if !ok {
		if st := b.get("status"); st != statusCancelling && st != statusCancelled {
			writeError(w, &apiError{status: http.StatusConflict, Type: typeInvalid, Code: strp("invalid_state"),
				Message: fmt.Sprintf("Cannot cancel a batch with status %s.", st)})
			return
		}
	}
	// Cancel at once what is queued; the next step does it otherwise.
	if _, err := job.Cancel(ctx, s.rdb, id, job.ReasonCancelled); err != nil && !errors.Is(err, job.ErrNotFound) {
		s.log.WarnContext(ctx, "cancel job", "batch_id", id, "error", err.Error())
	}
	s.kick(id)
	if b, err = s.loadBatch(ctx, id, o.id); err != nil {
		s.batchErr(w, r, err)
		return
	}
	writeJSON(w, s.object(ctx, b))
}
