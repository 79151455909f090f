// SPDX-License-Identifier: GPL-2.0-or-later

package tap

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"passt/pkt"
)

// udpFrame builds a virtio-net header and an IPv4 or IPv6 UDP frame whose
// checksum is partial, as the kernel hands them over with offloads on.
func udpFrame(v6 bool, payload []byte) []byte {
	src, dst, et := netip.MustParseAddr("10.0.2.15"), netip.MustParseAddr("10.0.2.2"), pkt.EtherTypeIPv4
	l3 := 20
	if v6 {
		src, dst, et, l3 = netip.MustParseAddr("fd00::2"), netip.MustParseAddr("fd00::1"), pkt.EtherTypeIPv6, 40
	}
	b := make([]byte, VnetHdrLen+14+l3+8+len(payload))
	f := b[VnetHdrLen:]
	n := pkt.BuildEthernet(f, [6]byte{1}, [6]byte{2}, et)
	if v6 {
		n += pkt.BuildIPv6(f[n:], src, dst, pkt.ProtoUDP, 8+len(payload), 64, 0)
	} else {
		n += pkt.BuildIPv4(f[n:], src, dst, pkt.ProtoUDP, 8+len(payload), 64, 0)
	}
	pkt.BuildUDP(f[n:], 1234, 53, len(payload))
	copy(f[n+8:], payload)
	binary.BigEndian.PutUint16(f[n+6:], pkt.Fold(pkt.PseudoHeaderSum(src, dst, pkt.ProtoUDP, uint32(8+len(payload)))))
	b[0] = vnetFlagNeedsCsum
	binary.LittleEndian.PutUint16(b[6:], uint16(n))
	binary.LittleEndian.PutUint16(b[8:], 6)
	return b
}

func TestCompleteChecksum(t *testing.T) {
	// UDP (like TCP) is left partial: its handler never reads the
	// checksum.
	for _, v6 := range []bool{false, true} {
		b := udpFrame(v6, []byte("a datagram of odd length"))
		c := append([]byte(nil), b...)
		if !completeChecksum(b) || string(b) != string(c) {
			t.Errorf("v6=%v: a partial UDP checksum was completed", v6)
		}
	}
	// Anything else is completed (the same frame, under another
	// protocol number: the sum is over what follows csum_start).
	for _, v6 := range []bool{false, true} {
		b := udpFrame(v6, []byte("a datagram of odd length"))
		if v6 {
			b[VnetHdrLen+14+6] = 250
		} else {
			b[VnetHdrLen+14+9] = 250
		}
		if completeChecksum(b) {
			t.Fatal("a frame of protocol 250 left partial")
		}
		if b[0]&vnetFlagNeedsCsum != 0 {
			t.Error("NEEDS_CSUM left set")
		}
		var d pkt.Decoded
		if err := pkt.Decode(b[VnetHdrLen:], &d); err != nil {
			t.Fatal(err)
		}
		u := b[VnetHdrLen+d.L4Off:]
		if pkt.Finish(pkt.Checksum(u, pkt.PseudoHeaderSum(d.Src, d.Dst, pkt.ProtoUDP, uint32(len(u))))) != 0 {
			t.Errorf("v6=%v: checksum %04x does not verify", v6, binary.BigEndian.Uint16(u[6:]))
		}
	}
	// Without the flag, or with offsets beyond the frame: untouched.
	b := udpFrame(false, []byte("x"))
	b[0] = 0
	c := append([]byte(nil), b...)
	completeChecksum(b)
	if string(b) != string(c) {
		t.Error("a frame without NEEDS_CSUM was changed")
	}
	b[0] = vnetFlagNeedsCsum
	binary.LittleEndian.PutUint16(b[6:], 60000)
	completeChecksum(b) // must not panic
}

func TestVnetHeader(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		src, dst, et, l3, gso := netip.MustParseAddr("10.0.2.2"), netip.MustParseAddr("10.0.2.15"), pkt.EtherTypeIPv4, 20, byte(gsoTCPv4)
		if v6 {
			src, dst, et, l3, gso = netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2"), pkt.EtherTypeIPv6, 40, gsoTCPv6
		}
		f := make([]byte, 14+l3+32+4000)
		n := pkt.BuildEthernet(f, [6]byte{1}, [6]byte{2}, et)
		if v6 {
			n += pkt.BuildIPv6(f[n:], src, dst, pkt.ProtoTCP, 32+4000, 64, 0)
		} else {
			n += pkt.BuildIPv4(f[n:], src, dst, pkt.ProtoTCP, 32+4000, 64, 0)
		}
		pkt.BuildTCP(f[n:], 80, 40000, 1, 1, pkt.TCPFlagACK, 100, pkt.TCPOptions{MSS: 1460, HasWScale: true, WScale: 7})
		var h [VnetHdrLen]byte
		vnetHeader(&h, f, Offload{GSOSize: 1448, Partial: true})
		want := [VnetHdrLen]byte{vnetFlagNeedsCsum, gso}
		binary.LittleEndian.PutUint16(want[2:], uint16(14+l3+int(f[14+l3+12]>>4)*4))
		binary.LittleEndian.PutUint16(want[4:], 1448)
		binary.LittleEndian.PutUint16(want[6:], uint16(14+l3))
		binary.LittleEndian.PutUint16(want[8:], 16)
		if h != want {
			t.Errorf("v6=%v: header %x, want %x", v6, h, want)
		}
		vnetHeader(&h, f, Offload{})
		if h != ([VnetHdrLen]byte{}) {
			t.Errorf("no offload gave %x", h)
		}
	}
}

// TestVnetHeaderUDP: a UDP frame gets a partial checksum at offset 6 and,
// with a GSO size, GSO_UDP_L4 (only with the partial checksum, which the
// kernel requires for it).
func TestVnetHeaderUDP(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		f := udpFrame(v6, make([]byte, 3000))[VnetHdrLen:]
		l3 := 20
		if v6 {
			l3 = 40
		}
		var h [VnetHdrLen]byte
		vnetHeader(&h, f, Offload{Partial: true})
		want := [VnetHdrLen]byte{vnetFlagNeedsCsum}
		binary.LittleEndian.PutUint16(want[6:], uint16(14+l3))
		binary.LittleEndian.PutUint16(want[8:], 6)
		if h != want {
			t.Errorf("v6=%v: header %x, want %x", v6, h, want)
		}
		vnetHeader(&h, f, Offload{GSOSize: 1000, Partial: true})
		want[1] = gsoUDPL4
		binary.LittleEndian.PutUint16(want[2:], uint16(14+l3+8))
		binary.LittleEndian.PutUint16(want[4:], 1000)
		if h != want {
			t.Errorf("v6=%v: GSO header %x, want %x", v6, h, want)
		}
		vnetHeader(&h, f, Offload{GSOSize: 1000})
		if h != ([VnetHdrLen]byte{}) {
			t.Errorf("v6=%v: GSO without a partial checksum gave %x", v6, h)
		}
		vnetHeader(&h, f, Offload{})
		if h != ([VnetHdrLen]byte{}) {
			t.Errorf("v6=%v: no offload gave %x", v6, h)
		}
	}
}
