package budget

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/llmq/llmq/clients"
)

// DefaultBlock is how long BlockFor blocks after a 429 that names no wait.
const DefaultBlock = time.Second

// RateLimit is what OpenAI's x-ratelimit-* headers say.
type RateLimit struct {
	// RemainingRequests and RemainingTokens are what is left of the
	// provider's limits; -1 if not told.
	RemainingRequests, RemainingTokens int
	// ResetRequests and ResetTokens are the times until the limits are
	// full again; 0 if not told.
	ResetRequests, ResetTokens time.Duration
}

// ParseRateLimit reads x-ratelimit-remaining-requests/-tokens and
// x-ratelimit-reset-requests/-tokens. Resets are Go-style durations as
// OpenAI sends them ("1s", "6m0s", "20ms", "1m30.5s"); a value that does
// not parse counts as not told.
func ParseRateLimit(h http.Header) RateLimit {
	return RateLimit{
		RemainingRequests: parseCount(h.Get("X-Ratelimit-Remaining-Requests")),
		RemainingTokens:   parseCount(h.Get("X-Ratelimit-Remaining-Tokens")),
		ResetRequests:     ParseReset(h.Get("X-Ratelimit-Reset-Requests")),
		ResetTokens:       ParseReset(h.Get("X-Ratelimit-Reset-Tokens")),
	}
}

// ParseReset reads a reset duration such as "1s", "6m0s", "20ms" or
// "1m30.5s", at most clients.MaxRetryAfter; 0 if it is not one.
func ParseReset(v string) time.Duration {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d <= 0 {
		return 0
	}
	return min(d, clients.MaxRetryAfter)
}

func parseCount(v string) int {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// BlockFor returns how long a response with status and headers h says the
// provider takes no more requests; 0 if it does not say so.
//
//   - A 429 blocks for its retry-after-ms or Retry-After, else for the reset
//     of the limit that is at 0, else for DefaultBlock.
//   - Any other status blocks for the reset of a limit at 0 remaining.
func BlockFor(status int, h http.Header, now time.Time) time.Duration {
	rl := ParseRateLimit(h)
	var spent time.Duration
	if rl.RemainingRequests == 0 {
		spent = rl.ResetRequests
	}
	if rl.RemainingTokens == 0 {
		spent = max(spent, rl.ResetTokens)
	}
	if status != http.StatusTooManyRequests {
		return spent
	}
	if d := clients.ParseRetryAfter(h, now); d > 0 {
		return d
	}
	if spent > 0 {
		return spent
	}
	return DefaultBlock
}

// Observe records the block a response's status and headers call for
// (see BlockFor), if any, and returns the block in force (0 if none was
// called for).
func (b *Budget) Observe(ctx context.Context, status int, h http.Header) (time.Duration, error) {
	d := BlockFor(status, h, time.Now())
	if d <= 0 {
		return 0, nil
	}
	return b.Block(ctx, d)
}
