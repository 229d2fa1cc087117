package simulator

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// directivePrefix starts a directive token: sim:key=value.
const directivePrefix = "sim:"

// directives is what the sim:key=value tokens of one request ask for.
// Zero values mean "not asked"; the has* fields tell an explicit zero apart.
type directives struct {
	status        int
	code          string
	retryAfter    time.Duration
	hasRetryAfter bool
	sleep         time.Duration
	streamDelay   time.Duration
	tokens        int
	hasTokens     bool
	garbage       bool
	// Stream faults: after streamCut (streamError) token positions, cut
	// the connection (send an error event), when has* is set.
	streamCut      int
	hasStreamCut   bool
	streamError    int
	hasStreamError bool
	streamNoDone   bool
}

// parseDirectives collects the directives in texts. A token is a directive
// when it starts with "sim:" and holds "="; the first occurrence of a key
// wins. An unknown key or a value that does not parse is an error naming the
// token.
func parseDirectives(texts ...string) (directives, error) {
	var d directives
	seen := make(map[string]bool)
	for _, text := range texts {
		if !strings.Contains(text, directivePrefix) {
			continue
		}
		for _, tok := range strings.Fields(text) {
			rest, ok := strings.CutPrefix(tok, directivePrefix)
			if !ok {
				continue
			}
			key, val, ok := strings.Cut(rest, "=")
			if !ok {
				continue
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			if err := d.set(key, val); err != nil {
				return directives{}, fmt.Errorf("directive %q: %w", tok, err)
			}
		}
	}
	return d, nil
}

func (d *directives) set(key, val string) error {
	var err error
	switch key {
	case "status":
		d.status, err = strconv.Atoi(val)
		if err == nil && (d.status < 400 || d.status > 599) {
			err = errors.New("status must be between 400 and 599")
		}
	case "code":
		if val == "" {
			err = errors.New("code must not be empty")
		}
		d.code = val
	case "retry_after":
		d.retryAfter, err = parseDuration(val)
		d.hasRetryAfter = true
	case "sleep":
		d.sleep, err = parseDuration(val)
	case "stream_delay":
		d.streamDelay, err = parseDuration(val)
	case "tokens":
		d.tokens, err = strconv.Atoi(val)
		if err == nil && d.tokens < 0 {
			err = errors.New("tokens must not be negative")
		}
		d.hasTokens = true
	case "garbage":
		d.garbage, err = strconv.ParseBool(val)
	case "stream_cut":
		d.streamCut, err = parseCount(val)
		d.hasStreamCut = true
	case "stream_error":
		d.streamError, err = parseCount(val)
		d.hasStreamError = true
	case "stream_no_done":
		d.streamNoDone, err = strconv.ParseBool(val)
	default:
		err = fmt.Errorf("unknown key %q", key)
	}
	return err
}

func parseCount(val string) (int, error) {
	n, err := strconv.Atoi(val)
	if err == nil && n < 0 {
		err = errors.New("must not be negative")
	}
	return n, err
}

func parseDuration(val string) (time.Duration, error) {
	d, err := time.ParseDuration(val)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, errors.New("duration must not be negative")
	}
	return d, nil
}
