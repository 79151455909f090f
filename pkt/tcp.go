// SPDX-License-Identifier: GPL-2.0-or-later

package pkt

import (
	"encoding/binary"
	"net/netip"
)

// TCP header sizes.
const (
	TCPMinHeaderLen = 20
	TCPMaxHeaderLen = 60
)

// TCP flags (the low byte of the data-offset/flags word).
const (
	TCPFlagFIN uint8 = 0x01
	TCPFlagSYN uint8 = 0x02
	TCPFlagRST uint8 = 0x04
	TCPFlagPSH uint8 = 0x08
	TCPFlagACK uint8 = 0x10
	TCPFlagURG uint8 = 0x20
	TCPFlagECE uint8 = 0x40
	TCPFlagCWR uint8 = 0x80
)

// TCP is a view of a TCP segment (header and payload).
type TCP []byte

// ParseTCP validates the TCP header at the start of b: a data offset
// below 5 or beyond b gives [ErrTCPDataOffset]. The segment is not
// trimmed (TCP has no length field; the L3 length bounds it).
func ParseTCP(b []byte) (TCP, error) {
	if len(b) < TCPMinHeaderLen {
		return nil, ErrShort
	}
	hl := int(b[12]>>4) * 4
	if hl < TCPMinHeaderLen || hl > len(b) {
		return nil, ErrTCPDataOffset
	}
	return TCP(b), nil
}

// SrcPort returns the source port.
func (t TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(t[0:2]) }

// DstPort returns the destination port.
func (t TCP) DstPort() uint16 { return binary.BigEndian.Uint16(t[2:4]) }

// Seq returns the sequence number.
func (t TCP) Seq() uint32 { return binary.BigEndian.Uint32(t[4:8]) }

// Ack returns the acknowledgement number.
func (t TCP) Ack() uint32 { return binary.BigEndian.Uint32(t[8:12]) }

// HeaderLen returns the header length in bytes (data offset × 4).
func (t TCP) HeaderLen() int { return int(t[12]>>4) * 4 }

// Flags returns the flag byte (TCPFlagFIN ... TCPFlagCWR).
func (t TCP) Flags() uint8 { return t[13] }

// Window returns the (unscaled) window field.
func (t TCP) Window() uint16 { return binary.BigEndian.Uint16(t[14:16]) }

// Checksum returns the checksum field.
func (t TCP) Checksum() uint16 { return binary.BigEndian.Uint16(t[16:18]) }

// Urgent returns the urgent pointer.
func (t TCP) Urgent() uint16 { return binary.BigEndian.Uint16(t[18:20]) }

// Options returns the option bytes (possibly empty).
func (t TCP) Options() []byte { return t[TCPMinHeaderLen:t.HeaderLen()] }

// Payload returns the bytes after the header.
func (t TCP) Payload() []byte { return t[t.HeaderLen():] }

// SetSrcPort sets the source port.
func (t TCP) SetSrcPort(v uint16) { binary.BigEndian.PutUint16(t[0:2], v) }

// SetDstPort sets the destination port.
func (t TCP) SetDstPort(v uint16) { binary.BigEndian.PutUint16(t[2:4], v) }

// SetSeq sets the sequence number.
func (t TCP) SetSeq(v uint32) { binary.BigEndian.PutUint32(t[4:8], v) }

// SetAck sets the acknowledgement number.
func (t TCP) SetAck(v uint32) { binary.BigEndian.PutUint32(t[8:12], v) }

// SetFlags sets the flag byte.
func (t TCP) SetFlags(v uint8) { t[13] = v }

// SetWindow sets the window field.
func (t TCP) SetWindow(v uint16) { binary.BigEndian.PutUint16(t[14:16], v) }

// SetChecksum sets the checksum field.
func (t TCP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(t[16:18], v) }

// SetUrgent sets the urgent pointer.
func (t TCP) SetUrgent(v uint16) { binary.BigEndian.PutUint16(t[18:20], v) }

// RewriteSrcPort replaces the source port, adjusting the checksum
// incrementally.
func (t TCP) RewriteSrcPort(p uint16) {
	t.SetChecksum(UpdateChecksum16(t.Checksum(), t.SrcPort(), p))
	t.SetSrcPort(p)
}

// RewriteDstPort replaces the destination port, adjusting the checksum
// incrementally.
func (t TCP) RewriteDstPort(p uint16) {
	t.SetChecksum(UpdateChecksum16(t.Checksum(), t.DstPort(), p))
	t.SetDstPort(p)
}

// RewriteAddr adjusts the checksum for a pseudo-header address changing
// from old to new, for use alongside [IPv4.RewriteSrc] and friends.
func (t TCP) RewriteAddr(old, new netip.Addr) {
	t.SetChecksum(UpdateChecksumAddr(t.Checksum(), old, new))
}

// BuildTCP writes a TCP header with the given fields and options
// ([BuildTCPOptions]) at the start of b, with a zero checksum and urgent
// pointer, and returns the header length.
func BuildTCP(b []byte, srcPort, dstPort uint16, seq, ack uint32, flags uint8, window uint16, opts TCPOptions) int {
	_ = b[TCPMinHeaderLen-1]
	binary.BigEndian.PutUint16(b[0:2], srcPort)
	binary.BigEndian.PutUint16(b[2:4], dstPort)
	binary.BigEndian.PutUint32(b[4:8], seq)
	binary.BigEndian.PutUint32(b[8:12], ack)
	hl := TCPMinHeaderLen + BuildTCPOptions(b[TCPMinHeaderLen:], &opts)
	b[12] = uint8(hl/4) << 4
	b[13] = flags
	binary.BigEndian.PutUint16(b[14:16], window)
	b[16], b[17], b[18], b[19] = 0, 0, 0, 0
	return hl
}

// FinishTCP computes and stores the checksum of the segment t (header and
// payload, whole slice) with the pseudo-header for src and dst (IPv4 or
// IPv6 by the family of src).
func FinishTCP(t TCP, src, dst netip.Addr) {
	t[16], t[17] = 0, 0
	t.SetChecksum(Finish(Checksum(t, PseudoHeaderSum(src, dst, ProtoTCP, uint32(len(t))))))
}
