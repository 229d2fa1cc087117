package ollama_test

import (
	"context"
	"fmt"
	"log"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/ollama"
	"github.com/llmq/llmq/simulator"
)

func ExampleClient_Generate() {
	// A stand-in for Ollama; a real worker leaves Host at its default or
	// points it at its server.
	ts := simulator.Start(simulator.New(simulator.Config{}), false)
	defer ts.Close()

	// One pooled client per provider per process, shared by every call.
	hc, _, err := clients.NewHTTPClient(clients.Config{MaxIdleConns: 8})
	if err != nil {
		log.Fatal(err)
	}
	defer hc.CloseIdleConnections()
	c, err := ollama.New(hc, ollama.Config{Host: ts.URL})
	if err != nil {
		log.Fatal(err)
	}

	// Streamed or not, the answer is assembled into one Generation.
	for _, stream := range []bool{false, true} {
		g, err := c.Generate(context.Background(), clients.GenerateRequest{
			Prompt:  "Why do queues retry?",
			Options: map[string]any{"num_predict": 6},
			Stream:  stream,
		})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s %q %s in=%d out=%d\n", g.Model, g.Text, g.DoneReason, g.InputTokens, g.OutputTokens)
	}
	// Output:
	// llama3.2 "queue of output of less job " length in=5 out=6
	// llama3.2 "queue of output of less job " length in=5 out=6
}
