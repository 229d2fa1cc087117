package tasks_test

import (
	"fmt"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/simulator"
	"github.com/llmq/llmq/tasks"
)

// TestPooledVectorsStayApart runs tasks of several sizes at once, some
// split around a rejected text, so that the worker's pooled vector and
// result buffers go from task to task: every stored vector must still be
// its own text's.
func TestPooledVectorsStayApart(t *testing.T) {
	f := setup(t)
	type want struct {
		texts []string
		bad   int // index of the rejected text, or -1
	}
	queued := map[string]want{}
	for i := range 24 {
		texts := make([]string, 1+i*5%37)
		for j := range texts {
			texts[j] = fmt.Sprintf("pooled task %d text %d", i, j)
		}
		bad := -1
		if i%4 == 3 && len(texts) > 2 {
			bad = len(texts) / 2
			texts[bad] += " sim:status=400"
		}
		task, err := tasks.NewEmbedTask(tasks.EmbedPayload{Texts: texts, Job: &tasks.JobRef{ID: "pool", Batch: i}})
		if err != nil {
			t.Fatal(err)
		}
		queued[f.enqueue(t, task).ID] = want{texts, bad}
	}
	for id, w := range queued {
		info := f.await(t, tasks.QueueEmbeddings, id, inState(asynq.TaskStateCompleted))
		res, err := tasks.DecodeEmbedResult(info.Result)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Vectors) != len(w.texts) {
			t.Fatalf("task %s: %d vectors for %d texts", id, len(res.Vectors), len(w.texts))
		}
		for j, text := range w.texts {
			if j == w.bad {
				if res.Vectors[j] != nil || res.Err(j) == nil {
					t.Errorf("task %s: rejected text %d has a vector or no reason", id, j)
				}
				continue
			}
			if !sameVector(res.Vectors[j], simulator.Vector(text, testDim)) {
				t.Errorf("task %s: vector %d is not its text's", id, j)
			}
		}
	}
}
