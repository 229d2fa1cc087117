package job

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/llmq/llmq/tasks"
	"github.com/llmq/llmq/telemetry"
)

// DefaultBatchSize is the batch size when Spec.BatchSize is 0: texts per
// task, and so per provider request. See the README's "Bulk jobs" for the
// measurements behind it.
const DefaultBatchSize = 128

// ErrStrict is returned by Submission.Run with Spec.Strict when the input has bad
// lines: nothing was enqueued.
var ErrStrict = errors.New("bad input lines: nothing enqueued")

// ErrNoItems is returned by Submit for an input without a valid line:
// no job is made.
var ErrNoItems = errors.New("no items")

// Spec says what to submit.
type Spec struct {
	// Path is the input file, read twice; see Spool for standard input.
	Path string
	// Name is how reports and the manifest call the input. Default Path.
	Name string
	// ID names the job; empty derives it from the input and the settings,
	// so that submitting the same file the same way resumes the same job.
	ID string
	// Kind is KindEmbedding (the default) or KindGeneration: the input is
	// then read by NewGenerateReader, and each unique item is one task.
	Kind string
	// Stream has the provider stream the answers of a generation job's
	// simple lines (see NewGenerateReader).
	Stream bool
	// Provider, Model and Dimensions go into every task; Batch API lines
	// set Model and Dimensions themselves (body.model, body.dimensions).
	Provider   string
	Model      string
	Dimensions int
	// Queue is the asynq queue; default tasks.QueueEmbeddings, or
	// tasks.QueueGeneration for a generation job.
	Queue string
	// BatchSize is the most texts per task, 1 to tasks.MaxEmbedInputs.
	// Default DefaultBatchSize. A generation job has one item per task.
	BatchSize int
	// Limits bound texts and tasks in tokens.
	Limits Limits
	// Retention is how long results and the job stay in Redis after the
	// job's last activity. Default tasks.DefaultRetention.
	Retention time.Duration
	// Strict stops before enqueueing anything when a line is bad.
	Strict bool
	// Producer traces each batch's enqueue with a PRODUCER span whose
	// context travels in the task's headers. Default: one reporting to the
	// global OpenTelemetry providers (no-ops unless set up).
	Producer *telemetry.Producer
	// Concurrency is how many tasks are sent to Redis at once. Default 16.
	Concurrency int
}

func (s Spec) withDefaults() Spec {
	if s.Name == "" {
		s.Name = s.Path
	}
	if s.Provider == "" {
		s.Provider = tasks.ProviderOpenAI
	}
	if s.Kind == "" {
		s.Kind = KindEmbedding
	}
	if s.Queue == "" {
		s.Queue = tasks.QueueEmbeddings
		if s.Kind == KindGeneration {
			s.Queue = tasks.QueueGeneration
		}
	}
	if s.BatchSize <= 0 {
		s.BatchSize = DefaultBatchSize
	}
	if s.Kind == KindGeneration {
		s.BatchSize = 1
	}
	if s.Retention <= 0 {
		s.Retention = tasks.DefaultRetention
	}
	if s.Concurrency <= 0 {
		s.Concurrency = 16
	}
	if s.Producer == nil {
		s.Producer = telemetry.NewProducer(telemetry.Providers{})
	}
	s.Limits = s.Limits.withDefaults()
	if s.Limits.Provider == "" && s.Limits.Model == "" {
		s.Limits.Provider, s.Limits.Model = s.Provider, s.Model
	}
	return s
}

// Summary is what Submission.Run did.
type Summary struct {
	Manifest
	// Enqueued and Existing count the batches sent now and those that were
	// already queued or done (a resumed job).
	Enqueued, Existing int
	// Resubmitted is true when the job had been submitted in full before:
	// the input was only hashed, and nothing was sent.
	Resubmitted bool
	// Elapsed is the time from start to the last batch enqueued.
	Elapsed time.Duration
}

// Progress is a snapshot of a running Submission.Run.
type Progress struct {
	// Lines is the number of non-blank input lines, once known.
	Lines int
	// Read counts the lines read so far; Items the valid ones among them.
	Read, Items int
	// Sent counts the items in batches handed to Redis.
	Sent int
}

// Submission submits one job; Progress may be called while Run runs.
type Submission struct {
	rdb  redis.UniversalClient
	spec Spec

	lines, read, items, sent atomic.Int64
}

// NewSubmission prepares the submission of spec through rdb.
func NewSubmission(rdb redis.UniversalClient, spec Spec) *Submission {
	return &Submission{rdb: rdb, spec: spec.withDefaults()}
}

