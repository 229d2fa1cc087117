package job

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/llmq/llmq/tasks"
)

// ErrNotFinished is returned by Export for a job with batches still to run.
var ErrNotFinished = errors.New("job not finished")

// ExportOptions say where and how Export writes.
type ExportOptions struct {
	// Out receives one line per item that has a vector.
	Out io.Writer
	// Errors receives one line per failed item; nil only counts them.
	Errors io.Writer
	// Format is the output format; empty means the job's input format.
	Format Format
	// Window is how many batches are read from Redis at once. Default 8,
	// or 32 for a generation job (one item per batch). Export holds at
	// most Window plus 16 batches' results in memory.
	Window int
}

// ExportSummary counts what Export wrote.
type ExportSummary struct {
	// Results and Failed count lines written to Out and to Errors (or
	// failed items, without Errors); Duplicates counts the items among
	// them whose result was copied from an identical earlier item.
	Results, Failed, Duplicates int
	// InputTokens adds up the usage of the lines written to Out.
	InputTokens int
}

// Export writes the results of a finished job in input order: the items'
// vectors to opts.Out and their failures to opts.Errors. It reads the
// batches' tasks from Redis a window at a time and holds no more than
// that window plus a few batches for duplicates, whatever the job's size.
func Export(ctx context.Context, rdb redis.UniversalClient, st *Status, opts ExportOptions) (*ExportSummary, error) {
	if !st.Finished {
		return nil, fmt.Errorf("%w: %s has %d of %d items left", ErrNotFinished, st.ID, st.Total-st.Done-st.Failed, st.Total)
	}
	if opts.Format == "" {
		opts.Format = st.Format
	}
	if opts.Window <= 0 {
		opts.Window = 8
		if st.Generation() {
			opts.Window = 32
		}
	}
	hasDups, err := rdb.Exists(ctx, key(st.ID, keyDups)).Result()
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", st.ID, err)
	}
	e := &exporter{
		rdb: rdb, insp: asynq.NewInspectorFromRedisClient(rdb), st: st, opts: opts, hasDups: hasDups > 0,
		out: bufio.NewWriterSize(opts.Out, 256<<10), cache: map[int]*fetched{},
	}
	if opts.Errors != nil {
		e.errs = bufio.NewWriterSize(opts.Errors, 64<<10)
	}
	if err := e.run(ctx); err != nil {
		return nil, err
	}
	if err := e.out.Flush(); err != nil {
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
	insp    *asynq.Inspector
	st      *Status
	opts    ExportOptions
	hasDups bool
	out     *bufio.Writer
	errs    *bufio.Writer
	sum     ExportSummary
	line    []byte

	cache map[int]*fetched // recent batches, for duplicates
	order []int
}

// fetched is one batch read back from Redis.
type fetched struct {
	seq     int
	payload tasks.EmbedPayload
	res     *tasks.EmbedResult // nil when the whole batch failed
	failed  string             // why the whole batch failed
	dups    []Dup
	// A generation job's batch: its request and its result (nil when the
	// task failed for good).
	genPayload *tasks.GeneratePayload
	gen        *tasks.GenerateResult
	starts     []int // first text of each item, and the end
	tokens     []int // tokens of each item, the batch's count shared by text length
	err        error
}

const cachedBatches = 16

