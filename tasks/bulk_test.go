package tasks_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/simulator"
	"github.com/llmq/llmq/tasks"
)

// jobLog is a JobRecorder that remembers what it was told.
type jobLog struct {
	mu       sync.Mutex
	started  map[string]int
	finished map[string][2]int // items, failed
	released map[string]int
}

func (l *jobLog) key(j tasks.JobRef) string { return fmt.Sprintf("%s/%d", j.ID, j.Batch) }

func (l *jobLog) BatchStarted(_ context.Context, j tasks.JobRef, items int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started == nil {
		l.started = map[string]int{}
	}
	l.started[l.key(j)] += items
	return nil
}

func (l *jobLog) BatchFinished(_ context.Context, j tasks.JobRef, items, failed int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.finished == nil {
		l.finished = map[string][2]int{}
	}
	l.finished[l.key(j)] = [2]int{items, failed}
	return nil
}

func (l *jobLog) BatchReleased(_ context.Context, j tasks.JobRef, items int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released == nil {
		l.released = map[string]int{}
	}
	l.released[l.key(j)] += items
	return nil
}

func (l *jobLog) finishedOf(j tasks.JobRef) ([2]int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.finished[l.key(j)]
	return v, ok
}

func (l *jobLog) releasedOf(j tasks.JobRef) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.released[l.key(j)]
}

// sameVector reports whether got has exactly the bits of want.
func sameVector(got, want []float32) bool {
	return slices.EqualFunc(got, want, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) })
}

// TestPartialFailure sends batches with poisoned texts: the provider
// rejects any request holding one, and the handler isolates them so that
// every other text gets its vector.
func TestPartialFailure(t *testing.T) {
	f := setup(t)
	tests := []struct {
		name     string
		texts    int
		poisoned []int
		job      *tasks.JobRef
		wantJob  [2]int
	}{
		{"one of 16", 16, []int{5}, nil, [2]int{}},
		{"first and last of 9", 9, []int{0, 8}, nil, [2]int{}},
		{"job batch, items of two texts", 8, []int{3}, &tasks.JobRef{ID: "j1", Batch: 4, Counts: []int{2, 2, 2, 2}}, [2]int{4, 1}},
		{"job batch, all poisoned", 3, []int{0, 1, 2}, &tasks.JobRef{ID: "j1", Batch: 5}, [2]int{3, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			texts := make([]string, tt.texts)
			bad := map[int]bool{}
			for i := range texts {
				texts[i] = fmt.Sprintf("%s text %d", tt.name, i)
			}
			for _, i := range tt.poisoned {
				texts[i] += " sim:status=400"
				bad[i] = true
			}
			res := f.embed(t, tasks.EmbedPayload{Texts: texts, Job: tt.job})
			if len(res.Errors) != len(tt.poisoned) {
				t.Fatalf("%d failed texts, want %d: %+v", len(res.Errors), len(tt.poisoned), res.Errors)
			}
			for i, text := range texts {
				e := res.Err(i)
				switch {
				case bad[i] && (e == nil || e.Status != 400 || !strings.Contains(e.Reason, "HTTP 400")):
					t.Errorf("text %d: error %+v, want an HTTP 400", i, e)
				case bad[i] && res.Vectors[i] != nil:
					t.Errorf("text %d failed but has a vector", i)
				case !bad[i] && (e != nil || !sameVector(res.Vectors[i], simulator.Vector(text, testDim))):
					t.Errorf("text %d: error %+v or vector differs from the simulator's", i, e)
				}
			}
			if tt.job != nil {
				if got, ok := f.jobs.finishedOf(*tt.job); !ok || got != tt.wantJob {
					t.Errorf("job batch finished with %v (reported: %v), want %v", got, ok, tt.wantJob)
				}
			}
		})
	}
}

// TestJobBatchFailsForGood checks that a job batch the provider refuses
// for every request is counted as failed when it is archived.
func TestJobBatchFailsForGood(t *testing.T) {
	f := setup(t)
	ref := tasks.JobRef{ID: "j2", Batch: 0}
	task, err := tasks.NewEmbedTask(tasks.EmbedPayload{Texts: []string{"a sim:status=401", "b"}, Job: &ref})
	if err != nil {
		t.Fatal(err)
	}
	info := f.enqueue(t, task)
	f.await(t, info.Queue, info.ID, inState(asynq.TaskStateArchived))
	if got, ok := f.jobs.finishedOf(ref); !ok || got != [2]int{2, 2} {
		t.Errorf("job batch finished with %v (reported: %v), want 2 items, 2 failed", got, ok)
	}
}

// TestMicroBatching enqueues single-text items and checks that the worker
// merged them into fewer provider requests and stored each item's result
// where its producer looks for it.
func TestMicroBatching(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	const n = 48
	before := f.sim.Stats()
	items := make([]tasks.EmbedItemPayload, n)
	for i := range items {
		items[i] = tasks.EmbedItemPayload{Text: fmt.Sprintf("item %d", i)}
		if i == 7 {
			items[i].Text += " sim:status=400"
		}
		task, err := tasks.NewEmbedItemTask(items[i], asynq.Retention(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		f.enqueue(t, task)
	}
	if _, err := f.client.Enqueue(mustItemTask(t, items[0])); err == nil {
		t.Error("enqueueing a queued item again: no ErrTaskIDConflict")
	}
	deadline := time.Now().Add(20 * time.Second)
	// The items' shares of their requests' tokens add up to what the
	// provider counted for the texts it embedded.
	gotTokens, wantTokens := 0, 0
	for i, it := range items {
		id := tasks.ItemID(it)
		var res *tasks.EmbedResult
		for {
			var err error
			res, err = tasks.ReadItemResult(ctx, f.rdb, id)
			if err == nil {
				break
			}
			if err != tasks.ErrNoResult || time.Now().After(deadline) {
				t.Fatalf("item %d: %v", i, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if i == 7 {
			if len(res.Errors) != 1 || res.Errors[0].Status != 400 {
				t.Errorf("poisoned item: result %+v, want one HTTP 400", res.Errors)
			}
			continue
		}
		gotTokens += res.InputTokens
		wantTokens += simulator.Tokens(it.Text)
		if len(res.Vectors) != 1 || !sameVector(res.Vectors[0], simulator.Vector(it.Text, testDim)) {
			t.Errorf("item %d: vector differs from the simulator's", i)
		}
		if ttl := f.rdb.TTL(ctx, tasks.ItemResultKey(id)).Val(); ttl <= 0 || ttl > time.Hour {
			t.Errorf("item %d: result TTL %v, want at most the hour asked for", i, ttl)
		}
	}
	if gotTokens != wantTokens {
		t.Errorf("items' input tokens add up to %d, the provider counted %d", gotTokens, wantTokens)
	}
	after := f.sim.Stats()
	requests := after.Requests - before.Requests
	t.Logf("%d items in %d provider requests (poisoned item isolated by splitting)", n, requests)
	// Without merging, each item is one request; the poisoned one adds a
	// few for the split.
	if requests >= n {
		t.Errorf("%d provider requests for %d items: not merged", requests, n)
	}
}

func mustItemTask(t *testing.T, p tasks.EmbedItemPayload) *asynq.Task {
	t.Helper()
	task, err := tasks.NewEmbedItemTask(p)
	if err != nil {
		t.Fatal(err)
	}
	return task
}
