package guard

import (
	"context"
	"encoding/json"

	"github.com/llmq/llmq/clients"
)

// Embedder is the method of tasks.Embedder.
type Embedder interface {
	Embed(ctx context.Context, req clients.EmbedRequest) (*clients.Embeddings, error)
}

// Generator is the method of tasks.Generator.
type Generator interface {
	Generate(ctx context.Context, req clients.GenerateRequest) (*clients.Generation, error)
}

// Embedder returns next with every Embed run through Do, at the
// estimated cost of its inputs and corrected by the usage the provider
// reports.
func (g *Guard) Embedder(next Embedder) Embedder { return embedder{g, next} }

// Generator returns next with every Generate run through Do, at the
// estimated cost of its prompt plus its max_tokens (or num_predict, or
// Config.MaxOutputTokens), corrected by the usage the provider reports.
func (g *Guard) Generator(next Generator) Generator { return generator{g, next} }

type embedder struct {
	g    *Guard
	next Embedder
}

func (e embedder) Embed(ctx context.Context, req clients.EmbedRequest) (*clients.Embeddings, error) {
	cost := 0
	for _, s := range req.Input {
		cost += e.g.cfg.Estimate(s)
	}
	var out *clients.Embeddings
	err := e.g.Do(ctx, cost, func(ctx context.Context) (int, error) {
		var err error
		out, err = e.next.Embed(ctx, req)
		if err != nil || out.InputTokens <= 0 {
			return -1, err
		}
		return out.InputTokens, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

type generator struct {
	g    *Guard
	next Generator
}

func (gen generator) Generate(ctx context.Context, req clients.GenerateRequest) (*clients.Generation, error) {
	est := gen.g.cfg.Estimate
	cost := est(req.Prompt) + est(req.System)
	for _, m := range req.Messages {
		cost += est(m.Content)
	}
	cost += maxOutput(req.Options, gen.g.cfg.MaxOutputTokens)
	var out *clients.Generation
	err := gen.g.Do(ctx, cost, func(ctx context.Context) (int, error) {
		var err error
		out, err = gen.next.Generate(ctx, req)
		if err != nil || out.InputTokens+out.OutputTokens <= 0 {
			return -1, err
		}
		return out.InputTokens + out.OutputTokens, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// maxOutput reads max_tokens (OpenAI) or num_predict (Ollama) from opts.
func maxOutput(opts map[string]any, def int) int {
	for _, k := range []string{"max_tokens", "max_completion_tokens", "num_predict"} {
		switch v := opts[k].(type) {
		case int:
			if v > 0 {
				return v
			}
		case int64:
			if v > 0 {
				return int(v)
			}
		case float64:
			if v > 0 {
				return int(v)
			}
		}
	}
	return def
}

// Completer is the methods of tasks.Completer: OpenAI's chat and text
// completions.
type Completer interface {
	Chat(ctx context.Context, req clients.CompletionRequest) (*clients.Completion, error)
	Complete(ctx context.Context, req clients.CompletionRequest) (*clients.Completion, error)
}

// Completer returns next with every Chat and Complete run through Do, at
// the estimated cost of the request body (messages or prompt, as bytes)
// plus its max_tokens or max_completion_tokens (or
// Config.MaxOutputTokens), corrected by the usage the provider reports.
func (g *Guard) Completer(next Completer) Completer { return completer{g, next} }

type completer struct {
	g    *Guard
	next Completer
}

func (c completer) Chat(ctx context.Context, req clients.CompletionRequest) (*clients.Completion, error) {
	return c.do(ctx, req, c.next.Chat)
}

func (c completer) Complete(ctx context.Context, req clients.CompletionRequest) (*clients.Completion, error) {
	return c.do(ctx, req, c.next.Complete)
}

func (c completer) do(ctx context.Context, req clients.CompletionRequest,
	call func(context.Context, clients.CompletionRequest) (*clients.Completion, error)) (*clients.Completion, error) {
	var opts map[string]any
	_ = json.Unmarshal(req.Body, &opts) // an invalid body is the client's to refuse
	cost := c.g.cfg.Estimate(string(req.Body)) + maxOutput(opts, c.g.cfg.MaxOutputTokens)
	var out *clients.Completion
	err := c.g.Do(ctx, cost, func(ctx context.Context) (int, error) {
		var err error
		out, err = call(ctx, req)
		if err != nil || out.InputTokens+out.OutputTokens <= 0 {
			return -1, err
		}
		return out.InputTokens + out.OutputTokens, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
