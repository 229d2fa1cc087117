package batchapi

import (
	"encoding/json"
	"net/http"
)

// apiError is OpenAI's error object; it is sent as {"error": {...}}.
type apiError struct {
	status  int
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func (e *apiError) Error() string { return e.Message }

func strp(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Error types, as OpenAI names them.
const (
	typeInvalid = "invalid_request_error"
	typeServer  = "server_error"
)

func badRequest(param, code, msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, Message: msg, Type: typeInvalid, Param: strp(param), Code: strp(code)}
}

func notFound(msg string) *apiError {
	return &apiError{status: http.StatusNotFound, Message: msg, Type: typeInvalid}
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(struct {
		Error *apiError `json:"error"`
	}{e})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
