// SPDX-License-Identifier: GPL-2.0-or-later

package pkt

import "net/netip"

// Decoded describes one Ethernet frame as found by [Decode]. Offsets are
// from the start of the frame. It holds no pointers into the frame, so it
// can be kept in preallocated arrays; addresses are [netip.Addr] values,
// whose only pointer is the runtime's static IPv4/IPv6 handle (building
// them does not allocate).
type Decoded struct {
	EtherType uint16

	// L3Off and L3Len delimit the L3 packet: the IP packet trimmed to its
	// length field, the 28-byte ARP packet, or for other EtherTypes the
	// rest of the frame.
	L3Off, L3Len int

	IPVersion uint8 // 4 or 6 for IP, 0 otherwise
	TTL       uint8 // IPv4 TTL or IPv6 hop limit
	Src, Dst  netip.Addr

	// L4Proto is the IPv4 protocol or the IPv6 next header after the
	// extension headers. L4Off and L4Len delimit the L4 segment (header
	// and payload); for UDP, L4Len is the UDP length. L4HdrLen is the
	// validated L4 header length (TCP data offset, 8 for UDP, ICMP and
	// ICMPv6), or 0 when the L4 header was not validated: fragments,
	// unknown protocols.
	L4Proto        uint8
	L4Off, L4Len   int
	L4HdrLen       int
	Fragment       bool // IPv4 MF or offset, or an IPv6 fragment header
	FirstFragment  bool // Fragment with offset 0: carries the L4 header
	IPv4HasOptions bool
	IPv6ExtHeaders bool // at least one IPv6 extension header skipped
}

// Decode validates one Ethernet frame and describes it in out, in a
// single pass and without allocating. EtherTypes other than IPv4, IPv6
// and ARP are accepted with only EtherType, L3Off and L3Len set. For IP,
// the header (and IPv6 extension headers) is validated as by [ParseIPv4],
// [ParseIPv6] and [IPv6.TransportHeader]; for unfragmented TCP, UDP, ICMP
// and ICMPv6 the L4 header is validated as by [ParseTCP], [ParseUDP] and
// [ParseICMP]. Fragments are flagged, not rejected. On error out is
// partially filled and must not be used. On success every offset and
// length in out lies within frame. Checksums are not verified.
func Decode(frame []byte, out *Decoded) error {
	*out = Decoded{}
	if len(frame) < EthernetHeaderLen {
		return ErrShort
	}
	et := Ethernet(frame).EtherType()
	out.EtherType = et
	out.L3Off = EthernetHeaderLen
	l3 := frame[EthernetHeaderLen:]
	out.L3Len = len(l3)

	var l4 []byte
	switch et {
	case EtherTypeARP:
		a, err := ParseARP(l3)
		if err != nil {
			return err
		}
		out.L3Len = len(a)
		return nil
	case EtherTypeIPv4:
		ip, err := ParseIPv4(l3)
		if err != nil {
			return err
		}
		hl := ip.HeaderLen()
		out.L3Len = len(ip)
		out.IPVersion = 4
		out.TTL = ip.TTL()
		out.Src, out.Dst = ip.Src(), ip.Dst()
		out.L4Proto = ip.Protocol()
		out.IPv4HasOptions = hl > IPv4MinHeaderLen
		out.L4Off = EthernetHeaderLen + hl
		l4 = ip[hl:]
		if ip.IsFragment() {
			out.Fragment = true
			out.FirstFragment = ip.FragmentOffset() == 0
		}
	case EtherTypeIPv6:
		ip, err := ParseIPv6(l3)
		if err != nil {
			return err
		}
		out.L3Len = len(ip)
		out.IPVersion = 6
		out.TTL = ip.HopLimit()
		out.Src, out.Dst = ip.Src(), ip.Dst()
		proto, off, frag, err := ip.walk()
		if err != nil {
			return err
		}
		out.L4Proto = proto
		out.IPv6ExtHeaders = off > IPv6HeaderLen
		out.L4Off = EthernetHeaderLen + off
		l4 = ip[off:]
		if frag != fragNone {
			out.Fragment = true
			out.FirstFragment = frag == fragFirst
		}
	default:
		return nil
	}
	out.L4Len = len(l4)
	if out.Fragment {
		return nil
	}

	switch out.L4Proto {
	case ProtoTCP:
		t, err := ParseTCP(l4)
		if err != nil {
			return err
		}
		out.L4HdrLen = t.HeaderLen()
	case ProtoUDP:
		u, err := ParseUDP(l4)
		if err != nil {
			return err
		}
		out.L4Len = len(u)
		out.L4HdrLen = UDPHeaderLen
	case ProtoICMP, ProtoICMPv6:
		if (out.L4Proto == ProtoICMP) != (out.IPVersion == 4) {
			return nil // ICMP over IPv6 or ICMPv6 over IPv4: not ours
		}
		if _, err := ParseICMP(l4); err != nil {
			return err
		}
		out.L4HdrLen = ICMPHeaderLen
	}
	return nil
}
