package openai

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/segmentio/asm/ascii"
)

// maxResponse bounds an embeddings answer. The largest legitimate one,
// 2048 inputs of 3072 dimensions written as JSON numbers, is about 130 MB.
const maxResponse = 512 << 20

// decodeEmbedResponse reads an embeddings answer into er.
//
// An answer is mostly its vectors, and a base64 vector is one long JSON
// string: encoding/json validates it one byte at a time through its scanner
// and then copies it into a json.RawMessage, which made decoding the most
// expensive step of a task (about 4 ms and 3.5 MB for 64 vectors of 1536
// dimensions). parseEmbedResponse reads the usual shape directly, finding
// the end of a string with bytes.IndexByte and leaving each embedding in
// place in the body. Whatever it is not sure about (an unusual key, a
// number where it expects an integer, escapes in keys) goes to
// encoding/json, so both accept the same answers and decode them alike;
// FuzzParseEmbedResponse checks it.
//
// The body is read into a pooled buffer, which the embeddings of er refer
// to until release is called.
func decodeEmbedResponse(resp *http.Response, er *embedResponse) (release func(), err error) {
	body, err := readBody(resp)
	if err != nil {
		return nil, err
	}
	release = func() { releaseBody(body) }
	if parseEmbedResponse(body, er) {
		return release, nil
	}
	*er = embedResponse{}
	// A decoder, as before: it reads one value and ignores what follows.
	// It copies what it keeps, so the body goes back at once.
	err = json.NewDecoder(bytes.NewReader(body)).Decode(er)
	release()
	return func() {}, err
}

// readBody reads the whole body into one pooled buffer, to be handed
// back with releaseBody once nothing refers to it.
//
// A worker receives answers of the same size over and over (about 1 MB
// for 128 vectors of 1536 dimensions, often without Content-Length): a
// buffer read into at once, and reused, costs neither the allocation and
// clearing of a new one per answer nor the copies of growing one; and
// reading into its whole free space lets HTTP/2 hand over what it has
// received in few reads, each of which may send a window update. The
// worker's vector budget bounds how many answers are read at once, and
// so how many buffers the pool holds.
func readBody(resp *http.Response) ([]byte, error) {
	n := resp.ContentLength
	if n > maxResponse {
		return nil, fmt.Errorf("answer of %d bytes is larger than %d", n, maxResponse)
	}
	size := n
	if size < 0 {
		// Answers come in one size, mostly: start at the last one's, with
		// room for the read that finds the end, not at minBody and growing
		// by copies to it.
		size = min(lastBody.Load()+bodySlack, maxPooledBody)
	}
	b := bodyBuffer(int(size))
	if n >= 0 {
		// net/http ends the body at Content-Length and reports a short one.
		b = b[:n]
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			releaseBody(b)
			return nil, err
		}
		return b, nil
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow
		}
		m, err := resp.Body.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if len(b) > maxResponse {
			releaseBody(b)
			return nil, fmt.Errorf("answer is larger than %d bytes", maxResponse)
		}
		if err == io.EOF {
			lastBody.Store(int64(len(b)))
			return b, nil
		}
		if err != nil {
			releaseBody(b)
			return nil, err
		}
	}
}

// minBody is the smallest body buffer made; bodies up to maxPooledBody
// bytes are pooled, larger ones left to the garbage collector.
const (
	minBody       = 32 << 10
	maxPooledBody = 8 << 20
	bodySlack     = 4 << 10
)

var bodies sync.Pool

// lastBody is the length of the last answer read without Content-Length.
var lastBody atomic.Int64

// bodyBuffer returns an empty buffer of capacity size or more.
func bodyBuffer(size int) []byte {
	if p, ok := bodies.Get().(*[]byte); ok {
		if cap(*p) >= size {
			return (*p)[:0]
		}
		bodies.Put(p)
	}
	return make([]byte, 0, max(size, minBody))
}

func releaseBody(b []byte) {
	if cap(b) <= maxPooledBody {
		b = b[:0]
		bodies.Put(&b)
	}
}

// parseEmbedResponse decodes b into er as encoding/json would and reports
// true, or reports false when it cannot be sure of doing so; er is then
// in an unspecified state. Embeddings are left as slices of b.
func parseEmbedResponse(b []byte, er *embedResponse) bool {
	p := parser{b: b}
	p.space()
	seenData := false
	return p.object(func(key []byte) bool {
		switch string(key) {
		case "data":
			// A second "data" decodes into the first one's elements in
			// encoding/json; leave that oddity to it.
			if seenData {
				return false
			}
			seenData = true
			return p.data(er)
		case "model":
			return p.str(&er.Model)
		case "usage":
			return p.object(func(key []byte) bool {
				if string(key) == "prompt_tokens" {
					return p.integer(&er.Usage.PromptTokens)
				}
				return p.other(key, "prompt_tokens")
			})
		}
		return p.other(key, "data", "model", "usage")
	})
}

// data reads the "data" array.
func (p *parser) data(er *embedResponse) bool {
	if p.literal("null") {
		return false // encoding/json keeps what it had; leave that to it
	}
	er.Data = er.Data[:0]
	return p.array(func() bool {
		er.Data = append(er.Data, embedData{})
		d := &er.Data[len(er.Data)-1]
		return p.object(func(key []byte) bool {
			switch string(key) {
			case "index":
				return p.integer(&d.Index)
			case "embedding":
				start := p.i
				if !p.value(0) {
					return false
				}
				d.Embedding = json.RawMessage(p.b[start:p.i:p.i])
				return true
			}
			return p.other(key, "index", "embedding")
		})
	})
}

