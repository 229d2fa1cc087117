package proctest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that keeps the failures and cleanups of the
// code under test instead of acting on them.
type recorder struct {
	testing.TB
	failures []string
	cleanups []func()
}

func (r *recorder) Helper()                   {}
func (r *recorder) Logf(string, ...any)       {}
func (r *recorder) Failed() bool              { return len(r.failures) > 0 }
func (r *recorder) Cleanup(f func())          { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(f string, a ...any) { r.failures = append(r.failures, fmt.Sprintf(f, a...)) }
func (r *recorder) Fatalf(f string, a ...any) {
	r.failures = append(r.failures, "fatal: "+fmt.Sprintf(f, a...))
}

func (r *recorder) cleanUp() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// TestRaceReportsFail checks that a data race a command reports on its
// standard error fails the test, whether the command ran to its end (Exec)
// or in the background (Start), and that a clean run does not.
func TestRaceReportsFail(t *testing.T) {
	const racy = "echo 'WARNING: DATA RACE' >&2; echo 'Write at 0x00c000012345 by goroutine 7:' >&2"
	tests := []struct {
		name     string
		script   string
		wantFail bool
	}{
		{"race reported", racy, true},
		{"clean run", "echo fine >&2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name+", Exec", func(t *testing.T) {
			r := &recorder{TB: t}
			res := Exec(r, 10*time.Second, nil, "/bin/sh", Environ(), "-c", tt.script)
			r.cleanUp()
			if res.Code != 0 || r.Failed() != tt.wantFail {
				t.Errorf("exit status %d, failures %q; want a failure: %v", res.Code, r.failures, tt.wantFail)
			}
			if tt.wantFail && !strings.Contains(strings.Join(r.failures, "\n"), "by goroutine 7") {
				t.Errorf("failure %q does not show the report", r.failures)
			}
		})
		t.Run(tt.name+", Start", func(t *testing.T) {
			r := &recorder{TB: t}
			p := Start(r, "/bin/sh", Environ(), "-c", tt.script)
			p.Wait(r, 10*time.Second)
			r.cleanUp()
			if r.Failed() != tt.wantFail {
				t.Errorf("failures %q; want a failure: %v", r.failures, tt.wantFail)
			}
		})
	}
}
