// SPDX-License-Identifier: GPL-2.0-or-later

package pkt

import "errors"

// Sentinel errors returned by the Parse functions, Decode and
// ParseTCPOptions. They are compared with == or errors.Is.
var (
	ErrShort          = errors.New("pkt: header truncated")
	ErrIPVersion      = errors.New("pkt: bad IP version")
	ErrIPv4HeaderLen  = errors.New("pkt: bad IPv4 header length")
	ErrIPv4TotalLen   = errors.New("pkt: bad IPv4 total length")
	ErrIPv6PayloadLen = errors.New("pkt: IPv6 payload length exceeds buffer")
	ErrIPv6ExtHeader  = errors.New("pkt: bad IPv6 extension header chain")
	ErrTCPDataOffset  = errors.New("pkt: bad TCP data offset")
	ErrTCPOption      = errors.New("pkt: malformed TCP option")
	ErrUDPLength      = errors.New("pkt: bad UDP length")
	ErrARP            = errors.New("pkt: unsupported ARP format")
)
