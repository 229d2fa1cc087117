package clients_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/llmq/llmq/clients"
)

func TestDeferredError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reason error
		delay  time.Duration
		want   string
	}{
		{"budget", clients.ErrNoBudget, 1500 * time.Millisecond, "openai: no budget, come back in 1.5s"},
		{"blocked", clients.ErrRateBlocked, 20 * time.Second, "openai: rate limit spent, come back in 20s"},
		{"breaker", clients.ErrUnavailable, 4 * time.Second, "openai: provider unavailable, come back in 4s"},
		{"no delay", clients.ErrUnavailable, 0, "openai: provider unavailable, come back in 1ms"},
		{"failed", clients.ErrProviderFailed, 2 * time.Second, "openai: provider failed, come back in 2s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := fmt.Errorf("embed batch: %w", clients.Defer("openai", tc.reason, tc.delay))
			if got := err.Error(); got != "embed batch: "+tc.want {
				t.Errorf("Error() = %q, want %q", got, "embed batch: "+tc.want)
			}
			if !errors.Is(err, clients.ErrDeferred) || !errors.Is(err, tc.reason) {
				t.Errorf("errors.Is(ErrDeferred, %v) = false", tc.reason)
			}
			for _, other := range []error{clients.ErrNoBudget, clients.ErrRateBlocked, clients.ErrUnavailable, clients.ErrProviderFailed} {
				if other != tc.reason && errors.Is(err, other) {
					t.Errorf("matches %v too", other)
				}
			}
			var rd interface{ RetryDelay() (time.Duration, bool) }
			if !errors.As(err, &rd) {
				t.Fatal("no RetryDelay method found")
			}
			if d, ok := rd.RetryDelay(); !ok || d != max(tc.delay, time.Millisecond) {
				t.Errorf("RetryDelay() = %v, %v", d, ok)
			}
		})
	}
	if errors.Is(errors.New("x"), clients.ErrDeferred) || errors.Is(&clients.APIError{StatusCode: 429}, clients.ErrDeferred) {
		t.Error("other errors match ErrDeferred")
	}
}

func TestResponseObserver(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Ratelimit-Remaining-Requests", r.URL.Query().Get("left"))
		if r.URL.Query().Get("left") == "0" {
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer ts.Close()
	hc, _, err := clients.NewHTTPClient(clients.Config{Provider: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer hc.CloseIdleConnections()

	var (
		mu  sync.Mutex
		saw []string
	)
	ctx := clients.WithResponseObserver(t.Context(), func(status int, h http.Header) {
		mu.Lock()
		defer mu.Unlock()
		saw = append(saw, fmt.Sprintf("%d %s", status, h.Get("x-ratelimit-remaining-requests")))
	})
	for _, left := range []string{"5", "0"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"?left="+left, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		clients.DrainClose(resp.Body)
	}
	// Without an observer nothing is reported, and nothing fails.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.URL+"?left=9", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	clients.DrainClose(resp.Body)

	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(saw) != "[200 5 429 0]" {
		t.Errorf("observer saw %v, want [200 5 429 0]", saw)
	}
}
