// SPDX-License-Identifier: GPL-2.0-or-later

package pkt

import (
	"encoding/binary"
	"net/netip"
)

// UDPHeaderLen is the length of the UDP header.
const UDPHeaderLen = 8

// UDP is a view of a UDP datagram (header and payload).
type UDP []byte

// ParseUDP validates the UDP header at the start of b and returns the
// datagram trimmed to its length field. A length field below 8 or beyond
// b gives [ErrUDPLength]. (A zero length, used by UDP jumbograms, is
// rejected as well.)
func ParseUDP(b []byte) (UDP, error) {
	if len(b) < UDPHeaderLen {
		return nil, ErrShort
	}
	l := int(binary.BigEndian.Uint16(b[4:6]))
	if l < UDPHeaderLen || l > len(b) {
		return nil, ErrUDPLength
	}
	return UDP(b[:l]), nil
}

// SrcPort returns the source port.
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u[0:2]) }

// DstPort returns the destination port.
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u[2:4]) }

// Length returns the length field.
func (u UDP) Length() uint16 { return binary.BigEndian.Uint16(u[4:6]) }

// Checksum returns the checksum field (0: none, IPv4 only).
func (u UDP) Checksum() uint16 { return binary.BigEndian.Uint16(u[6:8]) }

// Payload returns the bytes after the header.
func (u UDP) Payload() []byte { return u[UDPHeaderLen:] }

// SetSrcPort sets the source port.
func (u UDP) SetSrcPort(v uint16) { binary.BigEndian.PutUint16(u[0:2], v) }

// SetDstPort sets the destination port.
func (u UDP) SetDstPort(v uint16) { binary.BigEndian.PutUint16(u[2:4], v) }

// SetLength sets the length field.
func (u UDP) SetLength(v uint16) { binary.BigEndian.PutUint16(u[4:6], v) }

// SetChecksum sets the checksum field.
func (u UDP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(u[6:8], v) }

// BuildUDP writes a UDP header for a payload of payloadLen bytes with a
// zero checksum at the start of b and returns [UDPHeaderLen].
func BuildUDP(b []byte, srcPort, dstPort uint16, payloadLen int) int {
	_ = b[UDPHeaderLen-1]
	binary.BigEndian.PutUint16(b[0:2], srcPort)
	binary.BigEndian.PutUint16(b[2:4], dstPort)
	binary.BigEndian.PutUint16(b[4:6], uint16(UDPHeaderLen+payloadLen))
	b[6], b[7] = 0, 0
	return UDPHeaderLen
}

// FinishUDP computes and stores the checksum of the datagram u (header
// and payload, whole slice) with the pseudo-header for src and dst (IPv4
// or IPv6 by the family of src). A computed 0 is sent as 0xffff (RFC 768).
func FinishUDP(u UDP, src, dst netip.Addr) {
	u[6], u[7] = 0, 0
	c := Finish(Checksum(u, PseudoHeaderSum(src, dst, ProtoUDP, uint32(len(u)))))
	if c == 0 {
		c = 0xffff
	}
	u.SetChecksum(c)
}

// adjust stores the adjusted checksum c unless it is 0 ("none", IPv4 only),
// and sends a result of 0 as 0xffff.
func (u UDP) adjust(c uint16) {
	if u.Checksum() == 0 {
		return
	}
	if c == 0 {
		c = 0xffff
	}
	u.SetChecksum(c)
}

// RewriteSrcPort replaces the source port, adjusting the checksum
// incrementally (a zero IPv4 checksum stays zero).
func (u UDP) RewriteSrcPort(p uint16) {
	u.adjust(UpdateChecksum16(u.Checksum(), u.SrcPort(), p))
	u.SetSrcPort(p)
}

// RewriteDstPort is [UDP.RewriteSrcPort] for the destination port.
func (u UDP) RewriteDstPort(p uint16) {
	u.adjust(UpdateChecksum16(u.Checksum(), u.DstPort(), p))
	u.SetDstPort(p)
}

// RewriteAddr adjusts the checksum for a pseudo-header address changing
// from old to new, for use alongside [IPv4.RewriteSrc] and friends.
func (u UDP) RewriteAddr(old, new netip.Addr) {
	u.adjust(UpdateChecksumAddr(u.Checksum(), old, new))
}
