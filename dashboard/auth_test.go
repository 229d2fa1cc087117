package dashboard

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBasicAuth(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("secret page")) })
	h, err := BasicAuth(ok, "test realm", "ops", "correct-horse-battery")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		user, pass string
		noHeader   bool
		want       int
	}{
		{"no header", "", "", true, http.StatusUnauthorized},
		{"right credentials", "ops", "correct-horse-battery", false, http.StatusOK},
		{"wrong password", "ops", "correct-horse-batterY", false, http.StatusUnauthorized},
		{"password prefix", "ops", "correct-horse", false, http.StatusUnauthorized},
		{"wrong user", "admin", "correct-horse-battery", false, http.StatusUnauthorized},
		{"empty credentials", "", "", false, http.StatusUnauthorized},
		{"swapped", "correct-horse-battery", "ops", false, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/anything", nil)
			if !tt.noHeader {
				r.SetBasicAuth(tt.user, tt.pass)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d", w.Code, tt.want)
			}
			body := w.Body.String()
			if tt.want == http.StatusUnauthorized {
				if got := w.Header().Get("WWW-Authenticate"); got != `Basic realm="test realm", charset="UTF-8"` {
					t.Errorf("WWW-Authenticate = %q", got)
				}
				if strings.Contains(body, "secret page") {
					t.Errorf("401 response served the page: %q", body)
				}
			} else if body != "secret page" {
				t.Errorf("body %q", body)
			}
		})
	}
}

func TestBasicAuthNeedsCredentials(t *testing.T) {
	for _, c := range [][2]string{{"", ""}, {"ops", ""}, {"", "correct-horse-battery"}} {
		if h, err := BasicAuth(http.NotFoundHandler(), "r", c[0], c[1]); !errors.Is(err, ErrNoCredentials) || h != nil {
			t.Errorf("BasicAuth(user %q, password %q) = %v, %v; want nil, ErrNoCredentials", c[0], c[1], h, err)
		}
	}
}
