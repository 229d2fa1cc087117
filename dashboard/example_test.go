package dashboard_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/llmq/llmq/dashboard"
	"github.com/llmq/llmq/tasks"
)

func ExampleFormatPayload() {
	t, err := tasks.NewEmbedTask(tasks.EmbedPayload{
		Model: "text-embedding-3-small",
		Texts: []string{"The first document, which may be very long.", "The second one."},
		IDs:   []string{"doc-1", "doc-2"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(dashboard.FormatPayload(t.Type(), t.Payload()))
	// Output:
	// {"provider":"openai","model":"text-embedding-3-small","items":2,"ids":["doc-1","doc-2"],"first_text":"The first document, which may be very long.","payload_bytes":132}
}

func ExampleBasicAuth() {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "queues") })
	h, err := dashboard.BasicAuth(page, "llmq dashboard", "ops", "correct-horse-battery")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, pass := range []string{"", "wrong", "correct-horse-battery"} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if pass != "" {
			r.SetBasicAuth("ops", pass)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Body.String())
	}
	_, err = dashboard.BasicAuth(page, "llmq dashboard", "ops", "")
	fmt.Println(err)
	// Output:
	// 401 401 Unauthorized: this dashboard needs a user name and password
	//
	// 401 401 Unauthorized: this dashboard needs a user name and password
	//
	// 200 queues
	// dashboard: a user name and a password are required
}
