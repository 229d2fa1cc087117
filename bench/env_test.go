package bench

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmq/llmq/simulator"
)

// TestServiceTimes: a timed simulator records the service time of each
// embeddings request and of nothing else, and countInFlight sees the
// requests it is serving.
func TestServiceTimes(t *testing.T) {
	const latency = 20 * time.Millisecond
	e := &env{cfg: Full("bin"), tmp: t.TempDir()}
	p, err := e.serveTimed(simulator.Config{Dim: 8, Latency: latency, Capacity: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	post := func() {
		resp, err := http.Post(p.ts.URL+embeddingsPath, "application/json", strings.NewReader(`{"model":"m","input":["a"]}`))
		if err != nil {
			t.Error(err)
			return
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("embeddings: %s", resp.Status)
		}
	}
	resp, err := http.Get(p.ts.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()

	counter := countInFlight(p.sim)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(post)
	}
	wg.Wait()
	counts := counter.end()
	got := p.times.take()
	if len(got) != 2 {
		t.Fatalf("timed %d requests, want the 2 embeddings requests", len(got))
	}
	// At capacity 1 the second to start takes twice the latency.
	if slices.Max(got) < 2*latency || slices.Min(got) < latency {
		t.Errorf("service times %v, want at least %s and %s", got, latency, 2*latency)
	}
	if slices.Max(counts) != 2 {
		t.Errorf("in flight counts %v, want a 2 among them", counts)
	}
	if again := p.times.take(); len(again) != 0 {
		t.Errorf("a second take returned %v, want nothing", again)
	}
}
