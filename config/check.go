package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// Checks shared by the Validate methods. Each returns nil or an *Error for
// the variable name; none repeats a secret.

func checkHTTPURL(name, raw string) error {
	if !strings.Contains(raw, "://") {
		// Not echoed: without a scheme, url.Redacted cannot find a password.
		return errorf(name, "scheme must be http or https: want a URL such as http://host:port")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errorf(name, "not a valid URL: "+urlProblem(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errorf(name, fmt.Sprintf("scheme must be http or https (got %q)", u.Redacted()))
	}
	if u.Host == "" {
		return errorf(name, fmt.Sprintf("URL has no host (got %q)", u.Redacted()))
	}
	return nil
}

// urlProblem describes a url.Parse error without the URL it quotes, which
// may hold a password.
func urlProblem(err error) string {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return "malformed"
	}
	var esc url.EscapeError
	var host url.InvalidHostError
	switch {
	case errors.As(ue.Err, &esc):
		return "invalid %-escape"
	case errors.As(ue.Err, &host):
		return "invalid character in host"
	}
	return strings.TrimPrefix(ue.Err.Error(), "net/url: ")
}

func checkNotNegative(name string, n int) error {
	if n < 0 {
		return errorf(name, fmt.Sprintf("must not be negative (got %d)", n))
	}
	return nil
}

func checkIdleConns(idleName string, idle int, maxName string, maxConns int) error {
	if maxConns > 0 && idle > maxConns {
		return errorf(idleName, fmt.Sprintf("must not exceed %s (got %d > %d)", maxName, idle, maxConns))
	}
	return nil
}

func checkPositive(name string, d time.Duration) error {
	if d <= 0 {
		return errorf(name, fmt.Sprintf("must be positive (got %s)", d))
	}
	return nil
}

func checkNotEmpty(name, s string) error {
	if strings.TrimSpace(s) == "" {
		return errorf(name, "must not be empty")
	}
	return nil
}

// checkToken rejects a credential with spaces or control characters, such as
// the trailing newline of a key read from a file, without printing it.
func checkToken(name, s string) error {
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return errorf(name, "must not contain spaces or control characters (value not shown)")
	}
	return nil
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
