// Package helm tests the Helm chart in llmq/: helm lint --strict, helm
// template with the default values, with every option on
// (testdata/all-options.yaml) and with values the schema must refuse; the
// rendered manifests are parsed into the Kubernetes API types and checked
// against llmq itself: probes are answered by the real worker and
// dashboard binaries, the grace period outlasts SHUTDOWN_TIMEOUT, KEDA
// watches the pending lists of the worker's queues, every variable is one
// the binaries read, and no secret is rendered as a plain value.
//
// Helm is pinned: HelmVersion is built from the Go module proxy with go
// install into the user's cache directory the first time (about two and a
// half minutes on two cores with an empty build cache), then reused. $HELM
// names another helm binary built from that version.
package helm

import (
	"context"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/llmq/llmq/internal/proctest"
)

// HelmVersion is the helm the tests use.
const HelmVersion = "v3.22.0"

// Paths set by TestMain: the helm binary, and the worker and dashboard
// binaries by name.
var (
	helmBin string
	bin     map[string]string
)

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	var err error
	helmBin, err = findHelm(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "helm:", err)
		os.Exit(1)
	}
	proctest.Main(m, &bin, "worker", "dashboard")
}

// findHelm returns $HELM, or the pinned helm from the cache, building it
// there with go install when it is missing or of another version.
func findHelm(ctx context.Context) (string, error) {
	if h := os.Getenv("HELM"); h != "" {
		if v, err := helmVersion(h); err != nil || v != HelmVersion {
			return "", fmt.Errorf("HELM=%s: version %q (%v), want %s", h, v, err, HelmVersion)
		}
		return h, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "llmq", "helm-"+HelmVersion)
	path := filepath.Join(dir, "helm")
	if v, err := helmVersion(path); err == nil && v == HelmVersion {
		return path, nil
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "install", "helm.sh/helm/v3/cmd/helm@"+HelmVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install helm.sh/helm/v3/cmd/helm@%s: %w\n%s", HelmVersion, err, out)
	}
	fmt.Fprintf(os.Stderr, "built helm %s into %s in %s\n", HelmVersion, dir, time.Since(start).Round(time.Second))
	return path, nil
}

// helmVersion returns the version of the helm module the binary at path
// was built from, as its Go build information records it (helm built with
// go install prints only its minor version).
func helmVersion(path string) (string, error) {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return "", err
	}
	if info.Main.Path != "helm.sh/helm/v3" {
		return "", fmt.Errorf("%s is built from %s, not helm.sh/helm/v3", path, info.Main.Path)
	}
	return info.Main.Version, nil
}
