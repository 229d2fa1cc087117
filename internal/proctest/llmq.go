package proctest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// WaitStdoutLine waits up to timeout for a line of the process's standard
// output that starts with prefix and returns the rest of it. It fails the
// test if the process exits or no such line comes.
func (p *Process) WaitStdoutLine(t testing.TB, prefix string, timeout time.Duration) string {
	t.Helper()
	var rest string
	Eventually(t, timeout, 20*time.Millisecond, func() (bool, string) {
		for _, line := range strings.Split(p.Stdout.String(), "\n") {
			if r, ok := strings.CutPrefix(line, prefix); ok {
				rest = strings.TrimSpace(r)
				return true, ""
			}
		}
		if p.Exited() {
			t.Fatalf("%s exited (%v) before printing %q:\n%s", p.Name, p.Cmd.ProcessState, prefix, p.Stderr.String())
		}
		return false, p.Name + " has not printed " + prefix
	})
	return rest
}

// StartSimulator starts the simulator binary on a free port with args (its
// flags other than -addr) and returns it with its root URL: the Ollama
// host, and with "/v1" the OpenAI base URL.
func StartSimulator(t testing.TB, bin string, args ...string) (*Process, string) {
	t.Helper()
	p := Start(t, bin, Environ(), append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	raw := p.WaitStdoutLine(t, "simulator listening on ", 15*time.Second)
	if u, err := url.Parse(raw); err != nil || u.Host == "" {
		t.Fatalf("simulator announced %q, want a URL", raw)
	}
	return p, raw
}

// StartWorker starts the worker binary with the environment vars
// ("NAME=value") and HTTP_ADDR on a free port, and waits until its /readyz
// answers 200. It returns the process and the health address.
func StartWorker(t testing.TB, bin string, vars ...string) (*Process, string) {
	t.Helper()
	addr := FreeAddr(t)
	p := Start(t, bin, Environ(append([]string{"HTTP_ADDR=" + addr}, vars...)...))
	hc := &http.Client{Timeout: time.Second}
	Eventually(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		if p.Exited() {
			t.Fatalf("worker exited (%v) at start:\n%s", p.Cmd.ProcessState, p.Stderr.String())
		}
		resp, err := hc.Get("http://" + addr + "/readyz")
		if err != nil {
			return false, "worker /readyz: " + err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, "worker /readyz: " + resp.Status
	})
	return p, addr
}
