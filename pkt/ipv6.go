// SPDX-License-Identifier: GPL-2.0-or-later

package pkt

import (
	"encoding/binary"
	"net/netip"
)

// IPv6HeaderLen is the length of the fixed IPv6 header.
const IPv6HeaderLen = 40

// MaxIPv6ExtHeaders bounds the extension-header walk of
// [IPv6.TransportHeader]; longer chains are rejected.
const MaxIPv6ExtHeaders = 8

// IPv6 is a view of an IPv6 packet (fixed header and payload).
type IPv6 []byte

// ParseIPv6 validates the fixed header of the IPv6 packet at the start of
// b and returns the packet trimmed to 40 + payload length (dropping
// link-layer padding). It rejects a version other than 6 ([ErrIPVersion])
// and a payload length beyond b ([ErrIPv6PayloadLen]). Jumbograms (payload
// length 0 with a jumbo option) are not supported: such a packet is taken
// to have an empty payload. Extension headers are checked by
// [IPv6.TransportHeader].
func ParseIPv6(b []byte) (IPv6, error) {
	if len(b) < IPv6HeaderLen {
		return nil, ErrShort
	}
	if b[0]>>4 != 6 {
		return nil, ErrIPVersion
	}
	tl := IPv6HeaderLen + int(binary.BigEndian.Uint16(b[4:6]))
	if tl > len(b) {
		return nil, ErrIPv6PayloadLen
	}
	return IPv6(b[:tl]), nil
}

// Version returns the IP version field.
func (ip IPv6) Version() uint8 { return ip[0] >> 4 }

// TrafficClass returns the traffic class (DSCP and ECN).
func (ip IPv6) TrafficClass() uint8 {
	return uint8(binary.BigEndian.Uint16(ip[0:2]) >> 4)
}

// FlowLabel returns the 20-bit flow label.
func (ip IPv6) FlowLabel() uint32 { return binary.BigEndian.Uint32(ip[0:4]) & 0xfffff }

// PayloadLen returns the payload length field.
func (ip IPv6) PayloadLen() uint16 { return binary.BigEndian.Uint16(ip[4:6]) }

// NextHeader returns the next-header field of the fixed header.
func (ip IPv6) NextHeader() uint8 { return ip[6] }

// HopLimit returns the hop limit.
func (ip IPv6) HopLimit() uint8 { return ip[7] }

// Src returns the source address.
func (ip IPv6) Src() netip.Addr { return netip.AddrFrom16([16]byte(ip[8:24])) }

// Dst returns the destination address.
func (ip IPv6) Dst() netip.Addr { return netip.AddrFrom16([16]byte(ip[24:40])) }

// Payload returns the bytes after the fixed header (extension headers
// included).
func (ip IPv6) Payload() []byte { return ip[IPv6HeaderLen:] }

// SetTrafficClass sets the traffic class.
func (ip IPv6) SetTrafficClass(v uint8) {
	w := binary.BigEndian.Uint16(ip[0:2])&0xf00f | uint16(v)<<4
	binary.BigEndian.PutUint16(ip[0:2], w)
}

// SetFlowLabel sets the flow label (low 20 bits of v).
func (ip IPv6) SetFlowLabel(v uint32) {
	w := binary.BigEndian.Uint32(ip[0:4])&^0xfffff | v&0xfffff
	binary.BigEndian.PutUint32(ip[0:4], w)
}

// SetPayloadLen sets the payload length field.
func (ip IPv6) SetPayloadLen(v uint16) { binary.BigEndian.PutUint16(ip[4:6], v) }

// SetNextHeader sets the next-header field of the fixed header.
func (ip IPv6) SetNextHeader(v uint8) { ip[6] = v }

// SetHopLimit sets the hop limit.
func (ip IPv6) SetHopLimit(v uint8) { ip[7] = v }

// SetSrc sets the source address.
func (ip IPv6) SetSrc(a netip.Addr) { b := a.As16(); copy(ip[8:24], b[:]) }

// SetDst sets the destination address.
func (ip IPv6) SetDst(a netip.Addr) { b := a.As16(); copy(ip[24:40], b[:]) }

// TransportHeader walks the extension-header chain of a parsed packet and
// returns the upper-layer protocol, the offset of its header from the
// start of ip, and whether a fragment header was seen. Hop-by-hop (first
// only), routing, fragment, destination options and AH headers are
// skipped; any other value ends the walk and is returned as proto. For a
// non-first fragment (offset ≠ 0) the walk stops after the fragment
// header: proto is then the fragment's next header and off points at
// fragment data, not at a header. The walk visits at most
// [MaxIPv6ExtHeaders] headers. A truncated header, a misplaced hop-by-hop
// header or a longer chain gives [ErrIPv6ExtHeader]. On success
// IPv6HeaderLen <= off <= len(ip).
func (ip IPv6) TransportHeader() (proto uint8, off int, fragment bool, err error) {
	proto, off, frag, err := ip.walk()
	return proto, off, frag != fragNone, err
}

// Fragment kinds reported by walk.
const (
	fragNone  = iota
	fragFirst // fragment header with offset 0
	fragLater // fragment header with offset > 0
)

func (ip IPv6) walk() (proto uint8, off int, frag int, err error) {
	proto = ip[6]
	off = IPv6HeaderLen
	for i := 0; ; i++ {
		var hl int
		switch proto {
		case ProtoHopByHop, ProtoRouting, ProtoDstOpts:
			if proto == ProtoHopByHop && i != 0 {
				return 0, 0, fragNone, ErrIPv6ExtHeader
			}
			if len(ip)-off < 8 {
				return 0, 0, fragNone, ErrIPv6ExtHeader
			}
			hl = (int(ip[off+1]) + 1) * 8
		case ProtoAH:
			if len(ip)-off < 8 {
				return 0, 0, fragNone, ErrIPv6ExtHeader
			}
			hl = (int(ip[off+1]) + 2) * 4
		case ProtoFragment:
			if len(ip)-off < 8 {
				return 0, 0, fragNone, ErrIPv6ExtHeader
			}
			hl = 8
			if binary.BigEndian.Uint16(ip[off+2:off+4])&0xfff8 != 0 {
				// Not the first fragment: no upper-layer header.
				return ip[off], off + hl, fragLater, nil
			}
			frag = fragFirst
		default:
			return proto, off, frag, nil
		}
		if i == MaxIPv6ExtHeaders || hl > len(ip)-off {
			return 0, 0, fragNone, ErrIPv6ExtHeader
		}
		proto = ip[off]
		off += hl
	}
}

// BuildIPv6 writes a fixed IPv6 header at the start of b for a payload of
// payloadLen bytes (at most 65535) and returns [IPv6HeaderLen]. Traffic
// class is zero. src and dst are written in their 16-byte form.
func BuildIPv6(b []byte, src, dst netip.Addr, nextHeader uint8, payloadLen int, hopLimit uint8, flowLabel uint32) int {
	_ = b[IPv6HeaderLen-1]
	binary.BigEndian.PutUint32(b[0:4], 6<<28|flowLabel&0xfffff)
	binary.BigEndian.PutUint16(b[4:6], uint16(payloadLen))
	b[6] = nextHeader
	b[7] = hopLimit
	s, d := src.As16(), dst.As16()
	copy(b[8:24], s[:])
	copy(b[24:40], d[:])
	return IPv6HeaderLen
}
