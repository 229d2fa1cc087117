package job

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/asm/base64"
	"golang.org/x/sync/errgroup"

	"github.com/llmq/llmq/internal/shortest"
	"github.com/llmq/llmq/tasks"
)

// ErrNotFinished is returned by Export for a job with batches still to run.
var ErrNotFinished = errors.New("job not finished")

// Encodings of the vectors in line formats, as OpenAI's encoding_format.
const (
	// EncodingFloat writes a vector as a JSON array of numbers.
	EncodingFloat = "float"
	// EncodingBase64 writes a vector as the base64 of its little-endian
	// float32 bytes, in a JSON string.
	EncodingBase64 = "base64"
)

// ExportOptions say where and how Export writes.
type ExportOptions struct {
	// Out receives one line per item that has a vector (FormatParquet: one
	// row per vector).
	Out io.Writer
	// Errors receives one line per failed item; nil only counts them.
	Errors io.Writer
	// Format is the output format: FormatSimple, FormatBatch or
	// FormatParquet; empty means the job's input format.
	Format Format
	// Encoding is how the line formats write vectors: EncodingFloat or
	// EncodingBase64. Empty means floats, or for FormatBatch the
	// encoding_format of the job's requests.
	Encoding string
	// Window is how many batches are read from Redis and formatted at
	// once, in parallel. Default 4 × GOMAXPROCS, at least 8.
	Window int
	// Follow exports a job that is still running, each batch as soon as it
	// has finished, and returns once the last is written. The job must
	// have been submitted in full. Without Follow, Export refuses a job
	// that has not finished.
	Follow bool
	// PollInterval is how often Follow reads which batches have finished.
	// Default 50 ms.
	PollInterval time.Duration
}

// ExportSummary counts what Export wrote.
type ExportSummary struct {
	// Results and Failed count lines written to Out and to Errors (or
	// failed items, without Errors); Duplicates counts the items among
	// them whose result was copied from an identical earlier item.
	Results, Failed, Duplicates int
	// InputTokens and OutputTokens add up the usage of the lines written
	// to Out (a duplicate's is not counted again); embeddings have no
	// output tokens.
	InputTokens, OutputTokens int
}

func (s *ExportSummary) add(o ExportSummary) {
	s.Results += o.Results
	s.Failed += o.Failed
	s.Duplicates += o.Duplicates
	s.InputTokens += o.InputTokens
	s.OutputTokens += o.OutputTokens
}

// Export writes the results of a finished job in input order: the items'
// vectors to opts.Out and their failures to opts.Errors. With opts.Follow
// it writes those of a running job as its batches finish.
//
// Batches are read from Redis and formatted in parallel, a window of them
// at a time (opts.Window), and written in order as each is ready: the
// output streams, and memory holds the window plus a few recent batches
// for duplicates, whatever the job's size.
func Export(ctx context.Context, rdb redis.UniversalClient, st *Status, opts ExportOptions) (*ExportSummary, error) {
	switch {
	case st.Submitting:
		return nil, fmt.Errorf("%w: %s is still being submitted", ErrNotFinished, st.ID)
	case !st.Finished && !opts.Follow:
		return nil, fmt.Errorf("%w: %s has %d of %d items left", ErrNotFinished, st.ID, st.Total-st.Done-st.Failed, st.Total)
	}
	if opts.Format == "" {
		opts.Format = st.Format
	}
	if opts.Window <= 0 {
		opts.Window = max(8, 4*runtime.GOMAXPROCS(0))
		if st.Generation() {
			opts.Window = max(32, opts.Window) // one item per batch
		}
	}
	if st.Generation() && (opts.Format == FormatParquet || opts.Encoding != "") {
		return nil, fmt.Errorf("export: generation job %s: format %q, encoding %q: want %s or %s lines", st.ID, opts.Format, opts.Encoding, FormatSimple, FormatBatch)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 50 * time.Millisecond
	}
	hasDups, err := rdb.Exists(ctx, key(st.ID, keyDups)).Result()
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", st.ID, err)
	}
	e := &exporter{
		rdb: rdb, st: st, opts: opts, hasDups: hasDups > 0,
		reason: st.CancelReason, errFormat: opts.Format, cache: map[int]*pendingBatch{},
	}
	if e.errFormat != FormatBatch {
		e.errFormat = FormatSimple
	}
	switch opts.Format {
	case FormatSimple, FormatBatch:
		enc, err := newLineEncoder(st, opts)
		if err != nil {
			return nil, err
		}
		e.enc = enc
	case FormatParquet:
		if opts.Encoding != "" {
			return nil, fmt.Errorf("export: encoding %q: Parquet stores float32 values", opts.Encoding)
		}
		e.errFormat = st.Format
		e.enc = newParquetEncoder(opts.Out)
	default:
		return nil, fmt.Errorf("export: format %q: want %s, %s or %s", opts.Format, FormatSimple, FormatBatch, FormatParquet)
	}
	if opts.Errors != nil {
		e.errs = bufio.NewWriterSize(opts.Errors, 64<<10)
	}
	if opts.Follow && !st.Finished {
		e.done = watchDone(rdb, st.ID, st.Batches, opts.PollInterval)
		defer e.done.stop()
	}
	if err := e.run(ctx); err != nil {
		return nil, err
	}
	if err := e.enc.close(); err != nil {
		return nil, err
	}
	if e.errs != nil {
		if err := e.errs.Flush(); err != nil {
			return nil, err
		}
	}
	return &e.sum, nil
}

