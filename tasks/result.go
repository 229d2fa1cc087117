package tasks

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"unsafe"

	"github.com/llmq/llmq/clients"
)

// Embedding results are stored in this binary layout, little-endian, so
// that a vector costs 4 bytes per dimension in Redis (JSON text costs
// about 20):
//
//	offset  size  field
//	0       4     magic "LQE1"
//	4       4     uint32 number of vectors, n
//	8       4     uint32 dimensions, d
//	12      4     uint32 input tokens the provider reported
//	16      2     uint16 length of the model name, m
//	18      m     model name, UTF-8
//	18+m    4·n·d float32 vectors, one after another, in input order
//
// A 1536-dimension vector thus takes 6,144 bytes, plus one header per task.
//
// A task some of whose texts the provider rejected (see EmbedHandler) is
// stored as "LQE2": the same header with n counting every text, then the
// failed texts, then the vectors of the others only:
//
//	18+m    4     uint32 number of failed texts, f
//	        f ×   uint32 index of the text, uint16 HTTP status (0 if none),
//	              uint16 length of the reason, l; the reason, l bytes
//	        4·(n−f)·d float32 vectors of the texts that succeeded, in order
//
// A failed text thus costs 8 bytes plus its reason and no vector. Readers
// use DecodeEmbedResult, which reads both.
const (
	embedMagic       = "LQE1"
	embedMagicErrors = "LQE2"
)

const embedHeaderSize = 18

// maxReason bounds a stored failure reason, in bytes.
const maxReason = 1024

// ErrBadResult marks a stored result that does not decode.
var ErrBadResult = errors.New("malformed embedding result")

// TextError is one text of a task that the provider rejected on its own:
// the rest of the task's texts have vectors.
type TextError struct {
	// Index is the text's position in the task's payload.
	Index int
	// Status is the provider's HTTP status, or 0.
	Status int
	// Reason is the provider's error, without the text.
	Reason string
}

// EmbedResult is a decoded TypeEmbed result.
type EmbedResult struct {
	Model       string
	InputTokens int
	// Vectors holds one vector per text of the task, in order; nil for a
	// text listed in Errors. They share one backing array.
	Vectors [][]float32
	// Errors lists the texts that failed, by index; empty when none did.
	Errors []TextError
}

// Err returns the failure of text i, or nil if it has a vector.
func (r *EmbedResult) Err(i int) *TextError { return textError(r.Errors, i) }

// textError returns the failure of text i in errs, sorted by index, or
// nil.
func textError(errs []TextError, i int) *TextError {
	j := sort.Search(len(errs), func(j int) bool { return errs[j].Index >= i })
	if j < len(errs) && errs[j].Index == i {
		return &errs[j]
	}
	return nil
}

// EncodeEmbedResult encodes e in the LQE1 layout above. All vectors must
// have the same length.
func EncodeEmbedResult(e *clients.Embeddings) ([]byte, error) {
	return encodeEmbedResult(e.Model, e.InputTokens, e.Vectors, nil)
}

// encodeEmbedResult encodes vectors, one per text, with nil for the texts
// in errs (sorted by index): LQE1 when errs is empty, else LQE2.
func encodeEmbedResult(model string, tokens int, vectors [][]float32, errs []TextError) ([]byte, error) {
	n := len(vectors)
	d := 0
	for _, v := range vectors {
		if v != nil {
			d = len(v)
			break
		}
	}
	if len(model) > math.MaxUint16 {
		return nil, fmt.Errorf("encode embed result: model name of %d bytes", len(model))
	}
	size := embedHeaderSize + len(model) + 4*(n-len(errs))*d
	magic := embedMagic
	if len(errs) > 0 {
		magic = embedMagicErrors
		size += 4
		for _, e := range errs {
			size += 8 + min(len(e.Reason), maxReason)
		}
	}
	b := resultBuffer(size)[:embedHeaderSize+len(model)]
	copy(b, magic)
	binary.LittleEndian.PutUint32(b[4:], uint32(n))
	binary.LittleEndian.PutUint32(b[8:], uint32(d))
	binary.LittleEndian.PutUint32(b[12:], uint32(max(tokens, 0)))
	binary.LittleEndian.PutUint16(b[16:], uint16(len(model)))
	copy(b[embedHeaderSize:], model)
	if len(errs) > 0 {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(errs)))
		for i, e := range errs {
			if e.Index < 0 || e.Index >= n || (i > 0 && e.Index <= errs[i-1].Index) || vectors[e.Index] != nil {
				return nil, fmt.Errorf("encode embed result: failed text %d out of order or with a vector", e.Index)
			}
			reason := e.Reason
			if len(reason) > maxReason {
				reason = reason[:maxReason]
			}
			b = binary.LittleEndian.AppendUint32(b, uint32(e.Index))
			b = binary.LittleEndian.AppendUint16(b, uint16(min(max(e.Status, 0), math.MaxUint16)))
			b = binary.LittleEndian.AppendUint16(b, uint16(len(reason)))
			b = append(b, reason...)
		}
	}
	for i, v := range vectors {
		if v == nil {
			if len(errs) == 0 {
				return nil, fmt.Errorf("encode embed result: vector %d missing", i)
			}
			continue
		}
		if len(v) != d {
			return nil, fmt.Errorf("encode embed result: vector %d has %d dimensions, the first has %d", i, len(v), d)
		}
		b = appendFloats(b, v)
	}
	if len(b) != size {
		return nil, fmt.Errorf("encode embed result: %d vectors for %d texts and %d failures", n-len(errs), n, len(errs))
	}
	return b, nil
}