func (e *exporter) run(ctx context.Context) error {
	type slot chan *fetched
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
			go func() { s <- e.fetch(ctx, seq) }()
		}
	}()
	n := 0
	for s := range slots {
		b := <-s
		if b.err != nil {
			go func() {
				for s := range slots {
					<-s
				}
			}()
			return b.err
		}
		if err := e.write(ctx, b); err != nil {
			go func() {
				for s := range slots {
					<-s
				}
			}()
			return err
		}
		e.remember(b)
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

// fetch reads batch seq: its task's payload and result, and its
// duplicates.
func (e *exporter) fetch(ctx context.Context, seq int) *fetched {
	b := &fetched{seq: seq}
	id := TaskID(e.st.ID, seq)
	info, err := e.insp.GetTaskInfo(e.st.Queue, id)
	if errors.Is(err, asynq.ErrTaskNotFound) && e.st.CancelReason != "" {
		info, err = cancelledTask(ctx, e.rdb, e.st, seq)
	}
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
		if b.res, err = tasks.DecodeEmbedResult(info.Result); err != nil {
			b.err = fmt.Errorf("task %s: %w", id, err)
			return b
		}
		if len(b.res.Vectors) != len(b.payload.Texts) {
			b.err = fmt.Errorf("task %s: %d results for %d texts", id, len(b.res.Vectors), len(b.payload.Texts))
			return b
		}
	case asynq.TaskStateArchived:
		b.failed = info.LastErr
	default:
		b.err = fmt.Errorf("%w: task %s is %s", ErrNotFinished, id, info.State)
		return b
	}
	e.fetchDups(ctx, b)
	if b.err == nil {
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
			if _, _, ok := b.item(i); !ok {
				continue
			}
			for _, t := range b.payload.Texts[b.starts[i]:b.starts[i+1]] {
				weights[i] += len(t)
			}
		}
	}
	b.tokens = tasks.ShareTokens(inputTokens, weights)
}

// item returns item i's vectors, or its failure.
func (b *fetched) item(i int) ([][]float32, *tasks.TextError, bool) {
	if b.res == nil {
		return nil, &tasks.TextError{Reason: b.failed}, false
	}
	from, to := b.starts[i], b.starts[i+1]
	for t := from; t < to; t++ {
		if e := b.res.Err(t); e != nil {
			return nil, e, false
		}
	}
	return b.res.Vectors[from:to], nil, true
}

func (e *exporter) remember(b *fetched) {
	e.cache[b.seq] = b
	e.order = append(e.order, b.seq)
	if len(e.order) > cachedBatches {
		delete(e.cache, e.order[0])
		e.order = e.order[1:]
	}
}

// write writes batch b's items and duplicates in input order.
func (e *exporter) write(ctx context.Context, b *fetched) error {
	d := 0
	n := len(b.starts) - 1
	for i := 0; i <= n; i++ {
		for ; d < len(b.dups) && b.dups[d].Pos <= i; d++ {
			if err := e.writeDup(ctx, b, b.dups[d]); err != nil {
				return err
			}
		}
		if i == n {
			break
		}
		if b.genPayload != nil {
			if err := e.writeGenerate(b, b.genPayload.ID, false, b.seq); err != nil {
				return err
			}
			continue
		}
		if err := e.writeItem(b, i, b.payload.IDs[b.starts[i]], b.tokens[i]); err != nil {
			return err
		}
	}
	for ; d < len(b.dups); d++ {
		if err := e.writeDup(ctx, b, b.dups[d]); err != nil {
			return err
		}
	}
	return nil
}

func (e *exporter) writeDup(ctx context.Context, cur *fetched, d Dup) error {
	if !d.Of.valid(e.st.Batches) || d.Of.Batch > cur.seq {
		return fmt.Errorf("job %s batch %d: duplicate %q refers to batch %d", e.st.ID, cur.seq, d.ID, d.Of.Batch)
	}
	src := cur
	if d.Of.Batch != cur.seq {
		src = e.cache[d.Of.Batch]
		if src == nil {
			src = e.fetch(ctx, d.Of.Batch)
			if src.err != nil {
				return src.err
			}
			e.remember(src)
		}
	}
	if d.Of.Item >= len(src.starts)-1 {
		return fmt.Errorf("job %s batch %d: duplicate %q refers to item %d of %d", e.st.ID, cur.seq, d.ID, d.Of.Item, len(src.starts)-1)
	}
	e.sum.Duplicates++
	if src.genPayload != nil {
		return e.writeGenerate(src, d.ID, true, cur.seq)
	}
	return e.writeItemOf(src, d.Of.Item, d.ID, 0, cur.seq)
}

