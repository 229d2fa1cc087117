package helm

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/llmq/llmq/config"
	"github.com/llmq/llmq/internal/proctest"
	"github.com/llmq/llmq/internal/redistest"
)

func TestLint(t *testing.T) {
	for _, tt := range []struct{ name, values string }{{"default values", ""}, {"all options", allOptions}} {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"lint", "--strict", chartDir}
			if tt.values != "" {
				args = append(args, "-f", tt.values)
			}
			out, err := helm(t, args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") {
				t.Errorf("helm lint:\n%s", out)
			}
		})
	}
}

func TestRenderDefault(t *testing.T) {
	m := render(t)
	want := map[string]int{"Deployment": 2, "Service": 2, "PodDisruptionBudget": 1, "ServiceAccount": 1}
	for _, kind := range []string{"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ScaledObject", "Ingress", "ServiceMonitor", "Secret", "ServiceAccount", "PrometheusRule"} {
		if got := m.count(kind); got != want[kind] {
			t.Errorf("%d %s rendered, want %d", got, kind, want[kind])
		}
	}
	w := m.deployments["worker"]
	checkWorker(t, m, w)
	checkDashboard(t, m, "/")
	if w.Spec.Replicas == nil || *w.Spec.Replicas != 2 {
		t.Errorf("worker replicas = %s, want 2", show(w.Spec.Replicas))
	}
	if got := w.Spec.Template.Spec.TerminationGracePeriodSeconds; got == nil || *got != 25+15 {
		t.Errorf("terminationGracePeriodSeconds = %s, want 40 (SHUTDOWN_TIMEOUT 25s + 15s)", show(got))
	}
	if a := w.Spec.Template.Spec.Affinity; a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Errorf("worker affinity %+v, want a preferred pod anti-affinity", a)
	}
}

func TestRenderAllOptions(t *testing.T) {
	m := render(t, "-f", allOptions)
	want := map[string]int{"Deployment": 2, "Service": 2, "PodDisruptionBudget": 1, "ScaledObject": 1, "TriggerAuthentication": 1, "Ingress": 1, "ServiceMonitor": 1, "ServiceAccount": 1, "PrometheusRule": 1}
	for _, kind := range []string{"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ScaledObject", "TriggerAuthentication", "Ingress", "ServiceMonitor", "Secret", "ServiceAccount", "PrometheusRule"} {
		if got := m.count(kind); got != want[kind] {
			t.Errorf("%d %s rendered, want %d", got, kind, want[kind])
		}
	}
	w := m.deployments["worker"]
	checkWorker(t, m, w)
	checkDashboard(t, m, "/monitoring")
	if w.Spec.Replicas != nil {
		t.Errorf("worker replicas = %d with KEDA on, want none (KEDA owns the count)", *w.Spec.Replicas)
	}
	if got := w.Spec.Template.Spec.TerminationGracePeriodSeconds; got == nil || *got != 90+15 {
		t.Errorf("terminationGracePeriodSeconds = %s, want 105", show(got))
	}
	if a := w.Spec.Template.Spec.Affinity; a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Errorf("worker affinity %+v, want a required pod anti-affinity", a)
	}
	c := container(t, w)
	if e, _ := envVar(c, "GOMAXPROCS"); e.Value != "2" {
		t.Errorf("extraEnv GOMAXPROCS = %+v", e)
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != "llmq-extra" {
		t.Errorf("envFrom = %+v", c.EnvFrom)
	}
	if c.Image != "registry.example.com/llmq@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" {
		t.Errorf("image %q, want the digest (image.digest wins over image.tag)", c.Image)
	}
	checkExtras(t, m)
	checkKEDA(t, m, w)
	checkIngress(t, m, "/monitoring", "queues.example.com")
	checkServiceMonitor(t, m)
}