// maxDepth bounds the nesting of values the parser skips; deeper ones go
// to encoding/json.
const maxDepth = 100

// parser reads JSON from b, strictly: every function reports false on
// anything that is not valid JSON or not what it expects, and the caller
// then falls back to encoding/json.
type parser struct {
	b []byte
	i int
}

// space skips whitespace.
func (p *parser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next reports whether the next byte after whitespace is c, and consumes
// it if so.
func (p *parser) next(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// object reads an object, calling member for each key with the parser at
// the member's value.
func (p *parser) object(member func(key []byte) bool) bool {
	if !p.next('{') {
		return false
	}
	if p.next('}') {
		return true
	}
	for {
		p.space()
		key, ok := p.rawString()
		if !ok || bytes.IndexByte(key, '\\') >= 0 || !p.next(':') {
			return false
		}
		p.space()
		if !member(key) {
			return false
		}
		if p.next(',') {
			continue
		}
		return p.next('}')
	}
}

// array reads an array, calling elem with the parser at each element.
func (p *parser) array(elem func() bool) bool {
	if !p.next('[') {
		return false
	}
	if p.next(']') {
		return true
	}
	for {
		p.space()
		if !elem() {
			return false
		}
		if p.next(',') {
			continue
		}
		return p.next(']')
	}
}

// other skips the value of a key the caller does not want. encoding/json
// matches keys without regard to case: a key that differs from a wanted
// one only in case is left to it.
func (p *parser) other(key []byte, wanted ...string) bool {
	for _, w := range wanted {
		if bytes.EqualFold(key, []byte(w)) {
			return false
		}
	}
	return p.value(0)
}

// value skips one value of any kind.
func (p *parser) value(depth int) bool {
	if depth > maxDepth || p.i >= len(p.b) {
		return false
	}
	switch c := p.b[p.i]; {
	case c == '"':
		_, ok := p.rawString()
		return ok
	case c == '{':
		return p.object(func([]byte) bool { return p.value(depth + 1) })
	case c == '[':
		return p.array(func() bool { return p.value(depth + 1) })
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	}
	return p.number()
}

func (p *parser) literal(s string) bool {
	if bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		p.i += len(s)
		return true
	}
	return false
}

// rawString reads a string and returns what is between its quotes, escapes
// untouched. It finds the closing quote with bytes.IndexByte, which is what
// makes long base64 strings cheap.
func (p *parser) rawString() ([]byte, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return nil, false
	}
	start := p.i + 1
	n := bytes.IndexByte(p.b[start:], '"')
	if n < 0 {
		return nil, false
	}
	if !plain(p.b[start : start+n]) {
		// Escapes (the quote found may be one), or bytes JSON forbids:
		// go escape by escape.
		return p.escapedString(start)
	}
	p.i = start + n + 1
	return p.b[start : start+n], true
}

// plain reports whether s holds no backslash and no control character.
func plain(s []byte) bool {
	if ascii.ValidPrint(s) {
		// Printable ASCII, as base64 is, checked 32 bytes at a time.
		return bytes.IndexByte(s, '\\') < 0
	}
	if bytes.IndexByte(s, '\\') >= 0 {
		return false
	}
	// Eight bytes at a time: x - 0x20 in each byte borrows into the byte's
	// top bit exactly when the byte is below 0x20 (bytes of 0x80 and up,
	// whose top bit is set already, are masked out by ^x).
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(s) >= 8 {
		x := binary.LittleEndian.Uint64(s)
		if (x-0x20*ones)&^x&highs != 0 {
			return false
		}
		s = s[8:]
	}
	for _, c := range s {
		if c < 0x20 {
			return false
		}
	}
	return true
}

// escapedString reads a string with escapes, from just after its opening
// quote.
func (p *parser) escapedString(start int) ([]byte, bool) {
	i := start
	for i < len(p.b) {
		switch c := p.b[i]; {
		case c == '"':
			p.i = i + 1
			return p.b[start:i], true
		case c < 0x20:
			return nil, false
		case c == '\\':
			if i+1 >= len(p.b) {
				return nil, false
			}
			switch p.b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(p.b) {
					return nil, false
				}
				for _, h := range p.b[i+2 : i+6] {
					if !isHex(h) {
						return nil, false
					}
				}
				i += 6
			default:
				return nil, false
			}
		default:
			i++
		}
	}
	return nil, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// str reads a string into *s. Strings with escapes or non-ASCII bytes are
// unquoted by encoding/json, which also replaces invalid UTF-8.
func (p *parser) str(s *string) bool {
	start := p.i
	raw, ok := p.rawString()
	if !ok {
		return false
	}
	for _, c := range raw {
		if c == '\\' || c >= 0x80 {
			return json.Unmarshal(p.b[start:p.i], s) == nil
		}
	}
	*s = string(raw)
	return true
}

// integer reads a JSON number that is an integer without fraction or
// exponent into *n; anything else goes to encoding/json.
func (p *parser) integer(n *int) bool {
	start := p.i
	if !p.number() {
		return false
	}
	v, err := strconv.Atoi(string(p.b[start:p.i]))
	if err != nil {
		return false // a fraction, an exponent or out of range
	}
	*n = v
	return true
}

// number reads a number by JSON's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *parser) number() bool {
	b, i := p.b, p.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	p.i = i
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