type exporter struct {
	rdb     redis.UniversalClient
	st      *Status
	opts    ExportOptions
	hasDups bool
	enc     resultEncoder
	// errFormat is the line format of failures: simple or batch.
	errFormat Format
	errs      *bufio.Writer
	sum       ExportSummary
	// done, with Follow, tells when a batch has finished.
	done *doneWatcher

	mu     sync.Mutex
	reason CancelReason          // the job's, re-read with Follow
	cache  map[int]*pendingBatch // batches read, by seq
}

// A resultEncoder writes the items that have vectors: as JSON lines or as
// Parquet rows. add is called concurrently, each call with a chunk of its
// own; write and close are called from one goroutine, write once per
// chunk in input order.
type resultEncoder interface {
	add(c *chunk, it *exportItem)
	write(c *chunk) error
	close() error
}

// exportItem is one output item that has vectors: its own result, or a
// duplicate's copy.
type exportItem struct {
	id     string
	seq    int // the batch the item is written with
	model  string
	tokens int
	// Its texts are from to to-1 of res.
	res      *tasks.RawEmbedResult
	from, to int
}

// vectors returns the number of the item's vectors.
func (it *exportItem) vectors() int { return it.to - it.from }

// vector returns its vector k as stored: little-endian float32 bytes.
func (it *exportItem) vector(k int) []byte { return it.res.Vector(it.from + k) }

// chunk is one batch's output, formatted, waiting for its turn.
type chunk struct {
	out    []byte       // result lines
	rows   []parquetRow // or Parquet rows,
	floats []float32    // whose vectors are here
	errs   []byte       // error lines
	sum    ExportSummary
	err    error
}

var chunks = sync.Pool{New: func() any { return new(chunk) }}

func (c *chunk) release() {
	clear(c.rows) // drop the references to the strings of the batch
	*c = chunk{out: c.out[:0], rows: c.rows[:0], floats: c.floats[:0], errs: c.errs[:0]}
	chunks.Put(c)
}

// fetched is one batch read back from Redis.
type fetched struct {
	seq     int
	payload tasks.EmbedPayload
	res     *tasks.RawEmbedResult // nil when the whole batch failed
	failed  string                // why the whole batch failed
	dups    []Dup
	// A generation job's batch: its request and its result (nil when the
	// task failed for good).
	genPayload *tasks.GeneratePayload
	gen        *tasks.GenerateResult
	starts     []int // first text of each item, and the end
	tokens     []int // tokens of each item, the batch's count shared by text length
	err        error
}

// pendingBatch is a batch being read, or read.
type pendingBatch struct {
	ready chan struct{}
	b     *fetched
}

// cachedBatches is how many batches before the one being written are kept
// for the duplicates of later ones, when the job has any.
const cachedBatches = 16

// run formats the batches in parallel, a window at a time, and writes
// them in order.
func (e *exporter) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type slot chan *chunk
	slots := make(chan slot, e.opts.Window)
	go func() {
		defer close(slots)
		for seq := 0; seq < e.st.Batches; seq++ {
			s := make(slot, 1)
			select {
			case slots <- s:
			case <-ctx.Done():
				return
			}
			go func() { s <- e.format(ctx, seq) }()
		}
	}()
	fail := func(err error) error {
		cancel()
		for s := range slots {
			(<-s).release()
		}
		return err
	}
	n := 0
	for s := range slots {
		c := <-s
		if c.err != nil {
			return fail(c.err)
		}
		if err := e.emit(c); err != nil {
			return fail(err)
		}
		e.forget(n)
		n++
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if n != e.st.Batches {
		return fmt.Errorf("job %s: read %d of %d batches", e.st.ID, n, e.st.Batches)
	}
	return nil
}

