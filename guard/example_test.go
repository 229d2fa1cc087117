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
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	srv, err := redisserver.Start(context.Background(), redisserver.Config{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Stop()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()

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
