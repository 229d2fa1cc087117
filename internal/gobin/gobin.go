// Package gobin finds a Go command the tests run at a pinned version: the
// binary an environment variable names, or one built with go install into
// the user's cache directory (~/.cache/llmq/NAME-VERSION/NAME) the first
// time and reused after. Either must have been built from the pinned
// module version, as its Go build information records it.
package gobin

import (
	"context"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// A Tool is a command built from a Go module.
type Tool struct {
	// Name is the binary's name, such as "helm".
	Name string
	// Module is the module the binary is built from, and Version its
	// pinned version.
	Module, Version string
	// Package is the main package to install; empty means Module.
	Package string
	// Env names the variable that may name a binary to use instead.
	Env string
	// GoFlags are added to GOFLAGS for the install, such as "-mod=mod".
	GoFlags string
	// Hint, when set, ends the error of a failed install: what else the
	// user may do.
	Hint string
}

// Find returns the path of t's binary: $Env when it is set (an error
// unless it is of the pinned version), else the cached build, installing
// it when it is missing or of another version. An install reports its
// duration on stderr.
func (t Tool) Find(ctx context.Context) (string, error) {
	if p := os.Getenv(t.Env); t.Env != "" && p != "" {
		if v, err := t.version(p); err != nil || v != t.Version {
			return "", fmt.Errorf("%s=%s: version %q (%v), want %s", t.Env, p, v, err, t.Version)
		}
		return p, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "llmq", t.Name+"-"+t.Version)
	path := filepath.Join(dir, t.Name)
	if v, err := t.version(path); err == nil && v == t.Version {
		return path, nil
	}
	pkg := t.Package
	if pkg == "" {
		pkg = t.Module
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "install", pkg+"@"+t.Version)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0", "GOFLAGS="+t.GoFlags+" -buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		hint := ""
		if t.Hint != "" {
			hint = " (" + t.Hint + ")"
		}
		return "", fmt.Errorf("go install %s@%s%s: %w\n%s", pkg, t.Version, hint, err, out)
	}
	fmt.Fprintf(os.Stderr, "built %s %s into %s in %s\n", t.Name, t.Version, dir, time.Since(start).Round(time.Second))
	return path, nil
}

// version returns the version of t's module that the binary at path was
// built from.
func (t Tool) version(path string) (string, error) {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return "", err
	}
	if info.Main.Path != t.Module {
		return "", fmt.Errorf("%s is built from %s, not %s", path, info.Main.Path, t.Module)
	}
	return info.Main.Version, nil
}
