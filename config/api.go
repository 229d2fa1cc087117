package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/llmq/llmq/clients"
)

// API configures cmd/api, the OpenAI Files and Batch API in front of llmq's
// jobs.
type API struct {
	// Addr is the listen address (host:port) of the API and of its
	// unauthenticated /healthz and /readyz. Default ":8090".
	Addr string `env:"API_ADDR" envDefault:":8090" help:"listen address of the API and its /healthz and /readyz"`
	// Keys lists the API keys, comma-separated; each entry is KEY or
	// NAME:KEY, where NAME (letters, digits, - and _) only labels the key
	// in logs. A request authenticates with "Authorization: Bearer KEY".
	// Each key sees only its own files and batches. Redis holds only a
	// SHA-256 hash of each key. Required. Secret: never printed.
	Keys string `env:"API_KEYS" secret:"true" help:"API keys, comma-separated, each KEY or NAME:KEY (required)"`
	// FileStore is where uploaded files are kept: file:///path (a local
	// directory: one replica, or a volume shared by all) or
	// s3://bucket/prefix (any number of replicas). Default
	// file:///var/lib/llmq/files.
	FileStore string `env:"FILE_STORE" envDefault:"file:///var/lib/llmq/files" help:"file store: file:///path or s3://bucket/prefix"`
	// S3Endpoint is the S3 endpoint of an s3:// FILE_STORE, such as
	// http://minio:9000. Credentials come from AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), the shared credentials
	// file or the pod's IAM role. Default AWS's own endpoint.
	S3Endpoint string `env:"AWS_ENDPOINT_URL" help:"S3 endpoint URL of an s3:// FILE_STORE (default AWS)"`
	// S3Region is the region of the bucket. Default: asked of the server.
	S3Region string `env:"AWS_REGION" help:"region of the S3 bucket"`
	// MaxUploadBytes is the largest file accepted by POST /v1/files.
	// Default 536870912 (512 MiB).
	MaxUploadBytes int64 `env:"API_MAX_UPLOAD_BYTES" envDefault:"536870912" help:"largest file upload in bytes"`
	// MaxOpenBatches is how many batches one key may have that have not
	// ended (validating, in_progress, finalizing or cancelling). Default
	// 100.
	MaxOpenBatches int `env:"API_MAX_OPEN_BATCHES" envDefault:"100" help:"most unfinished batches per API key"`
	// MaxCompletionWindow is the longest completion_window accepted; a
	// batch takes any window from 1s to it, written like 24h, 90m or 30s.
	// Default 24h.
	MaxCompletionWindow time.Duration `env:"API_MAX_COMPLETION_WINDOW" envDefault:"24h" help:"longest completion_window a batch may ask for"`
	// BatchSize is the most texts per embedding task of a batch's job.
	// Default 128.
	BatchSize int `env:"API_BATCH_SIZE" envDefault:"128" help:"texts per embedding task of a batch's job"`
	// Provider is the provider the batches' embedding tasks ask the
	// workers for: openai or ollama. Default openai.
	Provider string `env:"API_EMBEDDING_PROVIDER" envDefault:"openai" help:"provider of the batches' embedding tasks: openai or ollama"`
	// SpoolDir holds a copy of an S3 input file while its batch is
	// submitted. Default the system's temporary directory.
	SpoolDir string `env:"API_SPOOL_DIR" help:"directory for copies of S3 input files being submitted"`
}

// APIKey is one entry of API_KEYS.
type APIKey struct {
	// Name labels the key in logs: NAME, or "key-N" for the Nth entry.
	Name string
	// Key is the secret.
	Key string
}

var keyNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// MinAPIKey is the shortest key accepted in API_KEYS.
const MinAPIKey = 16

// ParseKeys returns the entries of Keys.
func (c API) ParseKeys() ([]APIKey, error) {
	var out []APIKey
	seen := map[string]bool{}
	for i, e := range strings.Split(c.Keys, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		k := APIKey{Name: fmt.Sprintf("key-%d", i+1), Key: e}
		if name, key, ok := strings.Cut(e, ":"); ok && keyNameRE.MatchString(name) {
			k = APIKey{Name: name, Key: key}
		}
		switch {
		case strings.ContainsFunc(k.Key, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
			return nil, errorf("API_KEYS", fmt.Sprintf("entry %d: a key must not contain spaces or control characters (value not shown)", i+1))
		case len(k.Key) < MinAPIKey:
			return nil, errorf("API_KEYS", fmt.Sprintf("entry %d: a key must be at least %d characters long (value not shown)", i+1, MinAPIKey))
		case seen[k.Key]:
			return nil, errorf("API_KEYS", fmt.Sprintf("entry %d repeats a key (value not shown)", i+1))
		}
		seen[k.Key] = true
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, errorf("API_KEYS", "must be set: the API is never served without authentication")
	}
	return out, nil
}

// Validate reports the first unusable field as an *Error.
func (c API) Validate() error {
	if err := checkListenAddr(c.Addr); err != nil {
		return errorf("API_ADDR", err.Error())
	}
	if _, err := c.ParseKeys(); err != nil {
		return err
	}
	u, err := url.Parse(c.FileStore)
	switch {
	case err != nil:
		return errorf("FILE_STORE", "not a valid URL: "+urlProblem(err))
	case u.Scheme == "file" && (u.Path == "" || !strings.HasPrefix(u.Path, "/")):
		return errorf("FILE_STORE", fmt.Sprintf("want file:///absolute/path (got %q)", c.FileStore))
	case u.Scheme == "s3" && u.Host == "":
		return errorf("FILE_STORE", fmt.Sprintf("want s3://bucket/prefix (got %q)", u.Redacted()))
	case u.Scheme != "file" && u.Scheme != "s3":
		return errorf("FILE_STORE", fmt.Sprintf("scheme must be file or s3 (got %q)", u.Redacted()))
	}
	if c.S3Endpoint != "" {
		if err := checkHTTPURL("AWS_ENDPOINT_URL", c.S3Endpoint); err != nil {
			return err
		}
	}
	switch {
	case c.MaxUploadBytes <= 0:
		return errorf("API_MAX_UPLOAD_BYTES", fmt.Sprintf("must be positive (got %d)", c.MaxUploadBytes))
	case c.MaxOpenBatches <= 0:
		return errorf("API_MAX_OPEN_BATCHES", fmt.Sprintf("must be positive (got %d)", c.MaxOpenBatches))
	case c.MaxCompletionWindow < time.Second:
		return errorf("API_MAX_COMPLETION_WINDOW", fmt.Sprintf("must be at least 1s (got %s)", c.MaxCompletionWindow))
	case c.BatchSize < 1 || c.BatchSize > clients.MaxEmbedInputs:
		return errorf("API_BATCH_SIZE", fmt.Sprintf("must be between 1 and %d (got %d)", clients.MaxEmbedInputs, c.BatchSize))
	case c.Provider != "openai" && c.Provider != "ollama":
		return errorf("API_EMBEDDING_PROVIDER", fmt.Sprintf("must be openai or ollama (got %q)", c.Provider))
	}
	return nil
}

// APIEnv is everything cmd/api reads from the environment.
type APIEnv struct {
	Redis
	API
	Results
	Log
}

// Validate reports the first unusable variable as an *Error.
func (c APIEnv) Validate() error {
	return firstError(c.Redis.Validate(), c.API.Validate(), c.Results.Validate(), c.Log.Validate())
}
