package job_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/parquet-go/parquet-go"
	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/internal/proctest"
	"github.com/llmq/llmq/job"
	"github.com/llmq/llmq/simulator"
	"github.com/llmq/llmq/tasks"
)

// corpus is a simple-format job of n items in batches of 2, every fifth
// item repeating the text of an item 7 lines before it (in an earlier
// batch), and item 11 rejected by the provider. It returns the input and
// each item's id and text.
func corpus(t *testing.T, n int) (path string, ids, texts []string) {
	t.Helper()
	var lines []string
	for i := range n {
		text := fmt.Sprintf("text %d", i)
		switch {
		case i == 11:
			text = "bad sim:status=400"
		case i%5 == 4 && i >= 7:
			text = texts[i-7]
		}
		ids = append(ids, fmt.Sprintf("doc-%d", i))
		texts = append(texts, text)
		lines = append(lines, fmt.Sprintf(`{"id": %q, "text": %q}`, ids[i], text))
	}
	return writeFile(t, lines...), ids, texts
}

// sameBits reports whether got has exactly the bits of want.
func sameBits(got, want []float32) bool {
	return slices.EqualFunc(got, want, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) })
}

func decodeB64(t *testing.T, s string) []float32 {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw)%4 != 0 {
		t.Fatalf("base64 embedding %q: %v", s, err)
	}
	v := make([]float32, len(raw)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return v
}

// checkItems checks that got lists every item but the failed one, in
// input order, each with its text's vector to the bit.
func checkItems(t *testing.T, what string, ids, texts []string, gotIDs []string, gotVecs [][]float32) {
	t.Helper()
	var wantIDs []string
	for i, id := range ids {
		if i != 11 {
			wantIDs = append(wantIDs, id)
		}
	}
	if strings.Join(gotIDs, " ") != strings.Join(wantIDs, " ") {
		t.Fatalf("%s: ids %v, want %v", what, gotIDs, wantIDs)
	}
	for k, id := range gotIDs {
		var i int
		fmt.Sscanf(id, "doc-%d", &i)
		if !sameBits(gotVecs[k], simulator.Vector(texts[i], dim)) {
			t.Errorf("%s: %s: vector %v, want that of %q", what, id, gotVecs[k], texts[i])
		}
	}
}

