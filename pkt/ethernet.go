// SPDX-License-Identifier: GPL-2.0-or-later

package pkt

import "encoding/binary"

// EtherType values handled by the data path.
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeARP  uint16 = 0x0806
	EtherTypeIPv6 uint16 = 0x86dd
)

// EthernetHeaderLen is the length of an untagged Ethernet II header.
const EthernetHeaderLen = 14

// Broadcast is the Ethernet broadcast address.
var Broadcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// Ethernet is a view of an Ethernet II frame: destination, source,
// EtherType, payload. 802.1Q tags are not interpreted (the tag's TPID is
// reported as the EtherType).
type Ethernet []byte

// ParseEthernet checks that b holds an Ethernet header.
func ParseEthernet(b []byte) (Ethernet, error) {
	if len(b) < EthernetHeaderLen {
		return nil, ErrShort
	}
	return Ethernet(b), nil
}

// Dst returns the destination MAC address.
func (e Ethernet) Dst() [6]byte { return [6]byte(e[0:6]) }

// Src returns the source MAC address.
func (e Ethernet) Src() [6]byte { return [6]byte(e[6:12]) }

// EtherType returns the EtherType.
func (e Ethernet) EtherType() uint16 { return binary.BigEndian.Uint16(e[12:14]) }

// Payload returns the bytes after the header.
func (e Ethernet) Payload() []byte { return e[EthernetHeaderLen:] }

// SetDst sets the destination MAC address.
func (e Ethernet) SetDst(a [6]byte) { copy(e[0:6], a[:]) }

// SetSrc sets the source MAC address.
func (e Ethernet) SetSrc(a [6]byte) { copy(e[6:12], a[:]) }

// SetEtherType sets the EtherType.
func (e Ethernet) SetEtherType(t uint16) { binary.BigEndian.PutUint16(e[12:14], t) }

// BuildEthernet writes an Ethernet header at the start of b and returns
// its length.
func BuildEthernet(b []byte, dst, src [6]byte, etherType uint16) int {
	_ = b[EthernetHeaderLen-1]
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:14], etherType)
	return EthernetHeaderLen
}

// IsMulticastMAC reports whether a is a group (multicast or broadcast)
// address.
func IsMulticastMAC(a [6]byte) bool { return a[0]&1 != 0 }
