// SPDX-License-Identifier: GPL-2.0-or-later

package pkt

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

func realFrames() [][]byte {
	var out [][]byte
	for _, s := range []string{frameARPRequest, frameTCPSyn4, frameDNSQuery4, frameEcho4,
		frameNS6, frameTCPSyn6, frameHBHFrag6, frameFrag6Later, frameFrag4First} {
		out = append(out, hexFrame(s))
	}
	return append(out, ipv6Chain(MaxIPv6ExtHeaders), ipv6Chain(MaxIPv6ExtHeaders+1))
}

// FuzzDecode feeds arbitrary bytes to Decode. It must never panic, and on
// success every reported offset and length must lie inside the frame and
// the views at those offsets must parse and be usable.
func FuzzDecode(f *testing.F) {
	for _, fr := range realFrames() {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		frame = append([]byte(nil), frame...) // FinishTCP below writes
		var d Decoded
		if err := Decode(frame, &d); err != nil {
			return
		}
		n := len(frame)
		if d.L3Off != EthernetHeaderLen || d.L3Len < 0 || d.L3Off+d.L3Len > n {
			t.Fatalf("L3 %d+%d outside frame of %d", d.L3Off, d.L3Len, n)
		}
		if d.IPVersion == 0 {
			if d.L4Off != 0 || d.L4Len != 0 || d.L4HdrLen != 0 {
				t.Fatalf("L4 fields set for non-IP: %+v", d)
			}
			if d.EtherType == EtherTypeARP {
				a := ARP(frame[d.L3Off : d.L3Off+d.L3Len])
				_, _, _, _, _ = a.Op(), a.SenderMAC(), a.SenderIP(), a.TargetMAC(), a.TargetIP()
			}
			return
		}
		if d.L4Off < d.L3Off || d.L4Len < 0 || d.L4Off+d.L4Len > d.L3Off+d.L3Len {
			t.Fatalf("L4 %d+%d outside L3 %d+%d", d.L4Off, d.L4Len, d.L3Off, d.L3Len)
		}
		if d.L4HdrLen < 0 || d.L4HdrLen > d.L4Len || (d.Fragment && d.L4HdrLen != 0) {
			t.Fatalf("L4 header length %d, L4 length %d, fragment %v", d.L4HdrLen, d.L4Len, d.Fragment)
		}
		if !d.Src.IsValid() || !d.Dst.IsValid() || d.Src.Is4() != (d.IPVersion == 4) {
			t.Fatalf("addresses %v %v for version %d", d.Src, d.Dst, d.IPVersion)
		}
		l3 := frame[d.L3Off : d.L3Off+d.L3Len]
		if d.IPVersion == 4 {
			ip := IPv4(l3)
			_, _, _ = ip.Options(), ip.Payload(), ip.ChecksumValid()
		} else {
			ip := IPv6(l3)
			if _, off, _, err := ip.TransportHeader(); err != nil || d.L3Off+off != d.L4Off {
				t.Fatalf("TransportHeader disagrees: %v, %d vs %d", err, off, d.L4Off)
			}
		}
		l4 := frame[d.L4Off : d.L4Off+d.L4Len]
		switch {
		case d.L4HdrLen == 0:
		case d.L4Proto == ProtoTCP:
			tcp := TCP(l4)
			if tcp.HeaderLen() != d.L4HdrLen {
				t.Fatal("TCP header length mismatch")
			}
			var o TCPOptions
			_ = ParseTCPOptions(tcp.Options(), &o)
			_ = tcp.Payload()
			FinishTCP(tcp, d.Src, d.Dst)
			if Finish(Checksum(tcp, PseudoHeaderSum(d.Src, d.Dst, ProtoTCP, uint32(len(tcp))))) != 0 {
				t.Fatal("FinishTCP does not verify")
			}
		case d.L4Proto == ProtoUDP:
			u := UDP(l4)
			if int(u.Length()) != d.L4Len {
				t.Fatal("UDP length mismatch")
			}
			_ = u.Payload()
		default:
			m := ICMP(l4)
			_, _, _, _ = m.Type(), m.ID(), m.Seq(), m.Payload()
		}
	})
}

