// Package shortest formats float32 values as the shortest decimal that
// parses back to the same bits, exactly as strconv.AppendFloat(dst,
// float64(f), 'g', -1, 32) does, in less than half its time.
//
// The digits come from the Dragonbox algorithm (Junekey Jeon, "Dragonbox:
// A New Floating-Point Binary-to-Decimal Conversion Algorithm", 2020) as
// Go's strconv implements it for float32 (internal/strconv/ftoadbox.go,
// Copyright 2025 The Go Authors, BSD-style license), so that they are
// strconv's by construction; the speed is in the formatting, which turns
// the digits into ASCII eight at a time, two per table lookup, and writes
// them straight into the output. TestExhaustive compares the two bit for
// bit (LLMQ_SHORTEST_EXHAUSTIVE=1: every one of the 2^32 values).
package shortest

import (
	"encoding/binary"
	"math"
	"math/big"
	"math/bits"
	"slices"
)

const (
	mantissaBits = 23
	exponentBits = 8
	bias         = 127
)

// Decimal exponents k of the powers of ten that Dragonbox multiplies a
// float32 by: κ - ⌊log10(2^e)⌋ over its binary exponents e.
const minPow10, maxPow10 = -31, 46

// pow10s[k-minPow10] is 10^k scaled to 64 bits, 2^63 <= it < 2^64,
// rounded up unless exact: strconv's φ̃k for float32, the top half of its
// 128-bit table plus one where the value has more bits (k < 0 or k > 27).
var pow10s = func() (t [maxPow10 - minPow10 + 1]uint64) {
	for k := minPow10; k <= maxPow10; k++ {
		// 10^k × 2^(64 - e), e being 1 + ⌊k log2(10)⌋.
		num, den := big.NewInt(1), big.NewInt(1)
		if k >= 0 {
			num.Exp(big.NewInt(10), big.NewInt(int64(k)), nil)
		} else {
			den.Exp(big.NewInt(10), big.NewInt(int64(-k)), nil)
		}
		if s := 64 - 1 - mulLog2of10(k); s >= 0 {
			num.Lsh(num, uint(s))
		} else {
			den.Lsh(den, uint(-s))
		}
		q, r := new(big.Int).QuoRem(num, den, new(big.Int))
		if r.Sign() != 0 {
			q.Add(q, big.NewInt(1))
		}
		t[k-minPow10] = q.Uint64()
	}
	return t
}()

// mulLog2of10 returns ⌊x log2(10)⌋ for -500 <= x <= 500.
func mulLog2of10(x int) int { return (x * 108853) >> 15 }

// mulLog10of2 returns ⌊x log10(2)⌋ for -1600 <= x <= 1600.
func mulLog10of2(x int) int { return (x * 78913) >> 18 }

// mulLog10of2MinusLog10of4Over3 returns ⌊x log10(2) - log10(4/3)⌋.
func mulLog10of2MinusLog10of4Over3(x int) int { return (x*631305 - 261663) >> 21 }

// pow10 returns φ̃k and β for the binary exponent e.
func pow10(k, e int) (uint64, int) {
	return pow10s[k-minPow10], e + mulLog2of10(k)
}

// trimZeros removes the trailing decimal zeros of x and counts them.
func trimZeros(x uint32) (uint32, int) {
	const (
		div1e4m  = 0xd288ce703afb7e91
		div1e4le = math.MaxUint64 / 10000
		div1e2m  = 0x8f5c28f5c28f5c29
		div1e2le = math.MaxUint64 / 100
		div1e1m  = 0xcccccccccccccccd
		div1e1le = math.MaxUint64 / 10
	)
	// Most digits of a float32 end in no zero: one test for them.
	y := uint64(x)
	if bits.RotateLeft64(y*div1e1m, -1) > div1e1le {
		return x, 0
	}
	// x < 2^32 has at most 9 trailing zeros: 8 would leave one digit.
	p := 0
	if d := bits.RotateLeft64(y*0xc767074b22e90e21, -8); d <= math.MaxUint64/100000000 {
		y, p = d, 8
	}
	if d := bits.RotateLeft64(y*div1e4m, -4); d <= div1e4le {
		y, p = d, p+4
	}
	if d := bits.RotateLeft64(y*div1e2m, -2); d <= div1e2le {
		y, p = d, p+2
	}
	if d := bits.RotateLeft64(y*div1e1m, -1); d <= div1e1le {
		y, p = d, p+1
	}
	return uint32(y), p
}

