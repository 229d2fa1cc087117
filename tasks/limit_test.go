package tasks_test

import (
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/tasks"
)

// TestRawTaskTextLimit sends tasks with texts beyond enqueue's limits
// straight to a worker: a 10 MiB text (over MaxTextBytes for any model)
// and a text of over 8192 real tokens are not sent to the provider. A
// task whose only text is refused is archived with the reason; in a task
// with other texts, the refused one fails alone and the others get their
// vectors.
func TestRawTaskTextLimit(t *testing.T) {
	f := setup(t)
	huge := strings.Repeat("a", 10<<20)
	over := strings.Repeat("b", tasks.MaxTextBytes+1)
	long := strings.TrimSpace(strings.Repeat("word ", 9000)) // 9000 cl100k tokens
	for _, tc := range []struct {
		name, provider, text, want string
	}{
		{"10 MiB, openai", tasks.ProviderOpenAI, huge, "text too long: text of 10485760 bytes, at most 1048576 (not sent)"},
		{"1 MiB and a byte, ollama", tasks.ProviderOllama, over, "text too long: text of 1048577 bytes, at most 1048576 (not sent)"},
		{"9000 tokens, openai", tasks.ProviderOpenAI, long, "text too long: 9000 tokens, at most 8192 (not sent)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.sim.Stats().Inputs
			task, err := tasks.NewEmbedTask(tasks.EmbedPayload{Provider: tc.provider, Texts: []string{tc.text}})
			if err != nil {
				t.Fatal(err)
			}
			info := f.enqueue(t, task)
			info = f.await(t, info.Queue, info.ID, inState(asynq.TaskStateArchived))
			if !strings.Contains(info.LastErr, tc.want) {
				t.Errorf("last error %q, want it to say %q", info.LastErr, tc.want)
			}
			if got := f.sim.Stats().Inputs - before; got != 0 {
				t.Errorf("the provider got %d texts, want none", got)
			}
		})
	}
	t.Run("among others", func(t *testing.T) {
		before := f.sim.Stats().Inputs
		res := f.embed(t, tasks.EmbedPayload{Texts: []string{"before", over, "after"}})
		if e := res.Err(1); e == nil || !strings.Contains(e.Reason, "not sent") || res.Vectors[0] == nil || res.Vectors[2] == nil {
			t.Errorf("result errors %+v; want text 1 refused, 0 and 2 embedded", res.Errors)
		}
		if got := f.sim.Stats().Inputs - before; got != 2 {
			t.Errorf("the provider got %d texts, want 2", got)
		}
	})
}
