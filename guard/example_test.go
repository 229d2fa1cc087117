package guard_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/budget"
	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/guard"
	"github.com/llmq/llmq/inflight"
	"github.com/llmq/llmq/internal/redisserver"
)

// A Guard around a provider call: with a budget of one request per
// minute, the second call is deferred with its wait and never made.
func ExampleGuard_Do() {
	rdb, stop, err := exampleRedis()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	g, err := guard.New(rdb, "openai", guard.Config{
		Budget:      budget.Config{Limit: budget.Limit{RequestsPerMinute: 1}},
		Concurrency: inflight.Config{Max: 8}, // the worker's pool size
		MaxWait:     -1,                      // never wait in the handler
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	calls := 0
	call := func(ctx context.Context) (int, error) {
		calls++
		return 12, nil // the tokens the provider counted
	}
	for range 2 {
		err := g.Do(context.Background(), 10, call)
		var de *clients.DeferredError
		switch {
		case errors.As(err, &de):
			fmt.Printf("deferred (%v), not a failure: %v; back in about %.0fs\n",
				de.Reason, errors.Is(err, clients.ErrDeferred), de.Delay.Seconds())
		case err != nil:
			fmt.Println(err)
		default:
			fmt.Println("called")
		}
	}
	fmt.Println("calls made:", calls)
	// Output:
	// called
	// deferred (no budget), not a failure: true; back in about 60s
	// calls made: 1
}

// In a task's run (Patience.Middleware gives every task one), a call that
// fails the provider's way while the breaker is closed is a deferral:
// the task comes back after 1 s without using a retry, and later after
// as long again as it has been deferred.
func ExamplePatience_WithTask() {
	rdb, stop, err := exampleRedis()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	g, err := guard.New(rdb, "openai", guard.Config{
		Concurrency: inflight.Config{Max: 8},
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	p := guard.NewPatience(rdb, 0) // DEFERRAL_PATIENCE's default, 30 min
	ctx := p.WithTask(context.Background(), "task-1")
	err = g.Do(ctx, 10, func(context.Context) (int, error) {
		return -1, &clients.APIError{Provider: "openai", StatusCode: 503, Message: "Service Unavailable"}
	})
	fmt.Println(err)
	fmt.Println("deferred, no retry used:", errors.Is(err, clients.ErrDeferred))
	// Output:
	// openai: provider failed (breaker closed; deferred 0s so far): openai: HTTP 503: Service Unavailable, come back in 1s
	// deferred, no retry used: true
}

// exampleRedis starts a private redis-server for an example and returns
// a client of it, and a function that stops both.
func exampleRedis() (*redis.Client, func(), error) {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		return nil, nil, err
	}
	srv, err := redisserver.Start(context.Background(), redisserver.Config{Dir: dir})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	return rdb, func() { rdb.Close(); srv.Stop(); os.RemoveAll(dir) }, nil
}