// TestExportFormats exports one job in every format, with a window
// smaller than the job so that batches are formatted in parallel and out
// of turn, and checks each output's order and vectors, bit for bit.
func TestExportFormats(t *testing.T) {
	rdb := setup(t)
	ctx := context.Background()
	path, ids, texts := corpus(t, 41)
	sum, err := job.NewSubmission(rdb, job.Spec{Path: path, BatchSize: 2}).Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := wait(t, rdb, sum.ID)

	export := func(opts job.ExportOptions) (*bytes.Buffer, *bytes.Buffer) {
		t.Helper()
		var out, errs bytes.Buffer
		opts.Out, opts.Errors, opts.Window = &out, &errs, 3
		es, err := job.Export(ctx, rdb, st, opts)
		if err != nil {
			t.Fatalf("export %s %s: %v", opts.Format, opts.Encoding, err)
		}
		if es.Results != 40 || es.Failed != 1 || es.Duplicates != 7 {
			t.Errorf("export %s %s: %+v, want 40 results, 1 failed, 7 duplicates", opts.Format, opts.Encoding, es)
		}
		if e := errs.String(); !strings.HasPrefix(e, `{"id":"doc-11","error":{"status":400`) &&
			!(opts.Format == job.FormatBatch && strings.Contains(e, `"custom_id":"doc-11","response":{"status_code":400`)) {
			t.Errorf("errors %s", errs.String())
		}
		return &out, &errs
	}
	lines := func(b *bytes.Buffer) []string { return strings.Split(strings.TrimSpace(b.String()), "\n") }

	t.Run("simple floats", func(t *testing.T) {
		out, _ := export(job.ExportOptions{})
		var gotIDs []string
		var vecs [][]float32
		for _, l := range lines(out) {
			var o struct {
				ID        string    `json:"id"`
				Embedding []float32 `json:"embedding"`
			}
			if err := json.Unmarshal([]byte(l), &o); err != nil {
				t.Fatal(err)
			}
			gotIDs, vecs = append(gotIDs, o.ID), append(vecs, o.Embedding)
		}
		checkItems(t, "simple floats", ids, texts, gotIDs, vecs)
	})
	t.Run("simple base64", func(t *testing.T) {
		out, _ := export(job.ExportOptions{Encoding: job.EncodingBase64})
		var gotIDs []string
		var vecs [][]float32
		for _, l := range lines(out) {
			var o struct {
				ID        string `json:"id"`
				Embedding string `json:"embedding"`
			}
			if err := json.Unmarshal([]byte(l), &o); err != nil {
				t.Fatal(err)
			}
			gotIDs, vecs = append(gotIDs, o.ID), append(vecs, decodeB64(t, o.Embedding))
		}
		checkItems(t, "simple base64", ids, texts, gotIDs, vecs)
	})
	t.Run("batch base64", func(t *testing.T) {
		out, _ := export(job.ExportOptions{Format: job.FormatBatch, Encoding: job.EncodingBase64})
		var gotIDs []string
		var vecs [][]float32
		for _, o := range decodeLines[embeddingLine[string]](t, out.String()) {
			gotIDs, vecs = append(gotIDs, o.CustomID), append(vecs, decodeB64(t, o.Response.Body.Data[0].Embedding))
		}
		checkItems(t, "batch base64", ids, texts, gotIDs, vecs)
	})
	t.Run("parquet", func(t *testing.T) {
		out, _ := export(job.ExportOptions{Format: job.FormatParquet})
		type row struct {
			ID        string    `parquet:"id"`
			Embedding []float32 `parquet:"embedding,list"`
			Model     string    `parquet:"model"`
			Tokens    int64     `parquet:"tokens"`
		}
		rows, err := parquet.Read[row](bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs []string
		var vecs [][]float32
		tokens := int64(0)
		for _, r := range rows {
			gotIDs, vecs = append(gotIDs, r.ID), append(vecs, r.Embedding)
			tokens += r.Tokens
			if r.Model == "" {
				t.Errorf("row %s: no model", r.ID)
			}
		}
		checkItems(t, "parquet", ids, texts, gotIDs, vecs)
		if tokens == 0 {
			t.Error("no tokens in the tokens column")
		}
		// DuckDB reads the same file.
		file := filepath.Join(t.TempDir(), "out.parquet")
		if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		types, drows := duckdb(t, file)
		if types != "id VARCHAR, embedding FLOAT[], model VARCHAR, tokens BIGINT" {
			t.Errorf("DuckDB sees the columns %q", types)
		}
		gotIDs, vecs = nil, nil
		dtokens := int64(0)
		for _, r := range drows {
			gotIDs = append(gotIDs, r.ID)
			v := make([]float32, len(r.Embedding))
			for i, f := range r.Embedding {
				v[i] = float32(f) // a float32 widened to a double, exactly
			}
			vecs = append(vecs, v)
			dtokens += r.Tokens
		}
		checkItems(t, "parquet read by DuckDB", ids, texts, gotIDs, vecs)
		if dtokens != tokens {
			t.Errorf("DuckDB: %d tokens, parquet-go %d", dtokens, tokens)
		}
	})
	t.Run("bad options", func(t *testing.T) {
		for _, opts := range []job.ExportOptions{
			{Format: "csv"}, {Encoding: "hex"}, {Format: job.FormatParquet, Encoding: job.EncodingBase64},
		} {
			opts.Out = new(bytes.Buffer)
			if _, err := job.Export(ctx, rdb, st, opts); err == nil {
				t.Errorf("export %+v: no error", opts)
			}
		}
	})
}

// TestExportFollow starts an export of a job whose queue is paused: it
// writes nothing until the batches run, then every item in order, and
// returns once the job has finished.
func TestExportFollow(t *testing.T) {
	rdb := setup(t)
	ctx := context.Background()
	insp := asynq.NewInspectorFromRedisClient(rdb.(*redis.Client))
	if err := insp.PauseQueue(tasks.QueueEmbeddings); err != nil {
		t.Fatal(err)
	}
	path, ids, texts := corpus(t, 21)
	sum, err := job.NewSubmission(rdb, job.Spec{Path: path, BatchSize: 2}).Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := job.GetStatus(ctx, rdb, sum.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := job.Export(ctx, rdb, st, job.ExportOptions{Out: new(bytes.Buffer)}); !errors.Is(err, job.ErrNotFinished) {
		t.Fatalf("export of a running job without Follow: %v, want ErrNotFinished", err)
	}
	out := &proctest.Buffer{} // read while the export writes
	var errs bytes.Buffer
	done := startExport(ctx, rdb, st, job.ExportOptions{Out: out, Errors: &errs, Follow: true, Window: 4, PollInterval: 10 * time.Millisecond})
	time.Sleep(300 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("export returned before any batch ran: %+v, %v", r.sum, r.err)
	default:
	}
	if n := out.Len(); n != 0 {
		t.Fatalf("export wrote %d bytes before any batch ran", n)
	}
	if err := insp.UnpauseQueue(tasks.QueueEmbeddings); err != nil {
		t.Fatal(err)
	}
	exp := waitExport(t, done, 20*time.Second, "after the job finished")
	if exp.Results != 20 || exp.Failed != 1 {
		t.Errorf("export %+v, want 20 results and 1 failed", exp)
	}
	var gotIDs []string
	var vecs [][]float32
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var o struct {
			ID        string    `json:"id"`
			Embedding []float32 `json:"embedding"`
		}
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatal(err)
		}
		gotIDs, vecs = append(gotIDs, o.ID), append(vecs, o.Embedding)
	}
	checkItems(t, "followed export", ids[:21], texts, gotIDs, vecs)
}

