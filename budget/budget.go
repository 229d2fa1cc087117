package budget

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/clients"
)

// DefaultBurst is Config.Burst's default.
const DefaultBurst = time.Second

// DefaultPrefix is Config.Prefix's default.
const DefaultPrefix = "llmq:budget:"

// Limit is a provider's budget per minute. 0 means no limit.
type Limit struct {
	// RequestsPerMinute caps the requests sent (OPENAI_RPM, OLLAMA_RPM).
	RequestsPerMinute int
	// TokensPerMinute caps the tokens reserved (OPENAI_TPM, OLLAMA_TPM).
	TokensPerMinute int
}

// Config configures a Budget. The zero value of each field means its
// default.
type Config struct {
	// Limit is the budget; the zero Limit limits nothing, but Reserve still
	// honours the provider's announced blocks.
	Limit Limit
	// Burst is how much of the rate may be spent at once, as the time the
	// rate takes to earn it. Default 1s: a burst of RequestsPerMinute/60
	// requests (at least 1). Longer bursts let a window see more than the
	// rate.
	Burst time.Duration
	// Prefix starts every key. Default "llmq:budget:".
	Prefix string
}

// Budget is one provider's shared budget. It is safe for concurrent use;
// every Budget with the same provider and Prefix on the same Redis, in any
// process, shares the same budget.
type Budget struct {
	rdb      redis.UniversalClient
	provider string
	limit    Limit
	burst    time.Duration
	keys     []string // rpm, tpm, blocked
}

// New returns provider's budget in rdb.
func New(rdb redis.UniversalClient, provider string, cfg Config) (*Budget, error) {
	switch {
	case rdb == nil:
		return nil, errors.New("budget: nil Redis client")
	case provider == "":
		return nil, errors.New("budget: provider must not be empty")
	case cfg.Limit.RequestsPerMinute < 0:
		return nil, fmt.Errorf("budget: %s requests per minute must not be negative, got %d", provider, cfg.Limit.RequestsPerMinute)
	case cfg.Limit.TokensPerMinute < 0:
		return nil, fmt.Errorf("budget: %s tokens per minute must not be negative, got %d", provider, cfg.Limit.TokensPerMinute)
	case cfg.Burst < 0:
		return nil, fmt.Errorf("budget: Burst must not be negative, got %s", cfg.Burst)
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	base := cfg.Prefix + "{" + provider + "}:"
	return &Budget{
		rdb: rdb, provider: provider, limit: cfg.Limit, burst: cfg.Burst,
		keys: []string{base + "rpm", base + "tpm", base + "blocked"},
	}, nil
}

// Provider returns the provider's name.
func (b *Budget) Provider() string { return b.provider }

// Limit returns the configured limit.
func (b *Budget) Limit() Limit { return b.limit }

// reserveScript checks the block, then both GCRA limits, and spends both
// only if both admit. KEYS: rpm, tpm, blocked. ARGV: requests per minute,
// tokens per minute, burst (µs), tokens. Returns {admitted, reason, wait
// µs}: reason 1 blocked, 2 no budget.
var reserveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local blocked = tonumber(redis.call('GET', KEYS[3]) or '0')
if blocked > now then
  return {0, 1, string.format('%.0f', blocked - now)}
end
local rates = {tonumber(ARGV[1]), tonumber(ARGV[2])}
local costs = {1, tonumber(ARGV[4])}
local burst = tonumber(ARGV[3])
local new = {}
local wait = 0
for i = 1, 2 do
  if rates[i] > 0 and costs[i] > 0 then
    local inc = costs[i] * 60000000 / rates[i]
    local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
    if tat < now then tat = now end
    local allow_at = tat + math.min(inc, burst) - burst
    if allow_at > now then
      wait = math.max(wait, allow_at - now)
    end
    new[i] = tat + inc
  end
end
if wait > 0 then
  return {0, 2, string.format('%.0f', wait)}
end
for i = 1, 2 do
  if new[i] then
    redis.call('SET', KEYS[i], string.format('%.0f', new[i]), 'PX', math.ceil((new[i] - now) / 1000) + 1)
  end
end
return {1, 0, '0'}
`)

// correctScript adds (or, negative, refunds) requests and tokens to the
// GCRA limits without refusing. KEYS: rpm, tpm. ARGV: requests per
// minute, tokens per minute, requests, tokens.
var correctScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rates = {tonumber(ARGV[1]), tonumber(ARGV[2])}
local deltas = {tonumber(ARGV[3]), tonumber(ARGV[4])}
for i = 1, 2 do
  if rates[i] > 0 and deltas[i] ~= 0 then
    local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
    if tat < now then tat = now end
    local new = tat + deltas[i] * 60000000 / rates[i]
    if new <= now then
      redis.call('DEL', KEYS[i])
    else
      redis.call('SET', KEYS[i], string.format('%.0f', new), 'PX', math.ceil((new - now) / 1000) + 1)
    end
  end
end
return 1
`)

// Reservation is the budget one call holds: one request and its estimated
// tokens. Correct or Cancel it once the call is over.
type Reservation struct {
	b      *Budget
	tokens int
}