// emit writes a formatted batch and recycles it.
func (e *exporter) emit(c *chunk) error {
	defer c.release()
	if err := e.enc.write(c); err != nil {
		return err
	}
	if e.errs != nil && len(c.errs) > 0 {
		if _, err := e.errs.Write(c.errs); err != nil {
			return err
		}
	}
	e.sum.add(c.sum)
	return nil
}

// batch returns batch seq, reading it unless it was read or is being read.
func (e *exporter) batch(ctx context.Context, seq int) *fetched {
	e.mu.Lock()
	p := e.cache[seq]
	if p == nil {
		p = &pendingBatch{ready: make(chan struct{})}
		e.cache[seq] = p
		e.mu.Unlock()
		p.b = e.fetch(ctx, seq)
		close(p.ready)
		return p.b
	}
	e.mu.Unlock()
	select {
	case <-p.ready:
		return p.b
	case <-ctx.Done():
		return &fetched{seq: seq, err: ctx.Err()}
	}
}

// forget drops the batches that no later one needs once seq is written.
func (e *exporter) forget(seq int) {
	keep := 0
	if e.hasDups {
		keep = cachedBatches
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for k := range e.cache {
		if k <= seq-keep {
			delete(e.cache, k)
		}
	}
}

// fetch reads batch seq: its task's payload and result, and its
// duplicates. With Follow it first waits for the batch to finish.
func (e *exporter) fetch(ctx context.Context, seq int) *fetched {
	b := &fetched{seq: seq}
	id := TaskID(e.st.ID, seq)
	if e.done != nil {
		if err := e.done.wait(ctx, seq); err != nil {
			b.err = fmt.Errorf("job %s batch %d: %w", e.st.ID, seq, err)
			return b
		}
	}
	info, err := e.taskInfo(ctx, seq)
	if err != nil {
		b.err = fmt.Errorf("job %s batch %d (task %s): %w", e.st.ID, seq, id, err)
		return b
	}
	if e.st.Generation() {
		if err := e.fetchGenerate(b, info); err != nil {
			b.err = fmt.Errorf("task %s: %w", id, err)
			return b
		}
		return e.fetchDups(ctx, b)
	}
	if err := json.Unmarshal(info.Payload, &b.payload); err != nil {
		b.err = fmt.Errorf("task %s: payload: %w", id, err)
		return b
	}
	switch info.State {
	case asynq.TaskStateCompleted:
		if b.res, err = tasks.DecodeRawEmbedResult(info.Result); err != nil {
			b.err = fmt.Errorf("task %s: %w", id, err)
			return b
		}
		if b.res.Texts != len(b.payload.Texts) {
			b.err = fmt.Errorf("task %s: %d results for %d texts", id, b.res.Texts, len(b.payload.Texts))
			return b
		}
	case asynq.TaskStateArchived:
		b.failed = info.LastErr
	default:
		b.err = fmt.Errorf("%w: task %s is %s", ErrNotFinished, id, info.State)
		return b
	}
	if e.fetchDups(ctx, b); b.err == nil {
		b.index()
	}
	return b
}

// fetchGenerate reads a generation job's batch from its task.
func (e *exporter) fetchGenerate(b *fetched, info *asynq.TaskInfo) error {
	b.genPayload = &tasks.GeneratePayload{}
	if err := json.Unmarshal(info.Payload, b.genPayload); err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	switch info.State {
	case asynq.TaskStateCompleted:
		res, err := tasks.DecodeGenerateResult(info.Result)
		if err != nil {
			return err
		}
		b.gen = res
	case asynq.TaskStateArchived:
		b.failed = info.LastErr
	default:
		return fmt.Errorf("%w: the task is %s", ErrNotFinished, info.State)
	}
	b.starts = []int{0, 1}
	return nil
}

// fetchDups reads the duplicates among batch b's items, if the job has
// any.
func (e *exporter) fetchDups(ctx context.Context, b *fetched) *fetched {
	seq := b.seq
	if e.hasDups {
		raw, err := e.rdb.HGet(ctx, key(e.st.ID, keyDups), strconv.Itoa(seq)).Bytes()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			b.err = fmt.Errorf("job %s batch %d: %w", e.st.ID, seq, err)
			return b
		default:
			if err := json.Unmarshal(raw, &b.dups); err != nil {
				b.err = fmt.Errorf("job %s batch %d: duplicates: %w", e.st.ID, seq, err)
				return b
			}
		}
	}
	return b
}

