// SPDX-License-Identifier: GPL-2.0-or-later

package pkt

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"
)

// refSum is the textbook 16-bit ones' complement sum (RFC 1071), folded.
func refSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
		s = s&0xffff + s>>16
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// equivSum compares two folded sums as ones' complement numbers, where
// 0x0000 and 0xffff are both zero.
func equivSum(a, b uint16) bool {
	return a == b || (a == 0 && b == 0xffff) || (a == 0xffff && b == 0)
}

func TestChecksumReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 2000+8)
	for n := 0; n <= 2000; n++ {
		for align := 0; align < 8; align += 1 + n%3 {
			b := buf[align : align+n]
			switch n % 5 {
			case 0:
				for i := range b {
					b[i] = 0xff
				}
			default:
				for i := range b {
					b[i] = byte(r.Uint32())
				}
			}
			want := refSum(b)
			if got := Fold(Checksum(b, 0)); !equivSum(got, want) {
				t.Fatalf("len %d align %d: Fold(Checksum) = %#04x, reference %#04x", n, align, got, want)
			}
			// Same sum in two chunks split at an even offset.
			if n > 0 {
				k := r.IntN(n+1) &^ 1
				got := Fold(Checksum(b[k:], Checksum(b[:k], 0)))
				if !equivSum(got, want) {
					t.Fatalf("len %d split %d: %#04x, reference %#04x", n, k, got, want)
				}
			}
		}
	}
}

func TestChecksumInitialAndFold(t *testing.T) {
	for _, init := range []uint64{0, 1, 0xffff, 0xffffffff, 1<<63 + 12345, ^uint64(0), ^uint64(0) - 1} {
		b := []byte{0xff, 0xff, 0xff, 0xff, 0x12, 0x34, 0xff}
		// The 64-bit initial value is congruent to the sum of its four
		// 16-bit words.
		var ib [8]byte
		binary.BigEndian.PutUint64(ib[:], init)
		want := refSum(append(ib[:], b...))
		if got := Fold(Checksum(b, init)); !equivSum(got, want) {
			t.Errorf("initial %#x: %#04x, want %#04x", init, got, want)
		}
	}
	if Fold(0) != 0 || Fold(0xffff) != 0xffff || Fold(0x10000) != 1 || Fold(^uint64(0)) != 0xffff {
		t.Error("Fold edge cases")
	}
	if Finish(Checksum(nil, 0)) != 0xffff {
		t.Error("Finish of empty sum")
	}
}

// TestChecksumKnown checks RFC 1071 §3's worked example.
func TestChecksumKnown(t *testing.T) {
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Fold(Checksum(b, 0)); got != 0xddf2 {
		t.Fatalf("got %#04x, want 0xddf2", got)
	}
}

func TestPseudoHeaderSum(t *testing.T) {
	s4, d4 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.200")
	ph := []byte{192, 0, 2, 1, 198, 51, 100, 200, 0, ProtoUDP, 0x12, 0x34}
	if got, want := Fold(PseudoHeaderSum4(s4, d4, ProtoUDP, 0x1234)), refSum(ph); !equivSum(got, want) {
		t.Errorf("v4: %#04x, want %#04x", got, want)
	}
	if Fold(PseudoHeaderSum(s4, d4, ProtoUDP, 0x1234)) != Fold(PseudoHeaderSum4(s4, d4, ProtoUDP, 0x1234)) {
		t.Error("PseudoHeaderSum does not pick v4")
	}
	s6, d6 := netip.MustParseAddr("2001:db8::ffff:1"), netip.MustParseAddr("fe80::ffff:ffff:ffff:ffff")
	a, b := s6.As16(), d6.As16()
	ph6 := append(append(a[:], b[:]...), 0, 1, 0x23, 0x45, 0, 0, 0, ProtoTCP)
	if got, want := Fold(PseudoHeaderSum6(s6, d6, ProtoTCP, 0x12345)), refSum(ph6); !equivSum(got, want) {
		t.Errorf("v6: %#04x, want %#04x", got, want)
	}
}

