// Package inflight holds an adaptive limit on the calls in flight to one
// provider: between a floor and the worker's pool size, it grows while
// the provider's latency stays flat and shrinks when latency rises or the
// provider pushes back (429s, timeouts).
//
// The algorithm is the one of Netflix concurrency-limits' Gradient2, per
// sample:
//
//	gradient = clamp(Tolerance · noLoadRTT / shortRTT, 0.5, 1)
//	target   = limit · gradient + √limit
//	limit    = limit · (1 − Smoothing) + target · Smoothing
//
// where shortRTT is a fast moving average of the latency (the last ten or
// so calls) and the no-load latency is the shortest call of the last 1000
// to 2000 (a minimum over two epochs of 1000 calls, as TCP Vegas and
// concurrency-limits' Vegas take it). Gradient2 itself compares with a
// long moving average, but under sustained load that average drifts up to
// the loaded latency and the limit then stops shrinking: measured against
// a server serving 8 at a time, it stayed at the pool size. A limit barely used (fewer than half of it in
// flight when the call started) does not change, so an idle provider does
// not earn a limit it never tested. A call that reports overload
// multiplies the limit by Backoff (0.9) at once.
//
// Acquire waits in line for a slot without spinning, and gives up when
// its context ends.
package inflight
