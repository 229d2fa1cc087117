package job

import (
	"io"

	"github.com/parquet-go/parquet-go"
)

// FormatParquet is an output format: a Parquet file with the columns id
// (string), embedding (list of float32), model (string) and tokens
// (int64), one row per vector, readable by pandas, polars, DuckDB and
// pyarrow. An item of several inputs (a Batch API line with an input
// array) has one row per input, in order, its tokens on the first.
// Failed items go to the errors output as JSON lines of the job's input
// format.
const FormatParquet Format = "parquet"

// parquetRow is one row of a FormatParquet export.
type parquetRow struct {
	ID        string    `parquet:"id"`
	Embedding []float32 `parquet:"embedding,list"`
	Model     string    `parquet:"model,dict"`
	Tokens    int64     `parquet:"tokens"`
}

// parquetRowGroup is the most rows a row group holds: the writer buffers
// one row group's columns in memory, about 25 MB at 1536 dimensions.
const parquetRowGroup = 4096

// parquetEncoder writes results as Parquet rows. Rows are built in
// parallel, each chunk's vectors decoded into floats it keeps, and
// encoded by the writer in order.
type parquetEncoder struct {
	w *parquet.GenericWriter[parquetRow]
}

// embeddingColumn is the path of the embedding's leaf column.
var embeddingColumn = []string{"embedding", "list", "element"}

func newParquetEncoder(out io.Writer) *parquetEncoder {
	return &parquetEncoder{w: parquet.NewGenericWriter[parquetRow](out,
		parquet.MaxRowsPerRowGroup(parquetRowGroup), parquet.WriteBufferSize(256<<10),
		parquet.CreatedBy("llmq", "", ""),
		// The bounds of an embedding's values prune no query: computing
		// them per page was a sixth of the export's time.
		parquet.SkipPageBounds(embeddingColumn...), parquet.SkipPageStatistics(embeddingColumn...))}
}

func (p *parquetEncoder) add(c *chunk, it *exportItem) {
	for k := range it.vectors() {
		// The rows' vectors share the chunk's floats, which are reused
		// with it: when they run out, earlier rows keep the array they
		// refer to and the chunk moves on to a larger one.
		n, d := len(c.floats), it.res.Dims
		if cap(c.floats)-n < d {
			c.floats = make([]float32, 0, max(2*cap(c.floats), 128*d))
			n = 0
		}
		c.floats = it.res.AppendVector(c.floats, it.from+k)
		row := parquetRow{ID: it.id, Embedding: c.floats[n : n+d : n+d], Model: it.model}
		if k == 0 {
			row.Tokens = int64(it.tokens)
		}
		c.rows = append(c.rows, row)
	}
}

func (p *parquetEncoder) write(c *chunk) error {
	_, err := p.w.Write(c.rows)
	return err
}

func (p *parquetEncoder) close() error { return p.w.Close() }
