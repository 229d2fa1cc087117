package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/llmq/llmq/config"
)

func TestNewLogger(t *testing.T) {
	tests := []struct {
		name       string
		cfg        config.Log
		json       bool
		debug      bool // debug records are written
		info, warn bool
	}{
		{"defaults", config.Log{Level: "info", Format: "text"}, false, false, true, true},
		{"debug text", config.Log{Level: "debug", Format: "text"}, false, true, true, true},
		{"warn json", config.Log{Level: "warn", Format: "json"}, true, false, false, true},
		{"error json", config.Log{Level: "error", Format: "json"}, true, false, false, false},
		{"upper case", config.Log{Level: "DEBUG", Format: "JSON"}, true, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := NewLogger(&buf, tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, rec := range []struct {
				msg  string
				want bool
				emit func(string, ...any)
			}{
				{"debug-record", tt.debug, log.Debug},
				{"info-record", tt.info, log.Info},
				{"warn-record", tt.warn, log.Warn},
				{"error-record", true, log.Error},
			} {
				buf.Reset()
				rec.emit(rec.msg, "task_id", "t-1")
				out := buf.String()
				if got := strings.Contains(out, rec.msg); got != rec.want {
					t.Errorf("%s written = %v, want %v (output %q)", rec.msg, got, rec.want, out)
				}
				if !rec.want {
					continue
				}
				if tt.json {
					var m map[string]any
					if err := json.Unmarshal([]byte(out), &m); err != nil {
						t.Fatalf("JSON output %q: %v", out, err)
					}
					if m["msg"] != rec.msg || m["task_id"] != "t-1" {
						t.Errorf("JSON record = %v", m)
					}
				} else if !strings.Contains(out, "msg="+rec.msg) || !strings.Contains(out, "task_id=t-1") {
					t.Errorf("text record = %q", out)
				}
			}
		})
	}
}

func TestNewLoggerErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     config.Log
		wantVar string
	}{
		{"bad level", config.Log{Level: "trace", Format: "text"}, "LOG_LEVEL"},
		{"empty level", config.Log{Format: "text"}, "LOG_LEVEL"},
		{"bad format", config.Log{Level: "info", Format: "logfmt"}, "LOG_FORMAT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, err := NewLogger(&bytes.Buffer{}, tt.cfg)
			if err == nil || log != nil {
				t.Fatalf("NewLogger(%+v) = %v, %v; want an error", tt.cfg, log, err)
			}
			var cerr *config.Error
			if !errors.As(err, &cerr) || cerr.Var != tt.wantVar {
				t.Errorf("error %q, want a *config.Error for %s", err, tt.wantVar)
			}
		})
	}
}
