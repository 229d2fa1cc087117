// Package genai reports provider calls the way the OpenTelemetry GenAI
// semantic conventions describe them: one CLIENT span per call, named
// "{operation} {model}", and the gen_ai.client.operation.duration and
// gen_ai.client.token.usage histograms. To the conventions' attributes it
// adds the facts of the connection the call rode (see clients.ConnInfo).
//
// Nothing it records holds request or response text, headers or keys: only
// the operation, provider, model names, server address, status, token
// counts, connection facts and a redacted error.
package genai

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/internal/instrument"
)

// Operation names (gen_ai.operation.name).
const (
	Embeddings     = "embeddings"
	Chat           = "chat"
	TextCompletion = "text_completion"
)

// Attributes of the connection a call rode, on its span. Durations are in
// seconds.
const (
	ConnReusedKey   = clients.ReusedKey
	ConnWasIdleKey  = attribute.Key("llmq.connection.was_idle")
	ConnIdleTimeKey = attribute.Key("llmq.connection.idle_time")
	DNSKey          = attribute.Key("llmq.connection.dns.duration")
	ConnectKey      = attribute.Key("llmq.connection.connect.duration")
	TLSKey          = attribute.Key("llmq.connection.tls.duration")
)

// Bucket boundaries the conventions advise for the two histograms.
var (
	durationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	tokenBuckets    = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
)

// Instruments report the calls of one provider client. Safe for concurrent
// use.
type Instruments struct {
	tracer   trace.Tracer
	duration metric.Float64Histogram
	tokens   metric.Int64Histogram
	// firstChunk is gen_ai.client.operation.time_to_first_chunk.
	firstChunk metric.Float64Histogram
	// common are the attributes of every span and measurement: provider,
	// server address and port.
	common []attribute.KeyValue
}

