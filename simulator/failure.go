package simulator

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// flavor is the provider whose shape an answer takes.
type flavor int

const (
	openAI flavor = iota // {"error":{"message","type","param","code"}}
	ollama               // {"error":"message"}
)

// flavorOf returns the provider a path belongs to.
func flavorOf(path string) flavor {
	if path == "/v1" || len(path) >= 4 && path[:4] == "/v1/" {
		return openAI
	}
	return ollama
}

// OpenAI error codes with a meaning of their own.
const (
	codeInvalidAPIKey     = "invalid_api_key"
	codeRateLimitExceeded = "rate_limit_exceeded"
	codeInsufficientQuota = "insufficient_quota"
)

// failure is an error answer before it takes a provider's shape.
type failure struct {
	status  int
	message string
	// typ, param and code fill the OpenAI body; "" leaves typ to its
	// default for the status and writes null for param and code.
	typ   string
	param string
	code  string
	// retryAfter, when positive, is sent as Retry-After and retry-after-ms.
	retryAfter time.Duration
}

// invalid is a 400 about param.
func invalid(param, format string, args ...any) failure {
	return failure{status: http.StatusBadRequest, param: param, message: fmt.Sprintf(format, args...)}
}

// statusFailure is the failure the simulator answers for status when nothing
// more specific is known: the message and code a real provider would send.
func statusFailure(status int) failure {
	f := failure{status: status}
	switch status {
	case http.StatusUnauthorized:
		f.message, f.code = "Incorrect API key provided.", codeInvalidAPIKey
	case http.StatusNotFound:
		f.message, f.code = "The model does not exist or you do not have access to it.", "model_not_found"
	case http.StatusTooManyRequests:
		f.message, f.code = "Rate limit reached for requests. Please try again later.", codeRateLimitExceeded
	case http.StatusInternalServerError:
		f.message = "The server had an error while processing your request."
	case http.StatusServiceUnavailable:
		f.message = "The engine is currently overloaded, please try again later."
	default:
		f.message = fmt.Sprintf("Simulated error: %d %s.", status, http.StatusText(status))
	}
	return f
}

// directiveFailure is the failure d asks for, if any.
func (s *Simulator) directiveFailure(d directives) (failure, bool) {
	if d.status == 0 && d.code == "" {
		return failure{}, false
	}
	status := d.status
	if status == 0 {
		status = http.StatusBadRequest
		if d.code == codeInsufficientQuota || d.code == codeRateLimitExceeded {
			status = http.StatusTooManyRequests
		}
	}
	f := statusFailure(status)
	if d.code != "" {
		f.code = d.code
	}
	if f.code == codeInsufficientQuota {
		f.typ = codeInsufficientQuota
		f.message = "You exceeded your current quota, please check your plan and billing details."
	}
	switch {
	case d.hasRetryAfter:
		f.retryAfter = d.retryAfter
	case status == http.StatusTooManyRequests:
		f.retryAfter = s.cfg.RetryAfter
	}
	return f, true
}

// openAIErrorBody is OpenAI's error envelope.
type openAIErrorBody struct {
	Error openAIError `json:"error"`
}

type openAIError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// ollamaErrorBody is Ollama's error envelope.
type ollamaErrorBody struct {
	Error string `json:"error"`
}

// fail writes f in fl's shape. A 429 carries OpenAI's x-ratelimit-* headers;
// any failure with a positive retryAfter carries Retry-After (whole seconds,
// rounded up) and retry-after-ms.
func fail(w http.ResponseWriter, fl flavor, f failure) {
	h := w.Header()
	if f.retryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(f.retryAfter.Seconds())), 10))
		h.Set("Retry-After-Ms", strconv.FormatInt(f.retryAfter.Milliseconds(), 10))
	}
	// With Config.RequestsPerMinute set, the limiter has written the real
	// headers already.
	if f.status == http.StatusTooManyRequests && h.Get("X-Ratelimit-Limit-Requests") == "" {
		h.Set("X-Ratelimit-Limit-Requests", "3000")
		h.Set("X-Ratelimit-Remaining-Requests", "0")
		if f.retryAfter > 0 {
			h.Set("X-Ratelimit-Reset-Requests", f.retryAfter.String())
		}
	}
	if fl == ollama {
		writeJSON(w, f.status, ollamaErrorBody{Error: f.message})
		return
	}
	typ := f.typ
	if typ == "" {
		switch {
		case f.status == http.StatusTooManyRequests:
			typ = "requests"
		case f.status >= 500:
			typ = "server_error"
		default:
			typ = "invalid_request_error"
		}
	}
	writeJSON(w, f.status, openAIErrorBody{Error: openAIError{
		Message: f.message,
		Type:    typ,
		Param:   nullable(f.param),
		Code:    nullable(f.code),
	}})
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// writeJSON answers status with v encoded by a streaming json.Encoder: the
// body is written as it is encoded and carries no Content-Length once it
// outgrows the server's buffer, so large answers go chunked as real
// providers' do. A write error means the client left; there is no one to
// tell.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// garbage is the 200 body sim:garbage=1 answers: JSON cut off mid-value, as
// when a proxy drops the connection.
const garbage = `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0123,-0.0456,` + "\n"

func writeGarbage(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(garbage))
}
