package config

import (
	"fmt"
	"time"

	"github.com/llmq/llmq/clients"
)

// Group configures the worker's merging of single-text embedding tasks
// (tasks.TypeEmbedItem) into one provider request, done by asynq's group
// aggregation. Every worker runs the aggregator for the queues it serves,
// so grouped tasks never wait for a server that does not aggregate.
//
// asynq checks the groups of a queue every GroupGracePeriod (at most every
// 7 s) and then merges at most GroupMaxSize tasks per group; a group is
// merged when it holds GroupMaxSize tasks, when its oldest task has waited
// GroupMaxDelay, or when no task joined it for GroupGracePeriod. asynq
// counts both durations in whole seconds.
type Group struct {
	// MaxSize is the most texts merged into one request, 1 to 2048
	// (OpenAI's limit per request). Default 1024.
	MaxSize int `env:"GROUP_MAX_SIZE" envDefault:"1024" help:"most single-text tasks merged into one provider request (1-2048)"`
	// MaxDelay bounds how long the first task of a group waits to be
	// merged; 0 means no bound beyond the grace period. Whole seconds.
	// Default 2s.
	MaxDelay time.Duration `env:"GROUP_MAX_DELAY" envDefault:"2s" help:"longest wait of a single-text task before its group is merged (0: none; whole seconds)"`
	// GracePeriod merges a group once no task has joined it for this long;
	// it is also how often groups are checked. At least 1s, whole seconds.
	// Default 1s.
	GracePeriod time.Duration `env:"GROUP_GRACE_PERIOD" envDefault:"1s" help:"merge a group once no task joined it for this long (at least 1s; whole seconds)"`
}

// maxGroupSize is OpenAI's limit of inputs per embeddings request.
const maxGroupSize = clients.MaxEmbedInputs

// Validate reports the first unusable field as an *Error.
func (c Group) Validate() error {
	switch {
	case c.MaxSize < 1 || c.MaxSize > maxGroupSize:
		return errorf("GROUP_MAX_SIZE", fmt.Sprintf("must be between 1 and %d (got %d)", maxGroupSize, c.MaxSize))
	case c.MaxDelay < 0 || c.MaxDelay%time.Second != 0:
		return errorf("GROUP_MAX_DELAY", fmt.Sprintf("must be 0 or whole seconds (got %s)", c.MaxDelay))
	case c.GracePeriod < time.Second || c.GracePeriod%time.Second != 0:
		return errorf("GROUP_GRACE_PERIOD", fmt.Sprintf("must be whole seconds, at least 1s (got %s)", c.GracePeriod))
	}
	return nil
}
