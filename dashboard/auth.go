package dashboard

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
)

// ErrNoCredentials is returned when a user name or password is missing:
// the dashboard is never served without authentication.
var ErrNoCredentials = errors.New("dashboard: a user name and a password are required")

// BasicAuth returns a handler that serves next only to requests carrying
// user and password in an HTTP basic Authorization header, and answers any
// other request with 401 and a WWW-Authenticate challenge for realm.
//
// Both values are compared in constant time, over their SHA-256 digests so
// that neither the content nor the length of the expected values shows in
// the time a comparison takes; user and password are always both compared.
// It returns ErrNoCredentials if user or password is empty.
func BasicAuth(next http.Handler, realm, user, password string) (http.Handler, error) {
	if user == "" || password == "" {
		return nil, ErrNoCredentials
	}
	wantUser := sha256.Sum256([]byte(user))
	wantPass := sha256.Sum256([]byte(password))
	challenge := "Basic realm=" + strconv.Quote(realm) + `, charset="UTF-8"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		gotUser := sha256.Sum256([]byte(u))
		gotPass := sha256.Sum256([]byte(p))
		userOK := subtle.ConstantTimeCompare(gotUser[:], wantUser[:])
		passOK := subtle.ConstantTimeCompare(gotPass[:], wantPass[:])
		if !ok || userOK&passOK != 1 {
			w.Header().Set("WWW-Authenticate", challenge)
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "401 Unauthorized: this dashboard needs a user name and password", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	}), nil
}
