// SPDX-License-Identifier: GPL-2.0-or-later

package pkt

import (
	"encoding/binary"
	"net/netip"
)

// IP protocol numbers (also IPv6 next-header values).
const (
	ProtoHopByHop uint8 = 0
	ProtoICMP     uint8 = 1
	ProtoTCP      uint8 = 6
	ProtoUDP      uint8 = 17
	ProtoRouting  uint8 = 43
	ProtoFragment uint8 = 44
	ProtoESP      uint8 = 50
	ProtoAH       uint8 = 51
	ProtoICMPv6   uint8 = 58
	ProtoNoNext   uint8 = 59
	ProtoDstOpts  uint8 = 60
)

// IPv4 header sizes.
const (
	IPv4MinHeaderLen = 20
	IPv4MaxHeaderLen = 60
	IPv4MaxTotalLen  = 65535
)

// IPv4 flag bits in the flags/fragment-offset word.
const (
	IPv4FlagDF         uint16 = 0x4000
	IPv4FlagMF         uint16 = 0x2000
	ipv4FragOffsetMask uint16 = 0x1fff
)

// IPv4 is a view of an IPv4 packet (header and payload).
type IPv4 []byte

// ParseIPv4 validates the header of the IPv4 packet at the start of b and
// returns the packet trimmed to its total length (dropping link-layer
// padding). It rejects a version other than 4 ([ErrIPVersion]), an IHL
// below 5 or beyond b ([ErrIPv4HeaderLen]), and a total length shorter than
// the header or longer than b ([ErrIPv4TotalLen]). The header checksum is
// not verified; see [IPv4.ChecksumValid].
func ParseIPv4(b []byte) (IPv4, error) {
	if len(b) < IPv4MinHeaderLen {
		return nil, ErrShort
	}
	if b[0]>>4 != 4 {
		return nil, ErrIPVersion
	}
	hl := int(b[0]&0x0f) * 4
	if hl < IPv4MinHeaderLen || hl > len(b) {
		return nil, ErrIPv4HeaderLen
	}
	tl := int(binary.BigEndian.Uint16(b[2:4]))
	if tl < hl || tl > len(b) {
		return nil, ErrIPv4TotalLen
	}
	return IPv4(b[:tl]), nil
}

// Version returns the IP version field.
func (ip IPv4) Version() uint8 { return ip[0] >> 4 }

// HeaderLen returns the header length in bytes (IHL × 4).
func (ip IPv4) HeaderLen() int { return int(ip[0]&0x0f) * 4 }

// TOS returns the type-of-service (DSCP and ECN) byte.
func (ip IPv4) TOS() uint8 { return ip[1] }

// TotalLen returns the total length field.
func (ip IPv4) TotalLen() uint16 { return binary.BigEndian.Uint16(ip[2:4]) }

// ID returns the identification field.
func (ip IPv4) ID() uint16 { return binary.BigEndian.Uint16(ip[4:6]) }

// Flags returns the flag bits of the flags/fragment-offset word
// ([IPv4FlagDF], [IPv4FlagMF]).
func (ip IPv4) Flags() uint16 { return binary.BigEndian.Uint16(ip[6:8]) &^ ipv4FragOffsetMask }

// FragmentOffset returns the fragment offset in bytes.
func (ip IPv4) FragmentOffset() int {
	return int(binary.BigEndian.Uint16(ip[6:8])&ipv4FragOffsetMask) * 8
}

// IsFragment reports whether the packet is a fragment (MF set or a
// non-zero offset).
func (ip IPv4) IsFragment() bool {
	return binary.BigEndian.Uint16(ip[6:8])&(IPv4FlagMF|ipv4FragOffsetMask) != 0
}

// TTL returns the time to live.
func (ip IPv4) TTL() uint8 { return ip[8] }

// Protocol returns the payload protocol.
func (ip IPv4) Protocol() uint8 { return ip[9] }

// Checksum returns the header checksum field.
func (ip IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(ip[10:12]) }

