package config

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Worker configures the task-processing server.
type Worker struct {
	// Concurrency is how many tasks run at once, across all queues; at
	// least 1. Default 50.
	Concurrency int `env:"WORKER_CONCURRENCY" envDefault:"50" help:"tasks processed at once, across all queues"`
	// Queues lists the queues served and their priority weights, in
	// ParseQueues syntax: a queue of weight 6 is picked six times as often
	// as one of weight 1. Default "embeddings=6,generation=3".
	Queues string `env:"WORKER_QUEUES" envDefault:"embeddings=6,generation=3" help:"queues served, with priority weights: name=weight,... (bare name: weight 1)"`
	// QueueConcurrency gives queues a concurrency of their own, in
	// ParseQueueConcurrency syntax ("generation=256"): each queue listed
	// is served by a task server of its own that runs that many of its
	// tasks at once, beside Concurrency for the other queues of Queues,
	// so that slow generation cannot take the slots of embeddings, nor
	// the reverse. Every queue listed must be in Queues. Default: none
	// (one server for every queue).
	QueueConcurrency string `env:"WORKER_QUEUE_CONCURRENCY" envDefault:"" help:"queues with a concurrency of their own, beside WORKER_CONCURRENCY for the rest: name=n,..."`
	// ShutdownTimeout is how long active tasks may run on after SIGTERM
	// before they are put back on their queue. It must stay below the time
	// the process supervisor waits before SIGKILL. Default 25s.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"25s" help:"time active tasks get to finish after SIGTERM before they are requeued"`
	// PollInterval is how long an idle worker waits before it looks for new
	// tasks again once every queue was empty. Lower values pick up new work
	// sooner at the cost of more Redis calls (one per interval per worker).
	// Default 200ms.
	PollInterval time.Duration `env:"WORKER_POLL_INTERVAL" envDefault:"200ms" help:"how often an idle worker checks empty queues for new tasks"`
	// HTTPAddr is the listen address (host:port) of the health endpoints
	// and /metrics.
	// Empty disables them; unlike other variables, HTTP_ADDR set to the
	// empty string means empty, not the default. Default ":8080".
	HTTPAddr string `env:"HTTP_ADDR" envDefault:":8080" keepEmpty:"true" help:"listen address of /healthz, /readyz, /stats and /metrics (set empty to disable)"`
	// VectorBudgetMB bounds the vectors that embedding tasks receive at
	// once, in MiB of float32 (see tasks.WithVectorBudget); peak memory
	// follows it rather than the concurrency. 0 means no bound. Default 8.
	VectorBudgetMB int `env:"WORKER_VECTOR_BUDGET_MB" envDefault:"8" help:"MiB of vectors embedding tasks may receive at once (4 bytes per dimension and text; 0: no bound); tasks wait for their share"`
}

// QueueWeights parses Queues (see ParseQueues); a bad value comes back as an
// *Error naming WORKER_QUEUES.
func (c Worker) QueueWeights() (map[string]int, error) {
	q, err := ParseQueues(c.Queues)
	if err != nil {
		return nil, errorf("WORKER_QUEUES", err.Error())
	}
	return q, nil
}

// QueueConcurrencies parses QueueConcurrency (see
// ParseQueueConcurrency) and checks that every queue it names is served;
// a bad value comes back as an *Error naming WORKER_QUEUE_CONCURRENCY.
func (c Worker) QueueConcurrencies() (map[string]int, error) {
	if strings.TrimSpace(c.QueueConcurrency) == "" {
		return nil, nil
	}
	own, err := ParseQueueConcurrency(c.QueueConcurrency)
	if err != nil {
		return nil, errorf("WORKER_QUEUE_CONCURRENCY", err.Error())
	}
	queues, err := c.QueueWeights()
	if err != nil {
		return nil, err
	}
	for name := range own {
		if _, ok := queues[name]; !ok {
			return nil, errorf("WORKER_QUEUE_CONCURRENCY", fmt.Sprintf("queue %q is not in WORKER_QUEUES (%s)", name, c.Queues))
		}
	}
	return own, nil
}

// ParseQueueConcurrency parses a list such as "generation=256,other=8"
// into queue names and concurrencies: comma-separated name=n entries,
// n a positive integer, no queue twice.
func ParseQueueConcurrency(s string) (map[string]int, error) {
	out := make(map[string]int)
	for i, entry := range strings.Split(s, ",") {
		name, n, ok := strings.Cut(entry, "=")
		name, n = strings.TrimSpace(name), strings.TrimSpace(n)
		switch {
		case !ok || name == "":
			return nil, fmt.Errorf("entry %d (%q): want name=concurrency", i+1, strings.TrimSpace(entry))
		case !queueNameRE.MatchString(name):
			return nil, fmt.Errorf("queue name %q: only letters, digits and _ . : - are allowed", name)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("queue %q listed twice", name)
		}
		v, err := strconv.Atoi(n)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("queue %q: concurrency must be a positive integer (got %q)", name, n)
		}
		out[name] = v
	}
	return out, nil
}

// Validate reports the first unusable field as an *Error.
func (c Worker) Validate() error {
	if c.Concurrency < 1 {
		return errorf("WORKER_CONCURRENCY", fmt.Sprintf("must be at least 1 (got %d)", c.Concurrency))
	}
	if _, err := c.QueueWeights(); err != nil {
		return err
	}
	if _, err := c.QueueConcurrencies(); err != nil {
		return err
	}
	if c.VectorBudgetMB < 0 {
		return errorf("WORKER_VECTOR_BUDGET_MB", fmt.Sprintf("must not be negative (got %d)", c.VectorBudgetMB))
	}
	if err := checkPositive("SHUTDOWN_TIMEOUT", c.ShutdownTimeout); err != nil {
		return err
	}
	if err := checkPositive("WORKER_POLL_INTERVAL", c.PollInterval); err != nil {
		return err
	}
	if c.HTTPAddr != "" {
		if err := checkListenAddr(c.HTTPAddr); err != nil {
			return errorf("HTTP_ADDR", err.Error())
		}
	}
	return nil
}

func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("must be host:port or :port (got %q)", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("port must be a number from 0 to 65535 (got %q)", port)
	}
	return nil
}

var queueNameRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// ParseQueues parses a queue list such as "embeddings=6,generation=3" into
// queue names and priority weights. Entries are separated by commas; each is
// name=weight, with weight a positive integer, or a bare name, weight 1.
// Names are made of letters, digits and _ . : - ; spaces around names,
// weights and commas are ignored. The list must name at least one queue and
// no queue twice.
func ParseQueues(s string) (map[string]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("no queue listed: want name=weight[,name=weight...]")
	}
	weights := make(map[string]int)
	for i, entry := range strings.Split(s, ",") {
		name, weight, hasWeight := strings.Cut(entry, "=")
		name, weight = strings.TrimSpace(name), strings.TrimSpace(weight)
		switch {
		case name == "":
			return nil, fmt.Errorf("entry %d (%q): empty queue name", i+1, strings.TrimSpace(entry))
		case !queueNameRE.MatchString(name):
			return nil, fmt.Errorf("queue name %q: only letters, digits and _ . : - are allowed", name)
		}
		if _, dup := weights[name]; dup {
			return nil, fmt.Errorf("queue %q listed twice", name)
		}
		w := 1
		if hasWeight {
			n, err := strconv.Atoi(weight)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("queue %q: weight must be a positive integer (got %q)", name, weight)
			}
			w = n
		}
		weights[name] = w
	}
	return weights, nil
}
