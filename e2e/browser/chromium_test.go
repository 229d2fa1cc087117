package browser

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"
)

// chromiumPath locates Chromium as scripts/ensure-chromium does: $CHROMIUM,
// then chromium and chromium-browser in PATH, then /usr/bin/chromium. It
// fails the test, never skips it, when there is none.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if c := os.Getenv("CHROMIUM"); c != "" {
		p, err := exec.LookPath(c)
		if err != nil {
			t.Fatalf("CHROMIUM=%s: not an executable: %v", c, err)
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: run 'make deps' (scripts/ensure-chromium installs Debian's chromium) or set CHROMIUM")
	return ""
}

// chromium runs a headless Chromium with a fresh profile on url and args
// (such as --dump-dom or --screenshot=FILE) and returns its standard output
// and error. The flags keep it off the network except for url: no
// background connections, component updates or sync, which a machine
// without internet access refuses. --virtual-time-budget lets the page's
// scripts and their API requests run before the DOM is dumped or the
// screenshot taken.
func chromium(t *testing.T, url string, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	flags := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,900", "--virtual-time-budget=15000",
	}
	cmd := exec.CommandContext(ctx, chromiumPath(t), append(append(flags, args...), url)...)
	var out, errOut buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("chromium: %v", err)
		}
		t.Logf("chromium exited %d", ee.ExitCode())
	}
	return out.String(), errOut.String()
}

type buffer struct{ b []byte }

func (b *buffer) Write(p []byte) (int, error) { b.b = append(b.b, p...); return len(p), nil }
func (b *buffer) String() string              { return string(b.b) }
