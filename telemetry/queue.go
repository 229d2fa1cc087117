package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
)

// TaskStateKey is the attribute that splits llmq.queue.size by state.
const TaskStateKey = attribute.Key("llmq.task.state")

// Defaults of QueueReporterConfig.
const (
	DefaultQueueReporterKey = "llmq:telemetry:queue-reporter"
	DefaultQueueReporterTTL = 15 * time.Second
)

// QueueReporterConfig configures a QueueReporter. Zero fields take the
// defaults.
type QueueReporterConfig struct {
	// Key is the Redis key of the lease. Default DefaultQueueReporterKey.
	Key string
	// TTL is how long the lease lasts unless renewed; it is renewed, or
	// sought, every TTL/3. A process that stops without releasing it is
	// replaced after at most TTL. Default DefaultQueueReporterTTL.
	TTL time.Duration
}

// QueueReporter reports the size and latency of every queue in Redis,
// read with asynq's Inspector, from one process at a time: every worker
// runs one, they compete for a lease in Redis (SET NX PX, renewed by its
// holder), and only the holder's metrics carry the queue gauges. So a
// Prometheus that scrapes every worker gets each queue's numbers once, and
// Redis is asked once per scrape, not once per worker.
//
//	llmq.queue.size     gauge  tasks, by messaging.destination.name and llmq.task.state
//	                           (pending, active, scheduled, retry, archived, completed, aggregating)
//	llmq.queue.latency  gauge  age of the oldest pending task, in seconds, by queue
type QueueReporter struct {
	rdb       redis.UniversalClient
	inspector *asynq.Inspector
	logger    *slog.Logger
	key, id   string
	ttl       time.Duration
	reg       metric.Registration

	// validUntil is when the lease this process holds runs out (Unix
	// nanoseconds; 0: not held).
	validUntil atomic.Int64

	stop chan struct{}
	done sync.WaitGroup
	once sync.Once
}

// StartQueueReporter registers the queue gauges with p's meter provider
// and starts competing for the lease in rdb. Close releases it.
func StartQueueReporter(rdb redis.UniversalClient, p Providers, logger *slog.Logger, cfg QueueReporterConfig) (*QueueReporter, error) {
	if cfg.Key == "" {
		cfg.Key = DefaultQueueReporterKey
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultQueueReporterTTL
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	r := &QueueReporter{
		rdb:       rdb,
		inspector: asynq.NewInspectorFromRedisClient(rdb),
		logger:    logger,
		key:       cfg.Key,
		id:        hex.EncodeToString(id[:]),
		ttl:       cfg.TTL,
		stop:      make(chan struct{}),
	}
	meter := p.meter(ScopeName)
	size, err := meter.Int64ObservableGauge("llmq.queue.size",
		metric.WithUnit("{task}"),
		metric.WithDescription("Tasks in each queue, by state; reported by one worker at a time."))
	if err != nil {
		return nil, fmt.Errorf("queue metrics: %w", err)
	}
	latency, err := meter.Float64ObservableGauge("llmq.queue.latency",
		metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest pending task in each queue; reported by one worker at a time."))
	if err != nil {
		return nil, fmt.Errorf("queue metrics: %w", err)
	}
	r.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		return r.observe(o, size, latency)
	}, size, latency)
	if err != nil {
		return nil, fmt.Errorf("queue metrics: %w", err)
	}
	r.done.Go(r.run)
	return r, nil
}

// Leader reports whether this process holds the lease now.
func (r *QueueReporter) Leader() bool {
	return time.Now().UnixNano() < r.validUntil.Load()
}

func (r *QueueReporter) observe(o metric.Observer, size metric.Int64ObservableGauge, latency metric.Float64ObservableGauge) error {
	if !r.Leader() {
		return nil
	}
	queues, err := r.inspector.Queues()
	if err != nil {
		return fmt.Errorf("queue metrics: %w", err)
	}
	for _, q := range queues {
		info, err := r.inspector.GetQueueInfo(q)
		if err != nil {
			return fmt.Errorf("queue metrics: %s: %w", q, err)
		}
		queue := semconv.MessagingDestinationName(q)
		for _, s := range []struct {
			state string
			n     int
		}{
			{"pending", info.Pending}, {"active", info.Active}, {"scheduled", info.Scheduled},
			{"retry", info.Retry}, {"archived", info.Archived}, {"completed", info.Completed},
			{"aggregating", info.Aggregating},
		} {
			o.ObserveInt64(size, int64(s.n), metric.WithAttributes(queue, TaskStateKey.String(s.state)))
		}
		o.ObserveFloat64(latency, info.Latency.Seconds(), metric.WithAttributes(queue))
	}
	return nil
}

// renewScript extends the lease if this process holds it.
var renewScript = redis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) end return 0`)

// releaseScript deletes the lease if this process holds it.
var releaseScript = redis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end return 0`)

func (r *QueueReporter) run() {
	tick := time.NewTicker(r.ttl / 3)
	defer tick.Stop()
	for {
		r.tryLease()
		select {
		case <-r.stop:
			return
		case <-tick.C:
		}
	}
}

// tryLease renews the lease this process holds, or takes it if it is
// free. The lease counts as held until TTL after the command was sent, so
// this process stops reporting before Redis lets another one take over.
func (r *QueueReporter) tryLease() {
	ctx, cancel := context.WithTimeout(context.Background(), r.ttl/3)
	defer cancel()
	sent := time.Now()
	n, err := renewScript.Run(ctx, r.rdb, []string{r.key}, r.id, r.ttl.Milliseconds()).Int64()
	held := n == 1
	if err == nil && !held {
		held, err = r.rdb.SetNX(ctx, r.key, r.id, r.ttl).Result()
	}
	if err != nil {
		r.logger.Warn("queue metrics lease", slog.String("error", err.Error()))
	}
	was := r.Leader()
	if held {
		r.validUntil.Store(sent.Add(r.ttl).UnixNano())
	} else if err == nil {
		r.validUntil.Store(0)
	}
	if held && !was {
		r.logger.Info("this worker now reports the queue metrics")
	}
}

// Close stops competing for the lease, releases it if held, and stops
// reporting.
func (r *QueueReporter) Close() error {
	var err error
	r.once.Do(func() {
		close(r.stop)
		r.done.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if r.Leader() {
			r.validUntil.Store(0)
			err = releaseScript.Run(ctx, r.rdb, []string{r.key}, r.id).Err()
			if errors.Is(err, redis.Nil) {
				err = nil
			}
		}
		err = errors.Join(err, r.reg.Unregister())
	})
	return err
}