// digits returns the shortest decimal d × 10^e of the finite float32
// mant × 2^exp (mant with its implicit bit; denorm for a subnormal), as
// dragonbox does. Which of Dragonbox's two cases applies depends on the
// digits and is as good as random (43% against 57% for embeddings): it
// computes both results and selects one without a branch, leaving the
// rare cases (a power of two, a value at an end of the interval, a tie)
// to dragonbox.
func digits(mant uint32, exp int, denorm bool) (uint32, int) {
	if mant == 1<<mantissaBits && !denorm {
		return dragonbox(mant, exp, denorm)
	}
	k0 := -mulLog10of2(exp)
	φ, β := pow10(1+k0, exp)
	hi, lo := bits.Mul64(uint64(mant*2+1)<<β, φ)
	zi, exact := uint32(hi), uint32(lo>>32) == 0
	s, r := zi/100, zi%100
	δi := uint32(φ >> (64 - 1 - β))
	D := r + 5 - δi/2
	t, ρ := D/10, D%10
	first := b2u(r < δi) // the first case: s, without its trailing zeros
	if b2u(r == δi)|first&b2u(r == 0)&b2u(exact)&mant != 0 {
		return dragonbox(mant, exp, denorm)
	}
	ts, zeros := trimZeros(s)
	yru := 10*s + t
	if ρ == 0 && first == 0 {
		parity, isInt := parity(mant*2, φ, β)
		if parity != ((D-5)%2 != 0) || isInt && yru%2 != 0 {
			yru--
		}
	}
	d, e := yru, -k0
	if first != 0 {
		d, e = ts, -k0+1+zeros
	}
	return d, e
}

// b2u returns 1 for true, 0 for false, without a branch.
func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// dragonbox returns the shortest decimal d × 10^e of the finite float32
// mant × 2^exp (mant with its implicit bit; denorm for a subnormal), as
// strconv's dboxFtoa32 does, line for line.
func dragonbox(mant uint32, exp int, denorm bool) (uint32, int) {
	if mant == 1<<mantissaBits && !denorm {
		// A power of two: its lower neighbour is nearer (algorithm 5.6).
		k0 := -mulLog10of2MinusLog10of4Over3(exp)
		φ, β := pow10(k0, exp)
		xi := uint32((φ - (φ >> (mantissaBits + 2))) >> (64 - mantissaBits - 1 - β))
		zi := uint32((φ + (φ >> (mantissaBits + 1))) >> (64 - mantissaBits - 1 - β))
		if exp != 2 && exp != 3 {
			xi++
		}
		if q := zi / 10; xi <= q*10 {
			q, zeros := trimZeros(q)
			return q, -k0 + 1 + zeros
		}
		yru := uint32(φ>>(64-mantissaBits-2-β)+1) / 2
		if exp == -77 && yru%2 != 0 {
			yru--
		} else if yru < xi {
			yru++
		}
		return yru, -k0
	}

	// κ = 1 for float32 (algorithm 5.2).
	k0 := -mulLog10of2(exp)
	φ, β := pow10(1+k0, exp)
	hi, lo := bits.Mul64(uint64(mant*2+1)<<β, φ)
	zi, exact := uint32(hi), uint32(lo>>32) == 0 // the upper 64 of 96 bits
	s, r := zi/100, zi%100
	δi := uint32(φ >> (64 - 1 - β))
	if r < δi {
		if r != 0 || !exact || mant%2 == 0 {
			s, zeros := trimZeros(s)
			return s, -k0 + 1 + zeros
		}
		s--
		r = 100
	} else if r == δi {
		parity, isInt := parity(mant*2-1, φ, β)
		if parity || (isInt && mant%2 == 0) {
			s, zeros := trimZeros(s)
			return s, -k0 + 1 + zeros
		}
	}

	// Algorithm 5.4.
	D := r + 5 - δi/2
	t, ρ := D/10, D%10
	yru := 10*s + t
	if ρ == 0 {
		parity, isInt := parity(mant*2, φ, β)
		if parity != ((D-5)%2 != 0) || isInt && yru%2 != 0 {
			yru--
		}
	}
	return yru, -k0
}

// parity returns the parity of the integer part of m × φ × 2^β / 2^64,
// and whether it is an integer.
func parity(m uint32, φ uint64, β int) (odd, isInt bool) {
	r := uint64(m) * φ // the lower 64 of 96 bits
	return (r>>(64-β))&1 != 0, uint32(r>>(32-β)) == 0
}

