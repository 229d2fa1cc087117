package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/llmq/llmq/job"
)

// exitInterrupted is the exit status after SIGINT or SIGTERM, as a shell
// reports a command killed by SIGINT.
const exitInterrupted = 130

// interruptedError is a wait cut short by a signal: the job keeps running.
type interruptedError struct{ id string }

func (e *interruptedError) Error() string {
	return fmt.Sprintf("interrupted; job %s keeps running: follow it with\n  enqueue status %s --wait", e.id, e.id)
}

func (e *interruptedError) Unwrap() error { return context.Canceled }

// statusJSON is the JSON of one job in "status --json" and "jobs --json":
// the job's Status (its manifest, counters and totals, snake_case keys),
// its state and its age.
type statusJSON struct {
	*job.Status
	State job.State `json:"state"`
	AgeS  float64   `json:"age_s"`
}

func newStatusJSON(st *job.Status, now time.Time) statusJSON {
	return statusJSON{Status: st, State: st.State(), AgeS: st.Age(now).Seconds()}
}

// jobsCommand is "enqueue jobs".
type jobsCommand struct {
	asJSON bool
	limit  int
	states string
}

func (c *jobsCommand) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.asJSON, "json", false, "print the jobs as a JSON array, the newest first")
	fs.IntVar(&c.limit, "limit", 20, "most jobs listed, the newest first (0: all)")
	fs.StringVar(&c.states, "state", "", "list only jobs in these states, comma-separated: submitting, queued, running, cancelling, done, failed, cancelled")
}

func (c *jobsCommand) check() error {
	if c.limit < 0 {
		return errors.New("--limit must not be negative")
	}
	_, err := c.stateList()
	return err
}

func (c *jobsCommand) stateList() ([]job.State, error) {
	if c.states == "" {
		return nil, nil
	}
	var out []job.State
	for _, s := range strings.Split(c.states, ",") {
		st := job.State(strings.TrimSpace(s))
		switch st {
		case job.StateSubmitting, job.StateQueued, job.StateRunning, job.StateCancelling,
			job.StateDone, job.StateFailed, job.StateCancelled:
			out = append(out, st)
		default:
			return nil, fmt.Errorf("--state %q: unknown state", s)
		}
	}
	return out, nil
}

func (c *jobsCommand) run(ctx context.Context, env *environment) error {
	rdb, err := connect(ctx, env)
	if err != nil {
		return err
	}
	defer rdb.Close()
	states, _ := c.stateList()
	list, err := job.List(ctx, rdb, job.ListOptions{States: states, Limit: c.limit})
	if err != nil {
		return err
	}
	now := time.Now()
	if c.asJSON {
		out := make([]statusJSON, len(list))
		for i, st := range list {
			out[i] = newStatusJSON(st, now)
		}
		return json.NewEncoder(env.stdout).Encode(out)
	}
	if len(list) == 0 {
		fmt.Fprintln(env.stderr, "no jobs")
		return nil
	}
	printJobs(env.stdout, list, now)
	return nil
}

// printJobs writes one line per job: its ID, state, counts and age.
func printJobs(w io.Writer, list []*job.Status, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "JOB\tSTATE\tITEMS\tDONE\tFAILED\tPENDING\tAGE\t INPUT")
	for _, st := range list {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t %s\n", st.ID, st.State(), st.Total, st.Done, st.Failed,
			st.Pending+st.Active, age(st.Age(now)), st.Input)
	}
	_ = tw.Flush()
}

// age is d in its largest unit: 45s, 12m, 3h, 2d.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// oneJob is the argument of the commands that act on one job.
type oneJob struct{ id string }

func (o *oneJob) setArgs(args []string) error {
	if len(args) != 1 {
		return errors.New("want one job ID")
	}
	o.id = args[0]
	return nil
}

func (o *oneJob) check() error { return job.CheckID(o.id) }

// cancelCommand is "enqueue cancel JOB".
type cancelCommand struct{ oneJob }

func (c *cancelCommand) flags(*flag.FlagSet) {}

func (c *cancelCommand) run(ctx context.Context, env *environment) error {
	rdb, err := connect(ctx, env)
	if err != nil {
		return err
	}
	defer rdb.Close()
	sum, err := job.Cancel(ctx, rdb, c.id, job.ReasonCancelled)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "job %s %s: %d queued task(s) with %d item(s) removed", c.id, sum.Reason, sum.Removed, sum.Items)
	if sum.Running > 0 {
		fmt.Fprintf(env.stderr, "; %d running task(s) left to finish", sum.Running)
	}
	fmt.Fprintln(env.stderr)
	return nil
}

// retryCommand is "enqueue retry JOB".
type retryCommand struct {
	oneJob
	wait bool
}

func (c *retryCommand) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.wait, "wait", false, "follow the job until it has finished again (exit status 1 if items still fail)")
}

func (c *retryCommand) run(ctx context.Context, env *environment) error {
	rdb, err := connect(ctx, env)
	if err != nil {
		return err
	}
	defer rdb.Close()
	sum, err := job.Retry(ctx, rdb, c.id, env.producer)
	if err != nil {
		return err
	}
	if sum.Batches() == 0 {
		fmt.Fprintf(env.stderr, "job %s: no failed items to run again\n", c.id)
	} else {
		fmt.Fprintf(env.stderr, "job %s: %d failed item(s) sent again in %d task(s) (%d failed as a whole, %d in part)\n",
			c.id, sum.Items, sum.Batches(), sum.Archived, sum.Partial)
	}
	if !c.wait {
		return nil
	}
	st, err := follow(ctx, rdb, env, c.id)
	if err != nil {
		return err
	}
	if st.Failed > 0 {
		return fmt.Errorf("%d of %d items failed again", st.Failed, st.Unique)
	}
	return nil
}