// FuzzTCPOptions parses arbitrary option bytes. It must never panic, and
// whatever parses must survive a build and re-parse unchanged.
func FuzzTCPOptions(f *testing.F) {
	f.Add([]byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7})
	f.Add([]byte{1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{30, 0})
	f.Add([]byte{30, 1})
	f.Add([]byte{8, 11, 0})
	f.Add([]byte{3, 3, 255, 0, 2})
	f.Fuzz(func(t *testing.T, opts []byte) {
		var o TCPOptions
		err := ParseTCPOptions(opts, &o)
		if len(opts) <= TCPMaxHeaderLen-TCPMinHeaderLen {
			// Through a real header, too.
			var hdr [TCPMaxHeaderLen + 4]byte
			hl := TCPMinHeaderLen + (len(opts)+3)&^3
			hdr[12] = uint8(hl/4) << 4
			copy(hdr[TCPMinHeaderLen:], opts)
			tcp, perr := ParseTCP(hdr[:hl])
			if perr != nil {
				t.Fatal(perr)
			}
			var o2 TCPOptions
			err2 := ParseTCPOptions(tcp.Options(), &o2)
			if err == nil && (err2 != nil || o2 != o) {
				t.Fatalf("padded parse differs: %v %+v vs %+v", err2, o2, o)
			}
		}
		if err != nil {
			return
		}
		var b [TCPMaxHeaderLen]byte
		n := BuildTCPOptions(b[:], &o)
		if n != o.Len() || n%4 != 0 {
			t.Fatalf("built %d bytes, Len %d", n, o.Len())
		}
		var back TCPOptions
		if err := ParseTCPOptions(b[:n], &back); err != nil || back != o {
			t.Fatalf("round trip: %v %+v, want %+v", err, back, o)
		}
	})
}

// FuzzChecksumIncremental changes a field of arbitrary data at an
// arbitrary even offset and compares the incremental update with a full
// recomputation.
func FuzzChecksumIncremental(f *testing.F) {
	f.Add([]byte("\x45\x00\x00\x3c\x1c\x46\x40\x00\x40\x06\x00\x00\x0a\x00\x02\x0f\x5d\xb8\xd8\x22"), uint16(12), uint8(2), []byte{127, 0, 0, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, uint16(4), uint8(0), []byte{0xff, 0xff})
	f.Add(make([]byte, 40), uint16(8), uint8(3), []byte{0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte, off uint16, kind uint8, nv []byte) {
		size := [4]int{2, 4, 4, 16}[kind%4]
		if len(data) < size || len(nv) < size {
			return
		}
		data = append([]byte(nil), data...) // never modify the fuzzer's input
		o := int(off) % (len(data) - size + 1) &^ 1
		field := data[o : o+size]
		csum := Finish(Checksum(data, 0))
		var got uint16
		switch kind % 4 {
		case 0:
			got = UpdateChecksum16(csum, binary.BigEndian.Uint16(field), binary.BigEndian.Uint16(nv))
		case 1:
			got = UpdateChecksum32(csum, binary.BigEndian.Uint32(field), binary.BigEndian.Uint32(nv))
		case 2:
			got = UpdateChecksumAddr(csum, netip.AddrFrom4([4]byte(field)), netip.AddrFrom4([4]byte(nv)))
		case 3:
			got = UpdateChecksumAddr(csum, netip.AddrFrom16([16]byte(field)), netip.AddrFrom16([16]byte(nv)))
		}
		copy(field, nv[:size])
		want := Finish(Checksum(data, 0))
		if got != want {
			// Only when the original or the new data is all zeros
			// (sum 0, checksum 0xffff) may the two differ, and then
			// only in the representation of zero.
			if (csum != 0xffff && want != 0xffff) || !equivSum(got, want) {
				t.Fatalf("incremental %#04x, full %#04x (original %#04x)", got, want, csum)
			}
		}
	})
}
