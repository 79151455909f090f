// SPDX-License-Identifier: GPL-2.0-or-later

package pkt

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Checksum adds b to the partial ones' complement sum initial and returns
// the new, unfolded partial sum. Bytes are taken as big-endian 16-bit words;
// an odd trailing byte is padded with a zero low byte, so every chunk but
// the last one of a multi-call sum must have even length.
//
// Where the CPU has AVX2 (amd64), the bulk of a long buffer is summed 32
// bytes at a time as little-endian words (sumWordsLE), and the folded sum
// byte-swapped: a ones' complement sum does not depend on the byte order
// it is taken in, as long as the result is swapped back (RFC 1071, 2(B)).
// The rest, under 32 bytes, takes the scalar path.
func Checksum(b []byte, initial uint64) uint64 {
	if haveVectorSum && len(b) >= vectorSumMin {
		n := len(b) &^ 31
		var le uint64
		for off := 0; off < n; off += vectorSumChunk {
			le += sumWordsLE(b[off:min(off+vectorSumChunk, n)])
		}
		swapped := uint64(bits.ReverseBytes16(Fold(le)))
		return checksumScalar(b[n:], add64(initial, swapped))
	}
	return checksumScalar(b, initial)
}

// vectorSumMin is the length from which the vector sum is ahead of the
// scalar one despite its set-up and final fold (go test -bench: level at
// 128 bytes, ahead from 192); vectorSumChunk bounds one call of sumWordsLE so
// that its 32-bit lanes cannot overflow (each lane takes at most two
// words per 64 bytes: 2^15 iterations of 64 bytes, 2 MiB, would be the
// limit).
const (
	vectorSumMin   = 192
	vectorSumChunk = 1 << 20
)

// checksumScalar is Checksum 8 bytes at a time, with add-with-carry.
func checksumScalar(b []byte, initial uint64) uint64 {
	sum := initial
	var c uint64
	for len(b) >= 32 {
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(b[0:8]), c)
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(b[8:16]), c)
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(b[16:24]), c)
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(b[24:32]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(b[0:8]), c)
		b = b[8:]
	}
	if len(b) >= 4 {
		sum, c = bits.Add64(sum, uint64(binary.BigEndian.Uint32(b[0:4])), c)
		b = b[4:]
	}
	if len(b) >= 2 {
		sum, c = bits.Add64(sum, uint64(binary.BigEndian.Uint16(b[0:2])), c)
		b = b[2:]
	}
	if len(b) == 1 {
		sum, c = bits.Add64(sum, uint64(b[0])<<8, c)
	}
	// End-around carry: adding the carry back can carry again only when
	// sum was all ones, and then the result (0 + 1) cannot.
	sum, c = bits.Add64(sum, 0, c)
	return sum + c
}

// add64 is a ones' complement addition of two partial sums.
func add64(a, b uint64) uint64 {
	s, c := bits.Add64(a, b, 0)
	return s + c
}

// Fold reduces a partial sum to 16 bits with end-around carry. The result
// is the ones' complement sum itself, not its complement; see [Finish].
func Fold(sum uint64) uint16 {
	s := (sum & 0xffffffff) + sum>>32 // < 2^33
	s = (s & 0xffffffff) + s>>32      // < 2^32
	s = (s & 0xffff) + s>>16          // < 2^17
	s = (s & 0xffff) + s>>16          // < 2^16
	return uint16(s)
}

// Finish folds a partial sum and complements it: the value to store in a
// checksum field. Over a region that includes a correct checksum it is 0.
func Finish(sum uint64) uint16 {
	return ^Fold(sum)
}

// PseudoHeaderSum4 returns the partial sum of the IPv4 pseudo-header (RFC
// 793, RFC 768): source, destination, protocol and L4 length. src and dst
// must be IPv4 (or IPv4-mapped IPv6) addresses.
func PseudoHeaderSum4(src, dst netip.Addr, proto uint8, length uint32) uint64 {
	s, d := src.As4(), dst.As4()
	return uint64(binary.BigEndian.Uint32(s[:])) +
		uint64(binary.BigEndian.Uint32(d[:])) +
		uint64(proto) + uint64(length)
}

// PseudoHeaderSum6 returns the partial sum of the IPv6 pseudo-header (RFC
// 8200 §8.1): source, destination, upper-layer length and next header.
func PseudoHeaderSum6(src, dst netip.Addr, proto uint8, length uint32) uint64 {
	s, d := src.As16(), dst.As16()
	sum, c := bits.Add64(binary.BigEndian.Uint64(s[0:8]), binary.BigEndian.Uint64(s[8:16]), 0)
	sum, c = bits.Add64(sum, binary.BigEndian.Uint64(d[0:8]), c)
	sum, c = bits.Add64(sum, binary.BigEndian.Uint64(d[8:16]), c)
	sum, c = bits.Add64(sum, uint64(length)+uint64(proto), c)
	return sum + c
}

// PseudoHeaderSum picks [PseudoHeaderSum4] or [PseudoHeaderSum6] by the
// family of src.
func PseudoHeaderSum(src, dst netip.Addr, proto uint8, length uint32) uint64 {
	if src.Is4() {
		return PseudoHeaderSum4(src, dst, proto, length)
	}
	return PseudoHeaderSum6(src, dst, proto, length)
}

// UpdateChecksum16 returns checksum csum adjusted for one aligned 16-bit
// word changing from old to new (RFC 1624, eqn. 3).
func UpdateChecksum16(csum, old, new uint16) uint16 {
	sum := uint64(^csum) + uint64(^old) + uint64(new)
	return ^Fold(sum)
}

// UpdateChecksum32 returns checksum csum adjusted for one 16-bit aligned
// 32-bit field changing from old to new.
func UpdateChecksum32(csum uint16, old, new uint32) uint16 {
	sum := uint64(^csum) + uint64(^old) + uint64(new)
	return ^Fold(sum)
}

// UpdateChecksumAddr returns checksum csum adjusted for an address at a
// 16-bit aligned offset changing from old to new (both IPv4 or both IPv6;
// IPv4 addresses count 4 bytes, others 16). Use it for the L3 header and,
// since the pseudo-header includes the addresses, for TCP, UDP and ICMPv6.
func UpdateChecksumAddr(csum uint16, old, new netip.Addr) uint16 {
	sum := uint64(^csum)
	sum = add64(sum, ^addrSum(old))
	sum = add64(sum, addrSum(new))
	return ^Fold(sum)
}

// addrSum returns the folded-to-64-bit ones' complement sum of an address.
// Its bitwise complement is its ones' complement negation.
func addrSum(a netip.Addr) uint64 {
	if a.Is4() {
		b := a.As4()
		return uint64(binary.BigEndian.Uint32(b[:]))
	}
	b := a.As16()
	return add64(binary.BigEndian.Uint64(b[0:8]), binary.BigEndian.Uint64(b[8:16]))
}
