package openai_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/clients/openai"
	"github.com/llmq/llmq/simulator"
)

// canned answers every request with the same body, without a network, so
// that a benchmark measures the client's own work. Like the simulator and
// many servers for large answers, it sends no Content-Length.
type canned []byte

var _ http.RoundTripper = canned{}

func (c canned) RoundTrip(r *http.Request) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, r.Body)
	_ = r.Body.Close()
	return &http.Response{
		StatusCode:    http.StatusOK,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(c)),
		ContentLength: -1,
		Request:       r,
	}, nil
}

// simulatedBody is the simulator's answer to n inputs of dim dimensions in
// the given encoding.
func simulatedBody(b *testing.B, n, dim int, format string) []byte {
	b.Helper()
	sim := simulator.New(simulator.Config{Dim: dim})
	in := make([]string, n)
	for i := range in {
		in[i] = fmt.Sprintf("text %d", i)
	}
	req, _ := json.Marshal(map[string]any{"input": in, "encoding_format": format})
	rec := &recorder{header: http.Header{}}
	r, _ := http.NewRequest(http.MethodPost, "http://sim/v1/embeddings", bytes.NewReader(req))
	sim.ServeHTTP(rec, r)
	if rec.status != 0 && rec.status != http.StatusOK {
		b.Fatalf("simulator answered %d: %s", rec.status, rec.body.String())
	}
	return rec.body.Bytes()
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(status int)      { r.status = status }
func (r *recorder) Write(p []byte) (int, error) { return r.body.Write(p) }

// BenchmarkEmbedDecode measures what Embed costs besides the network:
// encoding the request and decoding the answer, for the worker's usual
// batches of 1536-dimension vectors.
func BenchmarkEmbedDecode(b *testing.B) {
	for _, tt := range []struct {
		inputs int
		format string
	}{{1, "base64"}, {64, "base64"}, {128, "base64"}, {64, "float"}} {
		b.Run(fmt.Sprintf("%d×1536-%s", tt.inputs, tt.format), func(b *testing.B) {
			body := simulatedBody(b, tt.inputs, 1536, tt.format)
			// The client asks for base64; "float" is the answer of a
			// server that ignores that and sends arrays.
			c, err := openai.New(&http.Client{Transport: canned(body)}, openai.Config{BaseURL: "http://sim/v1"})
			if err != nil {
				b.Fatal(err)
			}
			req := clients.EmbedRequest{Input: make([]string, tt.inputs)}
			for i := range req.Input {
				req.Input[i] = fmt.Sprintf("text %d", i)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Embed(b.Context(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
