package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// adaptiveLimit is the adaptive scenario: against a simulator that
// serves AdaptiveCapacity requests at a time at Latency and slows down
// beyond (simulator.Config.Capacity), bin/worker drains the same tasks at
// each fixed concurrency of AdaptiveSweep (PROVIDER_MIN_INFLIGHT equal to
// WORKER_CONCURRENCY, so the in-flight limit cannot move), and then at
// WorkerConcurrency with the adaptive in-flight limit at its defaults.
// It reports tasks/s, the simulator's service time and its requests in
// flight, and checks the adaptive limit against the best fixed rate and
// against the latency of fixed WorkerConcurrency.
func adaptiveLimit(ctx context.Context, e *env, r *Report) error {
	cfg := e.cfg
	n, pool := cfg.AdaptiveTasks, cfg.WorkerConcurrency
	bound := float64(cfg.AdaptiveCapacity) / cfg.Latency.Seconds()
	type run struct {
		name        string
		concurrency int
		fixed       bool
	}
	var runs []run
	for _, c := range cfg.AdaptiveSweep {
		runs = append(runs, run{fmt.Sprintf("fixed concurrency %d", c), c, true})
	}
	runs = append(runs, run{fmt.Sprintf("adaptive limit, concurrency %d, PROVIDER_MIN_INFLIGHT=1", pool), pool, false})
	adaptive := len(runs) - 1
	atPool := slices.Index(cfg.AdaptiveSweep, pool)

	s := make([]samples, len(runs))
	for i := range s {
		s[i] = samples{}
	}
	for rep := range cfg.Reps {
		for i, ru := range runs {
			spec := drainSpec{
				consumer: worker, latency: cfg.Latency, tasks: n, per: 1,
				concurrency: ru.concurrency, capacity: cfg.AdaptiveCapacity, timed: true,
				tag: fmt.Sprintf("adaptive %d %d", rep, i),
			}
			if ru.fixed {
				spec.extraEnv = []string{fmt.Sprintf("PROVIDER_MIN_INFLIGHT=%d", ru.concurrency)}
			}
			e.progress("adaptive limit", "case", ru.name, "rep", rep+1)
			res, err := e.drain(ctx, spec)
			if err != nil {
				return fmt.Errorf("%s: %w", ru.name, err)
			}
			if len(res.service) < n {
				return fmt.Errorf("%s: the simulator timed %d embeddings requests, want at least %d", ru.name, len(res.service), n)
			}
			s[i].add("tasks/s", res.tasksPerSec(spec))
			s[i].add("p50", ms(percentile(res.service, 50)))
			s[i].add("p99", ms(percentile(res.service, 99)))
			s[i].add("inflight", medianInt(res.inflight))
		}
	}
	for i, ru := range runs {
		if !s[i].sane("tasks/s", "p50", "p99") {
			return fmt.Errorf("%s: %w", ru.name, errInsane)
		}
	}
	// The best fixed concurrency is the one of the highest median rate;
	// the adaptive run is compared with it rep by rep.
	best := 0
	for i := range cfg.AdaptiveSweep {
		if s[i].med("tasks/s") > s[best].med("tasks/s") {
			best = i
		}
	}
	for rep := range cfg.Reps {
		for i := range runs {
			s[i].add("x best", ratio(s[i]["tasks/s"][rep], s[best]["tasks/s"][rep]))
			s[i].add("x p50 pool", ratio(s[i]["p50"][rep], s[atPool]["p50"][rep]))
		}
	}

	scen := fmt.Sprintf("8. adaptive in-flight limit: %d tasks of 1 text, simulator serving %d at a time at %s (beyond, service time × in flight ÷ %d), TLS + HTTP/2, bound %s tasks/s",
		n, cfg.AdaptiveCapacity, cfg.Latency, cfg.AdaptiveCapacity, fmtRate(bound))
	for i, ru := range runs {
		figs := fmt.Sprintf("%s tasks/s · %s of the bound · provider p50 %s, p99 %s · %s in flight at the provider (median)",
			fmtRate(s[i].med("tasks/s")), fmtPct(s[i].med("tasks/s")/bound), fmtMs(s[i].med("p50")), fmtMs(s[i].med("p99")), fmtCount(s[i].med("inflight")))
		var vs []string
		if i != best {
			vs = append(vs, fmt.Sprintf("%s of the best fixed rate", fmtPct(s[i].med("x best"))))
		} else {
			vs = append(vs, "the best fixed rate")
		}
		if i == adaptive {
			vs = append(vs, fmt.Sprintf("p50 %s fixed %d's", fmtX(s[i].med("x p50 pool")), pool))
		}
		r.row(scen, ru.name, figs, strings.Join(vs, " · "))
	}
	sa, sb, sp := s[adaptive], s[best], s[atPool]
	r.target(fmt.Sprintf("adaptive in-flight limit at concurrency %d, provider serving %d at a time: tasks/s ≥ 90%% of the best fixed concurrency", pool, cfg.AdaptiveCapacity),
		fmtPct(sa.med("x best")), sa.med("x best") >= 0.9)
	r.explain("the best fixed concurrency of %s was %d at %s tasks/s, the adaptive limit %s tasks/s with a median %s in flight at the provider",
		joinInts(cfg.AdaptiveSweep), cfg.AdaptiveSweep[best], fmtRate(sb.med("tasks/s")), fmtRate(sa.med("tasks/s")), fmtCount(sa.med("inflight")))
	r.target(fmt.Sprintf("adaptive in-flight limit: provider p50 latency below fixed concurrency %d's", pool),
		fmt.Sprintf("%s vs %s", fmtMs(sa.med("p50")), fmtMs(sp.med("p50"))), sa.med("x p50 pool") < 1)
	r.explain("the simulator's time per request, %s at no load, grows with what is in flight beyond %d: fixed %d keeps %s in flight, the adaptive limit %s",
		cfg.Latency, cfg.AdaptiveCapacity, pool, fmtCount(sp.med("inflight")), fmtCount(sa.med("inflight")))
	return nil
}

// medianInt is the median of counts, or NaN for none.
func medianInt(counts []int) float64 {
	xs := make([]float64, len(counts))
	for i, c := range counts {
		xs[i] = float64(c)
	}
	return median(xs)
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}