// TestUpdateChecksum rewrites 16-bit words, 32-bit fields and addresses
// at random even offsets and compares the incremental update with a full
// recomputation, bit for bit.
func TestUpdateChecksum(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for iter := 0; iter < 20000; iter++ {
		n := 16 + r.IntN(200)
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if iter%7 == 0 { // many all-ones words: exercises 0/0xffff corners
			for i := range b {
				b[i] = 0xff
			}
		}
		csum := Finish(Checksum(b, 0))
		off := r.IntN(n-15) &^ 1
		var got uint16
		switch iter % 4 {
		case 0:
			old := binary.BigEndian.Uint16(b[off:])
			nw := uint16(r.Uint32())
			binary.BigEndian.PutUint16(b[off:], nw)
			got = UpdateChecksum16(csum, old, nw)
		case 1:
			old := binary.BigEndian.Uint32(b[off:])
			nw := r.Uint32()
			binary.BigEndian.PutUint32(b[off:], nw)
			got = UpdateChecksum32(csum, old, nw)
		case 2:
			old := netip.AddrFrom4([4]byte(b[off : off+4]))
			var nb [4]byte
			binary.BigEndian.PutUint32(nb[:], r.Uint32())
			copy(b[off:], nb[:])
			got = UpdateChecksumAddr(csum, old, netip.AddrFrom4(nb))
		case 3:
			old := netip.AddrFrom16([16]byte(b[off : off+16]))
			var nb [16]byte
			binary.BigEndian.PutUint64(nb[:8], r.Uint64())
			binary.BigEndian.PutUint64(nb[8:], r.Uint64())
			copy(b[off:], nb[:])
			got = UpdateChecksumAddr(csum, old, netip.AddrFrom16(nb))
		}
		if want := Finish(Checksum(b, 0)); got != want {
			t.Fatalf("iter %d kind %d: incremental %#04x, full %#04x", iter, iter%4, got, want)
		}
	}
}

func BenchmarkChecksum(b *testing.B) {
	for _, n := range []int{64, 1500, 65535} {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			var s uint64
			for b.Loop() {
				s = Checksum(buf, s)
			}
			sink = s
		})
	}
}

var sink uint64

// TestChecksumVectorMatchesScalar compares Checksum (the vector sum on
// CPUs with AVX2) with the scalar sum on lengths around the vector path's
// edges: the minimum, each 32-byte step, and the chunks of sumWordsLE
// (largest lane values with all bytes 0xff), from several initial sums.
func TestChecksumVectorMatchesScalar(t *testing.T) {
	t.Logf("vector sum in use: %v", haveVectorSum)
	r := rand.New(rand.NewPCG(3, 4))
	big := make([]byte, 3*vectorSumChunk+100)
	lengths := []int{0, 1, 31, 32, 33, 63, 64, 65, 127, 128, 129, 159, 160, 161, 191, 192, 193, 223, 224, 225, 1460, 1500, 65535, 65536,
		vectorSumChunk - 1, vectorSumChunk, vectorSumChunk + 1, vectorSumChunk + 32, 2*vectorSumChunk + 33, len(big)}
	for i := 0; i < 200; i++ {
		lengths = append(lengths, r.IntN(70000))
	}
	for fill := 0; fill < 3; fill++ {
		for i := range big {
			switch fill {
			case 0:
				big[i] = 0xff
			case 1:
				big[i] = byte(r.Uint32())
			default:
				big[i] = 0
			}
		}
		for _, n := range lengths {
			for _, align := range []int{0, 1, 7} {
				if align+n > len(big) {
					continue
				}
				b := big[align : align+n]
				for _, initial := range []uint64{0, 1, 0xffff, 0x1234_5678_9abc, ^uint64(0) >> 1} {
					got, want := Fold(Checksum(b, initial)), Fold(checksumScalar(b, initial))
					if got != want {
						t.Fatalf("fill %d len %d align %d initial %#x: %#04x, scalar %#04x", fill, n, align, initial, got, want)
					}
				}
			}
		}
	}
}

// FuzzChecksum checks Checksum against the textbook sum, whole and in two
// chunks split at an even offset.
func FuzzChecksum(f *testing.F) {
	f.Add(make([]byte, 200), uint16(0))
	f.Add([]byte{0xff, 0xff, 0xff}, uint16(2))
	f.Fuzz(func(t *testing.T, b []byte, split uint16) {
		want := refSum(b)
		if got := Fold(Checksum(b, 0)); !equivSum(got, want) {
			t.Fatalf("len %d: %#04x, reference %#04x", len(b), got, want)
		}
		k := int(split) % (len(b) + 1) &^ 1
		if got := Fold(Checksum(b[k:], Checksum(b[:k], 0))); !equivSum(got, want) {
			t.Fatalf("len %d split %d: %#04x, reference %#04x", len(b), k, got, want)
		}
	})
}