func (e *exporter) writeItem(b *fetched, i int, id string, tokens int) error {
	return e.writeItemOf(b, i, id, tokens, b.seq)
}

// writeItemOf writes item i of b under the given id, as a result or an
// error line.
func (e *exporter) writeItemOf(b *fetched, i int, id string, tokens, seq int) error {
	vectors, fail, ok := b.item(i)
	model := b.payload.Model
	if b.res != nil && b.res.Model != "" {
		model = b.res.Model
	}
	l := e.line[:0]
	if !ok {
		e.sum.Failed++
		if e.errs == nil {
			return nil
		}
		if e.opts.Format == FormatBatch {
			l = e.batchError(l, id, fail, seq)
		} else {
			l = append(l, `{"id":`...)
			l = appendJSON(l, id)
			l = append(l, `,"error":{"status":`...)
			l = strconv.AppendInt(l, int64(fail.Status), 10)
			l = append(l, `,"message":`...)
			l = appendJSON(l, fail.Reason)
			l = append(l, "}}\n"...)
		}
		e.line = l
		_, err := e.errs.Write(l)
		return err
	}
	e.sum.Results++
	e.sum.InputTokens += tokens
	if e.opts.Format == FormatBatch {
		l = append(l, `{"id":`...)
		l = appendJSON(l, e.requestID(id))
		l = append(l, `,"custom_id":`...)
		l = appendJSON(l, id)
		l = append(l, `,"response":{"status_code":200,"request_id":`...)
		l = appendJSON(l, TaskID(e.st.ID, seq))
		l = append(l, `,"body":{"object":"list","data":[`...)
		for k, v := range vectors {
			if k > 0 {
				l = append(l, ',')
			}
			l = append(l, `{"object":"embedding","index":`...)
			l = strconv.AppendInt(l, int64(k), 10)
			l = append(l, `,"embedding":`...)
			if e.st.Encoding == "base64" {
				l = appendBase64(l, v)
			} else {
				l = appendVector(l, v)
			}
			l = append(l, '}')
		}
		l = append(l, `],"model":`...)
		l = appendJSON(l, model)
		l = appendUsage(l, tokens)
		l = append(l, "}},\"error\":null}\n"...)
	} else {
		l = append(l, `{"id":`...)
		l = appendJSON(l, id)
		l = append(l, `,"embedding":`...)
		l = appendVector(l, vectors[0])
		l = append(l, `,"model":`...)
		l = appendJSON(l, model)
		l = appendUsage(l, tokens)
		l = append(l, "}\n"...)
	}
	e.line = l
	_, err := e.out.Write(l)
	return err
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
	l = appendJSON(l, e.requestID(id))
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
func (e *exporter) requestID(customID string) string {
	h := sha256.Sum256([]byte(e.st.ID + "\x00" + customID))
	return "batch_req_" + hex.EncodeToString(h[:12])
}

func appendUsage(l []byte, tokens int) []byte {
	l = append(l, `,"usage":{"prompt_tokens":`...)
	l = strconv.AppendInt(l, int64(tokens), 10)
	l = append(l, `,"total_tokens":`...)
	l = strconv.AppendInt(l, int64(tokens), 10)
	return append(l, '}')
}

func appendJSON(l []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(l, b...)
}

// appendVector writes v as a JSON array of shortest float32 decimals,
// which parse back to the same bits.
func appendVector(l []byte, v []float32) []byte {
	l = append(l, '[')
	for i, f := range v {
		if i > 0 {
			l = append(l, ',')
		}
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			l = append(l, '0')
			continue
		}
		l = strconv.AppendFloat(l, float64(f), 'g', -1, 32)
	}
	return append(l, ']')
}

// appendBase64 writes v as OpenAI's encoding_format=base64 does: the
// base64 of its little-endian float32 bytes, as a JSON string.
func appendBase64(l []byte, v []float32) []byte {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	l = append(l, '"')
	l = base64.StdEncoding.AppendEncode(l, raw)
	return append(l, '"')
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
