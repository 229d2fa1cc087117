package helm

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/llmq/llmq/internal/promtooltest"
)

// checkExtras checks the all-options render's service account, private
// CA volume, OpenTelemetry variables and PrometheusRule.
func checkExtras(t *testing.T, m *manifests) {
	t.Helper()
	if len(m.serviceAccounts) != 1 || m.serviceAccounts[0].Name != "llmq-runner" || m.serviceAccounts[0].Annotations["example.com/role"] != "batch" {
		t.Fatalf("service accounts %+v, want llmq-runner with its annotation", m.serviceAccounts)
	}
	if a := m.serviceAccounts[0].AutomountServiceAccountToken; a == nil || *a {
		t.Errorf("service account automounts its token: %s", show(a))
	}
	for _, d := range []*appsv1.Deployment{m.deployments["worker"], m.deployments["dashboard"]} {
		spec := d.Spec.Template.Spec
		if spec.ServiceAccountName != "llmq-runner" || spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			t.Errorf("%s: serviceAccountName %q, automount %s", d.Name, spec.ServiceAccountName, show(spec.AutomountServiceAccountToken))
		}
	}
	w := m.deployments["worker"]
	c := container(t, w)
	if !slices.ContainsFunc(c.VolumeMounts, func(v corev1.VolumeMount) bool { return v.Name == "private-ca" && v.MountPath == "/etc/llmq/ca" }) ||
		!slices.ContainsFunc(w.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "private-ca" && v.ConfigMap != nil }) {
		t.Errorf("worker lacks the private-ca volume and mount: %+v %+v", c.VolumeMounts, w.Spec.Template.Spec.Volumes)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	for name, want := range map[string]string{
		"OTEL_SERVICE_NAME":           "llmq-worker",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability:4317",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
		"OTEL_TRACES_SAMPLER":         "parentbased_traceidratio",
		"OTEL_TRACES_SAMPLER_ARG":     "0.25",
		"OTEL_RESOURCE_ATTRIBUTES":    "service.instance.id=$(POD_NAME),k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE),deployment.environment.name=prod",
	} {
		if env[name].Value != want {
			t.Errorf("%s = %q, want %q", name, env[name].Value, want)
		}
	}
	if e := env["POD_NAME"]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("POD_NAME %+v, want the downward API's metadata.name", e)
	}
	if e := env["OTEL_EXPORTER_OTLP_HEADERS"]; e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "otel-auth" {
		t.Errorf("OTEL_EXPORTER_OTLP_HEADERS %+v, want Secret otel-auth", e)
	}
	if len(m.prometheusRules) != 1 || m.prometheusRules[0].Metadata.Labels["release"] != "prometheus" {
		t.Fatalf("PrometheusRules %+v", m.prometheusRules)
	}
}

// TestPrometheusRule checks the rendered alert rules with promtool check
// rules.
func TestPrometheusRule(t *testing.T) {
	m := render(t, "--set", "prometheusRule.enabled=true")
	if len(m.prometheusRules) != 1 {
		t.Fatalf("%d PrometheusRules", len(m.prometheusRules))
	}
	var alerts []string
	var b strings.Builder
	b.WriteString("groups:\n")
	for _, g := range m.prometheusRules[0].Spec.Groups {
		b.WriteString("  - name: " + g.Name + "\n    rules:\n")
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			b.WriteString("      - alert: " + r.Alert + "\n        expr: " + strconvQuote(r.Expr) + "\n")
			if r.For != "" {
				b.WriteString("        for: " + r.For + "\n")
			}
		}
	}
	want := []string{"LlmqQueueBacklogStuck", "LlmqTasksArchived", "LlmqProviderErrors", "LlmqNoQueueReporter"}
	if !slices.Equal(alerts, want) {
		t.Errorf("alerts %v, want %v", alerts, want)
	}
	file := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), promtooltest.Path(t), "check", "rules", file).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS: 4 rules found") {
		t.Errorf("promtool check rules: %v\n%s\n%s", err, out, b.String())
	}
}

func strconvQuote(s string) string { return strconv.Quote(s) }

// TestUmbrellaChart renders the chart as a dependency of an umbrella
// chart that sets global values, as Helm does for subcharts.
func TestUmbrellaChart(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "charts", "llmq"), os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: platform\nversion: 1.0.0\ndependencies:\n  - name: llmq\n    version: 0.1.0\n    condition: llmq.enabled\n",
		"values.yaml": "global:\n  imageRegistry: registry.example.com\n  storageClass: fast\nllmq:\n  enabled: true\n" +
			"  fullnameOverride: queue\n  redis:\n    url: redis://redis.platform:6379/1\n  keda:\n    enabled: true\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := helm(t, "lint", "--strict", dir); err != nil || !strings.Contains(out, "0 chart(s) failed") {
		t.Fatalf("helm lint of the umbrella chart: %v\n%s", err, out)
	}
	out, err := helm(t, "template", "platform", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: queue-worker", "name: queue-dashboard", "kind: ScaledObject", `value: "redis://redis.platform:6379/1"`} {
		if !strings.Contains(out, want) {
			t.Errorf("umbrella render lacks %q", want)
		}
	}
	// The subchart's schema still applies under the umbrella.
	if _, err := helm(t, "template", "platform", dir, "--set", "llmq.worker.replicas=3"); err == nil || !strings.Contains(err.Error(), "replicas") {
		t.Errorf("umbrella with an unknown llmq value: %v, want the schema to refuse it", err)
	}
}
