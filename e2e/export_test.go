package e2e

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/llmq/llmq/simulator"
)

// TestBulkExportFormats runs a job with enqueue embed --out (the export
// follows the job as its batches finish), then exports it again with
// results in base64 and in Parquet, and refuses an unknown format.
func TestBulkExportFormats(t *testing.T) {
	t.Parallel()
	const n, dim = 3000, 16
	f := setup(t)
	s := f.startSimulator(t, false, "-dim", fmt.Sprint(dim))
	f.startWorker(t, "OPENAI_BASE_URL="+s.url+"/v1", "OLLAMA_HOST="+s.url, "WORKER_CONCURRENCY=8", "LOG_LEVEL=warn")
	docs := corpus("export", n)
	in := f.writeJSONL(t, "docs.jsonl", lines(docs)...)

	out := f.path("out.jsonl")
	r := f.enqueue(t, "embed", "--file", in, "--batch-size", "50", "--out", out)
	if r.Code != 0 {
		t.Fatalf("embed --out: exit %d\n%s", r.Code, r.Stderr)
	}
	id := jobID(t, r)
	check := func(what string, i int, gotID string, v []float32) {
		t.Helper()
		if i >= n || gotID != docs[i].ID {
			t.Fatalf("%s: result %d: id %q, want input order", what, i, gotID)
		}
		if d := diffVector(v, simulator.Vector(docs[i].Text, dim)); d != "" {
			t.Fatalf("%s: result %s: %s", what, gotID, d)
		}
	}
	if got := readFileJSONL(t, out, func(i int, g bulkOut) { check("embed --out", i, g.ID, g.Embedding) }); got != n {
		t.Errorf("embed --out: %d results, want %d", got, n)
	}

	b64 := f.path("b64.jsonl")
	if r := f.enqueue(t, "results", id, "--out", b64, "--format", "base64"); r.Code != 0 {
		t.Fatalf("results --format base64: exit %d\n%s", r.Code, r.Stderr)
	}
	type b64Line struct {
		ID        string `json:"id"`
		Embedding string `json:"embedding"`
	}
	if got := readFileJSONL(t, b64, func(i int, g b64Line) {
		raw, err := base64.StdEncoding.DecodeString(g.Embedding)
		if err != nil {
			t.Fatalf("base64 result %s: %v", g.ID, err)
		}
		v := make([]float32, len(raw)/4)
		for k := range v {
			v[k] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*k:]))
		}
		check("base64", i, g.ID, v)
	}); got != n {
		t.Errorf("base64: %d results, want %d", got, n)
	}

	pq := f.path("out.parquet")
	if r := f.enqueue(t, "results", id, "--out", pq, "--format", "parquet"); r.Code != 0 {
		t.Fatalf("results --format parquet: exit %d\n%s", r.Code, r.Stderr)
	}
	type row struct {
		ID        string    `parquet:"id"`
		Embedding []float32 `parquet:"embedding,list"`
		Model     string    `parquet:"model"`
		Tokens    int64     `parquet:"tokens"`
	}
	rows, err := parquet.ReadFile[row](pq)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != n {
		t.Fatalf("parquet: %d rows, want %d", len(rows), n)
	}
	for i, r := range rows {
		check("parquet", i, r.ID, r.Embedding)
	}

	if r := f.enqueue(t, "results", id, "--out", f.path("x"), "--format", "csv"); r.Code == 0 || !strings.Contains(r.Stderr, "--format") {
		t.Errorf("results --format csv: exit %d, stderr %q; want a --format error", r.Code, r.Stderr)
	}
	if _, err := os.Stat(f.path("x")); err == nil {
		t.Error("results --format csv created its output file")
	}
}
