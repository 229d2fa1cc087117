package clients

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidRequest marks a request that no provider could accept (no
// inputs, too many inputs, an empty text): sending it again cannot help.
var ErrInvalidRequest = errors.New("invalid request")

// APIError is a provider's non-2xx answer, decoded from its status, headers
// and error body. It never holds request text or credentials.
type APIError struct {
	// Provider names the provider ("openai", "ollama").
	Provider string
	// StatusCode is the HTTP status.
	StatusCode int
	// Type, Code and Message come from the provider's error body when it has
	// them (OpenAI: error.type, error.code, error.message; Ollama: error).
	Type    string
	Code    string
	Message string
	// RetryAfter is the wait the provider asked for (Retry-After or
	// retry-after-ms); 0 if it asked for none.
	RetryAfter time.Duration
	// RateLimit holds the x-ratelimit-* response headers, lower-cased.
	RateLimit map[string]string
}

func (e *APIError) Error() string {
	return describe(fmt.Sprintf("%s: HTTP %d", e.Provider, e.StatusCode), e.Type, e.Code, e.Message)
}

// describe is what an error of a provider's reads as: what happened, then
// the provider's type, code and message of it, each where it gave one.
func describe(what, typ, code, message string) string {
	var b strings.Builder
	b.WriteString(what)
	if typ != "" {
		fmt.Fprintf(&b, " %s", typ)
	}
	if code != "" {
		fmt.Fprintf(&b, " (%s)", code)
	}
	if message != "" {
		fmt.Fprintf(&b, ": %s", message)
	}
	return b.String()
}

// Permanent reports whether repeating the same request cannot succeed: a
// client error (400, 401, 403, 404, 422 and other 4xx) or an exhausted quota
// (insufficient_quota, even when sent as 429). Timeouts (408), conflicts
// (409), rate limits (429) and server errors (5xx) are not permanent.
func (e *APIError) Permanent() bool {
	if e.QuotaExhausted() {
		return true
	}
	switch e.StatusCode {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return false
	}
	return e.StatusCode >= 400 && e.StatusCode < 500
}

// QuotaExhausted reports whether the provider refused the request because
// the account's quota is used up (insufficient_quota as code or type): no
// request succeeds until someone adds credit.
func (e *APIError) QuotaExhausted() bool { return quotaExhausted(e.Type, e.Code) }

// quotaExhausted reports whether an error's type or code is OpenAI's
// insufficient_quota.
func quotaExhausted(typ, code string) bool {
	return code == "insufficient_quota" || typ == "insufficient_quota"
}

// ContextError returns ctx's error wrapping err when ctx has ended, since
// that is why err happened; err marked with ErrRequestTimeout when it is a
// timeout of the request itself; and err otherwise.
func ContextError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	var ne net.Error
	if ctx.Err() == nil && errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, ErrRequestTimeout) {
		return fmt.Errorf("%w fired: %w", ErrRequestTimeout, err)
	}
	return err
}

// ErrRequestTimeout marks a request that ran out of the HTTP client's own
// time (Config.Timeout, its ResponseHeaderTimeout, the dial or TLS
// handshake timeouts) while the caller's context was still live; see
// ContextError. It is not the caller's deadline: that comes back as
// ctx.Err().
var ErrRequestTimeout = errors.New("request timeout")

// RateLimited reports whether the provider refused the request for its rate
// (429) rather than for the request itself.
func (e *APIError) RateLimited() bool {
	return e.StatusCode == http.StatusTooManyRequests && !e.Permanent()
}

// RetryDelay returns the wait the provider asked for, if any.
func (e *APIError) RetryDelay() (time.Duration, bool) {
	return e.RetryAfter, e.RetryAfter > 0
}

// NewAPIError builds an APIError from a response's status and headers; the
// caller fills Type, Code and Message from the body.
func NewAPIError(provider string, resp *http.Response) *APIError {
	e := &APIError{
		Provider:   provider,
		StatusCode: resp.StatusCode,
		RetryAfter: ParseRetryAfter(resp.Header, time.Now()),
	}
	for k, v := range resp.Header {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-ratelimit-") && len(v) > 0 {
			if e.RateLimit == nil {
				e.RateLimit = make(map[string]string)
			}
			e.RateLimit[lk] = v[0]
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// MaxRetryAfter caps what ParseRetryAfter returns, so that a malformed or
// hostile header cannot park a task for days.
const MaxRetryAfter = time.Hour

// ParseRetryAfter reads retry-after-ms (milliseconds, OpenAI) or Retry-After
// (seconds or an HTTP date) from h, at most MaxRetryAfter. It returns 0 when
// neither is usable.
func ParseRetryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if d, ok := parseNumber(v, time.Millisecond); ok {
			return d
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if d, ok := parseNumber(v, time.Second); ok {
		return d
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), MaxRetryAfter)
	}
	return 0
}

// parseNumber reads a plain decimal count of unit, capped at MaxRetryAfter.
// It rejects zero, negative, infinite, NaN, hex and exponent forms.
func parseNumber(v string, unit time.Duration) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" || strings.IndexFunc(v, func(r rune) bool { return (r < '0' || r > '9') && r != '.' }) >= 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		return 0, false
	}
	if f >= float64(MaxRetryAfter/unit) {
		return MaxRetryAfter, true
	}
	return time.Duration(f * float64(unit)), true
}
