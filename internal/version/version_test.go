package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"work tree", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-12-03T07:00:00Z"}, {Key: "vcs.modified", Value: "true"},
		}}, "(devel) (revision 0123abcd, 2026-12-03T07:00:00Z, modified) go1.26.8"},
		{"go install of a tag", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.2.0"}}, "v0.2.0 go1.26.8"},
		{"clean tree", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.2.1-0.20261203070000-0123abcd"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.modified", Value: "false"},
		}}, "v0.2.1-0.20261203070000-0123abcd (revision 0123abcd) go1.26.8"},
		{"no version", debug.BuildInfo{GoVersion: "go1.26.8"}, "(devel) go1.26.8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fromBuildInfo(&tt.bi).String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStamped(t *testing.T) {
	defer func(v, r, tm string) { stampedVersion, stampedRevision, stampedTime = v, r, tm }(stampedVersion, stampedRevision, stampedTime)
	stampedVersion, stampedRevision, stampedTime = "v9.9.9", "feedface", "2026-01-02T03:04:05Z"
	got := Get()
	if got.Version != "v9.9.9" || got.Revision != "feedface" || got.Time != "2026-01-02T03:04:05Z" || got.Modified {
		t.Errorf("Get() = %+v, want the stamped values, not modified", got)
	}
}

func TestRequested(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want bool
	}{
		{[]string{"--version"}, true},
		{[]string{"-version"}, true},
		{nil, false},
		{[]string{"--version", "x"}, false},
		{[]string{"embed", "--version"}, false},
		{[]string{"-v"}, false},
	} {
		if got := Requested(tt.args); got != tt.want {
			t.Errorf("Requested(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}
