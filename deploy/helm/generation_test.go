package helm

import (
	"maps"
	"strings"
	"testing"

	"github.com/llmq/llmq/config"
)

// TestRenderGeneration checks the generation settings of the worker and
// worker.queueConcurrency: by default the worker gets the generation
// provider, chat model and timeout and one task server; with
// {generation: 256} it runs generation at 256 beside 50 for the rest, in
// the worker's own reading of its environment; a queue not served, or a
// concurrency of 0, is refused.
func TestRenderGeneration(t *testing.T) {
	tests := []struct {
		name string
		set  []string
		want map[string]int // the worker's QueueConcurrencies
	}{
		{"default", nil, nil},
		{"generation at 256", []string{"worker.queueConcurrency.generation=256"}, map[string]int{"generation": 256}},
		{"two queues", []string{"worker.queueConcurrency.generation=256", "worker.queueConcurrency.embeddings=20"}, map[string]int{"generation": 256, "embeddings": 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args []string
			for _, s := range tt.set {
				args = append(args, "--set", s)
			}
			m := render(t, args...)
			c := container(t, m.deployments["worker"])
			env := checkEnvKnown(t, c, config.WorkerEnv{}, workerEnvBeyondHelp...)
			cfg, err := config.LoadFrom[config.WorkerEnv](env)
			if err != nil {
				t.Fatalf("the worker refuses the chart's environment: %v", err)
			}
			if cfg.Generation.Provider != "openai" || cfg.OpenAI.ChatModel != "gpt-4o-mini" || cfg.OpenAI.GenerationTimeout.String() != "10m0s" || cfg.Worker.Concurrency != 50 {
				t.Errorf("generation settings %+v, chat model %q, timeout %s, concurrency %d", cfg.Generation, cfg.OpenAI.ChatModel, cfg.OpenAI.GenerationTimeout, cfg.Worker.Concurrency)
			}
			own, err := cfg.Worker.QueueConcurrencies()
			if err != nil || !maps.Equal(own, tt.want) {
				t.Errorf("QueueConcurrencies() = %v, %v; want %v", own, err, tt.want)
			}
		})
	}

	refused := []struct {
		name string
		set  []string
		want string
	}{
		{"queue not served", []string{"worker.queueConcurrency.batch=8"}, `queue "batch" is not in worker.queues`},
		{"zero", []string{"worker.queueConcurrency.generation=0"}, "generation"},
		{"provider", []string{"worker.generation.provider=vllm"}, "provider"},
	}
	for _, tt := range refused {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			var args []string
			for _, s := range tt.set {
				args = append(args, "--set", s)
			}
			out, err := helm(t, append([]string{"template", release, chartDir}, args...)...)
			if err == nil {
				t.Fatalf("rendered:\n%.300s", out)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to mention %q", err, tt.want)
			}
		})
	}
}
