package tasks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/guard"
)

func TestClassify(t *testing.T) {
	api := func(status int, code string) error {
		return fmt.Errorf("embed: %w", &clients.APIError{Provider: "openai", StatusCode: status, Code: code})
	}
	tests := []struct {
		name          string
		err           error
		wantPermanent bool
	}{
		{"400", api(http.StatusBadRequest, ""), true},
		{"401", api(http.StatusUnauthorized, "invalid_api_key"), true},
		{"403", api(http.StatusForbidden, ""), true},
		{"404", api(http.StatusNotFound, ""), true},
		{"422", api(http.StatusUnprocessableEntity, ""), true},
		{"429 quota", api(http.StatusTooManyRequests, "insufficient_quota"), true},
		{"408", api(http.StatusRequestTimeout, ""), false},
		{"409", api(http.StatusConflict, ""), false},
		{"429", api(http.StatusTooManyRequests, "rate_limit_exceeded"), false},
		{"500", api(http.StatusInternalServerError, ""), false},
		{"503", api(http.StatusServiceUnavailable, ""), false},
		{"invalid request", fmt.Errorf("embed: %w", clients.ErrInvalidRequest), true},
		{"stream error, invalid request", fmt.Errorf("generate: %w", &clients.StreamError{Provider: "openai", Type: "invalid_request_error"}), true},
		{"stream error, quota", fmt.Errorf("generate: %w", &clients.StreamError{Provider: "openai", Code: "insufficient_quota"}), true},
		{"stream error, server", fmt.Errorf("generate: %w", &clients.StreamError{Provider: "openai", Type: "server_error"}), false},
		{"deadline", fmt.Errorf("embed: %w", context.DeadlineExceeded), false},
		{"network", errors.New("read tcp: connection reset by peer"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.err)
			if errors.Is(got, asynq.SkipRetry) != tt.wantPermanent {
				t.Fatalf("classify(%v) = %v, permanent = %v, want %v", tt.err, got, !tt.wantPermanent, tt.wantPermanent)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("classify lost the cause: %v", got)
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	rateLimited := fmt.Errorf("embed: %w", &clients.APIError{StatusCode: 429, RetryAfter: 7 * time.Second})
	tests := []struct {
		name     string
		n        int
		err      error
		min, max time.Duration
	}{
		{"retry-after honoured", 0, rateLimited, 7 * time.Second, 7*time.Second + 700*time.Millisecond},
		{"retry-after honoured late", 9, rateLimited, 7 * time.Second, 7*time.Second + 700*time.Millisecond},
		{"deferral's delay", 0, fmt.Errorf("embed: %w", clients.Defer("openai", clients.ErrUnavailable, 4*time.Second)), 4 * time.Second, 4*time.Second + 400*time.Millisecond},
		{"deferral's delay late", 7, clients.Defer("openai", clients.ErrNoBudget, 10*time.Second), 10 * time.Second, 11 * time.Second},
		{"deferred too long keeps the delay", 2, &guard.PatienceError{Delay: 3 * time.Second}, 3 * time.Second, 3*time.Second + 300*time.Millisecond},
		{"failed call deferred", 0, clients.Defer("openai", clients.ErrProviderFailed, 8*time.Second), 8 * time.Second, 8*time.Second + 800*time.Millisecond},
		{"failed call past the bound backs off", 3, &guard.PatienceError{}, 4 * time.Second, 8 * time.Second},
		{"first backoff", 0, errors.New("boom"), 500 * time.Millisecond, time.Second},
		{"third backoff", 3, errors.New("boom"), 4 * time.Second, 8 * time.Second},
		{"capped", 30, errors.New("boom"), maxRetryDelay / 2, maxRetryDelay},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 50 {
				d := RetryDelay(tt.n, tt.err, nil)
				if d < tt.min || d > tt.max {
					t.Fatalf("RetryDelay(%d) = %v, want within [%v, %v]", tt.n, d, tt.min, tt.max)
				}
			}
		})
	}
}

func TestIsFailure(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"rate limited", &clients.APIError{StatusCode: 429}, false},
		{"quota exhausted", &clients.APIError{StatusCode: 429, Code: "insufficient_quota"}, true},
		{"server error", &clients.APIError{StatusCode: 500}, true},
		{"no budget", clients.Defer("openai", clients.ErrNoBudget, time.Second), false},
		{"provider block", clients.Defer("openai", clients.ErrRateBlocked, time.Second), false},
		{"breaker open", clients.Defer("openai", clients.ErrUnavailable, time.Second), false},
		{"provider failed, breaker closed", clients.Defer("openai", fmt.Errorf("%w: %w", clients.ErrProviderFailed, &clients.APIError{StatusCode: 503}), time.Second), false},
		{"permanent", permanent(errors.New("bad")), true},
		{"deferred too long", &guard.PatienceError{Delay: time.Second, Msg: "provider unavailable"}, true},
		{"other", errors.New("x"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsFailure(fmt.Errorf("wrapped: %w", tt.err)); got != tt.want {
				t.Fatalf("IsFailure = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFailureOutcome(t *testing.T) {
	deferred := fmt.Errorf("embed 3 texts: %w", clients.Defer("openai", clients.ErrUnavailable, time.Second))
	tests := []struct {
		name              string
		err               error
		retried, maxRetry int
		want              string
	}{
		{"deferral", deferred, 0, 10, OutcomeDeferred},
		{"deferral after retries", deferred, 9, 10, OutcomeDeferred},
		{"deferral on the last attempt", deferred, 10, 10, OutcomeArchived},
		{"deferred too long", &guard.PatienceError{Delay: time.Second}, 0, 10, OutcomeRetry},
		{"provider failed, breaker closed", fmt.Errorf("embed 1 texts: %w", clients.Defer("openai", fmt.Errorf("%w: %w", clients.ErrProviderFailed, &clients.APIError{StatusCode: 503}), time.Second)), 0, 10, OutcomeDeferred},
		{"provider failed, past the bound", fmt.Errorf("embed 1 texts: %w", &guard.PatienceError{Msg: "openai: HTTP 503"}), 0, 10, OutcomeRetry},
		{"server error outside a guard", &clients.APIError{StatusCode: 503}, 0, 10, OutcomeRetry},
		{"client error", permanent(&clients.APIError{StatusCode: 400}), 0, 10, OutcomeArchived},
		{"rate limit", &clients.APIError{StatusCode: 429}, 0, 10, OutcomeRateLimited},
		{"failure", errors.New("boom"), 0, 10, OutcomeRetry},
		{"permanent", permanent(errors.New("bad")), 0, 10, OutcomeArchived},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := failureOutcome(tt.err, tt.retried, tt.maxRetry); got != tt.want {
				t.Errorf("failureOutcome = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestTimeoutNamed: the Mux names the task's own timeout; a request's
// timeout, marked by the client, is left as it is.
func TestTimeoutNamed(t *testing.T) {
	requestTimeout := fmt.Errorf("embed 1 texts: %w fired: Post: context deadline exceeded (Client.Timeout exceeded)", clients.ErrRequestTimeout)
	tests := []struct {
		name     string
		deadline time.Duration
		err      func(ctx context.Context) error
		want     error
		notWant  error
	}{
		{"task's deadline", 30 * time.Millisecond, func(ctx context.Context) error {
			<-ctx.Done()
			return fmt.Errorf("embed: %w", clients.ContextError(ctx, errors.New("read: connection closed")))
		}, ErrTaskTimeout, clients.ErrRequestTimeout},
		{"request's timeout", time.Minute, func(context.Context) error { return requestTimeout }, clients.ErrRequestTimeout, ErrTaskTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMux(map[string]asynq.Handler{"x": asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error { return tt.err(ctx) })})
			ctx, cancel := context.WithTimeout(context.Background(), tt.deadline)
			defer cancel()
			err := m.ProcessTask(ctx, asynq.NewTask("x", nil))
			if !errors.Is(err, tt.want) || errors.Is(err, tt.notWant) {
				t.Errorf("error %q, want it to match %v and not %v", err, tt.want, tt.notWant)
			}
			if !strings.Contains(err.Error(), tt.want.Error()+" fired") {
				t.Errorf("error %q does not say %q fired", err, tt.want)
			}
		})
	}
}
