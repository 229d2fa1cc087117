// Package version holds what a binary knows of its own build: the module
// version and the VCS revision, time and state that the Go toolchain
// records (runtime/debug.ReadBuildInfo), or the values stamped at link
// time, which take precedence:
//
//	go build -ldflags "-X github.com/llmq/llmq/internal/version.stampedVersion=v0.2.0 \
//	    -X github.com/llmq/llmq/internal/version.stampedRevision=$(git rev-parse HEAD)"
//
// A build inside a container usually has no .git directory, so the
// toolchain records no revision: the Dockerfile stamps both.
package version

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set with -ldflags -X; empty means "ask the build info".
var (
	stampedVersion  string
	stampedRevision string
	stampedTime     string
)

// Info describes one build.
type Info struct {
	// Version is the module version ("v0.2.0", a pseudo-version, or
	// "(devel)" for a build from a work tree), or the stamped one.
	Version string
	// Revision, Time and Modified are the VCS commit, its time (RFC 3339)
	// and whether the work tree had uncommitted changes; empty and false
	// when unknown.
	Revision string
	Time     string
	Modified bool
	// GoVersion is the toolchain that built the binary.
	GoVersion string
}

// Get returns the running binary's Info.
func Get() Info {
	info := Info{Version: "(devel)", GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		info = fromBuildInfo(bi)
	}
	if stampedVersion != "" {
		info.Version = stampedVersion
	}
	if stampedRevision != "" {
		info.Revision, info.Modified = stampedRevision, false
	}
	if stampedTime != "" {
		info.Time = stampedTime
	}
	return info
}

func fromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is the one-line form --version prints after the binary's name:
// "v0.2.0 (revision 0123abcd…, 2026-12-03T07:00:00Z, modified) go1.26.8".
func (i Info) String() string {
	var b strings.Builder
	b.WriteString(i.Version)
	var details []string
	if i.Revision != "" {
		details = append(details, "revision "+i.Revision)
	}
	if i.Time != "" {
		details = append(details, i.Time)
	}
	if i.Modified {
		details = append(details, "modified")
	}
	if len(details) > 0 {
		b.WriteString(" (" + strings.Join(details, ", ") + ")")
	}
	if i.GoVersion != "" {
		b.WriteString(" " + i.GoVersion)
	}
	return b.String()
}

// Requested reports whether args (the arguments after the program name)
// ask for the version alone: "--version" or "-version".
func Requested(args []string) bool {
	return len(args) == 1 && (args[0] == "--version" || args[0] == "-version")
}

// Print writes "name version-info" and a newline to w.
func Print(w io.Writer, name string) {
	fmt.Fprintf(w, "%s %s\n", name, Get())
}
