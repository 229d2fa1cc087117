package main

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/hibiken/asynq"
)

// serverGroup is the queues one asynq server drains and how many of their
// tasks it runs at once.
type serverGroup struct {
	Queues      map[string]int `json:"queues"`
	Concurrency int            `json:"concurrency"`
}

// serverGroups splits the served queues (name → weight) into the groups of
// WORKER_QUEUE_CONCURRENCY: one group per queue given a concurrency of its
// own, and one for the other queues, sharing concurrency, unless none is
// left. Groups come in a stable order: the shared one first, then by name.
func serverGroups(queues, own map[string]int, concurrency int) []serverGroup {
	shared := serverGroup{Queues: map[string]int{}, Concurrency: concurrency}
	for name, w := range queues {
		if _, ok := own[name]; !ok {
			shared.Queues[name] = w
		}
	}
	var groups []serverGroup
	if len(shared.Queues) > 0 {
		groups = append(groups, shared)
	}
	for _, name := range slices.Sorted(maps.Keys(own)) {
		groups = append(groups, serverGroup{Queues: map[string]int{name: 1}, Concurrency: own[name]})
	}
	return groups
}

// totalConcurrency is the most tasks the groups run at once.
func totalConcurrency(groups []serverGroup) int {
	n := 0
	for _, g := range groups {
		n += g.Concurrency
	}
	return n
}

// taskServers are a worker's asynq servers, one per serverGroup, all
// running the same handler.
type taskServers []*asynq.Server

// newTaskServers makes one server per group from base, the configuration
// they share.
func newTaskServers(newServer func(asynq.Config) *asynq.Server, base asynq.Config, groups []serverGroup) taskServers {
	out := make(taskServers, 0, len(groups))
	for _, g := range groups {
		cfg := base
		cfg.Queues, cfg.Concurrency = g.Queues, g.Concurrency
		out = append(out, newServer(cfg))
	}
	return out
}

// start starts every server; if one fails, those started are shut down.
func (s taskServers) start(h asynq.Handler) error {
	for i, srv := range s {
		if err := srv.Start(h); err != nil {
			s[:i].shutdown()
			return fmt.Errorf("start task server %d of %d: %w", i+1, len(s), err)
		}
	}
	return nil
}

// shutdown stops every server at once, so that their running tasks share
// one SHUTDOWN_TIMEOUT, and returns when all have stopped.
func (s taskServers) shutdown() {
	var wg sync.WaitGroup
	for _, srv := range s {
		wg.Go(srv.Shutdown)
	}
	wg.Wait()
}
