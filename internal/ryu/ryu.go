// Package ryu formats float32 values as the shortest decimal that parses
// back to the same bits, with Ulf Adams's Ryū algorithm ("Ryū: fast
// float-to-string conversion", PLDI 2018), specialised for float32.
//
// AppendFloat32 writes exactly what strconv.AppendFloat(dst, float64(f),
// 'g', -1, 32) writes, in about a third of the time: TestExhaustive and
// FuzzAppendFloat32 compare the two bit for bit.
package ryu

import (
	"math"
	"math/big"
	"math/bits"
)

const (
	mantissaBits = 23
	exponentBits = 8
	bias         = 127

	pow5InvBitcount = 59
	pow5Bitcount    = 61
)

// pow5Split[i] is 5^i scaled to pow5Bitcount bits; pow5InvSplit[i] is
// 2^(bits(5^i) - 1 + pow5InvBitcount) / 5^i, rounded up: the tables of
// the reference implementation, computed exactly.
var pow5Split, pow5InvSplit = tables()

func tables() (split [47]uint64, inv [31]uint64) {
	one := big.NewInt(1)
	for i := range split {
		p := new(big.Int).Exp(big.NewInt(5), big.NewInt(int64(i)), nil)
		n := p.BitLen()
		if n > pow5Bitcount {
			p.Rsh(p, uint(n-pow5Bitcount))
		} else {
			p.Lsh(p, uint(pow5Bitcount-n))
		}
		split[i] = p.Uint64()
	}
	for i := range inv {
		p := new(big.Int).Exp(big.NewInt(5), big.NewInt(int64(i)), nil)
		j := p.BitLen() - 1 + pow5InvBitcount
		q := new(big.Int).Lsh(one, uint(j))
		q.Quo(q, p)
		q.Add(q, one)
		inv[i] = q.Uint64()
	}
	return split, inv
}

// pow5bits returns the number of bits of 5^e, for 0 <= e <= 3528.
func pow5bits(e int32) int32 { return int32((uint32(e)*1217359)>>19) + 1 }

// log10Pow2 returns floor(log10(2^e)), for 0 <= e <= 1650.
func log10Pow2(e int32) int32 { return int32((uint32(e) * 78913) >> 18) }

// log10Pow5 returns floor(log10(5^e)), for 0 <= e <= 2620.
func log10Pow5(e int32) int32 { return int32((uint32(e) * 732923) >> 20) }

func pow5Factor(v uint32) int32 {
	n := int32(0)
	for v%5 == 0 {
		v /= 5
		n++
	}
	return n
}

func multipleOfPow5(v uint32, p int32) bool { return pow5Factor(v) >= p }

func multipleOfPow2(v uint32, p int32) bool { return v&(1<<uint(p)-1) == 0 }

// mulShift returns the low 32 bits of (m × factor) >> shift.
func mulShift(m uint32, factor uint64, shift int32) uint32 {
	hi, lo := bits.Mul64(uint64(m), factor)
	if shift >= 64 {
		return uint32(hi >> uint(shift-64))
	}
	return uint32(hi<<(64-uint(shift)) | lo>>uint(shift))
}

