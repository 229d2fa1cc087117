package main

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/simulator"
	"github.com/llmq/llmq/tasks"
)

func TestServerGroups(t *testing.T) {
	queues := map[string]int{"embeddings": 6, "generation": 3, "other": 1}
	tests := []struct {
		name string
		own  map[string]int
		want []serverGroup
	}{
		{"none of their own", nil, []serverGroup{{Queues: queues, Concurrency: 50}}},
		{"generation of its own", map[string]int{"generation": 256}, []serverGroup{
			{Queues: map[string]int{"embeddings": 6, "other": 1}, Concurrency: 50},
			{Queues: map[string]int{"generation": 1}, Concurrency: 256},
		}},
		{"every queue of its own", map[string]int{"other": 2, "generation": 256, "embeddings": 8}, []serverGroup{
			{Queues: map[string]int{"embeddings": 1}, Concurrency: 8},
			{Queues: map[string]int{"generation": 1}, Concurrency: 256},
			{Queues: map[string]int{"other": 1}, Concurrency: 2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := serverGroups(queues, tt.own, 50)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("serverGroups() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestQueueConcurrency runs a worker with WORKER_CONCURRENCY=2 and
// WORKER_QUEUE_CONCURRENCY=generation=12 on slow tasks of both queues and
// watches the queues: 12 generation tasks run at once while embeddings
// keep their 2, never more of either.
func TestQueueConcurrency(t *testing.T) {
	s := startStack(t, simulator.Config{Dim: 8})
	s.startWorker(t, "WORKER_CONCURRENCY=2", "WORKER_QUEUE_CONCURRENCY=generation=12", "WORKER_POLL_INTERVAL=20ms")
	client := asynq.NewClient(s.redis.ConnOpt())
	defer client.Close()
	insp := asynq.NewInspector(s.redis.ConnOpt())
	defer insp.Close()
	for i := range 12 {
		task, err := tasks.NewGenerateTask(tasks.GeneratePayload{Provider: "openai", Prompt: fmt.Sprintf("slow %d sim:sleep=3s", i)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Enqueue(task); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 6 {
		task, err := tasks.NewEmbedTask(tasks.EmbedPayload{Texts: []string{fmt.Sprintf("slow %d sim:sleep=3s", i)}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Enqueue(task); err != nil {
			t.Fatal(err)
		}
	}
	active := func(q string) int {
		info, err := insp.GetQueueInfo(q)
		if err != nil {
			t.Fatal(err)
		}
		return info.Active
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		gen, emb := active(tasks.QueueGeneration), active(tasks.QueueEmbeddings)
		if gen > 12 || emb > 2 {
			t.Fatalf("%d generation and %d embedding tasks active, want at most 12 and 2", gen, emb)
		}
		if gen == 12 && emb == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %d generation and %d embedding tasks active, want 12 and 2", gen, emb)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