func TestRenderHPA(t *testing.T) {
	m := render(t, "--set", "autoscaling.enabled=true", "--set", "autoscaling.minReplicas=2", "--set", "autoscaling.maxReplicas=12")
	if len(m.hpas) != 1 || m.count("ScaledObject") != 0 {
		t.Fatalf("%d HorizontalPodAutoscaler and %d ScaledObject rendered, want 1 and 0", len(m.hpas), m.count("ScaledObject"))
	}
	w, h := m.deployments["worker"], m.hpas[0]
	if w.Spec.Replicas != nil {
		t.Errorf("worker replicas = %d with an HPA, want none", *w.Spec.Replicas)
	}
	ref := h.Spec.ScaleTargetRef
	if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || ref.Name != w.Name {
		t.Errorf("HPA targets %+v, want Deployment %s", ref, w.Name)
	}
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != 2 || h.Spec.MaxReplicas != 12 {
		t.Errorf("HPA replicas %s..%d, want 2..12", show(h.Spec.MinReplicas), h.Spec.MaxReplicas)
	}
	if len(h.Spec.Metrics) != 1 || h.Spec.Metrics[0].Resource == nil || h.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU {
		t.Errorf("HPA metrics %+v, want CPU", h.Spec.Metrics)
	}
}

// TestRenderRefuses checks values that the schema or the templates must
// refuse.
func TestRenderRefuses(t *testing.T) {
	tests := []struct {
		name string
		set  []string
		want string
	}{
		{"keda to zero", []string{"keda.enabled=true", "keda.minReplicaCount=0"}, "minReplicaCount"},
		{"hpa to zero", []string{"autoscaling.enabled=true", "autoscaling.minReplicas=0"}, "minReplicas"},
		{"hpa and keda", []string{"autoscaling.enabled=true", "keda.enabled=true"}, "choose one"},
		{"password in redis url", []string{"redis.url=redis://:hunter2@cache:6379/0"}, "redis.url"},
		{"user and password in redis url", []string{"redis.url=redis://app:hunter2@cache:6379/0"}, "redis.url"},
		{"secret in extraEnv", []string{"worker.extraEnv.OPENAI_API_KEY=sk-123"}, "extraEnv"},
		{"bad duration", []string{"worker.pollInterval=fast"}, "pollInterval"},
		{"no queue", []string{"worker.queues=null"}, "queues"},
		{"bad queue weight", []string{"worker.queues.embeddings=0"}, "embeddings"},
		{"relative root path", []string{"dashboard.rootPath=monitoring"}, "rootPath"},
		{"unknown value", []string{"worker.replicas=3"}, "replicas"},
		{"keda on unix socket", []string{"keda.enabled=true", "redis.url=unix:///run/redis.sock"}, "no KEDA scaler"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args []string
			for _, s := range tt.set {
				args = append(args, "--set", s)
			}
			out, err := helm(t, append([]string{"template", release, chartDir}, args...)...)
			if err == nil {
				t.Fatalf("helm template --set %v rendered:\n%.500s", tt.set, out)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to mention %q", err, tt.want)
			}
		})
	}
}

// secretVars are the variables whose values are secrets.
var secretVars = map[string]bool{"OPENAI_API_KEY": true, "REDIS_PASSWORD": true, "DASHBOARD_PASSWORD": true}

var secretLike = regexp.MustCompile(`(?i)(KEY|PASSWORD|SECRET|TOKEN)`)

// checkNoPlainSecrets checks that every secret variable of c comes from a
// Secret and that REDIS_URL carries no password.
func checkNoPlainSecrets(t *testing.T, c corev1.Container) {
	t.Helper()
	for _, e := range c.Env {
		if !secretVars[e.Name] && !secretLike.MatchString(e.Name) || strings.HasSuffix(e.Name, "_FILE") {
			continue // a _FILE variable holds a path (to a mounted Secret)
		}
		if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("%s: %s is not read from a Secret: %+v", c.Name, e.Name, e)
		}
	}
	if e, ok := envVar(c, "REDIS_URL"); ok {
		opt, err := config.ParseRedisURL(e.Value)
		if err != nil {
			t.Errorf("%s: REDIS_URL: %v", c.Name, err)
		} else if pw := redisPassword(opt); pw != "" && !secretReference(c, pw) {
			t.Errorf("%s: REDIS_URL holds a password", c.Name)
		}
	}
}

// secretReference reports whether s is "$(NAME)", NAME a variable of c
// read from a Secret and defined before REDIS_URL, which Kubernetes
// expands in its place.
func secretReference(c corev1.Container, s string) bool {
	name, open := strings.CutPrefix(s, "$(")
	name, closed := strings.CutSuffix(name, ")")
	if !open || !closed {
		return false
	}
	e, found := envVar(c, name)
	return found && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && envIndex(c, name) < envIndex(c, "REDIS_URL")
}

