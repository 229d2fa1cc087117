package openai_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/openai"
	"github.com/llmq/llmq/simulator"
)

func ExampleClient_Embed() {
	// A stand-in for the API; a real worker points BaseURL at its provider.
	sim := simulator.New(simulator.Config{APIKey: "sk-example"})
	ts := simulator.Start(sim, false)
	defer ts.Close()

	// One pooled client per provider per process, shared by every call.
	hc, _, err := clients.NewHTTPClient(clients.Config{MaxIdleConns: 8})
	if err != nil {
		log.Fatal(err)
	}
	defer hc.CloseIdleConnections()
	c, err := openai.New(hc, openai.Config{BaseURL: ts.URL + "/v1", APIKey: "sk-example"})
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	res, err := c.Embed(ctx, clients.EmbedRequest{Input: []string{"hello", "world"}, Dimensions: 4})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Model, len(res.Vectors), "vectors,", res.InputTokens, "tokens")
	fmt.Printf("%.4f\n", res.Vectors[0])

	// A provider's refusal is a *clients.APIError that says whether trying
	// again can help.
	_, err = c.Embed(ctx, clients.EmbedRequest{Input: []string{"sim:status=429 sim:retry_after=2s"}})
	if ae, ok := errors.AsType[*clients.APIError](err); ok {
		fmt.Println(ae.StatusCode, ae.Permanent(), ae.RetryAfter)
	}
	// Output:
	// text-embedding-3-small 2 vectors, 4 tokens
	// [-0.6948 0.0028 -0.6967 -0.1786]
	// 429 false 2s
}
