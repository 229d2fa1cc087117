package job_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/internal/redistest"
	"github.com/llmq/llmq/job"
)

// TestExportUnchanged exports one job of 301 items at 96 dimensions in
// every format and encoding, with duplicates, a failed item and items of
// several texts, and compares each output, byte for byte by SHA-256, with
// what the export wrote before it formatted vectors from their stored
// bytes (recorded then, from the same job). A change of these sums is a
// change of the output formats.
func TestExportUnchanged(t *testing.T) {
	srvRedis := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srvRedis.Addr()})
	t.Cleanup(func() { rdb.Close() })
	stop, err := startWorker(rdb, 96, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	ctx := context.Background()

	var lines []string
	for i := range 301 {
		input := fmt.Sprintf(`"text %d"`, i)
		switch {
		case i == 17:
			input = `"bad sim:status=400"`
		case i%7 == 3:
			input = fmt.Sprintf(`["text %d", "more %d", "and %d"]`, i, i, i)
		case i%5 == 4 && i >= 9:
			input = fmt.Sprintf(`"text %d"`, i-9) // a duplicate
		}
		lines = append(lines, fmt.Sprintf(`{"custom_id": "r%d", "method": "POST", "url": "/v1/embeddings", "body": {"model": "m", "input": %s}}`, i, input))
	}
	sum, err := job.NewSubmission(rdb, job.Spec{Path: writeFile(t, lines...), ID: "unchanged", BatchSize: 16}).Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := wait(t, rdb, sum.ID)

	for _, tt := range []struct {
		format   job.Format
		encoding string
		sha256   string
	}{
		{job.FormatSimple, job.EncodingFloat, "e777c4495832240c9d29abc80df64433c2040d2062702b4e1ef719a10c33fbdb"},
		{job.FormatSimple, job.EncodingBase64, "52b9d9daa6a10ce53efba47e921e2f2dac3f195278409beeac371e9551a016cc"},
		{job.FormatBatch, job.EncodingFloat, "b43b5bbeda69b90fac5d8868055ed2319476d47d975a7455f7891be3b8d441af"},
		{job.FormatBatch, job.EncodingBase64, "649b0bf92376bfb8b4d06b151652cdfe0861fe4bd9a3a173f75561b1753ecb90"},
		// Since the embedding column has no page statistics: the same rows
		// (TestExportFormats reads them back with DuckDB), less metadata.
		{job.FormatParquet, "", "b60a74d93e0309156a175791967bdaa9e94c4fc53f876d51c2bfbe3a88ebd001"},
	} {
		t.Run(string(tt.format)+" "+tt.encoding, func(t *testing.T) {
			var out, errs bytes.Buffer
			es, err := job.Export(ctx, rdb, st, job.ExportOptions{Out: &out, Errors: &errs, Format: tt.format, Encoding: tt.encoding, Window: 5})
			if err != nil {
				t.Fatal(err)
			}
			if es.Failed != 1 || es.Duplicates == 0 {
				t.Errorf("%+v: want 1 failed item and duplicates", es)
			}
			h := sha256.Sum256(append(out.Bytes(), errs.Bytes()...))
			if got := hex.EncodeToString(h[:]); got != tt.sha256 {
				t.Errorf("SHA-256 of the output %s, was %s", got, tt.sha256)
			}
		})
	}
}