// Src returns the source address.
func (ip IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(ip[12:16])) }

// Dst returns the destination address.
func (ip IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(ip[16:20])) }

// Options returns the header options (possibly empty).
func (ip IPv4) Options() []byte { return ip[IPv4MinHeaderLen:ip.HeaderLen()] }

// Payload returns the bytes after the header, up to the end of the view
// (the total length after [ParseIPv4]).
func (ip IPv4) Payload() []byte { return ip[ip.HeaderLen():] }

// ChecksumValid reports whether the header checksum is correct.
func (ip IPv4) ChecksumValid() bool {
	return Finish(Checksum(ip[:ip.HeaderLen()], 0)) == 0
}

// SetTOS sets the type-of-service byte.
func (ip IPv4) SetTOS(v uint8) { ip[1] = v }

// SetTotalLen sets the total length field.
func (ip IPv4) SetTotalLen(v uint16) { binary.BigEndian.PutUint16(ip[2:4], v) }

// SetID sets the identification field.
func (ip IPv4) SetID(v uint16) { binary.BigEndian.PutUint16(ip[4:6], v) }

// SetFlagsFragment sets the whole flags/fragment-offset word.
func (ip IPv4) SetFlagsFragment(v uint16) { binary.BigEndian.PutUint16(ip[6:8], v) }

// SetTTL sets the time to live.
func (ip IPv4) SetTTL(v uint8) { ip[8] = v }

// SetProtocol sets the payload protocol.
func (ip IPv4) SetProtocol(v uint8) { ip[9] = v }

// SetChecksum sets the header checksum field.
func (ip IPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(ip[10:12], v) }

// SetSrc sets the source address without touching the checksum.
func (ip IPv4) SetSrc(a netip.Addr) { b := a.As4(); copy(ip[12:16], b[:]) }

// SetDst sets the destination address without touching the checksum.
func (ip IPv4) SetDst(a netip.Addr) { b := a.As4(); copy(ip[16:20], b[:]) }

// UpdateChecksum recomputes the header checksum from scratch.
func (ip IPv4) UpdateChecksum() {
	ip[10], ip[11] = 0, 0
	ip.SetChecksum(Finish(Checksum(ip[:ip.HeaderLen()], 0)))
}

// RewriteSrc replaces the source address and adjusts the header checksum
// incrementally. The L4 checksum, which covers the address through the
// pseudo-header, must be adjusted separately with [UpdateChecksumAddr].
func (ip IPv4) RewriteSrc(a netip.Addr) {
	ip.SetChecksum(UpdateChecksumAddr(ip.Checksum(), ip.Src(), a))
	ip.SetSrc(a)
}

// RewriteDst is [IPv4.RewriteSrc] for the destination address.
func (ip IPv4) RewriteDst(a netip.Addr) {
	ip.SetChecksum(UpdateChecksumAddr(ip.Checksum(), ip.Dst(), a))
	ip.SetDst(a)
}

// BuildIPv4 writes a 20-byte IPv4 header without options at the start of
// b, for a payload of payloadLen bytes (at most 65515), with the given
// protocol, TTL and identification, no flags, and a correct header
// checksum. It returns [IPv4MinHeaderLen]. src and dst must be IPv4
// addresses.
func BuildIPv4(b []byte, src, dst netip.Addr, proto uint8, payloadLen int, ttl uint8, id uint16) int {
	_ = b[IPv4MinHeaderLen-1]
	b[0] = 0x45
	b[1] = 0
	binary.BigEndian.PutUint16(b[2:4], uint16(IPv4MinHeaderLen+payloadLen))
	binary.BigEndian.PutUint16(b[4:6], id)
	b[6], b[7] = 0, 0
	b[8] = ttl
	b[9] = proto
	b[10], b[11] = 0, 0
	s, d := src.As4(), dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	binary.BigEndian.PutUint16(b[10:12], Finish(Checksum(b[:IPv4MinHeaderLen], 0)))
	return IPv4MinHeaderLen
}
