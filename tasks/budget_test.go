package tasks_test

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/openai"
	"github.com/llmq/llmq/internal/redistest"
	"github.com/llmq/llmq/simulator"
	"github.com/llmq/llmq/tasks"
)

// TestVectorBudget runs six slow one-text tasks on a server of
// concurrency 6 with a budget for the vectors of two: the simulator never
// serves more than two requests at once, serves two at some point, and
// every task completes.
func TestVectorBudget(t *testing.T) {
	server := redistest.Start(t)
	sim := simulator.New(simulator.Config{Dim: testDim})
	ts := simulator.Start(sim, false)
	t.Cleanup(ts.Close)
	hc, _, err := clients.NewHTTPClient(clients.Config{MaxIdleConns: 8, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	oa, err := openai.New(hc, openai.Config{BaseURL: ts.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	h := tasks.NewEmbedHandler(map[string]tasks.Embedder{tasks.ProviderOpenAI: oa}, slog.New(slog.NewTextHandler(io.Discard, nil)),
		tasks.WithVectorBudget(2*testDim*4))
	srv := asynq.NewServer(server.ConnOpt(), asynq.Config{Concurrency: 6, LogLevel: asynq.FatalLevel,
		Queues: map[string]int{tasks.QueueEmbeddings: 1}})
	if err := srv.Start(tasks.NewMux(map[string]asynq.Handler{tasks.TypeEmbed: h})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	client := asynq.NewClient(server.ConnOpt())
	t.Cleanup(func() { client.Close() })
	insp := asynq.NewInspector(server.ConnOpt())
	t.Cleanup(func() { insp.Close() })

	for i := range 6 {
		task, err := tasks.NewEmbedTask(tasks.EmbedPayload{Texts: []string{fmt.Sprintf("text %d sim:sleep=300ms", i)}, Dimensions: testDim})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Enqueue(task); err != nil {
			t.Fatal(err)
		}
	}
	most := 0
	deadline := time.Now().Add(15 * time.Second)
	for {
		most = max(most, sim.InFlight())
		q, err := insp.GetQueueInfo(tasks.QueueEmbeddings)
		if err != nil {
			t.Fatal(err)
		}
		if q.Completed == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks not completed: %+v", q)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if most != 2 {
		t.Errorf("at most %d requests at once, want 2 (the budget's)", most)
	}
}
