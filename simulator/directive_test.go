package simulator

import (
	"strings"
	"testing"
	"time"
)

func TestParseDirectives(t *testing.T) {
	tests := []struct {
		name    string
		texts   []string
		want    directives
		wantErr string
	}{
		{"none", []string{"plain text", ""}, directives{}, ""},
		{"not a directive without =", []string{"sim:card sim: simulate"}, directives{}, ""},
		{"prefix must start the token", []string{"xsim:status=500"}, directives{}, ""},
		{"status", []string{"a sim:status=503 b"}, directives{status: 503}, ""},
		{"code", []string{"sim:code=insufficient_quota"}, directives{code: "insufficient_quota"}, ""},
		{"retry after", []string{"sim:retry_after=300ms"}, directives{retryAfter: 300 * time.Millisecond, hasRetryAfter: true}, ""},
		{"retry after zero", []string{"sim:retry_after=0s"}, directives{hasRetryAfter: true}, ""},
		{"sleep and stream delay", []string{"sim:sleep=2s\tsim:stream_delay=10ms"}, directives{sleep: 2 * time.Second, streamDelay: 10 * time.Millisecond}, ""},
		{"tokens", []string{"sim:tokens=0"}, directives{hasTokens: true}, ""},
		{"garbage", []string{"sim:garbage=1"}, directives{garbage: true}, ""},
		{"garbage false", []string{"sim:garbage=false"}, directives{}, ""},
		{"across texts, first wins", []string{"sim:status=500", "sim:status=502 sim:tokens=3"}, directives{status: 500, tokens: 3, hasTokens: true}, ""},
		{"unknown key", []string{"sim:statuss=500"}, directives{}, "unknown key"},
		{"status not a number", []string{"sim:status=five"}, directives{}, "sim:status=five"},
		{"status below 400", []string{"sim:status=302"}, directives{}, "between 400 and 599"},
		{"status above 599", []string{"sim:status=600"}, directives{}, "between 400 and 599"},
		{"empty code", []string{"sim:code="}, directives{}, "code"},
		{"duration without unit", []string{"sim:sleep=5"}, directives{}, "sim:sleep=5"},
		{"negative duration", []string{"sim:stream_delay=-1s"}, directives{}, "negative"},
		{"negative tokens", []string{"sim:tokens=-2"}, directives{}, "negative"},
		{"bad bool", []string{"sim:garbage=yes"}, directives{}, "sim:garbage=yes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDirectives(tt.texts...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
