package helm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// renderNotes renders templates/NOTES.txt, which helm template leaves out:
// it copies the chart, wraps NOTES.txt in a named template and renders it
// into a ConfigMap.
func renderNotes(t *testing.T, args ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), chartDir)
	if err := os.CopyFS(dir, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	notes, err := os.ReadFile(filepath.Join(dir, "templates", "NOTES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"_notes_under_test.tpl": `{{- define "test.notes" -}}` + "\n" + string(notes) + `{{- end }}`,
		"notes_under_test.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: |\n    {{- include \"test.notes\" . | nindent 4 }}\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, "templates", name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := helm(t, append([]string{"template", release, dir, "--show-only", "templates/notes_under_test.yaml"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict([]byte(out), &cm); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return cm.Data["notes"]
}

func TestNotes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"default", nil, []string{
			"deployment/llmq-worker, serving embeddings=6,generation=3 on redis://redis-master:6379/0",
			"2 replicas (set keda.enabled=true",
			"gets 25s to finish its tasks", "Kubernetes waits 40s",
			"Secret/llmq (keys openai-api-key, dashboard-password)",
			"Dashboard (asynqmon, read-only), user llmq",
			"port-forward svc/llmq-dashboard 8081:80",
			"open http://127.0.0.1:8081/",
		}},
		{"all options", []string{"-f", allOptions}, []string{
			"Autoscaled by KEDA on the pending lists asynq:{embeddings}:pending asynq:{generation}:pending asynq:{maintenance}:pending",
			"2 to 40 replicas, 50 pending tasks per replica",
			"Kubernetes waits 105s",
			"Secret/redis-auth (key password)",
			"https://queues.example.com/monitoring",
		}},
		{"hpa", []string{"--set", "autoscaling.enabled=true"}, []string{"Autoscaled on CPU: 1 to 10 replicas"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			notes := renderNotes(t, tt.args...)
			for _, w := range tt.want {
				if !strings.Contains(notes, w) {
					t.Errorf("NOTES.txt lacks %q:\n%s", w, notes)
				}
			}
		})
	}
}
