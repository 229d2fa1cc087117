package job

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/llmq/llmq/tasks"
)

// Format is the shape of a job's input lines, and of its results.
type Format string

// Input and output formats.
const (
	// FormatSimple lines are {"id": "doc-1", "text": "..."}; results are
	// {"id", "embedding", "model", "usage"}.
	FormatSimple Format = "simple"
	// FormatBatch lines are OpenAI Batch API requests to /v1/embeddings;
	// results are Batch API output lines.
	FormatBatch Format = "batch"
)

// MaxLineBytes is the longest input line read. A longer line is reported
// and skipped; no text within the token limit comes near it.
const MaxLineBytes = tasks.MaxTextBytes

// batchURL is the only Batch API endpoint jobs run.
const batchURL = "/v1/embeddings"

// ErrBadLine marks an input line that is skipped (or, with strict, stops
// the job before anything is enqueued). Errors wrapping it are *LineError.
var ErrBadLine = errors.New("bad input line")

// LineError is a bad input line: its number, from 1, and what is wrong.
type LineError struct {
	Line   int
	Reason string
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Is makes errors.Is(err, ErrBadLine) true.
func (e *LineError) Is(target error) bool { return target == ErrBadLine }

// Item is one valid input line.
type Item struct {
	// Line is the line number, from 1.
	Line int
	// ID is the caller's id (simple: "id", or the line number when absent;
	// Batch API: "custom_id").
	ID string
	// Texts holds the texts to embed: one, or for a Batch API line whose
	// input is an array, several. Empty for a generation job's item.
	Texts []string
	// Generate is a generation job's request (see NewGenerateReader); the
	// job's Submission sets its Job.
	Generate *tasks.GeneratePayload
}

// Limits bound what one item and one provider request may hold.
type Limits struct {
	// InputTokens is the most tokens one text may hold, by
	// tasks.CheckTokens. Default tasks.MaxInputTokens.
	InputTokens int
	// RequestTokens is the most tokens one request (one task) may hold.
	// Default tasks.MaxRequestTokens.
	RequestTokens int
	// Provider and Model choose the tokenizer (tasks.Encoding) that counts
	// a text exactly when its estimate is over a limit; Batch API lines
	// name their own model. Without a known tokenizer a text is not
	// refused on its estimate.
	Provider, Model string
}

func (l Limits) withDefaults() Limits {
	if l.InputTokens <= 0 {
		l.InputTokens = tasks.MaxInputTokens
	}
	if l.RequestTokens <= 0 {
		l.RequestTokens = tasks.MaxRequestTokens
	}
	return l
}

// Reader reads a job's input one line at a time, never holding more than
// one line. The first line that parses sets the format: a line with a
// "custom_id" makes it FormatBatch, otherwise FormatSimple. Batch API lines
// must agree on model, dimensions and encoding_format, which the first
// valid one sets.
type Reader struct {
	r      *bufio.Reader
	limits Limits
	line   int
	buf    []byte

	// Format is the input's format, set by the first line that parses.
	Format Format
	// Model, Dimensions and Encoding are what Batch API lines ask for.
	Model      string
	Dimensions int
	Encoding   string
	settled    bool
	enc        string // tokenizer, once encSet
	encSet     bool

	gen *generateOptions // set for a generation job's input
}

// NewReader returns a Reader of r with the given limits.
func NewReader(r io.Reader, limits Limits) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), limits: limits.withDefaults()}
}