// DecodeEmbedResult decodes a TypeEmbed task's result, LQE1 or LQE2.
func DecodeEmbedResult(b []byte) (*EmbedResult, error) {
	raw, err := DecodeRawEmbedResult(b)
	if err != nil {
		return nil, err
	}
	r := &EmbedResult{Model: raw.Model, InputTokens: raw.InputTokens, Vectors: make([][]float32, raw.Texts), Errors: raw.Errors}
	d := raw.Dims
	all := make([]float32, len(raw.data)/4)
	copyFloats(all, raw.data)
	next, k := 0, 0
	for i := range r.Vectors {
		if k < len(r.Errors) && r.Errors[k].Index == i {
			k++
			continue
		}
		r.Vectors[i] = all[next*d : (next+1)*d : (next+1)*d]
		next++
	}
	return r, nil
}

// RawEmbedResult is a TypeEmbed result decoded without copying its
// vectors: Vector returns each as the stored bytes, which is what an
// export that writes bytes or text needs. It refers to the bytes it was
// decoded from.
type RawEmbedResult struct {
	Model       string
	InputTokens int
	// Texts is the number of texts of the task, failed ones included;
	// Dims is the length of every vector.
	Texts, Dims int
	// Errors lists the texts that failed, by index; empty when none did.
	Errors []TextError
	data   []byte // the vectors of the texts that succeeded, in order
}

// DecodeRawEmbedResult decodes a TypeEmbed task's result, LQE1 or LQE2,
// as DecodeEmbedResult does, but leaves the vectors in b.
func DecodeRawEmbedResult(b []byte) (*RawEmbedResult, error) {
	if len(b) < embedHeaderSize || (string(b[:4]) != embedMagic && string(b[:4]) != embedMagicErrors) {
		return nil, fmt.Errorf("%w: no %s header", ErrBadResult, embedMagic)
	}
	n := int(binary.LittleEndian.Uint32(b[4:]))
	d := int(binary.LittleEndian.Uint32(b[8:]))
	m := int(binary.LittleEndian.Uint16(b[16:]))
	body := b[embedHeaderSize:]
	if len(body) < m {
		return nil, fmt.Errorf("%w: %d bytes for a model name of %d", ErrBadResult, len(b), m)
	}
	r := &RawEmbedResult{
		Model:       string(body[:m]),
		InputTokens: int(binary.LittleEndian.Uint32(b[12:])),
		Texts:       n,
		Dims:        d,
	}
	body = body[m:]
	if string(b[:4]) == embedMagicErrors {
		if len(body) < 4 {
			return nil, fmt.Errorf("%w: no failure count", ErrBadResult)
		}
		f := int(binary.LittleEndian.Uint32(body))
		body = body[4:]
		if f > n {
			return nil, fmt.Errorf("%w: %d failures for %d texts", ErrBadResult, f, n)
		}
		r.Errors = make([]TextError, f)
		for i := range r.Errors {
			if len(body) < 8 {
				return nil, fmt.Errorf("%w: truncated failure %d", ErrBadResult, i)
			}
			idx := int(binary.LittleEndian.Uint32(body))
			l := int(binary.LittleEndian.Uint16(body[6:]))
			if len(body) < 8+l || idx >= n || (i > 0 && idx <= r.Errors[i-1].Index) {
				return nil, fmt.Errorf("%w: bad failure record %d", ErrBadResult, i)
			}
			r.Errors[i] = TextError{Index: idx, Status: int(binary.LittleEndian.Uint16(body[4:])), Reason: string(body[8 : 8+l])}
			body = body[8+l:]
		}
	}
	ok := n - len(r.Errors)
	if uint64(len(body)) != 4*uint64(ok)*uint64(d) {
		return nil, fmt.Errorf("%w: %d bytes for %d vectors of %d dimensions", ErrBadResult, len(b), ok, d)
	}
	r.data = body
	return r, nil
}

