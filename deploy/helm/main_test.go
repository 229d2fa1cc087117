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
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/llmq/llmq/internal/gobin"
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
	helmBin, err = helmTool.Find(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "helm:", err)
		os.Exit(1)
	}
	proctest.Main(m, &bin, "worker", "dashboard")
}

// helmTool is the pinned helm: $HELM, or built into the cache.
var helmTool = gobin.Tool{Name: "helm", Module: "helm.sh/helm/v3", Package: "helm.sh/helm/v3/cmd/helm", Version: HelmVersion, Env: "HELM"}
