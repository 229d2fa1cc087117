//go:build race

package main

// raceEnabled reports whether the tests, and so the binaries they build,
// run with the race detector.
const raceEnabled = true
