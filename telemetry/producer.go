package telemetry

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
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
// queue, and hands the task the headers that carry the span's context to
// the worker. Safe for concurrent use.
type Producer struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// NewProducer returns a Producer reporting to p's tracer provider and
// propagating with p's propagator.
func NewProducer(p Providers) *Producer {
	return &Producer{tracer: p.tracer(ScopeName), prop: p.propagator()}
}

// Send is the span of one task (or one batch of tasks) being sent.
type Send struct {
	ctx   context.Context
	span  trace.Span
	prop  propagation.TextMapPropagator
	batch bool
}

// Start begins the PRODUCER span of one task of taskType. Build the task
// with s.Headers (tasks.NewEmbedTaskWithHeaders), enqueue it, and call
// s.End with the result. The worker's span of the task will be the span's
// child, in the same trace.
func (p *Producer) Start(ctx context.Context, taskType string) (context.Context, *Send) {
	ctx, span := p.tracer.Start(ctx, "send",
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(messagingSystem, semconv.MessagingOperationName("send"),
			semconv.MessagingOperationTypeSend, TaskTypeKey.String(taskType)))
	return ctx, &Send{ctx: ctx, span: span, prop: p.prop}
}

// StartBatch begins one PRODUCER span for n tasks of taskType sent
// together. Each task gets s.Headers; the worker's span of each links to
// this span and starts a trace of its own, so that one batch does not make
// one enormous trace.
func (p *Producer) StartBatch(ctx context.Context, taskType string, n int) (context.Context, *Send) {
	ctx, span := p.tracer.Start(ctx, "send",
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(messagingSystem, semconv.MessagingOperationName("send"),
			semconv.MessagingOperationTypeSend, TaskTypeKey.String(taskType),
			semconv.MessagingBatchMessageCount(n)))
	return ctx, &Send{ctx: ctx, span: span, prop: p.prop, batch: true}
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
// the error. A task that was already queued (asynq.ErrTaskIDConflict: the
// same payload is still known) is not an error. For a batch, info may be
// nil.
func (s *Send) End(info *asynq.TaskInfo, err error) {
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		s.span.SetAttributes(AlreadyQueuedKey.Bool(true))
	case err != nil:
		s.span.RecordError(err)
		s.span.SetStatus(codes.Error, err.Error())
	}
	if info != nil {
		s.span.SetName("send " + info.Queue)
		s.span.SetAttributes(semconv.MessagingDestinationName(info.Queue), semconv.MessagingMessageID(info.ID))
	}
	s.span.End()
}
