package helm

import (
	"bytes"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/llmq/llmq/config"
)

// TestRenderAPI renders the Batch API with an S3 store and three replicas,
// and checks that its environment is one cmd/api accepts, with the values
// given.
func TestRenderAPI(t *testing.T) {
	m := render(t, "--set", "api.enabled=true", "--set", "api.replicaCount=3", "--set", "api.fileStore=s3://llmq/uploads",
		"--set", "api.s3.endpoint=http://minio:9000", "--set", "api.s3.region=eu-west-1", "--set", "api.s3.credentialsSecret=llmq-s3",
		"--set", "api.maxOpenBatches=7")
	d, s := m.deployments["api"], m.services["api"]
	if d == nil || s == nil {
		t.Fatalf("api Deployment %v, Service %v: want both", d != nil, s != nil)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas %s, want 3", show(d.Spec.Replicas))
	}
	c := container(t, d)
	if len(c.Command) != 1 || c.Command[0] != "/usr/local/bin/api" {
		t.Errorf("command %q", c.Command)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if e.Name != "API_KEYS" || ref.Name != "llmq" || ref.Key != "api-keys" {
				t.Errorf("%s from secret %s key %s", e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = "ci:sk-a-key-from-the-secret"
		default:
			env[e.Name] = e.Value
		}
	}
	cfg, err := config.LoadFrom[config.APIEnv](env)
	if err != nil {
		t.Fatalf("cmd/api refuses the rendered environment: %v", err)
	}
	if cfg.API.FileStore != "s3://llmq/uploads" || cfg.API.S3Endpoint != "http://minio:9000" || cfg.API.S3Region != "eu-west-1" ||
		cfg.API.MaxOpenBatches != 7 || cfg.API.Addr != ":8090" || cfg.API.MaxUploadBytes != 536870912 {
		t.Errorf("config from the chart %+v", cfg.API)
	}
	var usage bytes.Buffer
	config.Usage(&usage, config.APIEnv{})
	for name := range env {
		if !strings.Contains(usage.String(), name+" ") {
			t.Errorf("the chart sets %s, which cmd/api does not read", name)
		}
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef == nil || c.EnvFrom[0].SecretRef.Name != "llmq-s3" {
		t.Errorf("envFrom %+v, want the S3 credentials Secret", c.EnvFrom)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.String() != "http" {
		t.Errorf("readiness probe %+v", p)
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe %+v", p)
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 8090 {
		t.Errorf("ports %+v", c.Ports)
	}
	if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Port != 80 || s.Spec.Ports[0].TargetPort.String() != "http" ||
		s.Spec.Selector["app.kubernetes.io/component"] != "api" {
		t.Errorf("service %+v", s.Spec)
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "files" {
			t.Errorf("an S3 store has a files volume")
		}
	}
}

// TestRenderAPIFileStore checks the default file store: a volume mounted
// where FILE_STORE points, an emptyDir unless a claim is named, and no
// second replica without a shared claim.
func TestRenderAPIFileStore(t *testing.T) {
	m := render(t, "--set", "api.enabled=true")
	d := m.deployments["api"]
	c := container(t, d)
	if e, _ := envVar(c, "FILE_STORE"); e.Value != "file:///var/lib/llmq/files" {
		t.Errorf("FILE_STORE %q", e.Value)
	}
	mounted := false
	for _, vm := range c.VolumeMounts {
		mounted = mounted || (vm.Name == "files" && vm.MountPath == "/var/lib/llmq/files")
	}
	var files *corev1.Volume
	for i, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "files" {
			files = &d.Spec.Template.Spec.Volumes[i]
		}
	}
	if !mounted || files == nil || files.EmptyDir == nil {
		t.Errorf("files volume %+v mounted %v, want an emptyDir at /var/lib/llmq/files", files, mounted)
	}
	m = render(t, "--set", "api.enabled=true", "--set", "api.replicaCount=2", "--set", "api.persistence.existingClaim=llmq-files")
	for _, v := range m.deployments["api"].Spec.Template.Spec.Volumes {
		if v.Name == "files" && (v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "llmq-files") {
			t.Errorf("files volume %+v, want the claim llmq-files", v)
		}
	}
	for _, tt := range []struct {
		name, want string
		set        []string
	}{
		{"two replicas on an emptyDir", "existingClaim", []string{"api.replicaCount=2"}},
		{"bad store", "fileStore", []string{"api.fileStore=gs://bucket"}},
		{"bad endpoint", "endpoint", []string{"api.s3.endpoint=minio:9000"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"template", release, chartDir, "--set", "api.enabled=true"}
			for _, s := range tt.set {
				args = append(args, "--set", s)
			}
			out, err := helm(t, args...)
			if err == nil || !strings.Contains(out+err.Error(), tt.want) {
				t.Errorf("helm template: %v, output should name %s:\n%s", err, tt.want, out)
			}
		})
	}
	out, err := helm(t, "lint", "--strict", chartDir, "--set", "api.enabled=true")
	if err != nil || !strings.Contains(out, "0 chart(s) failed") {
		t.Errorf("helm lint with the API: %v\n%s", err, out)
	}
}