// Progress returns how far Run is.
func (s *Submission) Progress() Progress {
	return Progress{Lines: int(s.lines.Load()), Read: int(s.read.Load()), Items: int(s.items.Load()), Sent: int(s.sent.Load())}
}

// Run reads the input and enqueues the job's tasks, calling bad for each
// bad line (it may be nil). It is idempotent: the job ID and the tasks'
// IDs are derived from the input and the settings, so running it again,
// after a crash or a success, enqueues only what is missing. Identical
// texts (by a 64-bit hash) are embedded once.
func (s *Submission) Run(ctx context.Context, bad func(*LineError)) (*Summary, error) {
	spec := s.spec
	if bad == nil {
		bad = func(*LineError) {}
	}
	start := time.Now()
	sum, lines, err := scan(spec.Path)
	if err != nil {
		return nil, err
	}
	s.lines.Store(int64(lines))
	if lines == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoItems, spec.Name)
	}
	if spec.Strict {
		n, err := s.validate(lines, bad)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, fmt.Errorf("%w (%d bad lines)", ErrStrict, n)
		}
	}
	m, err := s.manifest(sum, lines)
	if err != nil {
		return nil, err
	}
	if id := spec.ID; id != "" {
		m.ID = id
	}
	existing, err := s.create(ctx, m)
	if err != nil {
		return nil, err
	}
	if existing != nil && existing.Submitted > 0 {
		s.read.Store(int64(lines))
		s.items.Store(int64(existing.Items))
		s.sent.Store(int64(existing.Unique))
		return &Summary{Manifest: *existing, Existing: existing.Batches, Resubmitted: true, Elapsed: time.Since(start)}, nil
	}
	out := &Summary{Manifest: *m}
	if err := s.send(ctx, out, lines, bad); err != nil {
		return nil, err
	}
	if out.Items == 0 {
		if err := s.rdb.Del(ctx, keys(m.ID)...).Err(); err != nil {
			return nil, fmt.Errorf("job %s: %w", m.ID, err)
		}
		return nil, fmt.Errorf("%w in %s (%d bad lines)", ErrNoItems, spec.Name, out.Skipped)
	}
	out.Submitted = time.Now().UnixMilli()
	_, err = s.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HSet(ctx, key(m.ID, keyManifest), out.totals()...)
		expire(ctx, pipe, m.ID, spec.Retention)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", m.ID, err)
	}
	out.Elapsed = time.Since(start)
	return out, nil
}

// scan hashes the file and counts its non-blank lines.
func scan(path string) (string, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 256<<10)
	lines, content := 0, false
	for {
		n, err := f.Read(buf)
		h.Write(buf[:n])
		for _, c := range buf[:n] {
			switch c {
			case '\n':
				if content {
					lines++
				}
				content = false
			case ' ', '\t', '\r':
			default:
				content = true
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", 0, fmt.Errorf("read %s: %w", path, err)
		}
	}
	if content {
		lines++
	}
	return hex.EncodeToString(h.Sum(nil)), lines, nil
}

// validate reads every line as send does and reports the bad ones.
func (s *Submission) validate(lines int, bad func(*LineError)) (int, error) {
	f, err := os.Open(s.spec.Path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := s.reader(f)
	ids := newTable(lines, false)
	n := 0
	for {
		it, err := r.Next()
		if err == nil {
			err = checkID(ids, it)
		}
		var le *LineError
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return n, nil
		case errors.As(err, &le):
			n++
			bad(le)
		default:
			return 0, err
		}
	}
}

// reader returns the Reader of the job's input in f.
func (s *Submission) reader(f io.Reader) *Reader {
	if s.spec.Kind == KindGeneration {
		return NewGenerateReader(f, s.spec.Provider, s.spec.Model, s.spec.Stream)
	}
	return NewReader(f, s.spec.Limits)
}

func checkID(ids *table, it Item) error {
	if !ids.put(xxhash.Sum64String(it.ID), 0) {
		return &LineError{Line: it.Line, Reason: fmt.Sprintf("duplicate id %q", it.ID)}
	}
	return nil
}

