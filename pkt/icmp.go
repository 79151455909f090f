// SPDX-License-Identifier: GPL-2.0-or-later

package pkt

import (
	"encoding/binary"
	"net/netip"
)

// ICMPHeaderLen is the length of the common ICMP/ICMPv6 header: type,
// code, checksum and a 4-byte field that echo messages split into
// identifier and sequence number.
const ICMPHeaderLen = 8

// ICMP (v4) message types used by the data path.
const (
	ICMPv4EchoReply   uint8 = 0
	ICMPv4Unreachable uint8 = 3
	ICMPv4EchoRequest uint8 = 8
	ICMPv4TimeExceed  uint8 = 11
)

// ICMPv6 message types used by the data path.
const (
	ICMPv6Unreachable   uint8 = 1
	ICMPv6PacketTooBig  uint8 = 2
	ICMPv6TimeExceeded  uint8 = 3
	ICMPv6EchoRequest   uint8 = 128
	ICMPv6EchoReply     uint8 = 129
	ICMPv6RouterSolicit uint8 = 133
	ICMPv6RouterAdvert  uint8 = 134
	ICMPv6NeighSolicit  uint8 = 135
	ICMPv6NeighAdvert   uint8 = 136
	ICMPv6Redirect      uint8 = 137
)

// ICMP is a view of an ICMP or ICMPv6 message. The two share the layout
// of the first 8 bytes; they differ in their checksum, which for ICMPv6
// covers a pseudo-header.
type ICMP []byte

// ParseICMP checks that b holds at least the 8-byte ICMP header.
func ParseICMP(b []byte) (ICMP, error) {
	if len(b) < ICMPHeaderLen {
		return nil, ErrShort
	}
	return ICMP(b), nil
}

// Type returns the message type.
func (m ICMP) Type() uint8 { return m[0] }

// Code returns the message code.
func (m ICMP) Code() uint8 { return m[1] }

// Checksum returns the checksum field.
func (m ICMP) Checksum() uint16 { return binary.BigEndian.Uint16(m[2:4]) }

// ID returns the echo identifier.
func (m ICMP) ID() uint16 { return binary.BigEndian.Uint16(m[4:6]) }

// Seq returns the echo sequence number.
func (m ICMP) Seq() uint16 { return binary.BigEndian.Uint16(m[6:8]) }

// Rest returns the 4-byte field after the checksum as one word.
func (m ICMP) Rest() uint32 { return binary.BigEndian.Uint32(m[4:8]) }

// Payload returns the bytes after the 8-byte header.
func (m ICMP) Payload() []byte { return m[ICMPHeaderLen:] }

// SetType sets the message type.
func (m ICMP) SetType(v uint8) { m[0] = v }

// SetCode sets the message code.
func (m ICMP) SetCode(v uint8) { m[1] = v }

// SetChecksum sets the checksum field.
func (m ICMP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(m[2:4], v) }

// SetID sets the echo identifier.
func (m ICMP) SetID(v uint16) { binary.BigEndian.PutUint16(m[4:6], v) }

// SetSeq sets the echo sequence number.
func (m ICMP) SetSeq(v uint16) { binary.BigEndian.PutUint16(m[6:8], v) }

// BuildICMP writes an 8-byte ICMP or ICMPv6 header with a zero checksum
// at the start of b and returns [ICMPHeaderLen].
func BuildICMP(b []byte, typ, code uint8, id, seq uint16) int {
	_ = b[ICMPHeaderLen-1]
	b[0], b[1], b[2], b[3] = typ, code, 0, 0
	binary.BigEndian.PutUint16(b[4:6], id)
	binary.BigEndian.PutUint16(b[6:8], seq)
	return ICMPHeaderLen
}

// FinishICMPv4 computes and stores the checksum of the ICMP message m
// (header and payload; no pseudo-header).
func FinishICMPv4(m ICMP) {
	m[2], m[3] = 0, 0
	m.SetChecksum(Finish(Checksum(m, 0)))
}

// FinishICMPv6 computes and stores the checksum of the ICMPv6 message m,
// pseudo-header included.
func FinishICMPv6(m ICMP, src, dst netip.Addr) {
	m[2], m[3] = 0, 0
	m.SetChecksum(Finish(Checksum(m, PseudoHeaderSum6(src, dst, ProtoICMPv6, uint32(len(m))))))
}
