package tasks

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

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
const embedMagic = "LQE1"

const embedHeaderSize = 18

// ErrBadResult marks a stored result that does not decode.
var ErrBadResult = errors.New("malformed embedding result")

// EmbedResult is a decoded TypeEmbed result.
type EmbedResult struct {
	Model       string
	InputTokens int
	// Vectors holds one vector per text of the task, in order. They share
	// one backing array.
	Vectors [][]float32
}

// EncodeEmbedResult encodes e in the layout above. All vectors must have
// the same length.
func EncodeEmbedResult(e *clients.Embeddings) ([]byte, error) {
	n := len(e.Vectors)
	d := 0
	if n > 0 {
		d = len(e.Vectors[0])
	}
	if len(e.Model) > math.MaxUint16 {
		return nil, fmt.Errorf("encode embed result: model name of %d bytes", len(e.Model))
	}
	b := make([]byte, embedHeaderSize+len(e.Model), embedHeaderSize+len(e.Model)+4*n*d)
	copy(b, embedMagic)
	binary.LittleEndian.PutUint32(b[4:], uint32(n))
	binary.LittleEndian.PutUint32(b[8:], uint32(d))
	binary.LittleEndian.PutUint32(b[12:], uint32(max(e.InputTokens, 0)))
	binary.LittleEndian.PutUint16(b[16:], uint16(len(e.Model)))
	copy(b[embedHeaderSize:], e.Model)
	for i, v := range e.Vectors {
		if len(v) != d {
			return nil, fmt.Errorf("encode embed result: vector %d has %d dimensions, vector 0 has %d", i, len(v), d)
		}
		for _, f := range v {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
		}
	}
	return b, nil
}

// DecodeEmbedResult decodes a TypeEmbed task's result.
func DecodeEmbedResult(b []byte) (*EmbedResult, error) {
	if len(b) < embedHeaderSize || string(b[:4]) != embedMagic {
		return nil, fmt.Errorf("%w: no %s header", ErrBadResult, embedMagic)
	}
	n := int(binary.LittleEndian.Uint32(b[4:]))
	d := int(binary.LittleEndian.Uint32(b[8:]))
	m := int(binary.LittleEndian.Uint16(b[16:]))
	body := b[embedHeaderSize:]
	if len(body) < m || uint64(len(body)-m) != 4*uint64(n)*uint64(d) {
		return nil, fmt.Errorf("%w: %d bytes for %d vectors of %d dimensions", ErrBadResult, len(b), n, d)
	}
	r := &EmbedResult{
		Model:       string(body[:m]),
		InputTokens: int(binary.LittleEndian.Uint32(b[12:])),
		Vectors:     make([][]float32, n),
	}
	data := body[m:]
	all := make([]float32, n*d)
	for i := range all {
		all[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	for i := range r.Vectors {
		r.Vectors[i] = all[i*d : (i+1)*d : (i+1)*d]
	}
	return r, nil
}
