package tasks_test

import (
	"errors"
	"fmt"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/tasks"
)

// A producer builds a task from its payload; asynq.Client.Enqueue sends
// it. The task's ID comes from its payload, so the same payload makes the
// same task, which asynq refuses to queue twice.
func ExampleNewEmbedTask() {
	p := tasks.EmbedPayload{Texts: []string{"hello", "world"}, IDs: []string{"a", "b"}}
	t, err := tasks.NewEmbedTask(p)
	if err != nil {
		fmt.Println(err)
		return
	}
	again, _ := tasks.NewEmbedTask(p)
	fmt.Println(t.Type(), tasks.QueueFor(t.Type()), tasks.ID(t) == tasks.ID(again))

	// A payload no worker could run is refused before it is sent.
	_, err = tasks.NewEmbedTask(tasks.EmbedPayload{Texts: []string{"hello", ""}})
	fmt.Println(errors.Is(err, tasks.ErrInvalidPayload), err)
	// Output:
	// embedding:create embeddings true
	// true invalid payload: text 1 is empty
}

// A reader decodes the result the worker stored in the task: one vector
// per text, or the reason a text failed.
func ExampleDecodeEmbedResult() {
	// What the worker stores (its handler does this itself).
	b, err := tasks.EncodeEmbedResult(&clients.Embeddings{
		Model: "text-embedding-3-small", Vectors: [][]float32{{0.6, 0.8}, {1, 0}}, InputTokens: 3,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := tasks.DecodeEmbedResult(b) // asynq.TaskInfo.Result
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, v := range res.Vectors {
		fmt.Println(i, v, res.Err(i) == nil)
	}
	fmt.Println(res.Model, res.InputTokens, "tokens,", len(b), "bytes")
	// Output:
	// 0 [0.6 0.8] true
	// 1 [1 0] true
	// text-embedding-3-small 3 tokens, 56 bytes
}

// A merged task's tokens are shared among its texts by length, so that
// the shares add up to what the provider counted.
func ExampleShareTokens() {
	fmt.Println(tasks.ShareTokens(10, []int{5, 0, 3, 3}))
	// Output:
	// [4 0 3 3]
}
