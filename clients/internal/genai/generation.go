package genai

import (
	"time"

	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/semconv/v1.41.0/genaiconv"
)

// newFirstChunk makes the gen_ai.client.operation.time_to_first_chunk
// histogram of the conventions, with the duration buckets.
func newFirstChunk(meter metric.Meter) (metric.Float64Histogram, error) {
	h, err := genaiconv.NewClientOperationTimeToFirstChunk(meter, metric.WithExplicitBucketBoundaries(durationBuckets...))
	return h.Inst(), err
}

// FirstChunk records, once per call, the time from Start to now as the
// time to the first chunk of a streamed answer. The conventions ask for it
// on streamed calls only.
func (c *Call) FirstChunk() {
	if c.firstChunk {
		return
	}
	c.firstChunk = true
	c.in.firstChunk.Record(c.ctx, time.Since(c.start).Seconds(), metric.WithAttributes(c.attrs...))
}

// Generation notes a generation's response id and the finish reason of
// each choice, put on the span as gen_ai.response.id and
// gen_ai.response.finish_reasons.
func (c *Call) Generation(id string, finishReasons []string) {
	if !c.span.IsRecording() {
		return
	}
	if id != "" {
		c.span.SetAttributes(semconv.GenAIResponseID(id))
	}
	if len(finishReasons) > 0 {
		c.span.SetAttributes(semconv.GenAIResponseFinishReasons(finishReasons...))
	}
}
