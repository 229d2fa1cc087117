package telemetry

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the spans and metrics of this
// package.
const ScopeName = "github.com/llmq/llmq/telemetry"

// Task headers this package writes beside the trace context
// (traceparent, tracestate, baggage).
const (
	// HeaderEnqueuedAt holds when the producer sent the task, in Unix
	// milliseconds; the worker reports the task's wait from it.
	HeaderEnqueuedAt = "llmq-enqueued-at"
	// HeaderBatch marks a task sent under a batch's PRODUCER span: its
	// CONSUMER span links to that span but starts a trace of its own.
	HeaderBatch = "llmq-batch"
)

// Attributes of llmq's task spans and metrics, besides the messaging.*
// ones of the OpenTelemetry conventions.
const (
	TaskTypeKey       = attribute.Key("llmq.task.type")
	TaskOutcomeKey    = attribute.Key("llmq.task.outcome")
	TaskRetryCountKey = attribute.Key("llmq.task.retry_count")
	TaskWaitKey       = attribute.Key("llmq.task.wait") // seconds from enqueue to the start of this run
	AlreadyQueuedKey  = attribute.Key("llmq.task.already_queued")
)

// messagingSystem is messaging.system of llmq's task spans.
var messagingSystem = semconv.MessagingSystemKey.String("asynq")

// Producer starts a PRODUCER span for each task a process sends to the
// queue, hands the task the headers that carry the span's context to the
// worker, and counts what was sent:
//
//	messaging.client.sent.messages  counter  tasks sent, by messaging.system, messaging.operation.name,
//	                                         messaging.destination.name (when known) and error.type
//
// Safe for concurrent use.
type Producer struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	sent   metric.Int64Counter
}

// NewProducer returns a Producer reporting to p's tracer and meter
// providers and propagating with p's propagator.
func NewProducer(p Providers) *Producer {
	sent, err := p.meter(ScopeName).Int64Counter("messaging.client.sent.messages",
		metric.WithUnit("{message}"),
		metric.WithDescription("Tasks the producer sent to the queue, or tried to."))
	if err != nil {
		otel.Handle(err)
		sent, _ = metricnoop.NewMeterProvider().Meter(ScopeName).Int64Counter("messaging.client.sent.messages")
	}
	return &Producer{tracer: p.tracer(ScopeName), prop: p.propagator(), sent: sent}
}

// Send is the span of one task (or one batch of tasks) being sent.
type Send struct {
	ctx   context.Context
	span  trace.Span
	prop  propagation.TextMapPropagator
	sent  metric.Int64Counter
	queue string // "" until known
	n     int    // tasks under this span
	batch bool
}

// Start begins the PRODUCER span of one task of taskType whose queue is
// known only from the enqueue's answer: prefer StartTo. Build the task
// with s.Headers (tasks.NewEmbedTaskWithHeaders), enqueue it, and call
// s.End with the result. The worker's span of the task will be the span's
// child, in the same trace.
func (p *Producer) Start(ctx context.Context, taskType string) (context.Context, *Send) {
	return p.start(ctx, "", taskType, 1, false)
}

// StartTo is Start for a task sent to queue: the span is named
// "send {queue}" from its start, also when the task turns out to be
// already queued and the enqueue returns no TaskInfo.
func (p *Producer) StartTo(ctx context.Context, queue, taskType string) (context.Context, *Send) {
	return p.start(ctx, queue, taskType, 1, false)
}

// StartBatch begins one PRODUCER span for n tasks of taskType sent
// together. Each task gets s.Headers; the worker's span of each links to
// this span and starts a trace of its own, so that one batch does not make
// one enormous trace. The span carries messaging.batch.message_count.
func (p *Producer) StartBatch(ctx context.Context, taskType string, n int) (context.Context, *Send) {
	return p.start(ctx, "", taskType, n, true)
}

// StartBatchTo is StartBatch for tasks sent to queue.
func (p *Producer) StartBatchTo(ctx context.Context, queue, taskType string, n int) (context.Context, *Send) {
	return p.start(ctx, queue, taskType, n, true)
}

func (p *Producer) start(ctx context.Context, queue, taskType string, n int, batch bool) (context.Context, *Send) {
	name := "send"
	attrs := []attribute.KeyValue{messagingSystem, semconv.MessagingOperationName("send"),
		semconv.MessagingOperationTypeSend, TaskTypeKey.String(taskType)}
	if queue != "" {
		name += " " + queue
		attrs = append(attrs, semconv.MessagingDestinationName(queue))
	}
	if batch {
		attrs = append(attrs, semconv.MessagingBatchMessageCount(n))
	}
	ctx, span := p.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
	return ctx, &Send{ctx: ctx, span: span, prop: p.prop, sent: p.sent, queue: queue, n: n, batch: batch}
}

// Headers returns new task headers carrying the span's context and the
// time of sending.
func (s *Send) Headers() map[string]string {
	h := map[string]string{HeaderEnqueuedAt: strconv.FormatInt(time.Now().UnixMilli(), 10)}
	s.prop.Inject(s.ctx, propagation.MapCarrier(h))
	if s.batch {
		h[HeaderBatch] = "1"
	}
	return h
}

// End ends the span with the enqueue's result: the task's queue and ID, or
// the error, and counts the span's tasks in messaging.client.sent.messages.
// A task that was already queued (asynq.ErrTaskIDConflict: the same
// payload is still known) is not an error. For a batch, info may be nil.
func (s *Send) End(info *asynq.TaskInfo, err error) {
	var failed attribute.KeyValue
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		s.span.SetAttributes(AlreadyQueuedKey.Bool(true))
	case err != nil:
		s.span.RecordError(err)
		s.span.SetStatus(codes.Error, err.Error())
		failed = semconv.ErrorType(err)
	}
	if info != nil {
		if info.Queue != s.queue {
			s.queue = info.Queue
			s.span.SetName("send " + info.Queue)
			s.span.SetAttributes(semconv.MessagingDestinationName(info.Queue))
		}
		s.span.SetAttributes(semconv.MessagingMessageID(info.ID))
	}
	s.span.End()

	attrs := []attribute.KeyValue{messagingSystem, semconv.MessagingOperationName("send")}
	if s.queue != "" {
		attrs = append(attrs, semconv.MessagingDestinationName(s.queue))
	}
	if failed.Valid() {
		attrs = append(attrs, failed)
	}
	s.sent.Add(context.WithoutCancel(s.ctx), int64(s.n), metric.WithAttributes(attrs...))
}