// taskInfo reads the task of batch seq, or stands in for one that Cancel
// removed. With Follow, a batch whose task asynq has not yet marked as
// completed or archived (its worker is returning) is read again shortly.
func (e *exporter) taskInfo(ctx context.Context, seq int) (*asynq.TaskInfo, error) {
	for {
		info, err := readTask(ctx, e.rdb, e.st.Queue, TaskID(e.st.ID, seq))
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			reason, rerr := e.cancelReason(ctx)
			if rerr != nil {
				return nil, rerr
			}
			if reason != "" {
				st := *e.st
				st.CancelReason = reason
				return cancelledTask(ctx, e.rdb, &st, seq)
			}
		}
		if err != nil || e.done == nil || info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived {
			return info, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// cancelReason returns the job's cancel reason; with Follow it reads it
// again, since the job may have been cancelled since the export began.
func (e *exporter) cancelReason(ctx context.Context) (CancelReason, error) {
	e.mu.Lock()
	reason := e.reason
	e.mu.Unlock()
	if reason != "" || e.done == nil {
		return reason, nil
	}
	r, err := e.rdb.HGet(ctx, key(e.st.ID, keyManifest), "cancel_reason").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", err
	}
	e.mu.Lock()
	e.reason = CancelReason(r)
	e.mu.Unlock()
	return CancelReason(r), nil
}

// index finds each item's texts and shares the batch's token count among
// the items that succeeded, in proportion to their length, so that the
// shares add up to what the provider reported.
func (b *fetched) index() {
	counts := []int(nil)
	if b.payload.Job != nil {
		counts = b.payload.Job.Counts
	}
	n := len(b.payload.Texts)
	if counts != nil {
		n = len(counts)
	}
	b.starts = make([]int, n+1)
	for i := range n {
		c := 1
		if counts != nil {
			c = counts[i]
		}
		b.starts[i+1] = b.starts[i] + c
	}
	weights := make([]int, n)
	inputTokens := 0
	if b.res != nil {
		inputTokens = b.res.InputTokens
		for i := range n {
			if _, ok := b.item(i); !ok {
				continue
			}
			for _, t := range b.payload.Texts[b.starts[i]:b.starts[i+1]] {
				weights[i] += len(t)
			}
		}
	}
	b.tokens = tasks.ShareTokens(inputTokens, weights)
}

// item reports whether item i has its vectors, or returns its failure.
func (b *fetched) item(i int) (*tasks.TextError, bool) {
	if b.res == nil {
		return &tasks.TextError{Reason: b.failed}, false
	}
	if len(b.res.Errors) > 0 {
		for t := b.starts[i]; t < b.starts[i+1]; t++ {
			if e := b.res.Err(t); e != nil {
				return e, false
			}
		}
	}
	return nil, true
}

// format reads batch seq and formats its items and duplicates in input
// order.
func (e *exporter) format(ctx context.Context, seq int) *chunk {
	c := chunks.Get().(*chunk)
	b := e.batch(ctx, seq)
	if b.err != nil {
		c.err = b.err
		return c
	}
	d := 0
	n := len(b.starts) - 1
	for i := 0; i <= n; i++ {
		for ; d < len(b.dups) && b.dups[d].Pos <= i; d++ {
			if c.err = e.formatDup(ctx, c, b, b.dups[d]); c.err != nil {
				return c
			}
		}
		if i == n {
			break
		}
		if b.genPayload != nil {
			e.formatGenerate(c, b, b.genPayload.ID, false, b.seq)
			continue
		}
		e.formatItem(c, b, i, b.payload.IDs[b.starts[i]], b.tokens[i], b.seq)
	}
	for ; d < len(b.dups); d++ {
		if c.err = e.formatDup(ctx, c, b, b.dups[d]); c.err != nil {
			return c
		}
	}
	return c
}

func (e *exporter) formatDup(ctx context.Context, c *chunk, cur *fetched, d Dup) error {
	if !d.Of.valid(e.st.Batches) || d.Of.Batch > cur.seq {
		return fmt.Errorf("job %s batch %d: duplicate %q refers to batch %d", e.st.ID, cur.seq, d.ID, d.Of.Batch)
	}
	src := cur
	if d.Of.Batch != cur.seq {
		if src = e.batch(ctx, d.Of.Batch); src.err != nil {
			return src.err
		}
	}
	if d.Of.Item >= len(src.starts)-1 {
		return fmt.Errorf("job %s batch %d: duplicate %q refers to item %d of %d", e.st.ID, cur.seq, d.ID, d.Of.Item, len(src.starts)-1)
	}
	c.sum.Duplicates++
	if src.genPayload != nil {
		e.formatGenerate(c, src, d.ID, true, cur.seq)
		return nil
	}
	e.formatItem(c, src, d.Of.Item, d.ID, 0, cur.seq)
	return nil
}

// formatItem formats item i of b under the given id, as a result or an
// error line.
func (e *exporter) formatItem(c *chunk, b *fetched, i int, id string, tokens, seq int) {
	fail, ok := b.item(i)
	if !ok {
		c.sum.Failed++
		if e.errs == nil {
			return
		}
		if e.errFormat == FormatBatch {
			c.errs = e.batchError(c.errs, id, fail, seq)
		} else {
			c.errs = simpleError(c.errs, id, fail)
		}
		return
	}
	c.sum.Results++
	c.sum.InputTokens += tokens
	it := exportItem{id: id, seq: seq, model: b.payload.Model, tokens: tokens, res: b.res, from: b.starts[i], to: b.starts[i+1]}
	if b.res.Model != "" {
		it.model = b.res.Model
	}
	e.enc.add(c, &it)
}

func simpleError(l []byte, id string, fail *tasks.TextError) []byte {
	l = append(l, `{"id":`...)
	l = appendJSON(l, id)
	l = append(l, `,"error":{"status":`...)
	l = strconv.AppendInt(l, int64(fail.Status), 10)
	l = append(l, `,"message":`...)
	l = appendJSON(l, fail.Reason)
	return append(l, "}}\n"...)
}

// lineEncoder writes results as JSON lines, simple or Batch API.
type lineEncoder struct {
	jobID  string
	batch  bool
	base64 bool
	out    *bufio.Writer
}

func newLineEncoder(st *Status, opts ExportOptions) (*lineEncoder, error) {
	l := &lineEncoder{jobID: st.ID, batch: opts.Format == FormatBatch, out: bufio.NewWriterSize(opts.Out, 256<<10)}
	switch opts.Encoding {
	case "":
		l.base64 = l.batch && st.Encoding == EncodingBase64
	case EncodingFloat:
	case EncodingBase64:
		l.base64 = true
	default:
		return nil, fmt.Errorf("export: encoding %q: want %s or %s", opts.Encoding, EncodingFloat, EncodingBase64)
	}
	return l, nil
}

func (l *lineEncoder) write(c *chunk) error {
	_, err := l.out.Write(c.out)
	return err
}

func (l *lineEncoder) close() error { return l.out.Flush() }

func (l *lineEncoder) vector(b []byte, v []byte) []byte {
	if l.base64 {
		return appendBase64(b, v)
	}
	return appendVector(b, v)
}

func (l *lineEncoder) add(c *chunk, it *exportItem) {
	b := c.out
	if l.batch {
		b = append(b, `{"id":`...)
		b = appendJSON(b, requestID(l.jobID, it.id))
		b = append(b, `,"custom_id":`...)
		b = appendJSON(b, it.id)
		b = append(b, `,"response":{"status_code":200,"request_id":`...)
		b = appendJSON(b, TaskID(l.jobID, it.seq))
		b = append(b, `,"body":{"object":"list","data":[`...)
		for k := range it.vectors() {
			if k > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"object":"embedding","index":`...)
			b = strconv.AppendInt(b, int64(k), 10)
			b = append(b, `,"embedding":`...)
			b = l.vector(b, it.vector(k))
			b = append(b, '}')
		}
		b = append(b, `],"model":`...)
		b = appendJSON(b, it.model)
		b = appendUsage(b, it.tokens)
		b = append(b, "}},\"error\":null}\n"...)
	} else {
		b = append(b, `{"id":`...)
		b = appendJSON(b, it.id)
		b = append(b, `,"embedding":`...)
		b = l.vector(b, it.vector(0))
		b = append(b, `,"model":`...)
		b = appendJSON(b, it.model)
		b = appendUsage(b, it.tokens)
		b = append(b, "}\n"...)
	}
	c.out = b
}

// batchError is a Batch API output line for a failed request: the
// provider's answer when there was one, else an error object.
func (e *exporter) batchError(l []byte, id string, fail *tasks.TextError, seq int) []byte {
	return e.batchFailure(l, id, fail.Status, fail.Reason, "", "", seq)
}

// batchFailure is batchError with the provider's error type and code,
// when known.
func (e *exporter) batchFailure(l []byte, id string, status int, reason, typ, code string, seq int) []byte {
	l = append(l, `{"id":`...)
	l = appendJSON(l, requestID(e.st.ID, id))
	l = append(l, `,"custom_id":`...)
	l = appendJSON(l, id)
	if status == 0 {
		l = append(l, `,"response":null,"error":{"code":"`+failCode(reason)+`","message":`...)
		l = appendJSON(l, reason)
		return append(l, "}}\n"...)
	}
	if typ == "" {
		typ = "invalid_request_error"
		if status >= 500 {
			typ = "server_error"
		}
	}
	l = append(l, `,"response":{"status_code":`...)
	l = strconv.AppendInt(l, int64(status), 10)
	l = append(l, `,"request_id":`...)
	l = appendJSON(l, TaskID(e.st.ID, seq))
	l = append(l, `,"body":{"error":{"message":`...)
	l = appendJSON(l, reason)
	l = append(l, `,"type":`...)
	l = appendJSON(l, typ)
	l = append(l, `,"param":null,"code":`...)
	if code == "" {
		l = append(l, "null"...)
	} else {
		l = appendJSON(l, code)
	}
	return append(l, "}}},\"error\":null}\n"...)
}

// requestID is the Batch API "id" of an output line: stable for the job
// and the custom_id.
func requestID(jobID, customID string) string {
	h := sha256.Sum256([]byte(jobID + "\x00" + customID))
	return "batch_req_" + hex.EncodeToString(h[:12])
}

func appendUsage(l []byte, tokens int) []byte {
	l = append(l, `,"usage":{"prompt_tokens":`...)
	l = strconv.AppendInt(l, int64(tokens), 10)
	l = append(l, `,"total_tokens":`...)
	l = strconv.AppendInt(l, int64(tokens), 10)
	return append(l, '}')
}

// appendJSON appends s as encoding/json writes a string: quoted, with
// quotes, backslashes, control characters, <, > and & escaped (and
// invalid UTF-8, U+2028 and U+2029). A string of printable ASCII
// characters that need none of that, as ids and model names mostly are,
// is copied as it is instead of going through json.Marshal.
func appendJSON(l []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(l, b...)
		}
	}
	l = append(l, '"')
	l = append(l, s...)
	return append(l, '"')
}

// appendVector writes a stored vector, little-endian float32 bytes, as a
// JSON array of shortest float32 decimals, which parse back to the same
// bits; NaN and infinities, which JSON cannot hold, as 0.
func appendVector(l []byte, v []byte) []byte {
	l = append(l, '[')
	for i := 0; i+4 <= len(v); i += 4 {
		if i > 0 {
			l = append(l, ',')
		}
		bits := binary.LittleEndian.Uint32(v[i:])
		if bits&0x7f800000 == 0x7f800000 { // exponent all ones: NaN or ±Inf
			l = append(l, '0')
			continue
		}
		l = shortest.AppendFloat32(l, math.Float32frombits(bits)) // as strconv's 'g', -1, 32
	}
	return append(l, ']')
}

// appendBase64 writes a stored vector as OpenAI's encoding_format=base64
// does: the base64 of its little-endian float32 bytes, which is how it is
// stored, as a JSON string.
func appendBase64(l []byte, v []byte) []byte {
	n := base64.StdEncoding.EncodedLen(len(v))
	l = slices.Grow(l, n+2)
	l = append(l, '"')
	base64.StdEncoding.Encode(l[len(l):len(l)+n], v)
	return append(l[:len(l)+n], '"')
}

// Delete removes a finished job from Redis: its tasks, with their payloads
// and results, and its own keys.
func Delete(ctx context.Context, rdb redis.UniversalClient, st *Status) error {
	if !st.Finished {
		return fmt.Errorf("%w: %s", ErrNotFinished, st.ID)
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for seq := 0; seq < st.Batches; seq++ {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			err := insp.DeleteTask(st.Queue, TaskID(st.ID, seq))
			if err != nil && !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
				return fmt.Errorf("delete job %s batch %d: %w", st.ID, seq, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := rdb.Del(ctx, keys(st.ID)...).Err(); err != nil {
		return fmt.Errorf("delete job %s: %w", st.ID, err)
	}
	return nil
}