func redisPassword(opt asynq.RedisConnOpt) string {
	switch o := opt.(type) {
	case asynq.RedisClientOpt:
		return o.Password
	case asynq.RedisFailoverClientOpt:
		return o.Password + o.SentinelPassword
	case asynq.RedisClusterClientOpt:
		return o.Password
	}
	return ""
}

// checkEnvKnown checks that every variable the chart sets is one that the
// binary reads (its --help lists it), apart from extra, and that the
// values pass the binary's own validation.
// workerEnvBeyondHelp are the worker variables the chart may set that
// --help does not list: read by the Go runtime or the OpenTelemetry SDK,
// or expanded by Kubernetes into another variable.
var workerEnvBeyondHelp = []string{"GOMAXPROCS", "SSL_CERT_FILE", "POD_NAME", "POD_NAMESPACE",
	"OTEL_RESOURCE_ATTRIBUTES", "OTEL_EXPORTER_OTLP_HEADERS", "REDIS_SENTINEL_PASSWORD"}

func checkEnvKnown(t *testing.T, c corev1.Container, usage any, extra ...string) map[string]string {
	t.Helper()
	var buf bytes.Buffer
	config.Usage(&buf, usage)
	known := map[string]bool{}
	for _, line := range strings.Split(buf.String(), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			known[f[0]] = true
		}
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if !known[e.Name] && !slices.Contains(extra, e.Name) {
			t.Errorf("%s: the chart sets %s, which the binary does not read", c.Name, e.Name)
		}
		if e.ValueFrom != nil {
			env[e.Name] = "secret-from-kubernetes" // stands for the Secret's value
		} else {
			env[e.Name] = e.Value
		}
	}
	return env
}

// checkSecurity checks the pod and container security settings.
func checkSecurity(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	ps := d.Spec.Template.Spec.SecurityContext
	if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser == 0 {
		t.Errorf("%s: pod securityContext %+v, want non-root", d.Name, ps)
	}
	c := container(t, d)
	s := c.SecurityContext
	switch {
	case s == nil:
		t.Fatalf("%s: no container securityContext", d.Name)
	case s.RunAsNonRoot == nil || !*s.RunAsNonRoot:
		t.Errorf("%s: runAsNonRoot not set", d.Name)
	case s.ReadOnlyRootFilesystem == nil || !*s.ReadOnlyRootFilesystem:
		t.Errorf("%s: root filesystem not read-only", d.Name)
	case s.AllowPrivilegeEscalation == nil || *s.AllowPrivilegeEscalation:
		t.Errorf("%s: privilege escalation allowed", d.Name)
	case s.Capabilities == nil || !slices.Equal(s.Capabilities.Drop, []corev1.Capability{"ALL"}):
		t.Errorf("%s: capabilities %+v, want ALL dropped", d.Name, s.Capabilities)
	}
	if d.Spec.Template.Spec.AutomountServiceAccountToken == nil || *d.Spec.Template.Spec.AutomountServiceAccountToken {
		t.Errorf("%s: service account token mounted", d.Name)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s: resources %+v, want a CPU request and a memory limit", d.Name, c.Resources)
	}
}

