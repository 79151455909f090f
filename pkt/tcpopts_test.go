// SPDX-License-Identifier: GPL-2.0-or-later

package pkt

import (
	"errors"
	"testing"
)

func TestParseTCPOptions(t *testing.T) {
	tests := []struct {
		name string
		opts []byte
		want TCPOptions
		err  error
	}{
		{"empty", nil, TCPOptions{}, nil},
		{"Linux SYN", []byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 3, 3, 7},
			TCPOptions{MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 1, TSEcr: 2, HasWScale: true, WScale: 7}, nil},
		{"NOP NOP TS", []byte{1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8},
			TCPOptions{HasTimestamp: true, TSVal: 0x01020304, TSEcr: 0x05060708}, nil},
		{"EOL stops", []byte{2, 4, 1, 0, 0, 3, 3, 7}, TCPOptions{MSS: 256}, nil},
		{"WS clamped", []byte{3, 3, 15, 0}, TCPOptions{HasWScale: true, WScale: 14}, nil},
		{"MSS with bad length ignored", []byte{2, 3, 1, 3, 3, 2}, TCPOptions{HasWScale: true, WScale: 2}, nil},
		{"unknown skipped", []byte{30, 6, 0, 0, 0, 0, 4, 2}, TCPOptions{SACKPermitted: true}, nil},
		{"SACK blocks skipped", []byte{1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2}, TCPOptions{}, nil},
		{"length 0", []byte{2, 4, 5, 0xb4, 30, 0, 4, 2}, TCPOptions{MSS: 1460}, ErrTCPOption},
		{"length 1", []byte{30, 1, 0, 0}, TCPOptions{}, ErrTCPOption},
		{"length overruns", []byte{8, 10, 0, 0, 0, 0}, TCPOptions{}, ErrTCPOption},
		{"kind without length", []byte{1, 2}, TCPOptions{}, ErrTCPOption},
	}
	for _, tc := range tests {
		var o TCPOptions
		o.MSS = 9999 // must be reset
		err := ParseTCPOptions(tc.opts, &o)
		if !errors.Is(err, tc.err) || (err != nil) != (tc.err != nil) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.err)
		}
		if o != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, o, tc.want)
		}
	}
}

func TestTCPOptionsRoundTrip(t *testing.T) {
	for mask := 0; mask < 16; mask++ {
		o := TCPOptions{
			SACKPermitted: mask&1 != 0,
			HasTimestamp:  mask&2 != 0,
			HasWScale:     mask&4 != 0,
		}
		if mask&8 != 0 {
			o.MSS = 65495
		}
		if o.HasTimestamp {
			o.TSVal, o.TSEcr = 0xfeedface, 0x0badf00d
		}
		if o.HasWScale {
			o.WScale = uint8(mask) % (TCPMaxWScale + 1)
		}
		var b [TCPMaxHeaderLen]byte
		hl := BuildTCP(b[:], 1, 2, 3, 4, TCPFlagSYN|TCPFlagACK, 5, o)
		if hl != TCPMinHeaderLen+o.Len() || hl%4 != 0 || hl > TCPMinHeaderLen+20 {
			t.Fatalf("mask %d: header length %d, options %d", mask, hl, o.Len())
		}
		tcp, err := ParseTCP(b[:hl])
		if err != nil {
			t.Fatal(err)
		}
		var got TCPOptions
		if err := ParseTCPOptions(tcp.Options(), &got); err != nil || got != o {
			t.Errorf("mask %d: %v %+v, want %+v", mask, err, got, o)
		}
		if tcp.Flags() != TCPFlagSYN|TCPFlagACK || tcp.Window() != 5 || tcp.Seq() != 3 || tcp.Ack() != 4 {
			t.Errorf("mask %d: header fields", mask)
		}
	}
}