// ascii8 returns the 8 decimal digits of x < 10^8, leading zeros
// included, as ASCII in the bytes of a uint64, the first in the low byte:
// four pairs of digits from asciiPairs, whose divisions are independent
// of each other once x is split in two halves of four.
func ascii8(x uint32) uint64 {
	a, b := x/10000, x%10000
	return uint64(asciiPairs[a/100]) | uint64(asciiPairs[a%100])<<16 | uint64(asciiPairs[b/100])<<32 | uint64(asciiPairs[b%100])<<48
}

// asciiPairs[n] is the two digits of n < 100, the first in the low byte.
var asciiPairs = func() (t [100]uint16) {
	for n := range t {
		t[n] = uint16('0'+n/10) | uint16('0'+n%10)<<8
	}
	return t
}()

// pow10u32[n] is 10^n.
var pow10u32 = [...]uint32{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// pairs holds "00" to "99".
const pairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// AppendFloat32 appends the shortest decimal form of f exactly as
// strconv.AppendFloat(dst, float64(f), 'g', -1, 32) does: in %e notation
// when its decimal exponent is below -4 or above 5, else in %f notation;
// NaN, +Inf and -Inf as strconv spells them.
func AppendFloat32(dst []byte, f float32) []byte {
	b := math.Float32bits(f)
	mant := b & (1<<mantissaBits - 1)
	exp := int(b>>mantissaBits) & (1<<exponentBits - 1)
	switch {
	case exp == 1<<exponentBits-1:
		switch {
		case mant != 0:
			return append(dst, "NaN"...)
		case b>>31 != 0:
			return append(dst, "-Inf"...)
		}
		return append(dst, "+Inf"...)
	case exp == 0 && mant == 0:
		if b>>31 != 0 {
			return append(dst, "-0"...)
		}
		return append(dst, '0')
	}
	denorm := exp == 0
	if denorm {
		exp = 1
	} else {
		mant |= 1 << mantissaBits
	}
	d, e := digits(mant, exp-bias-mantissaBits, denorm)

	// The nd digits of d, left-aligned in lo, the ninth in hi, computed
	// as nine digits with leading zeros and shifted, without a branch.
	nd := int(uint32(bits.Len32(d))*1233>>12) + 1
	nd -= int((uint64(d) - uint64(pow10u32[nd-1])) >> 63) // 1 if d < 10^(nd-1)
	q := d / 1e8
	a := ascii8(d - q*1e8)
	t, th := uint64('0'+q)|a<<8, a>>56
	sh := uint(8 * (9 - nd)) // Go's shifts by 64 or more give 0
	lo, hi := t>>sh|th<<(64-sh), th>>sh

	// Writes go to a window of 32 bytes past the end, which whole words
	// may overrun: the result is at most 15 bytes long.
	if cap(dst)-len(dst) < 32 {
		dst = slices.Grow(dst, 32)
	}
	n := len(dst)
	out := dst[n : n+32]
	out[0] = '-'
	p := int(b >> 31) // past the sign, if any
	dp := nd + e      // the decimal point is after dp digits
	switch {
	case dp <= 0 && dp > -4: // 0.ddd to 0.000ddd
		binary.LittleEndian.PutUint64(out[p:], 0x303030302e30) // "0.0000"
		p += 2 - dp
		binary.LittleEndian.PutUint64(out[p:], lo)
		binary.LittleEndian.PutUint64(out[p+8:], hi)
		p += nd
	case dp > 0 && dp <= 6:
		binary.LittleEndian.PutUint64(out[p:], lo)
		binary.LittleEndian.PutUint64(out[p+8:], hi)
		if dp >= nd { // ddd000
			binary.LittleEndian.PutUint64(out[p+nd:], 0x3030303030303030)
			p += dp
			break
		}
		p += dp // ddd.ddd
		out[p] = '.'
		s := uint(8 * dp)
		binary.LittleEndian.PutUint64(out[p+1:], lo>>s|hi<<(64-s))
		binary.LittleEndian.PutUint64(out[p+9:], hi>>s)
		p += 1 + nd - dp
	default: // d.ddde±xx
		out[p] = byte(lo)
		p++
		if nd > 1 {
			out[p] = '.'
			binary.LittleEndian.PutUint64(out[p+1:], lo>>8|hi<<56)
			p += nd
		}
		x := dp - 1
		out[p], out[p+1] = 'e', '+'
		if x < 0 {
			out[p+1] = '-'
			x = -x
		}
		out[p+2], out[p+3] = pairs[2*x], pairs[2*x+1] // |x| <= 45
		p += 4
	}
	return dst[:n+p]
}