// selects reports whether selector matches labels.
func selects(selector map[string]string, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func checkWorker(t *testing.T, m *manifests, w *appsv1.Deployment) {
	t.Helper()
	c := container(t, w)
	if !slices.Equal(c.Command, []string{"/usr/local/bin/worker"}) {
		t.Errorf("worker command %q", c.Command)
	}
	checkSecurity(t, w)
	checkNoPlainSecrets(t, c)
	env := checkEnvKnown(t, c, config.WorkerEnv{}, workerEnvBeyondHelp...)
	if _, err := config.LoadFrom[config.WorkerEnv](env); err != nil {
		t.Errorf("the worker refuses the chart's environment: %v", err)
	}

	// Grace period: SHUTDOWN_TIMEOUT plus a margin.
	shutdown, err := time.ParseDuration(env["SHUTDOWN_TIMEOUT"])
	if err != nil {
		t.Fatalf("SHUTDOWN_TIMEOUT %q: %v", env["SHUTDOWN_TIMEOUT"], err)
	}
	grace := w.Spec.Template.Spec.TerminationGracePeriodSeconds
	if grace == nil || time.Duration(*grace)*time.Second < shutdown+5*time.Second {
		t.Errorf("terminationGracePeriodSeconds %s, want at least SHUTDOWN_TIMEOUT (%s) + 5s", show(grace), shutdown)
	}

	// Probes: /healthz and /readyz on the port of HTTP_ADDR.
	_, port, err := net.SplitHostPort(env["HTTP_ADDR"])
	if err != nil {
		t.Fatalf("HTTP_ADDR %q: %v", env["HTTP_ADDR"], err)
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("worker %s probe %+v, want an HTTP GET", name, p)
			continue
		}
		if got := strconv.Itoa(int(portNumber(t, c, *p.HTTPGet))); got != port {
			t.Errorf("worker %s probe on port %s, HTTP_ADDR listens on %s", name, got, port)
		}
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("worker probes %s and %s, want /healthz and /readyz", c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
	}

	labels := w.Spec.Template.Labels
	if !selects(w.Spec.Selector.MatchLabels, labels) {
		t.Errorf("worker selector %v does not match its pods %v", w.Spec.Selector.MatchLabels, labels)
	}
	for _, tsc := range w.Spec.Template.Spec.TopologySpreadConstraints {
		if tsc.LabelSelector == nil || !selects(tsc.LabelSelector.MatchLabels, labels) {
			t.Errorf("topology spread %+v does not select the worker pods", tsc)
		}
	}
	if len(w.Spec.Template.Spec.TopologySpreadConstraints) == 0 {
		t.Error("no topology spread constraint")
	}
	if a := w.Spec.Template.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, term := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			if !selects(term.PodAffinityTerm.LabelSelector.MatchLabels, labels) {
				t.Errorf("anti-affinity %+v does not select the worker pods", term)
			}
		}
		for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			if !selects(term.LabelSelector.MatchLabels, labels) {
				t.Errorf("anti-affinity %+v does not select the worker pods", term)
			}
		}
	}
	if len(m.pdbs) != 1 || !selects(m.pdbs[0].Spec.Selector.MatchLabels, labels) || m.pdbs[0].Spec.MaxUnavailable == nil {
		t.Errorf("PodDisruptionBudgets %+v, want one with maxUnavailable over the worker pods", m.pdbs)
	}
	checkService(t, m.services["worker"], w)
}

func checkService(t *testing.T, s *corev1.Service, d *appsv1.Deployment) {
	t.Helper()
	if s == nil {
		t.Fatalf("no Service for %s", d.Name)
	}
	if !selects(s.Spec.Selector, d.Spec.Template.Labels) {
		t.Errorf("Service %s selector %v does not match pods %v", s.Name, s.Spec.Selector, d.Spec.Template.Labels)
	}
	c := container(t, d)
	for _, p := range s.Spec.Ports {
		if !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.TargetPort.StrVal }) {
			t.Errorf("Service %s port %s targets %q, which %s does not have", s.Name, p.Name, p.TargetPort.String(), d.Name)
		}
	}
}

func checkDashboard(t *testing.T, m *manifests, rootPath string) {
	t.Helper()
	d := m.deployments["dashboard"]
	c := container(t, d)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("dashboard replicas %s, want 1", show(d.Spec.Replicas))
	}
	if !slices.Equal(c.Command, []string{"/usr/local/bin/dashboard"}) {
		t.Errorf("dashboard command %q", c.Command)
	}
	checkSecurity(t, d)
	checkNoPlainSecrets(t, c)
	env := checkEnvKnown(t, c, config.DashboardEnv{}, "REDIS_SENTINEL_PASSWORD")
	if env["DASHBOARD_READONLY"] != "true" {
		t.Errorf("DASHBOARD_READONLY = %q, want true", env["DASHBOARD_READONLY"])
	}
	if env["DASHBOARD_ROOT_PATH"] != rootPath {
		t.Errorf("DASHBOARD_ROOT_PATH = %q, want %q", env["DASHBOARD_ROOT_PATH"], rootPath)
	}
	if e, _ := envVar(c, "DASHBOARD_PASSWORD"); e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || (e.ValueFrom.SecretKeyRef.Optional != nil && *e.ValueFrom.SecretKeyRef.Optional) {
		t.Errorf("DASHBOARD_PASSWORD %+v, want a required Secret key", e)
	}
	env["DASHBOARD_PASSWORD"] = "a-password-long-enough"
	if _, err := config.LoadFrom[config.DashboardEnv](env); err != nil {
		t.Errorf("the dashboard refuses the chart's environment: %v", err)
	}
	_, port, _ := net.SplitHostPort(env["DASHBOARD_ADDR"])
	scheme := corev1.URISchemeHTTP
	if env["DASHBOARD_TLS_CERT_FILE"] != "" {
		scheme = corev1.URISchemeHTTPS
		checkTLSMount(t, d, c, env["DASHBOARD_TLS_CERT_FILE"], env["DASHBOARD_TLS_KEY_FILE"])
	}
	for name, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != name || strconv.Itoa(int(portNumber(t, c, *p.HTTPGet))) != port || p.HTTPGet.Scheme != scheme {
			t.Errorf("dashboard probe %+v, want %s GET %s on %s", p, scheme, name, port)
		}
	}
	checkService(t, m.services["dashboard"], d)
}

