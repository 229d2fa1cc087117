package clients_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/llmq/llmq/clients"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{name: "none", want: 0},
		{name: "seconds", header: map[string]string{"Retry-After": "7"}, want: 7 * time.Second},
		{name: "fractional seconds", header: map[string]string{"Retry-After": "1.5"}, want: 1500 * time.Millisecond},
		{name: "milliseconds", header: map[string]string{"Retry-After-Ms": "250"}, want: 250 * time.Millisecond},
		{name: "milliseconds win over seconds", header: map[string]string{"Retry-After-Ms": "250", "Retry-After": "1"}, want: 250 * time.Millisecond},
		{name: "bad milliseconds fall back to seconds", header: map[string]string{"Retry-After-Ms": "soon", "Retry-After": "2"}, want: 2 * time.Second},
		{name: "http date", header: map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, want: 90 * time.Second},
		{name: "http date in the past", header: map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, want: 0},
		{name: "zero", header: map[string]string{"Retry-After": "0"}, want: 0},
		{name: "negative", header: map[string]string{"Retry-After": "-5"}, want: 0},
		{name: "garbage", header: map[string]string{"Retry-After": "soon-ish"}, want: 0},
		{name: "garbage milliseconds alone", header: map[string]string{"Retry-After-Ms": "x"}, want: 0},
		{name: "infinity", header: map[string]string{"Retry-After": "Inf"}, want: 0},
		{name: "NaN milliseconds", header: map[string]string{"Retry-After-Ms": "NaN"}, want: 0},
		{name: "hex", header: map[string]string{"Retry-After": "0x10"}, want: 0},
		{name: "huge seconds capped", header: map[string]string{"Retry-After": "99999999999999999999"}, want: clients.MaxRetryAfter},
		{name: "far date capped", header: map[string]string{"Retry-After": now.Add(72 * time.Hour).Format(http.TimeFormat)}, want: clients.MaxRetryAfter},
		{name: "spaces", header: map[string]string{"Retry-After": " 3 "}, want: 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := make(http.Header)
			for k, v := range tt.header {
				h.Set(k, v)
			}
			if got := clients.ParseRetryAfter(h, now); got != tt.want {
				t.Errorf("ParseRetryAfter(%v) = %v, want %v", tt.header, got, tt.want)
			}
		})
	}
}

func TestAPIErrorPermanent(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		code        string
		typ         string
		permanent   bool
		rateLimited bool
	}{
		{name: "400 bad request", status: 400, permanent: true},
		{name: "401 unauthorized", status: 401, permanent: true},
		{name: "403 forbidden", status: 403, permanent: true},
		{name: "404 not found", status: 404, permanent: true},
		{name: "422 unprocessable", status: 422, permanent: true},
		{name: "408 request timeout", status: 408},
		{name: "409 conflict", status: 409},
		{name: "429 rate limited", status: 429, code: "rate_limit_exceeded", rateLimited: true},
		{name: "429 without code", status: 429, rateLimited: true},
		{name: "429 insufficient quota code", status: 429, code: "insufficient_quota", permanent: true},
		{name: "429 insufficient quota type", status: 429, typ: "insufficient_quota", permanent: true},
		{name: "500 internal", status: 500},
		{name: "502 bad gateway", status: 502},
		{name: "503 unavailable", status: 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &clients.APIError{Provider: "openai", StatusCode: tt.status, Code: tt.code, Type: tt.typ}
			if got := e.Permanent(); got != tt.permanent {
				t.Errorf("Permanent() = %v, want %v", got, tt.permanent)
			}
			if got := e.RateLimited(); got != tt.rateLimited {
				t.Errorf("RateLimited() = %v, want %v", got, tt.rateLimited)
			}
		})
	}
}

func TestNewAPIError(t *testing.T) {
	rec := httptest.NewRecorder()
	rec.Header().Set("Retry-After", "3")
	rec.Header().Set("X-Ratelimit-Remaining-Requests", "0")
	rec.Header().Set("X-Ratelimit-Reset-Tokens", "1s")
	rec.Header().Set("X-Other", "kept out")
	rec.WriteHeader(http.StatusTooManyRequests)
	e := clients.NewAPIError("openai", rec.Result())

	if e.Provider != "openai" || e.StatusCode != 429 {
		t.Errorf("Provider, StatusCode = %q, %d", e.Provider, e.StatusCode)
	}
	if d, ok := e.RetryDelay(); !ok || d != 3*time.Second {
		t.Errorf("RetryDelay() = %v, %v; want 3s, true", d, ok)
	}
	want := map[string]string{"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-tokens": "1s"}
	if len(e.RateLimit) != len(want) {
		t.Errorf("RateLimit = %v, want %v", e.RateLimit, want)
	}
	for k, v := range want {
		if e.RateLimit[k] != v {
			t.Errorf("RateLimit[%q] = %q, want %q", k, e.RateLimit[k], v)
		}
	}
	e.Type, e.Code, e.Message = "requests", "rate_limit_exceeded", "slow down"
	if got, want := e.Error(), "openai: HTTP 429 requests (rate_limit_exceeded): slow down"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
