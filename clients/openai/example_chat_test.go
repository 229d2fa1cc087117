package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/openai"
	"github.com/llmq/llmq/simulator"
)

func ExampleClient_Chat() {
	// A stand-in for the API; a real worker points BaseURL at its provider.
	ts := simulator.Start(simulator.New(simulator.Config{}), false)
	defer ts.Close()
	hc, _, err := clients.NewHTTPClient(clients.Config{MaxIdleConns: 8})
	if err != nil {
		log.Fatal(err)
	}
	defer hc.CloseIdleConnections()
	c, err := openai.New(hc, openai.Config{BaseURL: ts.URL + "/v1", ChatModel: "gpt-4o-mini"})
	if err != nil {
		log.Fatal(err)
	}

	// The body goes out as it is; only the missing model is filled in.
	body := json.RawMessage(`{"messages":[{"role":"user","content":"Hello"}],"max_tokens":4,"temperature":0}`)
	ctx := context.Background()
	for _, stream := range []bool{false, true} {
		res, err := c.Chat(ctx, clients.CompletionRequest{Body: body, Stream: stream})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s %q %s %d+%d tokens, streamed %v\n", res.Model, res.Text, res.FinishReason, res.InputTokens, res.OutputTokens, res.Streamed)
	}

	// A stream cut before its end is an error, never a short answer.
	_, err = c.Chat(ctx, clients.CompletionRequest{Body: json.RawMessage(`{"messages":[{"role":"user","content":"sim:stream_cut=2"}]}`), Stream: true})
	fmt.Println(errors.Is(err, clients.ErrIncompleteStream))
	// Output:
	// gpt-4o-mini "to sends slow retry " length 2+4 tokens, streamed false
	// gpt-4o-mini "to sends slow retry " length 2+4 tokens, streamed true
	// true
}
