package dashboard

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/llmq/llmq/clients"
	"github.com/llmq/llmq/tasks"
)

func TestFormatPayload(t *testing.T) {
	long := strings.Repeat("lorem ipsum ", 100) // 2048 of them make 2.4 MB
	texts := make([]string, 2048)
	ids := make([]string, 2048)
	for i := range texts {
		texts[i] = long
		ids[i] = fmt.Sprintf("doc-%d", i+1)
	}
	big, err := tasks.NewEmbedTask(tasks.EmbedPayload{Model: "text-embedding-3-large", Dimensions: 256, Texts: texts, IDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	small, err := tasks.NewEmbedTask(tasks.EmbedPayload{Provider: tasks.ProviderOllama, Texts: []string{"hello", "world"}})
	if err != nil {
		t.Fatal(err)
	}
	prompt, err := tasks.NewGenerateTask(tasks.GeneratePayload{Provider: tasks.ProviderOllama, Model: "llama3.2", Prompt: long, ID: "q-17", Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	chat, err := tasks.NewGenerateTask(tasks.GeneratePayload{Messages: []clients.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hello"}}})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		typ      string
		payload  []byte
		want     map[string]any // fields of the JSON summary
		maxBytes int
	}{
		{"large embedding", tasks.TypeEmbed, big.Payload(), map[string]any{
			"provider": "openai", "model": "text-embedding-3-large", "items": 2048.0, "dimensions": 256.0,
			"ids": []any{"doc-1", "doc-2", "doc-3", "doc-4", "…", "doc-2048"}, "payload_bytes": float64(len(big.Payload())),
		}, 600},
		{"small embedding", tasks.TypeEmbed, small.Payload(), map[string]any{
			"provider": "ollama", "model": defaultModel, "items": 2.0, "first_text": "hello",
		}, 300},
		{"prompt", tasks.TypeGenerate, prompt.Payload(), map[string]any{
			"provider": "ollama", "model": "llama3.2", "items": 1.0, "id": "q-17", "stream": true,
		}, 500},
		{"chat", tasks.TypeGenerate, chat.Payload(), map[string]any{
			"model": defaultModel, "messages": 2.0, "last_message": "user: Hello", "stream": false,
		}, 300},
		{"embedding not JSON", tasks.TypeEmbed, []byte("{oops"), map[string]any{"payload_bytes": 5.0}, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FormatPayload(tt.typ, tt.payload)
			if len(got) > tt.maxBytes {
				t.Errorf("summary is %d bytes, want at most %d: %s", len(got), tt.maxBytes, got)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(got), &m); err != nil {
				t.Fatalf("summary %q is not JSON: %v", got, err)
			}
			for k, v := range tt.want {
				if fmt.Sprint(m[k]) != fmt.Sprint(v) {
					t.Errorf("%s = %v, want %v in %s", k, m[k], v, got)
				}
			}
		})
	}
	if got := FormatPayload(tasks.TypeGenerate, prompt.Payload()); !strings.Contains(got, `"prompt":"lorem ipsum`) || !strings.Contains(got, "…") {
		t.Errorf("prompt not clipped with an ellipsis: %s", got)
	}
}

func TestFormatPayloadOtherTypes(t *testing.T) {
	tests := []struct {
		name, payload, want string
	}{
		{"short text", `{"user": 42}`, `{"user": 42}`},
		{"binary", "\x00\x01\x02", `{"payload_bytes":3,"shown":"no: too long or not printable"}`},
		{"long", strings.Repeat("x", 5000), `{"payload_bytes":5000,"shown":"no: too long or not printable"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatPayload("email:send", []byte(tt.payload)); got != tt.want {
				t.Errorf("FormatPayload = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFormatResult(t *testing.T) {
	vec := make([]float32, 1536)
	emb, err := tasks.EncodeEmbedResult(&clients.Embeddings{Model: "text-embedding-3-small", Vectors: [][]float32{vec, vec, vec}, InputTokens: 42})
	if err != nil {
		t.Fatal(err)
	}
	// LQE2 (tasks/result.go): 2 texts of 4 dimensions, 7 tokens, model
	// "m"; text 0 failed with 400 "too long", text 1 has a vector.
	embErrs := []byte("LQE2")
	embErrs = binary.LittleEndian.AppendUint32(embErrs, 2)
	embErrs = binary.LittleEndian.AppendUint32(embErrs, 4)
	embErrs = binary.LittleEndian.AppendUint32(embErrs, 7)
	embErrs = binary.LittleEndian.AppendUint16(embErrs, 1)
	embErrs = append(embErrs, 'm')
	embErrs = binary.LittleEndian.AppendUint32(embErrs, 1)
	embErrs = binary.LittleEndian.AppendUint32(embErrs, 0)
	embErrs = binary.LittleEndian.AppendUint16(embErrs, 400)
	embErrs = binary.LittleEndian.AppendUint16(embErrs, 8)
	embErrs = append(embErrs, "too long"...)
	embErrs = append(embErrs, make([]byte, 16)...)
	if r, err := tasks.DecodeEmbedResult(embErrs); err != nil || len(r.Errors) != 1 {
		t.Fatalf("test LQE2 result decodes to %+v, %v", r, err)
	}
	gen := `{"model":"llama3.2","text":"` + strings.Repeat("a", 500) + `","done_reason":"stop","input_tokens":12,"output_tokens":80}`
	tests := []struct {
		name, typ string
		result    []byte
		want      string
	}{
		{"embedding", tasks.TypeEmbed, emb, fmt.Sprintf(`{"model":"text-embedding-3-small","vectors":3,"dimensions":1536,"input_tokens":42,"result_bytes":%d}`, len(emb))},
		{"generation", tasks.TypeGenerate, []byte(gen), `{"model":"llama3.2","text":"` + strings.Repeat("a", maxText) + `…","text_chars":500,"done_reason":"stop","input_tokens":12,"output_tokens":80}`},
		{"none", tasks.TypeEmbed, nil, ""},
		// asynqmon v0.7.2 gives no type on a task's own page.
		{"embedding, no type", "", emb, fmt.Sprintf(`{"model":"text-embedding-3-small","vectors":3,"dimensions":1536,"input_tokens":42,"result_bytes":%d}`, len(emb))},
		{"embedding with errors, no type", "", embErrs, fmt.Sprintf(`{"model":"m","vectors":1,"failed":1,"dimensions":4,"input_tokens":7,"result_bytes":%d}`, len(embErrs))},
		{"generation, no type", "", []byte(gen), `{"model":"llama3.2","text":"` + strings.Repeat("a", maxText) + `…","text_chars":500,"done_reason":"stop","input_tokens":12,"output_tokens":80}`},
		{"other JSON, no type", "", []byte(`{"model":"x"}`), `{"model":"x"}`},
		{"binary, no type", "", []byte("\x00\x01"), `{"result_bytes":2,"shown":"no: too long or not printable"}`},
		{"bad embedding", tasks.TypeEmbed, []byte("LQE1"), `{"error":"result does not decode: `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FormatResult(tt.typ, tt.result)
			if !strings.HasPrefix(got, tt.want) || (tt.name != "bad embedding" && got != tt.want) {
				t.Errorf("FormatResult = %s\nwant %s", got, tt.want)
			}
		})
	}
}
