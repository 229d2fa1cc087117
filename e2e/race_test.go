//go:build race

package e2e

// raceEnabled reports whether the tests, and so the binaries they build,
// run with the race detector.
const raceEnabled = true