// manifest returns the job's manifest before its items are read: the
// format and, for Batch API input, the model come from the first valid
// line.
func (s *Submission) manifest(inputSum string, lines int) (*Manifest, error) {
	spec := s.spec
	f, err := os.Open(spec.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := s.reader(f)
	for r.Format == "" || (r.Format == FormatBatch && r.Encoding == "" && r.gen == nil) {
		if _, err := r.Next(); errors.Is(err, io.EOF) {
			break
		} else if err != nil && !errors.Is(err, ErrBadLine) {
			return nil, err
		}
	}
	m := &Manifest{
		Kind: spec.Kind, Stream: spec.Stream && spec.Kind == KindGeneration, Input: spec.Name, Format: r.Format, Provider: spec.Provider, Model: spec.Model,
		Dimensions: spec.Dimensions, Encoding: "float", Queue: spec.Queue, BatchSize: spec.BatchSize,
		Created: time.Now().UnixMilli(), Retention: int64(spec.Retention / time.Second), Lines: lines,
	}
	if m.Format == "" {
		m.Format = FormatSimple
	}
	if m.Format == FormatBatch && r.gen == nil {
		if r.Model != "" {
			m.Model = r.Model
		}
		if r.Dimensions != 0 {
			m.Dimensions = r.Dimensions
		}
		m.Encoding = r.Encoding
	}
	d := sha256.New()
	if m.Generation() {
		fmt.Fprintf(d, "llmq job 1\nkind %s\nstream %t\n", m.Kind, m.Stream)
	}
	fmt.Fprintf(d, "llmq job 1\ninput %s\nprovider %s\nmodel %s\ndimensions %d\nqueue %s\nbatch %d\ntokens %d %d\n",
		inputSum, m.Provider, m.Model, m.Dimensions, m.Queue, m.BatchSize, spec.Limits.InputTokens, spec.Limits.RequestTokens)
	m.Digest = hex.EncodeToString(d.Sum(nil))
	m.ID = m.Digest[:16]
	return m, nil
}

// create stores m unless the job exists; it returns the existing job's
// manifest, or ErrConflict if that has another digest.
func (s *Submission) create(ctx context.Context, m *Manifest) (*Manifest, error) {
	old, _, err := Load(ctx, s.rdb, m.ID)
	switch {
	case err == nil && old.Digest != m.Digest:
		return nil, fmt.Errorf("%w: %s (give another --job, or delete it with enqueue results --delete)", ErrConflict, m.ID)
	case err == nil:
		return old, nil
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	_, err = s.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HSet(ctx, key(m.ID, keyManifest), m.fields()...)
		pipe.PExpire(ctx, key(m.ID, keyManifest), s.spec.Retention)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create job %s: %w", m.ID, err)
	}
	return nil, nil
}

// send reads the input again, packs its items into batches and enqueues
// them from spec.Concurrency goroutines.
func (s *Submission) send(ctx context.Context, out *Summary, lines int, bad func(*LineError)) error {
	spec := s.spec
	f, err := os.Open(spec.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	client := asynq.NewClientFromRedisClient(s.rdb)
	// It shares s.rdb, which the caller owns and closes: nothing to close.

	snd := newSender(ctx, spec.Concurrency)
	gctx := snd.ctx
	m := out.Manifest // out's counts change while batches are sent
	enqueue := func(b *Batch) {
		snd.goSend(func(ctx context.Context) (bool, error) {
			existed, err := s.enqueue(ctx, client, m, b)
			if err == nil {
				s.sent.Add(int64(b.Items))
			}
			return existed, err
		})
	}

	r := s.reader(f)
	ids := newTable(lines, false)
	texts := newTable(lines, true)
	p := newPacker(spec.BatchSize, spec.Limits.RequestTokens)
	var h xxhash.Digest
	for {
		if gctx.Err() != nil {
			break
		}
		it, err := r.Next()
		if err == nil {
			err = checkID(ids, it)
		}
		var le *LineError
		switch {
		case errors.Is(err, io.EOF):
		case errors.As(err, &le):
			s.read.Add(1)
			out.Skipped++
			bad(le)
			continue
		case err != nil:
			_, _, _ = snd.wait()
			return err
		}
		if err != nil {
			break
		}
		s.read.Add(1)
		s.items.Add(1)
		out.Items++
		k, err := itemKey(&h, it)
		if err != nil {
			_, _, _ = snd.wait()
			return err
		}
		if n, ok := texts.get(k); ok {
			p.dup(it.ID, p.loc(n))
			continue
		}
		out.Unique++
		loc, closed := p.add(it)
		texts.put(k, p.number(loc))
		if closed != nil {
			enqueue(closed)
		}
	}
	if b := p.close(); b != nil && ctx.Err() == nil {
		enqueue(b)
	}
	enqueued, existing, err := snd.wait()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	out.Enqueued, out.Existing = enqueued, existing
	out.Batches = p.next
	return nil
}

// sentScript counts a batch's items as queued the first time the batch is
// sent (KEYS as keys returns them; ARGV: batch, items). The producer runs
// it after each enqueue; the worker's scripts are in recorder.go.
var sentScript = redis.NewScript(`
if redis.call("SETBIT", KEYS[2], ARGV[1], 1) == 0 then
	redis.call("HINCRBY", KEYS[1], "queued", ARGV[2])
	return 1
end
return 0
`)

// itemKey is the hash by which identical items are found: of the texts
// to embed, or of the generation request (its id aside).
func itemKey(h *xxhash.Digest, it Item) (uint64, error) {
	h.Reset()
	if it.Generate != nil {
		p := *it.Generate
		p.ID, p.Job = "", nil
		b, err := json.Marshal(p)
		if err != nil {
			return 0, fmt.Errorf("line %d: %w", it.Line, err)
		}
		_, _ = h.Write(b)
		return h.Sum64(), nil
	}
	for _, t := range it.Texts {
		_, _ = h.WriteString(t)
		_, _ = h.Write([]byte{0})
	}
	return h.Sum64(), nil
}

// enqueue sends one batch: its duplicates, then its task, then marks it
// sent. It reports whether the task existed already.
func (s *Submission) enqueue(ctx context.Context, client *asynq.Client, m Manifest, b *Batch) (bool, error) {
	if len(b.Dups) > 0 {
		dups, err := json.Marshal(b.Dups)
		if err != nil {
			return false, err
		}
		if err := s.rdb.HSet(ctx, key(m.ID, keyDups), strconv.Itoa(b.Seq), dups).Err(); err != nil {
			return false, fmt.Errorf("job %s batch %d: %w", m.ID, b.Seq, err)
		}
	}
	if b.Generate != nil {
		return s.enqueueGenerate(ctx, client, m, b)
	}
	e, err := Enqueue(ctx, client, s.spec.Producer, tasks.TypeEmbed, func(headers map[string]string) (*asynq.Task, error) {
		return tasks.NewEmbedTaskWithHeaders(tasks.EmbedPayload{
			Provider: m.Provider, Model: m.Model, Dimensions: m.Dimensions,
			Texts: b.Texts, IDs: b.IDs, Job: &tasks.JobRef{ID: m.ID, Batch: b.Seq, Counts: b.Counts},
		}, headers, asynq.TaskID(TaskID(m.ID, b.Seq)), asynq.Queue(m.Queue), asynq.Retention(s.spec.Retention))
	})
	if err != nil {
		return false, fmt.Errorf("enqueue job %s batch %d: %w", m.ID, b.Seq, err)
	}
	if err := sentScript.Run(ctx, s.rdb, keys(m.ID), b.Seq, b.Items).Err(); err != nil && err != redis.Nil {
		return false, fmt.Errorf("job %s batch %d: %w", m.ID, b.Seq, err)
	}
	return e.Existed, nil
}

// enqueueGenerate sends a generation job's batch, one item, and marks it
// sent.
func (s *Submission) enqueueGenerate(ctx context.Context, client *asynq.Client, m Manifest, b *Batch) (bool, error) {
	e, err := Enqueue(ctx, client, s.spec.Producer, tasks.TypeGenerate, func(headers map[string]string) (*asynq.Task, error) {
		p := *b.Generate
		p.Job = &tasks.JobRef{ID: m.ID, Batch: b.Seq}
		return tasks.NewGenerateTaskWithHeaders(p, headers,
			asynq.TaskID(TaskID(m.ID, b.Seq)), asynq.Queue(m.Queue), asynq.Retention(s.spec.Retention))
	})
	if err != nil {
		return false, fmt.Errorf("enqueue job %s item %d: %w", m.ID, b.Seq, err)
	}
	if err := sentScript.Run(ctx, s.rdb, keys(m.ID), b.Seq, b.Items).Err(); err != nil && err != redis.Nil {
		return false, fmt.Errorf("job %s item %d: %w", m.ID, b.Seq, err)
	}
	return e.Existed, nil
}

// Spool copies r (standard input) to a file in dir (default os.TempDir)
// so that Submission.Run can read it twice without holding it in memory; the job
// ID is then the same as for the same bytes in a file. remove deletes the
// copy.
func Spool(r io.Reader, dir string) (path string, remove func(), err error) {
	f, err := os.CreateTemp(dir, "llmq-input-*.jsonl")
	if err != nil {
		return "", nil, fmt.Errorf("spool standard input: %w", err)
	}
	remove = func() { _ = os.Remove(f.Name()) }
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		remove()
		return "", nil, fmt.Errorf("spool standard input: %w", err)
	}
	if err := f.Close(); err != nil {
		remove()
		return "", nil, fmt.Errorf("spool standard input: %w", err)
	}
	return f.Name(), remove, nil
}
