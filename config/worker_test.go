package config

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestParseQueues(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]int
	}{
		{"default", "embeddings=6,generation=3", map[string]int{"embeddings": 6, "generation": 3}},
		{"one bare name", "default", map[string]int{"default": 1}},
		{"bare and weighted", "critical=10,default,low=1", map[string]int{"critical": 10, "default": 1, "low": 1}},
		{"spaces", " a = 2 , b ", map[string]int{"a": 2, "b": 1}},
		{"allowed characters", "tenant-1:emb.v2_x=4", map[string]int{"tenant-1:emb.v2_x": 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseQueues(tt.in)
			if err != nil {
				t.Fatalf("ParseQueues(%q): %v", tt.in, err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("ParseQueues(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseQueuesErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "no queue listed"},
		{"blank", "  ", "no queue listed"},
		{"trailing comma", "a=1,", "entry 2"},
		{"empty entry", "a,,b", "empty queue name"},
		{"missing name", "=3", "empty queue name"},
		{"zero weight", "a=0", `queue "a": weight must be a positive integer (got "0")`},
		{"negative weight", "a=-2", "weight must be a positive integer"},
		{"empty weight", "a=", "weight must be a positive integer"},
		{"weight not a number", "a=x", `(got "x")`},
		{"bad name", "emb/eddings=1", `queue name "emb/eddings"`},
		{"name with space", "my queue", "only letters"},
		{"duplicate", "a=1,b,a=2", `queue "a" listed twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseQueues(tt.in)
			if err == nil {
				t.Fatalf("ParseQueues(%q): no error", tt.in)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseQueues(%q) error %q, want it to contain %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestWorkerQueueWeights(t *testing.T) {
	w := Worker{Queues: "embeddings=6,generation=3"}
	got, err := w.QueueWeights()
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"embeddings": 6, "generation": 3}; !maps.Equal(got, want) {
		t.Errorf("QueueWeights() = %v, want %v", got, want)
	}

	_, err = Worker{Queues: "a=0"}.QueueWeights()
	var cerr *Error
	if !errors.As(err, &cerr) || cerr.Var != "WORKER_QUEUES" {
		t.Errorf("QueueWeights() error = %v, want *Error for WORKER_QUEUES", err)
	}
}

func TestWorkerQueueConcurrencies(t *testing.T) {
	w := Worker{Queues: "embeddings=6,generation=3", QueueConcurrency: " generation = 256 "}
	got, err := w.QueueConcurrencies()
	if err != nil || len(got) != 1 || got["generation"] != 256 {
		t.Fatalf("QueueConcurrencies() = %v, %v; want map[generation:256]", got, err)
	}
	w.QueueConcurrency = ""
	if got, err := w.QueueConcurrencies(); err != nil || got != nil {
		t.Fatalf("QueueConcurrencies() of none = %v, %v; want nil, nil", got, err)
	}
}
