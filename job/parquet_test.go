package job_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// duckdbDir locates DuckDB's Node.js client as scripts/ensure-duckdb
// installs it: $LLMQ_DUCKDB_DIR, else out/duckdb in the repository.
func duckdbDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("LLMQ_DUCKDB_DIR")
	if dir == "" {
		abs, err := filepath.Abs(filepath.Join("..", "out", "duckdb"))
		if err != nil {
			t.Fatal(err)
		}
		dir = abs
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@duckdb", "node-api", "package.json")); err != nil {
		t.Fatalf("DuckDB's Node.js client not found in %s: run 'make deps' (scripts/ensure-duckdb installs it) or set LLMQ_DUCKDB_DIR", dir)
	}
	return dir
}

// duckdbRow is a row of a Parquet export as DuckDB reads it.
type duckdbRow struct {
	ID        string    `json:"id"`
	Embedding []float64 `json:"embedding"`
	Model     string    `json:"model"`
	Tokens    int64     `json:"tokens"`
}

// duckdb reads a Parquet file with DuckDB: its columns' names and types
// ("name TYPE, ...") and its rows in file order.
func duckdb(t *testing.T, file string) (string, []duckdbRow) {
	t.Helper()
	const script = `
import { DuckDBInstance } from "@duckdb/node-api";
const c = await (await DuckDBInstance.create(":memory:")).connect();
const file = process.argv[1].replaceAll("'", "''");
const d = await c.runAndReadAll("DESCRIBE SELECT * FROM read_parquet('" + file + "')");
const types = d.getRowObjectsJson().map(r => r.column_name + " " + r.column_type).join(", ");
const r = await c.runAndReadAll("SELECT id, embedding, model, tokens FROM read_parquet('" + file + "', file_row_number = true) ORDER BY file_row_number");
const rows = r.getRowObjectsJson().map(o => ({...o, tokens: Number(o.tokens)}));
process.stdout.write(JSON.stringify({types, rows}));
`
	cmd := exec.Command("node", "--input-type=module", "-e", script, file)
	cmd.Dir = duckdbDir(t)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("DuckDB: %v: %s", err, stderr.String())
	}
	var res struct {
		Types string      `json:"types"`
		Rows  []duckdbRow `json:"rows"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("DuckDB's output: %v", err)
	}
	return res.Types, res.Rows
}
