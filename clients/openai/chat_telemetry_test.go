package openai_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/llmq/llmq/clients/openai"
	"github.com/llmq/llmq/simulator"
)

// TestChatTelemetry checks the GenAI span of chat and text completion
// calls and the time-to-first-chunk histogram, recorded for streams only.
func TestChatTelemetry(t *testing.T) {
	rec := newRecorders(t)
	f := setup(t, options{
		sim: simulator.Config{TimeToFirstToken: 20 * time.Millisecond},
		cfg: openai.Config{TracerProvider: rec.tp, MeterProvider: rec.mp},
	})
	ctx := context.Background()
	chat, err := f.client.Chat(ctx, chatReq(`{"model":"m","n":2,"max_tokens":3,"messages":[{"role":"user","content":"secret prompt"}]}`, true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Complete(ctx, chatReq(`{"model":"c","prompt":"secret prompt"}`, false)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Chat(ctx, chatReq(`{"model":"m","messages":[{"role":"user","content":"x sim:stream_error=1"}]}`, true)); err == nil {
		t.Fatal("error event: no error")
	}

	spans := rec.spans.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	want := []struct {
		name, op, model string
		reasons         []string
		in, out         int64
		errored         bool
	}{
		{"chat m", "chat", "m", []string{"length", "length"}, int64(simulator.Tokens("secret prompt")), 6, false},
		{"text_completion c", "text_completion", "c", []string{"stop"}, int64(simulator.Tokens("secret prompt")), simulator.DefaultTokens, false},
		{"chat m", "chat", "m", nil, 0, 0, true},
	}
	for i, w := range want {
		s := spans[i]
		a := attrs(s.Attributes())
		if s.Name() != w.name || s.SpanKind() != trace.SpanKindClient || a["gen_ai.operation.name"].AsString() != w.op ||
			a["gen_ai.request.model"].AsString() != w.model || a["gen_ai.provider.name"].AsString() != "openai" {
			t.Errorf("span %d: %s %v", i, s.Name(), a)
		}
		if got := a["gen_ai.response.finish_reasons"].AsStringSlice(); len(got) != len(w.reasons) || (len(got) > 0 && got[0] != w.reasons[0]) {
			t.Errorf("span %d finish_reasons = %v, want %v", i, got, w.reasons)
		}
		if a["gen_ai.usage.input_tokens"].AsInt64() != w.in || a["gen_ai.usage.output_tokens"].AsInt64() != w.out {
			t.Errorf("span %d usage %v", i, a)
		}
		if (s.Status().Code == codes.Error) != w.errored {
			t.Errorf("span %d status %v", i, s.Status())
		}
	}
	if id := attrs(spans[0].Attributes())["gen_ai.response.id"].AsString(); id != chat.ID || id == "" {
		t.Errorf("gen_ai.response.id = %q, want %q", id, chat.ID)
	}

	var rm metricdata.ResourceMetrics
	if err := rec.reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	var ttfc *metricdata.Histogram[float64]
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == "gen_ai.client.operation.time_to_first_chunk" {
				h := m.Data.(metricdata.Histogram[float64])
				ttfc = &h
				if m.Unit != "s" {
					t.Errorf("unit %q", m.Unit)
				}
			}
		}
	}
	if ttfc == nil || len(ttfc.DataPoints) != 1 {
		t.Fatalf("time_to_first_chunk: %+v", ttfc)
	}
	dp := ttfc.DataPoints[0]
	// Two streamed calls; the text completion was not streamed.
	op, _ := dp.Attributes.Value("gen_ai.operation.name")
	if min, _ := dp.Min.Value(); dp.Count != 2 || op.AsString() != "chat" || min < 0.02 {
		t.Errorf("time_to_first_chunk point: count %d attrs %v min %v", dp.Count, dp.Attributes, dp.Min)
	}
	assertNoSecret(t, spans, &rm, "secret prompt")
}