// unfinishedKeys are the keys of a queue that hold work not yet done, as
// the redis triggers name them after asynq:{QUEUE}: (ASYNQ-NOTES.md).
var unfinishedKeys = []string{"pending", "active", "scheduled", "retry", "groups"}

// checkKEDA checks the redis triggers of a ScaledObject decoded into
// KEDA's own types, with KEDA's own validation of triggers, replica bounds
// and fallback.
// checkTLSMount checks that the dashboard's certificate and key files are
// in a mounted Secret volume.
func checkTLSMount(t *testing.T, d *appsv1.Deployment, c corev1.Container, cert, key string) {
	t.Helper()
	for _, f := range []string{cert, key} {
		var found bool
		for _, vm := range c.VolumeMounts {
			if strings.HasPrefix(f, vm.MountPath+"/") {
				for _, v := range d.Spec.Template.Spec.Volumes {
					found = found || (v.Name == vm.Name && v.Secret != nil && v.Secret.SecretName != "")
				}
			}
		}
		if !found {
			t.Errorf("dashboard TLS file %s is in no mounted Secret", f)
		}
	}
}

func checkKEDA(t *testing.T, m *manifests, w *appsv1.Deployment) {
	t.Helper()
	if len(m.scaledObjects) != 1 {
		t.Fatalf("%d ScaledObjects", len(m.scaledObjects))
	}
	so := m.scaledObjects[0]
	checkKEDAValid(t, so, w)
	c := container(t, w)
	queuesVar, _ := envVar(c, "WORKER_QUEUES")
	queues, err := config.ParseQueues(queuesVar.Value)
	if err != nil {
		t.Fatalf("WORKER_QUEUES: %v", err)
	}

	urlVar, _ := envVar(c, "REDIS_URL")
	opt, err := config.ParseRedisURL(urlVar.Value)
	if err != nil {
		t.Fatal(err)
	}
	sentinel, ok := opt.(asynq.RedisFailoverClientOpt)
	if !ok {
		t.Fatalf("all-options REDIS_URL is %T, want a sentinel URL", opt)
	}
	if sentinel.SentinelUsername != "sentinel-reader" || sentinel.SentinelPassword != "$(REDIS_SENTINEL_PASSWORD)" {
		t.Errorf("REDIS_URL sentinel user %q, password %q; want sentinel-reader and $(REDIS_SENTINEL_PASSWORD)", sentinel.SentinelUsername, sentinel.SentinelPassword)
	}
	if i, j := envIndex(c, "REDIS_SENTINEL_PASSWORD"), envIndex(c, "REDIS_URL"); i < 0 || i > j {
		t.Errorf("REDIS_SENTINEL_PASSWORD at %d, REDIS_URL at %d: Kubernetes expands $(VAR) only from variables defined before", i, j)
	}
	passVar, _ := envVar(c, "REDIS_PASSWORD")
	sentinelPassVar, _ := envVar(c, "REDIS_SENTINEL_PASSWORD")
	lists := map[string]bool{}
	for _, tr := range so.Spec.Triggers {
		lists[tr.Metadata["listName"]] = true
		if tr.Type != "redis-sentinel" {
			t.Errorf("trigger type %q, want redis-sentinel for %s", tr.Type, urlVar.Value)
		}
		if got, want := tr.Metadata["addresses"], strings.Join(sentinel.SentinelAddrs, ","); got != want {
			t.Errorf("trigger addresses %q, want the URL's sentinels %q", got, want)
		}
		if tr.Metadata["sentinelMaster"] != sentinel.MasterName || tr.Metadata["databaseIndex"] != strconv.Itoa(sentinel.DB) {
			t.Errorf("trigger master %q db %q, want %q and %d", tr.Metadata["sentinelMaster"], tr.Metadata["databaseIndex"], sentinel.MasterName, sentinel.DB)
		}
		if tr.Metadata["sentinelUsername"] != sentinel.SentinelUsername || tr.Metadata["enableTLS"] != "true" {
			t.Errorf("trigger sentinelUsername %q enableTLS %q, want %q and true", tr.Metadata["sentinelUsername"], tr.Metadata["enableTLS"], sentinel.SentinelUsername)
		}
		want := "50"
		if strings.HasSuffix(tr.Metadata["listName"], ":groups") {
			want = "1" // any group holding items asks for a worker
		}
		if tr.Metadata["listLength"] != want {
			t.Errorf("%s: listLength %q, want %s", tr.Metadata["listName"], tr.Metadata["listLength"], want)
		}
		if tr.AuthenticationRef == nil || len(m.triggerAuths) != 1 || tr.AuthenticationRef.Name != m.triggerAuths[0].Name {
			t.Errorf("trigger authenticationRef %+v, want the chart's TriggerAuthentication", tr.AuthenticationRef)
		}
	}
	want := map[string]bool{}
	for q := range queues {
		for _, k := range unfinishedKeys {
			want["asynq:{"+q+"}:"+k] = true
		}
	}
	if !maps.Equal(lists, want) {
		t.Errorf("KEDA watches %v, want every unfinished key of WORKER_QUEUES %v", slices.Sorted(maps.Keys(lists)), slices.Sorted(maps.Keys(want)))
	}
	if len(m.triggerAuths) != 1 {
		t.Fatalf("%d TriggerAuthentications, want 1", len(m.triggerAuths))
	}
	got := map[string]string{}
	for _, r := range m.triggerAuths[0].Spec.SecretTargetRef {
		got[r.Parameter] = r.Name + "/" + r.Key
	}
	pk, sk := passVar.ValueFrom.SecretKeyRef, sentinelPassVar.ValueFrom.SecretKeyRef
	wantAuth := map[string]string{"password": pk.Name + "/" + pk.Key, "sentinelPassword": sk.Name + "/" + sk.Key, "ca": "redis-ca/ca.crt"}
	if !maps.Equal(got, wantAuth) {
		t.Errorf("TriggerAuthentication parameters %v, want %v (the worker's secrets and the CA)", got, wantAuth)
	}
}

