package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func sampleReport() *Report {
	r := &Report{Config: Full("bin"), Started: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Elapsed: 90 * time.Second,
		Machine: Machine{CPUs: 2, CPUModel: "Some CPU", OS: "linux/amd64", Go: "go1.26", Redis: "7.0.15", LoadBefore: "0.5", LoadAfter: "0.7"}}
	r.row("1. scenario one", "baseline", "10 req/s", "")
	r.row("1. scenario one", "pooled | fast", "30 req/s", "3.00× req/s")
	r.row("2. scenario two", "only case", "5 tasks/s", "")
	r.target("throughput ≥ 2.5×", "3.00×", true)
	r.target("something ≥ 10×", "2.00×", false)
	r.explain("because %d", 42)
	r.target("not run", fmtX(ratio(1, 0)), false)
	r.Notes = []string{"a note"}
	return r
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"1. scenario one\n", "2. scenario two\n", "pooled | fast", "→ 3.00× req/s", "throughput ≥ 2.5×", "not met", "not measured", "note: a note"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "1. scenario one") != 1 {
		t.Errorf("scenario heading repeated:\n%s", out)
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteMarkdown(&b, "bin/bench -out BENCHMARKS.md"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"# Benchmarks", "`bin/bench -out BENCHMARKS.md`", "2026-01-02 03:04 UTC", "2 CPUs, Some CPU", "redis-server 7.0.15",
		"| 1. scenario one | baseline | 10 req/s |  |", "|  | pooled \\| fast | 30 req/s | 3.00× req/s |",
		"| something ≥ 10× | 2.00× | not met | because 42 |", "## How it measures", "- a note",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		modify func(*Config)
		ok     bool
	}{
		{"full", func(*Config) {}, true},
		{"no bin", func(c *Config) { c.BinDir = "" }, false},
		{"no reps", func(c *Config) { c.Reps = 0 }, false},
		{"zero size", func(c *Config) { c.DrainTasks = 0 }, false},
		{"known scenario", func(c *Config) { c.Only = []string{"drain"} }, true},
		{"unknown scenario", func(c *Config) { c.Only = []string{"nope"} }, false},
		{"adaptive scenario", func(c *Config) { c.Only = []string{"adaptive"} }, true},
		{"sweep without the pool size", func(c *Config) { c.AdaptiveSweep = []int{4, 8} }, false},
		{"sweep with zero", func(c *Config) { c.AdaptiveSweep = []int{0, 50} }, false},
		{"no capacity", func(c *Config) { c.AdaptiveCapacity = 0 }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := Full("bin")
			tt.modify(&c)
			if err := c.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if err := Smoke("bin").Validate(); err != nil {
		t.Errorf("Smoke: %v", err)
	}
}

func TestProfileSummary(t *testing.T) {
	top := "File: worker\nBuild ID: abc\nType: cpu\nTime: now\nDuration: 2s, Total samples = 1s (50%)\nActive filters:\n   show=llmq\n      flat  flat%\n    0.1s 10%  x\n"
	got := profileSummary(top)
	want := "Duration: 2s, Total samples = 1s (50%)\n      flat  flat%\n    0.1s 10%  x"
	if got != want {
		t.Errorf("profileSummary =\n%s\nwant\n%s", got, want)
	}
}

func TestFormat(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{groupThousands(1234567), "1,234,567"},
		{groupThousands(-1234), "-1,234"},
		{groupThousands(12), "12"},
		{fmtRate(12345.6), "12,346"},
		{fmtRate(12.34), "12.3"},
		{fmtMs(123.4), "123 ms"},
		{fmtMs(12.34), "12.3 ms"},
		{fmtMs(1.234), "1.23 ms"},
		{fmtX(12.3), "12×"},
		{fmtX(2.345), "2.35×"},
		{fmtPct(0.934), "93%"},
		{fmtMB(64e6), "64 MB"},
		{fmtBytes(393216), "393 kB"},
		{fmtBytes(2e6), "2 MB"},
		{fmtCount(3), "3"},
		{fmtCount(2.5), "2.5"},
		{conns(1), "1 connection"},
		{conns(2000), "2,000 connections"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