// Next returns the next valid item. A bad line comes back as a *LineError
// (errors.Is ErrBadLine), after which Next may be called again; the end of
// the input is io.EOF; any other error is the reader's.
func (r *Reader) Next() (Item, error) {
	for {
		line, err := r.readLine()
		if err != nil {
			return Item{}, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		return r.parse(line)
	}
}

// readLine returns the next line without its end, or a *LineError for a
// line that is too long.
func (r *Reader) readLine() ([]byte, error) {
	r.line++
	r.buf = r.buf[:0]
	tooLong := false
	for {
		chunk, err := r.r.ReadSlice('\n')
		if !tooLong {
			if len(r.buf)+len(chunk) > MaxLineBytes+2 {
				tooLong = true
				r.buf = r.buf[:0]
			} else {
				r.buf = append(r.buf, chunk...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(r.buf) == 0 && !tooLong {
				return nil, io.EOF
			}
		case err != nil:
			return nil, fmt.Errorf("read line %d: %w", r.line, err)
		}
		if tooLong {
			return nil, &LineError{Line: r.line, Reason: fmt.Sprintf("longer than %d bytes", MaxLineBytes)}
		}
		return bytes.TrimRight(r.buf, "\r\n"), nil
	}
}

// inputLine is either format's line; one decode serves both.
type inputLine struct {
	ID       json.RawMessage `json:"id"`
	Text     *string         `json:"text"`
	CustomID *string         `json:"custom_id"`
	Method   string          `json:"method"`
	URL      string          `json:"url"`
	Body     *struct {
		Model          string          `json:"model"`
		Input          json.RawMessage `json:"input"`
		Dimensions     int             `json:"dimensions"`
		EncodingFormat string          `json:"encoding_format"`
	} `json:"body"`
}

func (r *Reader) bad(format string, args ...any) error {
	return &LineError{Line: r.line, Reason: fmt.Sprintf(format, args...)}
}

func (r *Reader) parse(b []byte) (Item, error) {
	if !utf8.Valid(b) {
		return Item{}, r.bad("not valid UTF-8 (at byte %d)", invalidUTF8(b))
	}
	if r.gen != nil {
		return r.parseGenerate(b)
	}
	var l inputLine
	if err := json.Unmarshal(b, &l); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Item{}, r.bad("field %q: want %s, got JSON %s", te.Field, te.Type, te.Value)
		}
		return Item{}, r.bad("not a JSON object: %v", err)
	}
	isBatch := l.CustomID != nil || l.Body != nil
	if r.Format == "" {
		r.Format = FormatSimple
		if isBatch {
			r.Format = FormatBatch
		}
	}
	if r.Format == FormatBatch {
		if !isBatch {
			return Item{}, r.bad("not an OpenAI Batch API request line (no custom_id or body), but the input's first line was")
		}
		return r.batchItem(&l)
	}
	if isBatch {
		return Item{}, r.bad("an OpenAI Batch API request line, but the input's first line was {\"id\", \"text\"}")
	}
	return r.simpleItem(&l)
}

func (r *Reader) simpleItem(l *inputLine) (Item, error) {
	it := Item{Line: r.line}
	switch {
	case len(l.ID) == 0 || string(l.ID) == "null":
		it.ID = strconv.Itoa(r.line)
	case l.ID[0] == '"':
		if err := json.Unmarshal(l.ID, &it.ID); err != nil {
			return Item{}, r.bad("id: %v", err)
		}
	default:
		var n json.Number
		if err := json.Unmarshal(l.ID, &n); err != nil {
			return Item{}, r.bad("id must be a string or a number")
		}
		it.ID = n.String()
	}
	if l.Text == nil || *l.Text == "" {
		return Item{}, r.bad(`no "text", or an empty one`)
	}
	if err := r.checkText(*l.Text, ""); err != nil {
		return Item{}, err
	}
	it.Texts = []string{*l.Text}
	return it, nil
}

func (r *Reader) batchItem(l *inputLine) (Item, error) {
	switch {
	case l.CustomID == nil || *l.CustomID == "":
		return Item{}, r.bad("no custom_id")
	case l.Method != "POST":
		return Item{}, r.bad("method %q: want POST", l.Method)
	case l.URL != batchURL:
		return Item{}, r.bad("unsupported url %q: jobs run %s only", l.URL, batchURL)
	case l.Body == nil:
		return Item{}, r.bad("no body")
	}
	body := l.Body
	switch body.EncodingFormat {
	case "", "float", "base64":
	default:
		return Item{}, r.bad("encoding_format %q: want float or base64", body.EncodingFormat)
	}
	if body.Dimensions < 0 {
		return Item{}, r.bad("negative dimensions")
	}
	enc := body.EncodingFormat
	if enc == "" {
		enc = "float"
	}
	if !r.settled {
		r.Model, r.Dimensions, r.Encoding, r.settled = body.Model, body.Dimensions, enc, true
	}
	switch {
	case body.Model != r.Model:
		return Item{}, r.bad("model %q differs from the job's %q (one model per job)", body.Model, r.Model)
	case body.Dimensions != r.Dimensions:
		return Item{}, r.bad("dimensions %d differ from the job's %d", body.Dimensions, r.Dimensions)
	case enc != r.Encoding:
		return Item{}, r.bad("encoding_format %q differs from the job's %q", enc, r.Encoding)
	}
	it := Item{Line: r.line, ID: *l.CustomID}
	in := bytes.TrimSpace(body.Input)
	switch {
	case len(in) == 0 || string(in) == "null":
		return Item{}, r.bad("no body.input")
	case in[0] == '"':
		var s string
		if err := json.Unmarshal(in, &s); err != nil {
			return Item{}, r.bad("body.input: %v", err)
		}
		it.Texts = []string{s}
	case in[0] == '[':
		if err := json.Unmarshal(in, &it.Texts); err != nil {
			return Item{}, r.bad("body.input must be a string or an array of strings (token arrays are not supported)")
		}
	default:
		return Item{}, r.bad("body.input must be a string or an array of strings")
	}
	switch {
	case len(it.Texts) == 0:
		return Item{}, r.bad("body.input is empty")
	case len(it.Texts) > tasks.MaxEmbedInputs:
		return Item{}, r.bad("body.input holds %d texts, at most %d", len(it.Texts), tasks.MaxEmbedInputs)
	}
	for i, t := range it.Texts {
		where := ""
		if len(it.Texts) > 1 {
			where = fmt.Sprintf("input[%d] ", i)
		}
		if t == "" {
			return Item{}, r.bad("%sis an empty text", where)
		}
		if err := r.checkText(t, where); err != nil {
			return Item{}, err
		}
	}
	if c := tasks.CheckTokens(r.encoding(), r.limits.RequestTokens, it.Texts...); c.Over {
		return Item{}, r.bad("body.input holds %s, at most %d per request", tokenCount(c), r.limits.RequestTokens)
	}
	return it, nil
}

func (r *Reader) checkText(t, where string) error {
	if c := tasks.CheckTokens(r.encoding(), r.limits.InputTokens, t); c.Over {
		return r.bad("%stext too long: %s, at most %d", where, tokenCount(c), r.limits.InputTokens)
	}
	return nil
}

// encoding is the tokenizer of the input's model, found once the format
// and the model are known.
func (r *Reader) encoding() string {
	if !r.encSet {
		model := r.limits.Model
		if r.Format == FormatBatch {
			model = r.Model
		}
		r.enc, r.encSet = tasks.Encoding(r.limits.Provider, model), true
	}
	return r.enc
}

// tokenCount says how many tokens c counted, and how.
func tokenCount(c tasks.TokenCheck) string {
	if c.Exact {
		return fmt.Sprintf("%d tokens", c.Tokens)
	}
	return fmt.Sprintf("about %d tokens (estimated)", c.Tokens)
}

// invalidUTF8 returns the offset of the first byte of b that is not valid
// UTF-8.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(b)
}
