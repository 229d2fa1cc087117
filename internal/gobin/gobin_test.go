package gobin

import (
	"debug/buildinfo"
	"os"
	"strings"
	"testing"
)

// TestFindFromEnv checks the variable's binary against the pin, with this
// test binary standing in for a tool.
func TestFindFromEnv(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	info, err := buildinfo.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("LLMQ_GOBIN_TEST", self)
	tests := []struct {
		name            string
		module, version string
		wantErr         string
	}{
		{"pinned", info.Main.Path, info.Main.Version, ""},
		{"other version", info.Main.Path, "v9.9.9", "want v9.9.9"},
		{"other module", "example.com/other", info.Main.Version, "not example.com/other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Tool{Name: "self", Module: tt.module, Version: tt.version, Env: "LLMQ_GOBIN_TEST"}.Find(t.Context())
			if tt.wantErr == "" {
				if err != nil || got != self {
					t.Fatalf("Find = %q, %v; want %q", got, err, self)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "LLMQ_GOBIN_TEST=") {
				t.Fatalf("Find error %v, want one naming LLMQ_GOBIN_TEST and %q", err, tt.wantErr)
			}
		})
	}
}
