package proctest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llmq/llmq/internal/healthcheck"
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

// WorkerVars returns the variables that point a worker at the Redis of
// redisURL and, for both providers, at the simulator whose root URL is
// simURL (as StartSimulator returns it), followed by vars.
func WorkerVars(redisURL, simURL string, vars ...string) []string {
	return append([]string{"REDIS_URL=" + redisURL, "OPENAI_BASE_URL=" + simURL + "/v1", "OLLAMA_HOST=" + simURL}, vars...)
}

// StartWorker starts the worker binary with Environ(vars...) and HTTP_ADDR
// on a free port, and waits until its /readyz answers 200 (see
// healthcheck.WaitReady). It returns the process and the health address.
// When vars turn the health endpoints off ("HTTP_ADDR="), it does not
// wait, and the address is "".
func StartWorker(t testing.TB, bin string, vars ...string) (*Process, string) {
	t.Helper()
	addr := FreeAddr(t)
	p := Start(t, bin, Environ(append([]string{"HTTP_ADDR=" + addr}, vars...)...))
	if slices.Contains(vars, "HTTP_ADDR=") {
		return p, ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := healthcheck.WaitReady(ctx, addr, p.done, 20*time.Millisecond)
	switch {
	case errors.Is(err, healthcheck.ErrExited):
		t.Fatalf("%v (%v):\n%s", err, p.Cmd.ProcessState, tail(p.Stderr.String(), 4096))
	case err != nil:
		t.Fatalf("%v:\n%s", err, tail(p.Stderr.String(), 4096))
	}
	return p, addr
}

// GetJSON fetches url with c and decodes its JSON body into v. It fails
// the test if the request fails, the status is not 200 OK or the body does
// not decode.
func GetJSON(t testing.TB, c *http.Client, url string, v any) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
}

// WriteItems writes a job's input of n items, with ids item-00000 on, to
// items.jsonl in dir and returns its path.
func WriteItems(t testing.TB, dir string, n int) string {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"id":"item-%05d","text":"item %d of the job: some text to embed"}`+"\n", i, i)
	}
	path := filepath.Join(dir, "items.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// CheckResults checks that the results file of a job written by
// WriteItems holds one embedding for each of its n items, and nothing
// else.
func CheckResults(t testing.TB, path string, n int) {
	t.Helper()
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	seen := make(map[string]bool, n)
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<24)
	for sc.Scan() {
		var r struct {
			ID        string    `json:"id"`
			Embedding []float32 `json:"embedding"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("result line %d: %v", len(seen)+1, err)
		}
		if seen[r.ID] {
			t.Fatalf("item %s has two results", r.ID)
		}
		if len(r.Embedding) == 0 {
			t.Fatalf("item %s has an empty embedding", r.ID)
		}
		seen[r.ID] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Fatalf("%d results, want %d", len(seen), n)
	}
	for i := range n {
		if id := fmt.Sprintf("item-%05d", i); !seen[id] {
			t.Fatalf("no result for %s", id)
		}
	}
}
