package simulator

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// limiter is the rate limit of Config.RequestsPerMinute and
// Config.TokensPerMinute: two buckets, each holding up to its limit and
// refilled continuously at limit per minute. A nil *limiter limits nothing.
type limiter struct {
	mu       sync.Mutex
	requests bucket
	tokens   bucket
}

// bucket is one limit; limit 0 means none.
type bucket struct {
	limit float64
	avail float64
	last  time.Time
}

func newLimiter(rpm, tpm int, now time.Time) *limiter {
	if rpm <= 0 && tpm <= 0 {
		return nil
	}
	return &limiter{
		requests: bucket{limit: float64(rpm), avail: float64(rpm), last: now},
		tokens:   bucket{limit: float64(tpm), avail: float64(tpm), last: now},
	}
}

func (b *bucket) refill(now time.Time) {
	if b.limit == 0 || !now.After(b.last) {
		return
	}
	b.avail = min(b.limit, b.avail+now.Sub(b.last).Minutes()*b.limit)
	b.last = now
}

// until is how long the bucket takes to hold n again; 0 when it does.
func (b *bucket) until(n float64) time.Duration {
	if b.limit == 0 || b.avail >= n {
		return 0
	}
	return time.Duration(math.Ceil((n - b.avail) / b.limit * float64(time.Minute)))
}

// write sets the bucket's x-ratelimit-* headers with the given suffix
// ("requests" or "tokens").
func (b *bucket) write(h http.Header, suffix string) {
	if b.limit == 0 {
		return
	}
	h.Set("X-Ratelimit-Limit-"+suffix, strconv.FormatInt(int64(b.limit), 10))
	h.Set("X-Ratelimit-Remaining-"+suffix, strconv.FormatInt(int64(math.Floor(b.avail)), 10))
	h.Set("X-Ratelimit-Reset-"+suffix, FormatReset(b.until(b.limit)))
}

// FormatReset writes d the way OpenAI's x-ratelimit-reset-* headers do:
// a Go duration rounded up to the millisecond, such as "1s", "6m0s" or
// "20ms".
func FormatReset(d time.Duration) string {
	if r := d.Round(time.Millisecond); r < d {
		d = r + time.Millisecond
	} else {
		d = r
	}
	return d.String()
}

// headers writes the current state of the limits to h, without charging
// anything.
func (l *limiter) headers(h http.Header, now time.Time) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests.refill(now)
	l.tokens.refill(now)
	l.requests.write(h, "Requests")
	l.tokens.write(h, "Tokens")
}

// admit charges one request of cost tokens. It writes the limits' headers
// after the charge to h and reports whether the request may go on; when it
// may not, the failure is the 429 to answer, with the wait until both
// buckets hold enough as its Retry-After.
func (l *limiter) admit(h http.Header, cost int, now time.Time) (failure, bool) {
	if l == nil {
		return failure{}, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests.refill(now)
	l.tokens.refill(now)
	defer func() {
		l.requests.write(h, "Requests")
		l.tokens.write(h, "Tokens")
	}()
	tokens := float64(cost)
	if l.tokens.limit > 0 && tokens > l.tokens.limit {
		f := statusFailure(http.StatusTooManyRequests)
		f.typ = "tokens"
		f.message = fmt.Sprintf("Request too large for tokens per min (TPM): Limit %d, Requested %d.", int64(l.tokens.limit), cost)
		return f, false
	}
	wr, wt := l.requests.until(1), l.tokens.until(tokens)
	if wr == 0 && wt == 0 {
		if l.requests.limit > 0 {
			l.requests.avail--
		}
		if l.tokens.limit > 0 {
			l.tokens.avail -= tokens
		}
		return failure{}, true
	}
	f := statusFailure(http.StatusTooManyRequests)
	f.retryAfter = max(wr, wt, time.Millisecond)
	if wr >= wt {
		f.typ = "requests"
		f.message = fmt.Sprintf("Rate limit reached for requests per min (RPM): Limit %d, Used %d, Requested 1. Please try again in %s.",
			int64(l.requests.limit), int64(l.requests.limit-math.Floor(l.requests.avail)), FormatReset(f.retryAfter))
	} else {
		f.typ = "tokens"
		f.message = fmt.Sprintf("Rate limit reached for tokens per min (TPM): Limit %d, Used %d, Requested %d. Please try again in %s.",
			int64(l.tokens.limit), int64(l.tokens.limit-math.Floor(l.tokens.avail)), cost, FormatReset(f.retryAfter))
	}
	// The retry-after-ms header carries whole milliseconds: round up so a
	// client that waits exactly that long finds the budget there.
	f.retryAfter = time.Duration(math.Ceil(float64(f.retryAfter)/float64(time.Millisecond))) * time.Millisecond
	return f, false
}
