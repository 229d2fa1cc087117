package helm

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Chart and values the tests render.
const (
	chartDir   = "llmq"
	allOptions = "testdata/all-options.yaml"
	release    = "llmq"
)

// helm runs the pinned helm and returns its standard output, or an error
// holding its standard error.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, helmBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// serviceMonitor is the Prometheus Operator's ServiceMonitor as the chart
// renders it.
type serviceMonitor struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// manifests are the objects of one helm template run, parsed strictly
// into the Kubernetes API types and KEDA's own (keda.sh/v1alpha1): a field
// the type does not have is an error.
type manifests struct {
	kinds           []string
	deployments     map[string]*appsv1.Deployment // by app.kubernetes.io/component
	services        map[string]*corev1.Service    // by app.kubernetes.io/component
	pdbs            []*policyv1.PodDisruptionBudget
	hpas            []*autoscalingv2.HorizontalPodAutoscaler
	ingresses       []*networkingv1.Ingress
	scaledObjects   []*kedav1alpha1.ScaledObject
	triggerAuths    []*kedav1alpha1.TriggerAuthentication
	serviceMonitors []*serviceMonitor
	serviceAccounts []*corev1.ServiceAccount
	prometheusRules []*prometheusRule
}

// prometheusRule is the Prometheus Operator's PrometheusRule as the chart
// renders it.
type prometheusRule struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for,omitempty"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// render runs helm template with args (values files, --set) and parses the
// result.
func render(t *testing.T, args ...string) *manifests {
	t.Helper()
	out, err := helm(t, append([]string{"template", release, chartDir}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	m := &manifests{deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{}}
	for _, doc := range docSeparator.Split(out, -1) {
		var meta struct {
			metav1.TypeMeta `json:",inline"`
			Metadata        metav1.ObjectMeta `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, doc)
		}
		if meta.Kind == "" {
			continue // comments only
		}
		m.kinds = append(m.kinds, meta.Kind)
		component := meta.Metadata.Labels["app.kubernetes.io/component"]
		var obj any
		switch meta.APIVersion + " " + meta.Kind {
		case "apps/v1 Deployment":
			d := &appsv1.Deployment{}
			m.deployments[component], obj = d, d
		case "v1 Service":
			s := &corev1.Service{}
			m.services[component], obj = s, s
		case "policy/v1 PodDisruptionBudget":
			p := &policyv1.PodDisruptionBudget{}
			m.pdbs, obj = append(m.pdbs, p), p
		case "autoscaling/v2 HorizontalPodAutoscaler":
			h := &autoscalingv2.HorizontalPodAutoscaler{}
			m.hpas, obj = append(m.hpas, h), h
		case "networking.k8s.io/v1 Ingress":
			i := &networkingv1.Ingress{}
			m.ingresses, obj = append(m.ingresses, i), i
		case "keda.sh/v1alpha1 ScaledObject":
			s := &kedav1alpha1.ScaledObject{}
			m.scaledObjects, obj = append(m.scaledObjects, s), s
		case "keda.sh/v1alpha1 TriggerAuthentication":
			a := &kedav1alpha1.TriggerAuthentication{}
			m.triggerAuths, obj = append(m.triggerAuths, a), a
		case "v1 ServiceAccount":
			a := &corev1.ServiceAccount{}
			m.serviceAccounts, obj = append(m.serviceAccounts, a), a
		case "monitoring.coreos.com/v1 PrometheusRule":
			r := &prometheusRule{}
			m.prometheusRules, obj = append(m.prometheusRules, r), r
		case "monitoring.coreos.com/v1 ServiceMonitor":
			s := &serviceMonitor{}
			m.serviceMonitors, obj = append(m.serviceMonitors, s), s
		default:
			t.Fatalf("unexpected object %s %s %s", meta.APIVersion, meta.Kind, meta.Metadata.Name)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s %s: %v", meta.Kind, meta.Metadata.Name, err)
		}
	}
	return m
}

// count returns how many objects of kind were rendered.
func (m *manifests) count(kind string) int {
	n := 0
	for _, k := range m.kinds {
		if k == kind {
			n++
		}
	}
	return n
}

// container returns the only container of a Deployment.
func container(t *testing.T, d *appsv1.Deployment) corev1.Container {
	t.Helper()
	if d == nil {
		t.Fatal("Deployment not rendered")
	}
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("Deployment %s has %d containers, want 1", d.Name, n)
	}
	return d.Spec.Template.Spec.Containers[0]
}

// envVar returns the container's variable name, and whether it is set.
func envVar(c corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

// portNumber resolves a probe's port (a number or the name of a container
// port) to a number.
func portNumber(t *testing.T, c corev1.Container, p corev1.HTTPGetAction) int32 {
	t.Helper()
	if p.Port.StrVal == "" {
		return p.Port.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.Port.StrVal {
			return cp.ContainerPort
		}
	}
	t.Fatalf("container %s has no port named %q", c.Name, p.Port.StrVal)
	return 0
}