// shortest returns the shortest decimal d × 10^e of the finite, positive
// float32 with the given exponent and mantissa bits.
func shortest(ieeeMantissa, ieeeExponent uint32) (uint32, int32) {
	var e2 int32
	var m2 uint32
	if ieeeExponent == 0 {
		e2 = 1 - bias - mantissaBits - 2
		m2 = ieeeMantissa
	} else {
		e2 = int32(ieeeExponent) - bias - mantissaBits - 2
		m2 = 1<<mantissaBits | ieeeMantissa
	}
	even := m2&1 == 0
	acceptBounds := even

	mv := 4 * m2
	mp := 4*m2 + 2
	mmShift := uint32(0)
	if ieeeMantissa != 0 || ieeeExponent <= 1 {
		mmShift = 1
	}
	mm := 4*m2 - 1 - mmShift

	var vr, vp, vm uint32
	var e10 int32
	vmTrailingZeros, vrTrailingZeros := false, false
	lastRemoved := uint32(0)
	if e2 >= 0 {
		q := log10Pow2(e2)
		e10 = q
		k := pow5InvBitcount + pow5bits(q) - 1
		i := -e2 + q + k
		vr = mulShift(mv, pow5InvSplit[q], i)
		vp = mulShift(mp, pow5InvSplit[q], i)
		vm = mulShift(mm, pow5InvSplit[q], i)
		if q != 0 && (vp-1)/10 <= vm/10 {
			l := pow5InvBitcount + pow5bits(q-1) - 1
			lastRemoved = mulShift(mv, pow5InvSplit[q-1], -e2+q-1+l) % 10
		}
		if q <= 9 {
			switch {
			case mv%5 == 0:
				vrTrailingZeros = multipleOfPow5(mv, q)
			case acceptBounds:
				vmTrailingZeros = multipleOfPow5(mm, q)
			case multipleOfPow5(mp, q):
				vp--
			}
		}
	} else {
		q := log10Pow5(-e2)
		e10 = q + e2
		i := -e2 - q
		k := pow5bits(i) - pow5Bitcount
		j := q - k
		vr = mulShift(mv, pow5Split[i], j)
		vp = mulShift(mp, pow5Split[i], j)
		vm = mulShift(mm, pow5Split[i], j)
		if q != 0 && (vp-1)/10 <= vm/10 {
			j = q - 1 - (pow5bits(i+1) - pow5Bitcount)
			lastRemoved = mulShift(mv, pow5Split[i+1], j) % 10
		}
		switch {
		case q <= 1:
			// mv = 4 × m2 has at least 2 trailing zero bits.
			vrTrailingZeros = true
			if acceptBounds {
				vmTrailingZeros = mmShift == 1
			} else {
				vp--
			}
		case q < 31:
			vrTrailingZeros = multipleOfPow2(mv, q-1)
		}
	}

	removed := int32(0)
	var out uint32
	if vmTrailingZeros || vrTrailingZeros {
		for vp/10 > vm/10 {
			vmTrailingZeros = vmTrailingZeros && vm%10 == 0
			vrTrailingZeros = vrTrailingZeros && lastRemoved == 0
			lastRemoved = vr % 10
			vr /= 10
			vp /= 10
			vm /= 10
			removed++
		}
		if vmTrailingZeros {
			for vm%10 == 0 {
				vrTrailingZeros = vrTrailingZeros && lastRemoved == 0
				lastRemoved = vr % 10
				vr /= 10
				vp /= 10
				vm /= 10
				removed++
			}
		}
		// The exact value ends in 50…0: a tie. Ryū rounds it to even; so
		// does strconv (Dragonbox), except for a power of two (whose lower
		// neighbour is nearer), where it rounds up unless e2 is -79.
		if vrTrailingZeros && lastRemoved == 5 && vr%2 == 0 && (mmShift == 1 || e2 == -79) {
			lastRemoved = 4
		}
		out = vr
		if (vr == vm && (!acceptBounds || !vmTrailingZeros)) || lastRemoved >= 5 {
			out++
		}
	} else {
		for vp/10 > vm/10 {
			lastRemoved = vr % 10
			vr /= 10
			vp /= 10
			vm /= 10
			removed++
		}
		out = vr
		if vr == vm || lastRemoved >= 5 {
			out++
		}
	}
	return out, e10 + removed
}

// AppendFloat32 appends the shortest decimal form of f exactly as
// strconv.AppendFloat(dst, float64(f), 'g', -1, 32) does: in %e notation
// when its decimal exponent is below -4 or above 5, else in %f notation;
// NaN, +Inf and -Inf as strconv spells them.
func AppendFloat32(dst []byte, f float32) []byte {
	b := math.Float32bits(f)
	neg := b>>31 != 0
	mant := b & (1<<mantissaBits - 1)
	exp := (b >> mantissaBits) & (1<<exponentBits - 1)
	switch {
	case exp == 1<<exponentBits-1:
		switch {
		case mant != 0:
			return append(dst, "NaN"...)
		case neg:
			return append(dst, "-Inf"...)
		}
		return append(dst, "+Inf"...)
	case neg:
		dst = append(dst, '-')
	}
	if exp == 0 && mant == 0 {
		return append(dst, '0')
	}
	d, e := shortest(mant, exp)

	// d has at most 9 digits; write them from the end, two at a time.
	var digits [10]byte
	i := len(digits)
	for d >= 100 {
		q := d / 100
		r := d - 100*q
		i -= 2
		digits[i], digits[i+1] = pairs[2*r], pairs[2*r+1]
		d = q
	}
	if d >= 10 {
		i -= 2
		digits[i], digits[i+1] = pairs[2*d], pairs[2*d+1]
	} else {
		i--
		digits[i] = byte('0' + d)
	}
	nd := len(digits) - i
	return formatG(dst, digits[i:], nd+int(e))
}

// pairs holds "00" to "99".
const pairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// formatG writes digits, with the decimal point after the first dp of
// them, as strconv's shortest %g does.
func formatG(dst, digits []byte, dp int) []byte {
	nd := len(digits)
	if x := dp - 1; x < -4 || x >= 6 {
		dst = append(dst, digits[0])
		if nd > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		x := dp - 1
		if x < 0 {
			dst = append(dst, '-')
			x = -x
		} else {
			dst = append(dst, '+')
		}
		if x < 10 {
			dst = append(dst, '0', byte('0'+x))
		} else if x < 100 {
			dst = append(dst, byte('0'+x/10), byte('0'+x%10))
		} else {
			dst = append(dst, byte('0'+x/100), byte('0'+x/10%10), byte('0'+x%10))
		}
		return dst
	}
	if dp > 0 {
		if dp >= nd {
			dst = append(dst, digits...)
			for range dp - nd {
				dst = append(dst, '0')
			}
			return dst
		}
		dst = append(dst, digits[:dp]...)
		dst = append(dst, '.')
		return append(dst, digits[dp:]...)
	}
	dst = append(dst, "0.0000"[:2-dp]...) // dp >= -4 here
	return append(dst, digits...)
}