// TestExportFollowCancel follows a job that is cancelled while it runs:
// the export ends, the batches that ran have results and the others are
// reported as cancelled.
func TestExportFollowCancel(t *testing.T) {
	rdb := setup(t)
	ctx := context.Background()
	var lines []string
	for i := range 12 {
		lines = append(lines, fmt.Sprintf(`{"id": "r%d", "text": "text %d sim:sleep=700ms"}`, i, i))
	}
	sum, err := job.NewSubmission(rdb, job.Spec{Path: writeFile(t, lines...), BatchSize: 1}).Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := job.GetStatus(ctx, rdb, sum.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	done := startExport(ctx, rdb, st, job.ExportOptions{Out: &out, Errors: &errs, Follow: true, PollInterval: 10 * time.Millisecond})
	for deadline := time.Now().Add(10 * time.Second); ; {
		if st, err := job.GetStatus(ctx, rdb, sum.ID); err != nil {
			t.Fatal(err)
		} else if st.Active == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("4 batches never ran at once")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := job.Cancel(ctx, rdb, sum.ID, job.ReasonCancelled); err != nil {
		t.Fatal(err)
	}
	exp := waitExport(t, done, 15*time.Second, "after the cancelled job finished")
	if exp.Results != 4 || exp.Failed != 8 {
		t.Errorf("export %+v, want the 4 running items done and 8 cancelled", exp)
	}
	if n := strings.Count(errs.String(), job.CancelledMessage); n != exp.Failed {
		t.Errorf("%d of %d failed items cancelled: %s", n, exp.Failed, errs.String())
	}
}

// exportResult is what job.Export returned.
type exportResult struct {
	sum *job.ExportSummary
	err error
}

// startExport runs job.Export in the background; its result comes on the
// channel.
func startExport(ctx context.Context, rdb redis.UniversalClient, st *job.Status, opts job.ExportOptions) <-chan exportResult {
	done := make(chan exportResult, 1)
	go func() {
		s, err := job.Export(ctx, rdb, st, opts)
		done <- exportResult{s, err}
	}()
	return done
}

// waitExport waits up to timeout for the export started by startExport and
// returns its summary. It fails the test, saying the export did not return
// after what, if it has not returned by then, or if it failed.
func waitExport(t *testing.T, done <-chan exportResult, timeout time.Duration, after string) *job.ExportSummary {
	t.Helper()
	var r exportResult
	select {
	case r = <-done:
	case <-time.After(timeout):
		t.Fatal("export did not return " + after)
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.sum
}