// checkKEDAValid runs KEDA's own checks of a ScaledObject.
func checkKEDAValid(t *testing.T, so *kedav1alpha1.ScaledObject, w *appsv1.Deployment) {
	t.Helper()
	if err := kedav1alpha1.ValidateTriggers(so.Spec.Triggers); err != nil {
		t.Errorf("KEDA refuses the triggers: %v", err)
	}
	if err := kedav1alpha1.CheckReplicaCountBoundsAreValid(so); err != nil {
		t.Errorf("KEDA refuses the replica counts: %v", err)
	}
	if err := kedav1alpha1.CheckFallbackValid(so); err != nil {
		t.Errorf("KEDA refuses the fallback: %v", err)
	}
	if so.Spec.Fallback == nil || so.Spec.Fallback.Replicas < 1 {
		t.Errorf("fallback %+v, want replicas held when a trigger fails", so.Spec.Fallback)
	}
	ref := so.Spec.ScaleTargetRef
	if ref == nil || ref.Kind != "Deployment" || ref.Name != w.Name {
		t.Errorf("ScaledObject targets %+v, want Deployment %s", ref, w.Name)
	}
	if so.Spec.MinReplicaCount == nil || *so.Spec.MinReplicaCount < 1 {
		t.Errorf("minReplicaCount %s, want at least 1", show(so.Spec.MinReplicaCount))
	}
}

// envIndex is the position of variable name in c's environment, or -1.
func envIndex(c corev1.Container, name string) int {
	return slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
}

func checkIngress(t *testing.T, m *manifests, path, host string) {
	t.Helper()
	if len(m.ingresses) != 1 {
		t.Fatalf("%d Ingresses", len(m.ingresses))
	}
	ing, svc := m.ingresses[0], m.services["dashboard"]
	if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != host || ing.Spec.Rules[0].HTTP == nil {
		t.Fatalf("Ingress rules %+v", ing.Spec.Rules)
	}
	p := ing.Spec.Rules[0].HTTP.Paths[0]
	if p.Path != path || p.Backend.Service == nil || p.Backend.Service.Name != svc.Name || p.Backend.Service.Port.Number != svc.Spec.Ports[0].Port {
		t.Errorf("Ingress path %+v, want %s to Service %s port %d", p, path, svc.Name, svc.Spec.Ports[0].Port)
	}
	if len(ing.Spec.TLS) != 1 {
		t.Errorf("Ingress TLS %+v", ing.Spec.TLS)
	}
}

