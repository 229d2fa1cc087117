//go:build race

package proctest

// Race reports whether the race detector is on.
const Race = true
