package telemetry

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/llmq/llmq/tasks"
)

// taskDurationBuckets run from 10 ms to about 11 min, doubling: tasks
// last from one embedding request to a long generation.
var taskDurationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92, 163.84, 327.68, 655.36}

// TaskMiddleware returns asynq middleware that runs every task in a
// CONSUMER span, "process {queue}", and counts it. Wrap the whole handler
// with it (srv.Start(mw(mux))) so that tasks of unknown type are seen too.
//
// The span's parent is the producer's span when the task carries its
// context (Send.Headers) and was sent alone; it links to the producer's
// span either way. Its attributes are the task's id, type, queue and retry
// count, its wait since it was enqueued and its outcome (tasks.Outcome);
// a failed run records its error. The metrics, each by llmq.task.type,
// messaging.destination.name (the queue) and llmq.task.outcome:
//
//	llmq.tasks.processed  counter    runs of tasks
//	llmq.task.duration    histogram  run time, in seconds
//
// and, in the terms of OpenTelemetry's messaging conventions, by
// messaging.system (asynq), messaging.operation.name (process),
// messaging.destination.name and error.type for a run that failed:
//
//	messaging.process.duration  histogram  run time, in seconds
func TaskMiddleware(p Providers) (asynq.MiddlewareFunc, error) {
	meter := p.meter(ScopeName)
	processed, err := meter.Int64Counter("llmq.tasks.processed",
		metric.WithUnit("{task}"),
		metric.WithDescription("Task runs, by type, queue and outcome (success, retry, rate_limited, archived)."))
	if err != nil {
		return nil, fmt.Errorf("task metrics: %w", err)
	}
	duration, err := meter.Float64Histogram("llmq.task.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of task runs, by type, queue and outcome."),
		metric.WithExplicitBucketBoundaries(taskDurationBuckets...))
	if err != nil {
		return nil, fmt.Errorf("task metrics: %w", err)
	}
	process, err := meter.Float64Histogram("messaging.process.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of processing operations (task runs)."),
		metric.WithExplicitBucketBoundaries(taskDurationBuckets...))
	if err != nil {
		return nil, fmt.Errorf("task metrics: %w", err)
	}
	c := &consumer{tracer: p.tracer(ScopeName), prop: p.propagator(), processed: processed, duration: duration, process: process}
	return c.wrap, nil
}

type consumer struct {
	tracer    trace.Tracer
	prop      propagation.TextMapPropagator
	processed metric.Int64Counter
	duration  metric.Float64Histogram
	process   metric.Float64Histogram
}

func (c *consumer) wrap(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) (err error) {
		start := time.Now()
		id, _ := asynq.GetTaskID(ctx)
		queue, _ := asynq.GetQueueName(ctx)
		retried, _ := asynq.GetRetryCount(ctx)
		attrs := []attribute.KeyValue{
			messagingSystem, semconv.MessagingOperationName("process"), semconv.MessagingOperationTypeProcess,
			semconv.MessagingDestinationName(queue), semconv.MessagingMessageID(id),
			TaskTypeKey.String(t.Type()), TaskRetryCountKey.Int(retried),
		}
		headers := t.Headers()
		if ms, err := strconv.ParseInt(headers[HeaderEnqueuedAt], 10, 64); err == nil {
			if wait := start.Sub(time.UnixMilli(ms)); wait >= 0 {
				attrs = append(attrs, TaskWaitKey.Float64(wait.Seconds()))
			}
		}
		opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithTimestamp(start)}
		sent := c.prop.Extract(context.Background(), propagation.MapCarrier(headers))
		if sc := trace.SpanContextFromContext(sent); sc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
			if headers[HeaderBatch] == "" {
				ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
			} else {
				opts = append(opts, trace.WithNewRoot())
			}
		}
		if b := baggage.FromContext(sent); b.Len() > 0 {
			ctx = baggage.ContextWithBaggage(ctx, b)
		}
		ctx, span := c.tracer.Start(ctx, "process "+queue, append(opts, trace.WithAttributes(attrs...))...)

		defer func() {
			if r := recover(); r != nil {
				c.end(ctx, span, start, t.Type(), queue, fmt.Errorf("panic: %v", r))
				panic(r)
			}
			c.end(ctx, span, start, t.Type(), queue, err)
		}()
		return next.ProcessTask(ctx, t)
	})
}

func (c *consumer) end(ctx context.Context, span trace.Span, start time.Time, typ, queue string, err error) {
	outcome := tasks.Outcome(ctx, err)
	set := metric.WithAttributeSet(attribute.NewSet(
		TaskTypeKey.String(typ), semconv.MessagingDestinationName(queue), TaskOutcomeKey.String(outcome)))
	elapsed := time.Since(start).Seconds()
	c.processed.Add(ctx, 1, set)
	c.duration.Record(ctx, elapsed, set)
	attrs := []attribute.KeyValue{messagingSystem, semconv.MessagingOperationName("process"), semconv.MessagingDestinationName(queue)}
	if err != nil {
		attrs = append(attrs, semconv.ErrorTypeKey.String(outcome))
	}
	c.process.Record(ctx, elapsed, metric.WithAttributes(attrs...))
	span.SetAttributes(TaskOutcomeKey.String(outcome))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
