// Package otlptest is an OTLP receiver for tests and measurements: it
// accepts traces and metrics over OTLP/HTTP (protobuf) or OTLP/gRPC on a
// free loopback port, decodes every request with the protocol's own
// protobuf definitions, and keeps what it received.
package otlptest

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"

	collmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	colltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Receiver is a running OTLP receiver. Its methods are safe for concurrent
// use.
type Receiver struct {
	// Endpoint is the receiver's base URL, for OTEL_EXPORTER_OTLP_ENDPOINT.
	Endpoint string

	close func()

	mu       sync.Mutex
	spans    []Span
	metrics  []*metricspb.Metric
	requests int
}

// Span is one received span with the service that sent it.
type Span struct {
	Service string
	Scope   string
	// Resource holds the attributes of the resource that sent the span.
	Resource []*commonpb.KeyValue
	*tracepb.Span
}

// ResourceAttr returns the value of the sending resource's attribute key
// as text, and whether it has it.
func (s Span) ResourceAttr(key string) (string, bool) {
	return attrValue(s.Resource, key)
}

// Attr returns the value of the span's attribute key as text, and whether
// the span has it.
func (s Span) Attr(key string) (string, bool) {
	return attrValue(s.Attributes, key)
}

// Strings returns every text a span carries: name, status message,
// attributes, events and their attributes, links' attributes.
func (s Span) Strings() []string {
	out := []string{s.Name, s.GetStatus().GetMessage()}
	out = appendValues(out, s.Attributes)
	for _, e := range s.Events {
		out = append(out, e.Name)
		out = appendValues(out, e.Attributes)
	}
	for _, l := range s.Links {
		out = appendValues(out, l.Attributes)
	}
	return out
}

func appendValues(out []string, kvs []*commonpb.KeyValue) []string {
	for _, kv := range kvs {
		out = append(out, kv.Key, text(kv.Value))
	}
	return out
}

func attrValue(kvs []*commonpb.KeyValue, key string) (string, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return text(kv.Value), true
		}
	}
	return "", false
}

func text(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	}
	return v.String()
}

// Spans returns the spans received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Metrics returns the metrics received so far, one entry per metric per
// export.
func (r *Receiver) Metrics() []*metricspb.Metric {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*metricspb.Metric(nil), r.metrics...)
}

// Requests is the number of export requests received.
func (r *Receiver) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

// Close stops the receiver.
func (r *Receiver) Close() { r.close() }

func (r *Receiver) addTraces(req *colltrace.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	for _, rs := range req.ResourceSpans {
		service, _ := attrValue(rs.GetResource().GetAttributes(), "service.name")
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				r.spans = append(r.spans, Span{Service: service, Scope: ss.GetScope().GetName(), Resource: rs.GetResource().GetAttributes(), Span: s})
			}
		}
	}
}

func (r *Receiver) addMetrics(req *collmetrics.ExportMetricsServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	for _, rm := range req.ResourceMetrics {
		for _, sm := range rm.ScopeMetrics {
			r.metrics = append(r.metrics, sm.Metrics...)
		}
	}
}

// NewHTTP starts a receiver of OTLP/HTTP with protobuf bodies (plain or
// gzip) at /v1/traces and /v1/metrics.
func NewHTTP() (*Receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Receiver{Endpoint: "http://" + ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, req *http.Request) {
		var in colltrace.ExportTraceServiceRequest
		if !decode(w, req, &in) {
			return
		}
		r.addTraces(&in)
		reply(w, &colltrace.ExportTraceServiceResponse{})
	})
	mux.HandleFunc("POST /v1/metrics", func(w http.ResponseWriter, req *http.Request) {
		var in collmetrics.ExportMetricsServiceRequest
		if !decode(w, req, &in) {
			return
		}
		r.addMetrics(&in)
		reply(w, &collmetrics.ExportMetricsServiceResponse{})
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	r.close = func() { _ = srv.Close() }
	return r, nil
}

// decode reads a protobuf request body into m, or answers 400.
func decode(w http.ResponseWriter, req *http.Request, m proto.Message) bool {
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, "content type "+ct+": want application/x-protobuf", http.StatusUnsupportedMediaType)
		return false
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return false
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err == nil {
		err = proto.Unmarshal(b, m)
	}
	if err != nil {
		http.Error(w, fmt.Sprintf("decode: %v", err), http.StatusBadRequest)
		return false
	}
	return true
}

func reply(w http.ResponseWriter, m proto.Message) {
	b, _ := proto.Marshal(m)
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(b)
}

// NewGRPC starts a receiver of OTLP/gRPC (plaintext).
func NewGRPC() (*Receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Receiver{Endpoint: "http://" + ln.Addr().String()}
	srv := grpc.NewServer()
	colltrace.RegisterTraceServiceServer(srv, traceService{r: r})
	collmetrics.RegisterMetricsServiceServer(srv, metricsService{r: r})
	go func() { _ = srv.Serve(ln) }()
	r.close = srv.Stop
	return r, nil
}

type traceService struct {
	colltrace.UnimplementedTraceServiceServer
	r *Receiver
}

func (s traceService) Export(_ context.Context, req *colltrace.ExportTraceServiceRequest) (*colltrace.ExportTraceServiceResponse, error) {
	if req == nil {
		return nil, errors.New("no request")
	}
	s.r.addTraces(req)
	return &colltrace.ExportTraceServiceResponse{}, nil
}

type metricsService struct {
	collmetrics.UnimplementedMetricsServiceServer
	r *Receiver
}

func (s metricsService) Export(_ context.Context, req *collmetrics.ExportMetricsServiceRequest) (*collmetrics.ExportMetricsServiceResponse, error) {
	if req == nil {
		return nil, errors.New("no request")
	}
	s.r.addMetrics(req)
	return &collmetrics.ExportMetricsServiceResponse{}, nil
}
