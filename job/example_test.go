package job_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/internal/redisserver"
	"github.com/llmq/llmq/job"
	"github.com/llmq/llmq/tasks"
	"github.com/llmq/llmq/telemetry"
)

// exampleRedis starts a private redis-server for an example and returns a
// client of it; stop ends both.
func exampleRedis() (rdb redis.UniversalClient, stop func()) {
	dir, err := os.MkdirTemp("", "llmq-example-")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := redisserver.Start(context.Background(), redisserver.Config{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	rdb = redis.NewClient(&redis.Options{Addr: srv.Addr()})
	return rdb, func() { rdb.Close(); srv.Stop(); os.RemoveAll(dir) }
}

// A bulk job from a JSONL file: submit it, follow its counters until it has
// finished, and export one result line per input line, in input order.
func ExampleSubmission_Run() {
	rdb, stopRedis := exampleRedis()
	defer stopRedis()
	stopWorker, err := startWorker(rdb, 2, nil) // a worker, as cmd/worker runs it
	if err != nil {
		log.Fatal(err)
	}
	defer stopWorker()

	dir, err := os.MkdirTemp("", "llmq-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	input := filepath.Join(dir, "docs.jsonl")
	lines := `{"id": "doc-1", "text": "queues"}` + "\n" + `{"id": "doc-2", "text": "workers"}` + "\n" + `{"id": "doc-3", "text": "queues"}` + "\n"
	if err := os.WriteFile(input, []byte(lines), 0o600); err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	sum, err := job.NewSubmission(rdb, job.Spec{Path: input, Name: "docs.jsonl"}).Run(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d items, %d unique, in %d task(s)\n", sum.Items, sum.Unique, sum.Batches)

	var st *job.Status
	for st == nil || !st.Finished {
		time.Sleep(20 * time.Millisecond)
		if st, err = job.GetStatus(ctx, rdb, sum.ID); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("finished: %d done, %d failed\n", st.Done, st.Failed)

	var out strings.Builder
	if _, err := job.Export(ctx, rdb, st, job.ExportOptions{Out: &out}); err != nil {
		log.Fatal(err)
	}
	fmt.Print(out.String())
	// Output:
	// 3 items, 2 unique, in 1 task(s)
	// finished: 2 done, 0 failed
	// {"id":"doc-1","embedding":[-0.6232025,-0.7820605],"model":"text-embedding-3-small","usage":{"prompt_tokens":2,"total_tokens":2}}
	// {"id":"doc-2","embedding":[0.56570303,0.82460904],"model":"text-embedding-3-small","usage":{"prompt_tokens":2,"total_tokens":2}}
	// {"id":"doc-3","embedding":[-0.6232025,-0.7820605],"model":"text-embedding-3-small","usage":{"prompt_tokens":0,"total_tokens":0}}
}

// Single tasks, not a job: send them from a few goroutines, then follow
// them to their results in the order they were added.
func ExampleTaskSet() {
	rdb, stopRedis := exampleRedis()
	defer stopRedis()
	stopWorker, err := startWorker(rdb, 2, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer stopWorker()

	ctx := context.Background()
	set := job.NewTaskSet(ctx, rdb, telemetry.NewProducer(telemetry.Providers{}), "", 4)
	for _, text := range []string{"first", "second", "first"} {
		err := set.Add(ctx, tasks.TypeEmbed, []string{text}, func(headers map[string]string) (*asynq.Task, error) {
			return tasks.NewEmbedTaskWithHeaders(tasks.EmbedPayload{Texts: []string{text}}, headers)
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	sum, err := set.Wait()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d enqueued, %d already queued\n", sum.Enqueued, sum.Existing)
	err = set.Follow(ctx, func(t job.Task, info *asynq.TaskInfo) error {
		res, err := tasks.DecodeEmbedResult(info.Result)
		if err != nil {
			return err
		}
		fmt.Printf("%s: %s, %d vector of %d dimensions\n", t.Items[0], info.State, len(res.Vectors), len(res.Vectors[0]))
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// 2 enqueued, 1 already queued
	// first: completed, 1 vector of 2 dimensions
	// second: completed, 1 vector of 2 dimensions
	// first: completed, 1 vector of 2 dimensions
}
