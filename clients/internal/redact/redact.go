// Package redact turns text a provider sent back into a short message that
// is safe to put in an error: it never holds a credential or one of the
// request's own texts, which providers sometimes echo.
package redact

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Mark replaces what was removed.
const Mark = "[redacted]"

// MinLen is the shortest secret or input that is looked for: shorter ones
// match ordinary words and carry nothing worth hiding.
const MinLen = 4

// Snippet returns at most limit bytes of s (cut at a rune boundary and
// marked with "..." when cut), on one line, with control characters and
// invalid UTF-8 replaced, and with every occurrence of a secret or an input
// replaced by Mark. A secret or input that the cut leaves only the start of
// at the end is replaced too.
func Snippet(s string, limit int, secrets, inputs []string) string {
	cut := false
	if len(s) > limit {
		i := limit
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s, cut = s[:i], true
	}
	for _, list := range [][]string{secrets, inputs} {
		for _, x := range list {
			s = remove(s, x)
		}
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if cut {
		s += "..."
	}
	return s
}

// remove replaces every occurrence of x in s, and a start of x that ends
// s, with Mark.
func remove(s, x string) string {
	if len(x) < MinLen || len(s) < MinLen {
		return s
	}
	if strings.Contains(s, x) {
		s = strings.ReplaceAll(s, x, Mark)
	}
	// A start of x (at least MinLen bytes) at the very end of s.
	for i := max(len(s)-len(x)+1, 0); i <= len(s)-MinLen; i++ {
		if s[i] == x[0] && strings.HasPrefix(x, s[i:]) {
			return s[:i] + Mark
		}
	}
	return s
}
