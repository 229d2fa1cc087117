package budget_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/llmq/llmq/budget"
	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/internal/redistest"
)

func TestParseReset(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"1s", time.Second},
		{"6m0s", 6 * time.Minute},
		{"20ms", 20 * time.Millisecond},
		{"1m30.5s", 90*time.Second + 500*time.Millisecond},
		{" 2s ", 2 * time.Second},
		{"0s", 0},
		{"-1s", 0},
		{"", 0},
		{"12", 0},
		{"soon", 0},
		{"48h", clients.MaxRetryAfter},
	} {
		if got := budget.ParseReset(tc.in); got != tc.want {
			t.Errorf("ParseReset(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestBlockFor(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		status int
		h      http.Header
		want   time.Duration
	}{
		{"200 with budget left", 200, headers("x-ratelimit-remaining-requests", "10", "x-ratelimit-reset-requests", "6s"), 0},
		{"200 no headers", 200, headers(), 0},
		{"200 requests spent", 200, headers("x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "1m30.5s"), 90500 * time.Millisecond},
		{"200 tokens spent", 200, headers("x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "20ms",
			"x-ratelimit-remaining-requests", "3", "x-ratelimit-reset-requests", "5s"), 20 * time.Millisecond},
		{"200 both spent: the later reset", 200, headers("x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "2s",
			"x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "6m0s"), 6 * time.Minute},
		{"200 spent, reset unreadable", 200, headers("x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "later"), 0},
		{"429 retry-after-ms", 429, headers("retry-after-ms", "250", "Retry-After", "9"), 250 * time.Millisecond},
		{"429 Retry-After seconds", 429, headers("Retry-After", "3"), 3 * time.Second},
		{"429 Retry-After date", 429, headers("Retry-After", now.Add(20*time.Second).Format(http.TimeFormat)), 20 * time.Second},
		{"429 only resets", 429, headers("x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "1s"), time.Second},
		{"429 nothing", 429, headers(), budget.DefaultBlock},
		{"503 Retry-After is not a rate limit", 503, headers("Retry-After", "30"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := budget.BlockFor(tc.status, tc.h, now); got != tc.want {
				t.Errorf("BlockFor = %v, want %v", got, tc.want)
			}
		})
	}
	rl := budget.ParseRateLimit(headers("x-ratelimit-remaining-requests", "7", "x-ratelimit-reset-tokens", "6m0s"))
	if rl != (budget.RateLimit{RemainingRequests: 7, RemainingTokens: -1, ResetTokens: 6 * time.Minute}) {
		t.Errorf("ParseRateLimit = %+v", rl)
	}
}

func TestObserve(t *testing.T) {
	srv := redistest.Start(t)
	ctx := t.Context()
	a := newBudget(t, client(t, srv), "openai", budget.Config{})
	b := newBudget(t, client(t, srv), "openai", budget.Config{})
	if d, err := a.Observe(ctx, 200, headers("x-ratelimit-remaining-requests", "5", "x-ratelimit-reset-requests", "1s")); err != nil || d != 0 {
		t.Fatalf("Observe with budget left = %v, %v", d, err)
	}
	if _, err := b.Reserve(ctx, 0); err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	if d, err := a.Observe(ctx, 429, headers("retry-after-ms", "700")); err != nil || d != 700*time.Millisecond {
		t.Fatalf("Observe 429 = %v, %v", d, err)
	}
	_, err := b.Reserve(ctx, 0)
	var de *clients.DeferredError
	if !errors.As(err, &de) || !errors.Is(err, clients.ErrRateBlocked) || de.Delay < 600*time.Millisecond {
		t.Errorf("Reserve after a 429 seen by another client: %v", err)
	}
}