// New returns the Instruments of a client of provider at base, a URL
// clients.ParseBaseURL accepted, reporting to tp and mp; nil means the
// global provider.
func New(provider, base string, tp trace.TracerProvider, mp metric.MeterProvider) (*Instruments, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("genai: base URL: %w", err)
	}
	meter := instrument.Meter(mp, clients.ScopeName)
	duration, err := meter.Float64Histogram("gen_ai.client.operation.duration",
		metric.WithUnit("s"),
		metric.WithDescription("GenAI operation duration, until the response body was read."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err != nil {
		return nil, fmt.Errorf("genai metrics: %w", err)
	}
	tokens, err := meter.Int64Histogram("gen_ai.client.token.usage",
		metric.WithUnit("{token}"),
		metric.WithDescription("Number of input and output tokens used."),
		metric.WithExplicitBucketBoundaries(tokenBuckets...))
	if err != nil {
		return nil, fmt.Errorf("genai metrics: %w", err)
	}
	firstChunk, err := newFirstChunk(meter)
	if err != nil {
		return nil, fmt.Errorf("genai metrics: %w", err)
	}
	common := []attribute.KeyValue{semconv.GenAIProviderNameKey.String(provider), semconv.ServerAddress(u.Hostname())}
	if port := portOf(u); port > 0 {
		common = append(common, semconv.ServerPort(port))
	}
	return &Instruments{
		tracer:     instrument.Tracer(tp, clients.ScopeName),
		duration:   duration,
		tokens:     tokens,
		firstChunk: firstChunk,
		common:     common,
	}, nil
}

func portOf(u *url.URL) int {
	if p := u.Port(); p != "" {
		n, _ := strconv.Atoi(p)
		return n
	}
	switch u.Scheme {
	case "https":
		return 443
	case "http":
		return 80
	}
	return 0
}

// Call is one provider call being reported.
type Call struct {
	in    *Instruments
	ctx   context.Context
	span  trace.Span
	conn  *clients.ConnTrace
	start time.Time
	attrs []attribute.KeyValue // operation and request model, then common

	status        int
	protoVersion  string
	responseModel string
	input, output int
	firstChunk    bool
}

// Start begins reporting a call of operation with model and returns the
// context to send its request with: it carries the span and, when the span
// is recorded, the clients.ConnTrace that tells it about the connection.
func (in *Instruments) Start(ctx context.Context, operation, model string) (context.Context, *Call) {
	attrs := make([]attribute.KeyValue, 0, 2+len(in.common))
	attrs = append(attrs, semconv.GenAIOperationNameKey.String(operation), semconv.GenAIRequestModel(model))
	attrs = append(attrs, in.common...)
	ctx, span := in.tracer.Start(ctx, operation+" "+model,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	c := &Call{in: in, span: span, attrs: attrs, start: time.Now()}
	if span.IsRecording() {
		ctx, c.conn = clients.WithConnTrace(ctx)
	}
	c.ctx = ctx
	return ctx, c
}

// Response notes the response's status and protocol.
func (c *Call) Response(resp *http.Response) {
	c.status = resp.StatusCode
	c.protoVersion = strconv.Itoa(resp.ProtoMajor)
	if resp.ProtoMajor == 1 {
		c.protoVersion += "." + strconv.Itoa(resp.ProtoMinor)
	}
}

// Usage notes the model that answered and the tokens it counted (0: not
// reported).
func (c *Call) Usage(responseModel string, input, output int) {
	c.responseModel, c.input, c.output = responseModel, input, output
}

// End records the call's duration and token usage and ends its span, with
// err, if not nil, as its error. Call it once the response body has been
// read and closed, so that the duration covers the whole answer.
func (c *Call) End(err error) {
	elapsed := time.Since(c.start).Seconds()
	metricAttrs := slices.Clip(c.attrs)
	if c.status != 0 {
		metricAttrs = append(metricAttrs, semconv.HTTPResponseStatusCode(c.status))
	}
	if err != nil {
		metricAttrs = append(metricAttrs, semconv.ErrorTypeKey.String(errorType(err)))
	}
	c.in.duration.Record(c.ctx, elapsed, metric.WithAttributes(metricAttrs...))
	if c.input > 0 {
		c.in.tokens.Record(c.ctx, int64(c.input), metric.WithAttributes(append(c.attrs, semconv.GenAITokenTypeInput)...))
	}
	if c.output > 0 {
		c.in.tokens.Record(c.ctx, int64(c.output), metric.WithAttributes(append(c.attrs, semconv.GenAITokenTypeOutput)...))
	}
	if !c.span.IsRecording() {
		c.span.End()
		return
	}
	attrs := slices.Clone(metricAttrs[len(c.attrs):]) // status code and error type
	if c.protoVersion != "" {
		attrs = append(attrs, semconv.NetworkProtocolName("http"), semconv.NetworkProtocolVersion(c.protoVersion))
	}
	if c.responseModel != "" {
		attrs = append(attrs, semconv.GenAIResponseModel(c.responseModel))
	}
	if c.input > 0 {
		attrs = append(attrs, semconv.GenAIUsageInputTokens(c.input))
	}
	if c.output > 0 {
		attrs = append(attrs, semconv.GenAIUsageOutputTokens(c.output))
	}
	attrs = append(attrs, connAttrs(c.conn.Info())...)
	c.span.SetAttributes(attrs...)
	if err != nil {
		c.span.RecordError(err)
		c.span.SetStatus(codes.Error, err.Error())
	}
	c.span.End()
}

// connAttrs describes the connection; nothing when the request never got
// one.
func connAttrs(ci clients.ConnInfo) []attribute.KeyValue {
	if !ci.Got {
		return nil
	}
	attrs := []attribute.KeyValue{ConnReusedKey.Bool(ci.Reused), ConnWasIdleKey.Bool(ci.WasIdle)}
	if ci.WasIdle {
		attrs = append(attrs, ConnIdleTimeKey.Float64(ci.IdleTime.Seconds()))
	}
	for _, d := range []struct {
		key attribute.Key
		d   time.Duration
	}{{DNSKey, ci.DNS}, {ConnectKey, ci.Connect}, {TLSKey, ci.TLS}} {
		if d.d > 0 {
			attrs = append(attrs, d.key.Float64(d.d.Seconds()))
		}
	}
	return attrs
}

// errorType is the error.type of a failed call: the HTTP status of a
// provider's error answer, timeout, canceled, or _OTHER.
func errorType(err error) string {
	var apiErr *clients.APIError
	var netErr net.Error
	switch {
	case errors.As(err, &apiErr):
		return strconv.Itoa(apiErr.StatusCode)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "_OTHER"
}