// Tokens returns the tokens the reservation holds now.
func (r *Reservation) Tokens() int { return r.tokens }

// Reserve takes one request and tokens (the call's estimated cost: its
// input tokens, plus max_tokens for generation) from the budget. Without
// budget, or while the provider's block lasts, it returns a
// *clients.DeferredError (clients.ErrNoBudget or clients.ErrRateBlocked)
// with the wait, at once; other errors are Redis's.
func (b *Budget) Reserve(ctx context.Context, tokens int) (*Reservation, error) {
	tokens = max(tokens, 0)
	res, err := reserveScript.Run(ctx, b.rdb, b.keys,
		b.limit.RequestsPerMinute, b.limit.TokensPerMinute, b.burst.Microseconds(), tokens).Slice()
	if err != nil {
		return nil, fmt.Errorf("reserve %s budget: %w", b.provider, err)
	}
	admitted, reason, wait, err := parseReply(res)
	if err != nil {
		return nil, fmt.Errorf("reserve %s budget: %w", b.provider, err)
	}
	switch {
	case admitted:
		return &Reservation{b: b, tokens: tokens}, nil
	case reason == 1:
		return nil, clients.Defer(b.provider, clients.ErrRateBlocked, wait)
	default:
		return nil, clients.Defer(b.provider, clients.ErrNoBudget, wait)
	}
}

// Correct sets the reservation's tokens to the call's real usage: it
// refunds what was reserved beyond it or charges what it went over, never
// refusing. A negative tokens (usage unknown) keeps the estimate.
func (r *Reservation) Correct(ctx context.Context, tokens int) error {
	if tokens < 0 || tokens == r.tokens {
		return nil
	}
	if err := r.b.adjust(ctx, 0, tokens-r.tokens); err != nil {
		return err
	}
	r.tokens = tokens
	return nil
}

// Cancel gives back the request and the tokens of a call that was not
// sent. Calling it after Correct gives back what Correct left.
func (r *Reservation) Cancel(ctx context.Context) error {
	if err := r.b.adjust(ctx, -1, -r.tokens); err != nil {
		return err
	}
	r.tokens = 0
	return nil
}

func (b *Budget) adjust(ctx context.Context, requests, tokens int) error {
	if b.limit.TokensPerMinute == 0 && (b.limit.RequestsPerMinute == 0 || requests == 0) {
		return nil
	}
	err := correctScript.Run(ctx, b.rdb, b.keys[:2],
		b.limit.RequestsPerMinute, b.limit.TokensPerMinute, requests, tokens).Err()
	if err != nil {
		return fmt.Errorf("correct %s budget: %w", b.provider, err)
	}
	return nil
}

// blockScript records "blocked until now+d" unless a later block is in
// force. KEYS: blocked. ARGV: d (µs). Returns the block in force (µs).
var blockScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local untilT = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur >= untilT then
  return string.format('%.0f', cur - now)
end
redis.call('SET', KEYS[1], string.format('%.0f', untilT), 'PX', math.ceil(tonumber(ARGV[1]) / 1000) + 1)
return ARGV[1]
`)

// Block makes every worker's Reserve wait d from now, unless a longer
// block is in force, and returns the block in force. d is capped at
// clients.MaxRetryAfter.
func (b *Budget) Block(ctx context.Context, d time.Duration) (time.Duration, error) {
	d = min(d, clients.MaxRetryAfter)
	if d <= 0 {
		return b.BlockedFor(ctx)
	}
	s, err := blockScript.Run(ctx, b.rdb, b.keys[2:], d.Microseconds()).Text()
	if err != nil {
		return 0, fmt.Errorf("block %s: %w", b.provider, err)
	}
	us, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("block %s: reply %q: %w", b.provider, s, err)
	}
	return time.Duration(us) * time.Microsecond, nil
}

// blockedScript returns how long the block lasts (µs), 0 if none.
var blockedScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur <= now then return '0' end
return string.format('%.0f', cur - now)
`)

// BlockedFor returns how long the provider's block lasts from now; 0 if
// there is none.
func (b *Budget) BlockedFor(ctx context.Context) (time.Duration, error) {
	s, err := blockedScript.Run(ctx, b.rdb, b.keys[2:]).Text()
	if err != nil {
		return 0, fmt.Errorf("read %s block: %w", b.provider, err)
	}
	us, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read %s block: reply %q: %w", b.provider, s, err)
	}
	return time.Duration(us) * time.Microsecond, nil
}

func parseReply(res []any) (admitted bool, reason int64, wait time.Duration, err error) {
	if len(res) != 3 {
		return false, 0, 0, fmt.Errorf("unexpected reply %v", res)
	}
	a, ok1 := res[0].(int64)
	reason, ok2 := res[1].(int64)
	s, ok3 := res[2].(string)
	if !ok1 || !ok2 || !ok3 {
		return false, 0, 0, fmt.Errorf("unexpected reply %v", res)
	}
	us, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return false, 0, 0, fmt.Errorf("unexpected reply %v", res)
	}
	return a == 1, reason, time.Duration(us) * time.Microsecond, nil
}