// Err returns the failure of text i, or nil if it has a vector.
func (r *RawEmbedResult) Err(i int) *TextError { return textError(r.Errors, i) }

// Vector returns the vector of text i as stored: Dims little-endian
// IEEE 754 float32 values, 4 bytes each. It is nil for a failed text, and
// must not be modified.
func (r *RawEmbedResult) Vector(i int) []byte {
	j := i
	if len(r.Errors) > 0 {
		k := sort.Search(len(r.Errors), func(k int) bool { return r.Errors[k].Index >= i })
		if k < len(r.Errors) && r.Errors[k].Index == i {
			return nil
		}
		j -= k // the failed texts before i have no vector
	}
	size := 4 * r.Dims
	return r.data[j*size : (j+1)*size : (j+1)*size]
}

// AppendVector appends the vector of text i to dst as float32 values, as
// DecodeEmbedResult would have decoded it; nothing for a failed text.
func (r *RawEmbedResult) AppendVector(dst []float32, i int) []float32 {
	v := r.Vector(i)
	n := len(dst)
	dst = slices.Grow(dst, len(v)/4)[:n+len(v)/4]
	copyFloats(dst[n:], v)
	return dst
}

// littleEndian is true where a []float32 in memory is its little-endian
// bytes, as the layout stores them.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// appendFloats appends v's little-endian bytes: one copy where memory is
// little-endian already.
func appendFloats(b []byte, v []float32) []byte {
	if littleEndian && len(v) > 0 {
		return append(b, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))...)
	}
	for _, f := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return b
}

// copyFloats fills dst with the little-endian float32 values in src, 4
// bytes each: one copy where memory is little-endian already.
func copyFloats(dst []float32, src []byte) {
	if littleEndian && len(dst) > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), 4*len(dst)), src)
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

// Encoded results are written to Redis and dropped at once: their
// buffers are pooled, up to maxPooledResult bytes each, so that a busy
// worker reuses a few instead of making garbage of one per task.
const maxPooledResult = 4 << 20

var resultBuffers sync.Pool

// resultBuffer returns an empty buffer of capacity size or more.
func resultBuffer(size int) []byte {
	if p, ok := resultBuffers.Get().(*[]byte); ok {
		if cap(*p) >= size {
			return (*p)[:0]
		}
		resultBuffers.Put(p)
	}
	return make([]byte, 0, size)
}

// Vectors are decoded into pooled buffers too (clients.EmbedRequest.Alloc),
// up to maxPooledVectors float32s each: a task's answer is as large as its
// stored result, and as short-lived.
const maxPooledVectors = maxPooledResult / 4

var vectorBuffers sync.Pool

// vectorBuffer returns a buffer of n float32s or more.
func vectorBuffer(n int) *[]float32 {
	if p, ok := vectorBuffers.Get().(*[]float32); ok {
		if cap(*p) >= n {
			*p = (*p)[:n]
			return p
		}
		vectorBuffers.Put(p)
	}
	b := make([]float32, n)
	return &b
}

// releaseVectors hands back a buffer of vectorBuffer once nothing refers
// to its vectors.
func releaseVectors(p *[]float32) {
	if cap(*p) <= maxPooledVectors {
		vectorBuffers.Put(p)
	}
}

// releaseResult hands back a buffer of encodeEmbedResult once it is
// written; b must not be used after.
func releaseResult(b []byte) {
	if cap(b) <= maxPooledResult {
		b = b[:0]
		resultBuffers.Put(&b)
	}
}
