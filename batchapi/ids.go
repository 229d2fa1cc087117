package batchapi

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"time"
)

// alphabet is base32 in ASCII order, so that IDs sort as they were made.
const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// newID returns prefix and 24 characters: 48 bits of milliseconds, then 72
// random bits. IDs made later sort after.
func newID(prefix string, now time.Time) string {
	var b [15]byte
	ms := uint64(now.UnixMilli())
	binary.BigEndian.PutUint64(b[:8], ms<<16)
	_, _ = rand.Read(b[6:])
	var sb strings.Builder
	sb.WriteString(prefix)
	// 120 bits, 5 at a time.
	var acc uint64
	bits := 0
	for _, c := range b {
		acc = acc<<8 | uint64(c)
		bits += 8
		for bits >= 5 {
			sb.WriteByte(alphabet[(acc>>(bits-5))&31])
			bits -= 5
		}
	}
	return sb.String()
}

// Prefixes of the IDs the API makes.
const (
	filePrefix  = "file-"
	batchPrefix = "batch_"
)

// validID reports whether id has prefix and the shape newID makes.
func validID(id, prefix string) bool {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || len(rest) != 24 {
		return false
	}
	for _, c := range rest {
		if !strings.ContainsRune(alphabet, c) {
			return false
		}
	}
	return true
}
