package batchapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/filestore"
	"github.com/llmq/llmq/job"
)

// Upload purposes llmq keeps. Other purposes of OpenAI's are for features
// llmq has not (assistants, fine-tuning, vision, evals).
var purposes = map[string]bool{"batch": true, "user_data": true}

// uploadFile is POST /v1/files: a multipart form with purpose, file and,
// optionally, expires_after[anchor] and expires_after[seconds]. The file
// part is streamed to the store, whatever its place in the form.
func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request, o owner) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		writeError(w, badRequest("", "invalid_request", "POST /v1/files takes a multipart/form-data body with the fields purpose and file"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUploadBytes+1<<20)
	mr, err := r.MultipartReader()
	if err != nil {
		writeError(w, badRequest("", "invalid_request", "bad multipart body: "+err.Error()))
		return
	}
	ctx := r.Context()
	now := s.now()
	f := &fileRecord{ID: newID(filePrefix, now), Owner: o.id, Kind: kindUpload, CreatedAt: now.Unix()}
	stored := false
	fail := func(e *apiError) {
		if stored {
			_ = s.store.Delete(context.WithoutCancel(ctx), f.ID)
		}
		writeError(w, e)
	}
	anchor, seconds := "", ""
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fail(s.uploadReadError(err))
			return
		}
		switch p.FormName() {
		case "file":
			if stored {
				fail(badRequest("file", "invalid_request", "more than one file in the form"))
				return
			}
			f.Filename = p.FileName()
			n, err := s.store.Put(ctx, f.ID, p, s.cfg.MaxUploadBytes)
			if err != nil {
				fail(s.uploadReadError(err))
				return
			}
			f.Bytes, stored = n, true
		case "purpose", "expires_after[anchor]", "expires_after[seconds]":
			v, err := io.ReadAll(io.LimitReader(p, 1024))
			if err != nil {
				fail(s.uploadReadError(err))
				return
			}
			switch p.FormName() {
			case "purpose":
				f.Purpose = strings.TrimSpace(string(v))
			case "expires_after[anchor]":
				anchor = string(v)
			default:
				seconds = string(v)
			}
		}
		p.Close()
	}
	switch {
	case f.Purpose == "":
		fail(badRequest("purpose", "missing_required_parameter", "Missing required parameter: 'purpose'."))
		return
	case !purposes[f.Purpose]:
		fail(badRequest("purpose", "invalid_value", fmt.Sprintf("Invalid value for 'purpose': %q. llmq keeps files of the purposes batch and user_data.", f.Purpose)))
		return
	case !stored:
		fail(badRequest("file", "missing_required_parameter", "Missing required parameter: 'file'."))
		return
	case f.Bytes == 0:
		fail(badRequest("file", "empty_file", "The file is empty."))
		return
	}
	if f.Filename == "" {
		f.Filename = "upload"
	}
	if anchor != "" || seconds != "" {
		sec, err := strconv.ParseInt(seconds, 10, 64)
		if anchor != "created_at" || err != nil || sec < 3600 || sec > 2592000 {
			fail(badRequest("expires_after", "invalid_value", "expires_after must have anchor created_at and seconds between 3600 and 2592000"))
			return
		}
		f.ExpiresAt = f.CreatedAt + sec
	}
	if err := s.saveFile(ctx, f); err != nil {
		_ = s.store.Delete(context.WithoutCancel(ctx), f.ID)
		s.internal(w, r, err)
		return
	}
	s.log.InfoContext(ctx, "file uploaded", "file_id", f.ID, "bytes", f.Bytes, "key", o.name)
	writeJSON(w, f.object())
}

func (s *Server) uploadReadError(err error) *apiError {
	var mbe *http.MaxBytesError
	if errors.Is(err, filestore.ErrTooLarge) || errors.As(err, &mbe) {
		return &apiError{status: http.StatusRequestEntityTooLarge, Type: typeInvalid, Param: strp("file"), Code: strp("file_too_large"),
			Message: fmt.Sprintf("The file is larger than the %d bytes this server accepts (API_MAX_UPLOAD_BYTES).", s.cfg.MaxUploadBytes)}
	}
	return &apiError{status: http.StatusBadRequest, Type: typeInvalid, Message: "reading the upload: " + err.Error()}
}

// listFiles is GET /v1/files: newest first (order=desc, the default) or
// oldest first, after a file ID, with a limit (1 to 10000) and a purpose.
func (s *Server) listFiles(w http.ResponseWriter, r *http.Request, o owner) {
	q := r.URL.Query()
	limit, e := parseLimit(q.Get("limit"), 10000, 10000)
	if e != nil {
		writeError(w, e)
		return
	}
	asc := false
	switch q.Get("order") {
	case "", "desc":
	case "asc":
		asc = true
	default:
		writeError(w, badRequest("order", "invalid_value", "order must be asc or desc"))
		return
	}
	purpose := q.Get("purpose")
	var out []fileObject
	more, err := s.page(r.Context(), ownerFiles(o.id), q.Get("after"), asc, limit, func(id string) (bool, error) {
		f, err := s.loadFile(r.Context(), id, o.id)
		if errors.Is(err, errNotFound) {
			return false, nil
		}
		if err != nil || (purpose != "" && f.Purpose != purpose) {
			return false, err
		}
		out = append(out, f.object())
		return true, nil
	})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	l := listObject[fileObject]{Object: "list", Data: out, HasMore: more}
	if len(out) > 0 {
		l.FirstID, l.LastID = &out[0].ID, &out[len(out)-1].ID
	}
	if l.Data == nil {
		l.Data = []fileObject{}
	}
	writeJSON(w, l)
}

