package tasks_test

import (
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/llmq/llmq/tasks"
)

// TestCountTokens checks the tokenizers against counts OpenAI publishes
// (its cookbook's "tiktoken is great!" is 6 tokens in both).
func TestCountTokens(t *testing.T) {
	for _, tc := range []struct {
		encoding, text string
		want           int
	}{
		{tasks.EncodingCL100K, "hello world", 2},
		{tasks.EncodingCL100K, "tiktoken is great!", 6},
		{tasks.EncodingO200K, "hello world", 2},
		{tasks.EncodingO200K, "tiktoken is great!", 6},
	} {
		got, err := tasks.CountTokens(tc.encoding, tc.text)
		if err != nil || got != tc.want {
			t.Errorf("CountTokens(%s, %q) = %d, %v; want %d", tc.encoding, tc.text, got, err, tc.want)
		}
	}
	// A special-token marker in a text is plain text, not one token.
	if n, err := tasks.CountTokens(tasks.EncodingCL100K, "<|endoftext|>"); err != nil || n < 2 {
		t.Errorf("a marker counts %d, %v; want several plain tokens", n, err)
	}
	if _, err := tasks.CountTokens("p99k_base", "x"); err == nil {
		t.Error("an unknown tokenizer counted")
	}
}

func TestEncoding(t *testing.T) {
	for _, tc := range []struct{ provider, model, want string }{
		{"openai", "text-embedding-3-small", tasks.EncodingCL100K},
		{"openai", "text-embedding-3-large", tasks.EncodingCL100K},
		{"", "text-embedding-ada-002", tasks.EncodingCL100K},
		{"openai", "", tasks.EncodingCL100K}, // the worker's default: an OpenAI embedding model
		{"openai", "gpt-4o", tasks.EncodingO200K},
		{"openai", "gpt-4o-mini", tasks.EncodingO200K},
		{"ollama", "", ""},
		{"ollama", "nomic-embed-text", ""},
		{"openai", "my-finetune", ""},
	} {
		if got := tasks.Encoding(tc.provider, tc.model); got != tc.want {
			t.Errorf("Encoding(%q, %q) = %q, want %q", tc.provider, tc.model, got, tc.want)
		}
	}
}

// TestCheckTokensEnglish is a 26 KB English text (the LGPL 2.1) that the
// estimate puts over 8192 tokens: it holds 5692 cl100k tokens, and is
// accepted. Twice over, it is refused on its exact count.
func TestCheckTokensEnglish(t *testing.T) {
	b, err := os.ReadFile("testdata/lgpl-2.1.txt")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if est := tasks.EstimateTokens(text); est <= tasks.MaxInputTokens {
		t.Fatalf("estimate %d: the text does not test the exact count", est)
	}
	c := tasks.CheckTokens(tasks.EncodingCL100K, tasks.MaxInputTokens, text)
	if c.Over || !c.Exact || c.Tokens != 5692 {
		t.Errorf("CheckTokens = %+v, want 5692 exact tokens, not over", c)
	}
	// Counted in pieces, the same text adds up to about as many.
	half, _ := tasks.CountTokens(tasks.EncodingCL100K, text[:len(text)/2])
	rest, _ := tasks.CountTokens(tasks.EncodingCL100K, text[len(text)/2:])
	if d := half + rest - c.Tokens; d < 0 || d > 2 {
		t.Errorf("halves count %d + %d, the whole %d", half, rest, c.Tokens)
	}
	twice := tasks.CheckTokens(tasks.EncodingCL100K, tasks.MaxInputTokens, text, text)
	if !twice.Over || !twice.Exact || twice.Tokens != 2*c.Tokens {
		t.Errorf("two texts: %+v, want %d exact tokens, over", twice, 2*c.Tokens)
	}
	if u := tasks.CheckTokens("", tasks.MaxInputTokens, strings.Repeat(text, 10)); u.Over || u.Exact {
		t.Errorf("unknown tokenizer: %+v; want never refused on the estimate", u)
	}
	if s := tasks.CheckTokens(tasks.EncodingCL100K, tasks.MaxInputTokens, "short"); s.Exact || s.Over || s.Tokens != 2 {
		t.Errorf("short text: %+v; want its estimate, not counted", s)
	}
}

// TestCountTokensConcurrent counts from several goroutines at once (the
// embed handler does): the race detector watches.
func TestCountTokensConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if n, err := tasks.CountTokens(tasks.EncodingO200K, "tiktoken is great!"); n != 6 || err != nil {
					t.Errorf("count %d, %v", n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
