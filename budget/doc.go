// Package budget holds what a provider lets every worker process send
// together, in Redis: a requests-per-minute and a tokens-per-minute budget,
// and the "blocked until" the provider itself announced in its rate-limit
// headers.
//
// A caller reserves before each provider call with the call's estimated
// token cost (Reserve), corrects the reservation from the provider's real
// usage afterwards (Reservation.Correct), or gives it back if the call was
// never sent (Reservation.Cancel). When there is no budget, Reserve returns
// at once a *clients.DeferredError matching clients.ErrNoBudget or
// clients.ErrRateBlocked with the wait: it never blocks, so nothing holds a
// connection or a worker slot while waiting.
//
// # Algorithm
//
// Each limit is a GCRA (generic cell rate algorithm, the algorithm of
// github.com/go-redis/redis_rate) kept as one "theoretical arrival time"
// per limit in Redis, evaluated with Redis's own clock in one Lua script,
// so that workers with skewed clocks agree. A limit of R per minute
// admits, in any window of T, at most R·T/1m plus its burst, and the burst
// is what the rate earns in Config.Burst (default one second): at most
// R/60 for the default. With the default, every 10 s window sees at most
// R/6 + R/60, the rate plus 10%. A call costing more tokens than the burst
// is admitted when its bucket is full and the calls after it wait until
// its cost is earned back.
//
// redis_rate itself is not used: it checks one limit per call (a request
// admitted by the requests limit and refused by the tokens limit would
// still spend a request), it cannot charge a cost after the fact that must
// not be refused, and a refund (negative cost) that would bring the bucket
// past full is silently dropped.
//
// # Keys
//
// Each provider's keys share the hash tag {provider} so that the script's
// keys live in one slot of a Redis Cluster:
//
//	llmq:budget:{openai}:rpm      GCRA time of the requests limit (PX: until full again)
//	llmq:budget:{openai}:tpm      GCRA time of the tokens limit
//	llmq:budget:{openai}:blocked  blocked until (µs since the epoch, Redis clock; PX: the block)
//
// Any redis.UniversalClient works: single node, Sentinel or Cluster.
//
// # Headers
//
// Observe reads OpenAI's x-ratelimit-remaining-requests/-tokens and
// x-ratelimit-reset-requests/-tokens, Retry-After and retry-after-ms from
// any response (see BlockFor). When they say the provider's budget is
// spent, it records a block that every worker's Reserve honours. A block
// is never shortened by a later, shorter one.
package budget