type listObject[T any] struct {
	Object  string  `json:"object"`
	Data    []T     `json:"data"`
	FirstID *string `json:"first_id"`
	LastID  *string `json:"last_id"`
	HasMore bool    `json:"has_more"`
}

func parseLimit(raw string, def, most int) (int, *apiError) {
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > most {
		return 0, badRequest("limit", "invalid_value", fmt.Sprintf("limit must be an integer from 1 to %d", most))
	}
	return n, nil
}

// page walks the IDs of index (a sorted set whose lexical order is the
// creation order) after the ID after, newest first unless asc, and calls
// keep for each until limit were kept. It reports whether more IDs follow.
func (s *Server) page(ctx context.Context, index, after string, asc bool, limit int, keep func(string) (bool, error)) (bool, error) {
	const chunk = 200
	bound := ""
	if after != "" {
		bound = "(" + after
	}
	kept := 0
	for {
		var ids []string
		var err error
		if asc {
			min := bound
			if min == "" {
				min = "-"
			}
			ids, err = s.rdb.ZRangeByLex(ctx, index, &redis.ZRangeBy{Min: min, Max: "+", Count: chunk}).Result()
		} else {
			max := bound
			if max == "" {
				max = "+"
			}
			ids, err = s.rdb.ZRevRangeByLex(ctx, index, &redis.ZRangeBy{Min: "-", Max: max, Count: chunk}).Result()
		}
		if err != nil {
			return false, err
		}
		for _, id := range ids {
			if kept == limit {
				return true, nil
			}
			ok, err := keep(id)
			if err != nil {
				return false, err
			}
			if ok {
				kept++
			}
		}
		if len(ids) < chunk {
			return false, nil
		}
		bound = "(" + ids[len(ids)-1]
	}
}

func (s *Server) getFile(w http.ResponseWriter, r *http.Request, o owner) {
	f, err := s.loadFile(r.Context(), r.PathValue("id"), o.id)
	if err != nil {
		s.fileErr(w, r, err)
		return
	}
	writeJSON(w, f.object())
}

func (s *Server) fileErr(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errNotFound) {
		writeError(w, notFound(fmt.Sprintf("No such File object: %s", r.PathValue("id"))))
		return
	}
	s.internal(w, r, err)
}

// deleteFile is DELETE /v1/files/{id}. A batch's output or error file
// loses its record; its content is the job's, which its retention ends.
func (s *Server) deleteFile(w http.ResponseWriter, r *http.Request, o owner) {
	ctx := r.Context()
	f, err := s.loadFile(ctx, r.PathValue("id"), o.id)
	if err != nil {
		s.fileErr(w, r, err)
		return
	}
	if f.Kind == kindUpload {
		if err := s.store.Delete(ctx, f.ID); err != nil {
			s.internal(w, r, err)
			return
		}
	}
	pipe := s.rdb.Pipeline()
	pipe.Del(ctx, fileKey(f.ID))
	pipe.ZRem(ctx, ownerFiles(o.id), f.ID)
	if _, err := pipe.Exec(ctx); err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, map[string]any{"id": f.ID, "object": "file", "deleted": true})
}

// fileContent is GET /v1/files/{id}/content: an upload from the store, or
// a batch's output or errors exported from its job as they are read.
func (s *Server) fileContent(w http.ResponseWriter, r *http.Request, o owner) {
	ctx := r.Context()
	f, err := s.loadFile(ctx, r.PathValue("id"), o.id)
	if err != nil {
		s.fileErr(w, r, err)
		return
	}
	if f.Kind == kindUpload {
		rc, err := s.store.Open(ctx, f.ID)
		if errors.Is(err, filestore.ErrNotFound) {
			writeError(w, notFound("The content of file "+f.ID+" is no longer in the store."))
			return
		}
		if err != nil {
			s.internal(w, r, err)
			return
		}
		defer rc.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(f.Bytes, 10))
		_, _ = io.Copy(w, rc)
		return
	}
	st, err := job.GetStatus(ctx, s.rdb, f.Batch)
	if errors.Is(err, job.ErrNotFound) {
		writeError(w, notFound("The results of batch "+f.Batch+" are no longer kept (RESULT_RETENTION passed)."))
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	opts := job.ExportOptions{Out: w}
	if f.Kind == kindError {
		opts = job.ExportOptions{Out: io.Discard, Errors: w}
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(f.Bytes, 10))
	if _, err := job.Export(ctx, s.rdb, st, opts); err != nil {
		// The status line is sent: all that is left is to cut the body.
		s.log.ErrorContext(ctx, "export failed", "file_id", f.ID, "batch_id", f.Batch, "error", err.Error())
		panic(http.ErrAbortHandler)
	}
}
