package simulator_test

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/llmq/llmq/simulator"
)

// A test serves a simulator on a free port and points the client under test
// at srv.URL+"/v1" (OpenAI) or srv.URL (Ollama).
func ExampleStart() {
	sim := simulator.New(simulator.Config{Dim: 4})
	srv := simulator.Start(sim, false)
	defer srv.Close()

	resp, err := srv.Client().Post(srv.URL+"/v1/embeddings", "application/json",
		strings.NewReader(`{"model":"text-embedding-3-small","input":["hello","world"]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	st := sim.Stats()
	fmt.Println(resp.StatusCode, st.Requests, st.Inputs, st.Connections)
	// Output: 200 1 2 1
}

// Directives in the input steer one request, here into a rate limit.
func ExampleSimulator_directives() {
	srv := simulator.Start(simulator.New(simulator.Config{}), false)
	defer srv.Close()

	resp, err := srv.Client().Post(srv.URL+"/v1/embeddings", "application/json",
		strings.NewReader(`{"input":"hello sim:status=429 sim:retry_after=2s"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Retry-After"))
	// Output: 429 2
}

// Vector is what the server answers, so a test can predict it.
func ExampleVector() {
	v := simulator.Vector("hello", 4)
	fmt.Printf("%.4f\n", v)
	fmt.Println(len(simulator.Vector("hello", simulator.DefaultDim)))
	// Output:
	// [-0.6948 0.0028 -0.6967 -0.1786]
	// 1536
}

// Completion is what /api/generate and /api/chat stream, one token a line.
func ExampleCompletion() {
	tokens := simulator.Completion("Why is the sky blue?", 3)
	fmt.Printf("%q\n", tokens)
	// Output: ["value " "runs " "some "]
}

// Answer is what /v1/chat/completions and /v1/completions answer, so a
// test can compare every answer exactly.
func ExampleAnswer() {
	srv := simulator.Start(simulator.New(simulator.Config{}), false)
	defer srv.Close()

	resp, err := srv.Client().Post(srv.URL+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"gpt-4o-mini","max_tokens":4,"messages":[{"role":"user","content":"Hello"}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var answer struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		fmt.Println(err)
		return
	}
	got := answer.Choices[0].Message.Content
	fmt.Printf("%q %s\n", got, answer.Choices[0].FinishReason)
	fmt.Println(got == simulator.Answer("gpt-4o-mini", simulator.ChatPrompt("Hello"), 0, 4))
	// Output:
	// "to sends slow retry " length
	// true
}
