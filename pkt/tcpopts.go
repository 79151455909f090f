// SPDX-License-Identifier: GPL-2.0-or-later

package pkt

import "encoding/binary"

// TCP option kinds.
const (
	TCPOptEOL       uint8 = 0
	TCPOptNOP       uint8 = 1
	TCPOptMSS       uint8 = 2
	TCPOptWS        uint8 = 3
	TCPOptSACKPerm  uint8 = 4
	TCPOptSACK      uint8 = 5
	TCPOptTimestamp uint8 = 8
)

// TCPMaxWScale is the largest window-scale shift RFC 7323 allows; larger
// values are clamped to it by the parser.
const TCPMaxWScale = 14

// TCPOptions holds the TCP options the data path understands. The zero
// value means "no options".
type TCPOptions struct {
	MSS           uint16 // maximum segment size; 0: absent
	WScale        uint8  // window-scale shift, if HasWScale
	HasWScale     bool
	SACKPermitted bool
	HasTimestamp  bool
	TSVal, TSEcr  uint32 // timestamp value and echo reply, if HasTimestamp
}

// Len returns the number of bytes [BuildTCPOptions] writes for o, a
// multiple of 4 and at most 20.
func (o *TCPOptions) Len() int {
	n := 0
	if o.MSS != 0 {
		n += 4
	}
	if o.HasTimestamp {
		n += 12 // NOP NOP TS, or SACK-permitted TS
	} else if o.SACKPermitted {
		n += 4 // NOP NOP SACK-permitted
	}
	if o.HasWScale {
		n += 4 // NOP WS
	}
	return n
}

// BuildTCPOptions writes the options in o at the start of b, padded with
// NOPs to a multiple of 4 bytes in the layout Linux uses (MSS,
// SACK-permitted + timestamps, window scale), and returns the length
// written (see [TCPOptions.Len]).
func BuildTCPOptions(b []byte, o *TCPOptions) int {
	n := 0
	if o.MSS != 0 {
		_ = b[n+3]
		b[n], b[n+1] = TCPOptMSS, 4
		binary.BigEndian.PutUint16(b[n+2:n+4], o.MSS)
		n += 4
	}
	if o.HasTimestamp {
		_ = b[n+11]
		if o.SACKPermitted {
			b[n], b[n+1] = TCPOptSACKPerm, 2
		} else {
			b[n], b[n+1] = TCPOptNOP, TCPOptNOP
		}
		b[n+2], b[n+3] = TCPOptTimestamp, 10
		binary.BigEndian.PutUint32(b[n+4:n+8], o.TSVal)
		binary.BigEndian.PutUint32(b[n+8:n+12], o.TSEcr)
		n += 12
	} else if o.SACKPermitted {
		_ = b[n+3]
		b[n], b[n+1], b[n+2], b[n+3] = TCPOptNOP, TCPOptNOP, TCPOptSACKPerm, 2
		n += 4
	}
	if o.HasWScale {
		_ = b[n+3]
		b[n], b[n+1], b[n+2], b[n+3] = TCPOptNOP, TCPOptWS, 3, o.WScale
		n += 4
	}
	return n
}

// ParseTCPOptions parses the option bytes of a TCP header (see
// [TCP.Options]) into out, which it resets first. It stops at EOL or at
// the end of opts. Known options with an unexpected length are ignored,
// as Linux does; unknown options are skipped. A length byte of 0 or 1, or
// an option running past opts, gives [ErrTCPOption]; out then holds what
// was parsed before. A window-scale shift above 14 is clamped to 14.
func ParseTCPOptions(opts []byte, out *TCPOptions) error {
	*out = TCPOptions{}
	for len(opts) > 0 {
		kind := opts[0]
		switch kind {
		case TCPOptEOL:
			return nil
		case TCPOptNOP:
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 {
			return ErrTCPOption
		}
		l := int(opts[1])
		if l < 2 || l > len(opts) {
			return ErrTCPOption
		}
		o := opts[:l]
		switch {
		case kind == TCPOptMSS && l == 4:
			out.MSS = binary.BigEndian.Uint16(o[2:4])
		case kind == TCPOptWS && l == 3:
			out.HasWScale = true
			out.WScale = min(o[2], TCPMaxWScale)
		case kind == TCPOptSACKPerm && l == 2:
			out.SACKPermitted = true
		case kind == TCPOptTimestamp && l == 10:
			out.HasTimestamp = true
			out.TSVal = binary.BigEndian.Uint32(o[2:6])
			out.TSEcr = binary.BigEndian.Uint32(o[6:10])
		}
		opts = opts[l:]
	}
	return nil
}