func checkServiceMonitor(t *testing.T, m *manifests) {
	t.Helper()
	if len(m.serviceMonitors) != 1 {
		t.Fatalf("%d ServiceMonitors", len(m.serviceMonitors))
	}
	sm, svc := m.serviceMonitors[0], m.services["worker"]
	if !selects(sm.Spec.Selector.MatchLabels, svc.Labels) {
		t.Errorf("ServiceMonitor selects %v, the worker Service has labels %v", sm.Spec.Selector.MatchLabels, svc.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name {
		t.Errorf("ServiceMonitor endpoints %+v, want the worker Service's port %s", sm.Spec.Endpoints, svc.Spec.Ports[0].Name)
	}
	if sm.Metadata.Labels["release"] != "prometheus" {
		t.Errorf("ServiceMonitor labels %v", sm.Metadata.Labels)
	}
}

// TestProbesReachRealEndpoints runs the worker and the dashboard binaries
// with the chart's default (plus the ServiceMonitor)
// environment (Redis, providers and ports moved to this machine) and sends
// each rendered probe to them.
func TestProbesReachRealEndpoints(t *testing.T) {
	m := render(t, "--set", "serviceMonitor.enabled=true")
	redis := redistest.Start(t)
	for _, component := range []string{"worker", "dashboard"} {
		t.Run(component, func(t *testing.T) {
			d := m.deployments[component]
			c := container(t, d)
			addrVar := map[string]string{"worker": "HTTP_ADDR", "dashboard": "DASHBOARD_ADDR"}[component]
			env := map[string]string{}
			for _, e := range c.Env {
				env[e.Name] = e.Value
			}
			_, chartPort, _ := net.SplitHostPort(env[addrVar])
			addr := proctest.FreeAddr(t)
			_, port, _ := net.SplitHostPort(addr)
			env[addrVar] = addr
			env["REDIS_URL"] = redis.URL()
			env["OPENAI_BASE_URL"] = "http://127.0.0.1:1/v1" // nothing listens: the worker starts anyway
			env["OLLAMA_HOST"] = "http://127.0.0.1:1"
			env["OPENAI_API_KEY"] = "sk-from-the-secret"
			env["DASHBOARD_PASSWORD"] = "a-password-from-the-secret"
			var vars []string
			for k, v := range env {
				vars = append(vars, k+"="+v)
			}
			p := proctest.Start(t, bin[component], proctest.Environ(vars...))
			probes := map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}
			if component == "worker" {
				// Prometheus scrapes the ServiceMonitor's path on the worker
				// Service's port, which targets the container port "http".
				if len(m.serviceMonitors) != 1 {
					t.Fatalf("%d ServiceMonitors", len(m.serviceMonitors))
				}
				ep := m.serviceMonitors[0].Spec.Endpoints[0]
				svc := m.services["worker"]
				if svc.Spec.Ports[0].Name != ep.Port {
					t.Fatalf("ServiceMonitor port %q, worker Service port %q", ep.Port, svc.Spec.Ports[0].Name)
				}
				probes["ServiceMonitor"] = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
					Path: ep.Path, Port: svc.Spec.Ports[0].TargetPort,
				}}}
			}
			for name, probe := range probes {
				probePort := strconv.Itoa(int(portNumber(t, c, *probe.HTTPGet)))
				if probePort != chartPort {
					t.Fatalf("%s probe port %s, the binary listens on %s", name, probePort, chartPort)
				}
				url := fmt.Sprintf("http://127.0.0.1:%s%s", port, probe.HTTPGet.Path)
				proctest.Eventually(t, 30*time.Second, 100*time.Millisecond, func() (bool, string) {
					if p.Exited() {
						t.Fatalf("%s exited: %s", component, p.Stderr.String())
					}
					resp, err := http.Get(url)
					if err != nil {
						return false, err.Error()
					}
					resp.Body.Close()
					return resp.StatusCode == http.StatusOK, fmt.Sprintf("%s probe GET %s: %s", name, probe.HTTPGet.Path, resp.Status)
				})
			}
		})
	}
}

// show prints a pointer's value, or "unset".
func show[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}
