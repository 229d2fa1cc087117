package config

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

const testBatchAPIKey = "sk-llmq-0123456789abcdef"

func TestLoadAPI(t *testing.T) {
	got, err := LoadFrom[APIEnv](map[string]string{"API_KEYS": "ci:" + testBatchAPIKey + ", sk-second-key-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	want := API{Addr: ":8090", Keys: "ci:" + testBatchAPIKey + ", sk-second-key-0123456789", FileStore: "file:///var/lib/llmq/files",
		MaxUploadBytes: 512 << 20, MaxOpenBatches: 100, MaxCompletionWindow: 24 * time.Hour, BatchSize: 128, Provider: "openai"}
	if got.API != want {
		t.Errorf("got %+v, want %+v", got.API, want)
	}
	keys, err := got.API.ParseKeys()
	if err != nil || len(keys) != 2 || keys[0] != (APIKey{"ci", testBatchAPIKey}) || keys[1] != (APIKey{"key-2", "sk-second-key-0123456789"}) {
		t.Errorf("keys %+v, %v", keys, err)
	}
}

func TestAPIErrors(t *testing.T) {
	tests := []struct {
		name, variable string
		env            map[string]string
	}{
		{"no keys", "API_KEYS", map[string]string{}},
		{"short key", "API_KEYS", map[string]string{"API_KEYS": "a:short"}},
		{"repeated key", "API_KEYS", map[string]string{"API_KEYS": testBatchAPIKey + "," + testBatchAPIKey}},
		{"key with a space", "API_KEYS", map[string]string{"API_KEYS": "sk-llmq 0123456789abcdef"}},
		{"store scheme", "FILE_STORE", map[string]string{"FILE_STORE": "gs://bucket"}},
		{"relative path", "FILE_STORE", map[string]string{"FILE_STORE": "file://files"}},
		{"s3 without bucket", "FILE_STORE", map[string]string{"FILE_STORE": "s3:///prefix"}},
		{"endpoint", "AWS_ENDPOINT_URL", map[string]string{"AWS_ENDPOINT_URL": "minio:9000"}},
		{"upload size", "API_MAX_UPLOAD_BYTES", map[string]string{"API_MAX_UPLOAD_BYTES": "0"}},
		{"open batches", "API_MAX_OPEN_BATCHES", map[string]string{"API_MAX_OPEN_BATCHES": "-1"}},
		{"window", "API_MAX_COMPLETION_WINDOW", map[string]string{"API_MAX_COMPLETION_WINDOW": "10ms"}},
		{"batch size", "API_BATCH_SIZE", map[string]string{"API_BATCH_SIZE": "5000"}},
		{"provider", "API_EMBEDDING_PROVIDER", map[string]string{"API_EMBEDDING_PROVIDER": "cohere"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := tt.env["API_KEYS"]; !ok && tt.name != "no keys" {
				tt.env["API_KEYS"] = testBatchAPIKey
			}
			_, err := LoadFrom[APIEnv](tt.env)
			var ce *Error
			if !errors.As(err, &ce) || ce.Var != tt.variable {
				t.Fatalf("error %v, want one naming %s", err, tt.variable)
			}
			if strings.Contains(err.Error(), testBatchAPIKey) || strings.Contains(err.Error(), "0123456789abcdef") {
				t.Errorf("error %q shows a key", err)
			}
		})
	}
}

func TestAPIUsage(t *testing.T) {
	var buf bytes.Buffer
	Usage(&buf, APIEnv{API: API{Keys: testBatchAPIKey}})
	for _, v := range []string{"API_KEYS", "FILE_STORE", "AWS_ENDPOINT_URL", "API_MAX_UPLOAD_BYTES", "API_MAX_OPEN_BATCHES", "REDIS_URL", "RESULT_RETENTION"} {
		if !strings.Contains(buf.String(), v) {
			t.Errorf("usage lacks %s", v)
		}
	}
	if strings.Contains(buf.String(), testBatchAPIKey) {
		t.Error("usage shows a key")
	}
}
