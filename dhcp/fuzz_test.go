// SPDX-License-Identifier: GPL-2.0-or-later

package dhcp

import (
	"net/netip"
	"testing"
)

// FuzzHandle feeds arbitrary frames to Handle under two configurations (the
// router on the guest's subnet, and off it with option 121): Handle must not
// panic, and any reply must be a well-formed Ethernet/IPv4/UDP/BOOTP frame
// with valid checksums, within 576 bytes of IPv4, that leases GuestAddr
// (or refuses with a NAK). Seeds are in testdata/fuzz/FuzzHandle.
func FuzzHandle(f *testing.F) {
	f.Add(wrap(buildMsg(msgSpec{typ: 1, extra: [][]byte{opt(55, 1, 3, 6, 12, 15, 26, 28, 119, 121)}})))
	f.Add(wrap(buildMsg(msgSpec{typ: 3, flags: 0x8000, extra: [][]byte{opt(50, 10, 0, 2, 15), opt(54, 10, 0, 2, 2)}})))
	f.Add(wrap(buildMsg(msgSpec{})))

	on := testConfig()
	off := testConfig()
	off.Router = netip.MustParseAddr("192.0.2.1")
	off.PrefixLen = 32
	f.Fuzz(func(t *testing.T, frame []byte) {
		for _, c := range []*Config{on, off} {
			out := Handle(c, frame)
			if out == nil {
				continue
			}
			r, err := parseReply(out)
			if err != nil {
				t.Fatalf("malformed reply: %v", err)
			}
			if r.src != c.ServerAddr || r.sport != ServerPort || r.dport != ClientPort || r.ethSrc != c.OurMAC {
				t.Fatalf("reply from %x %v:%d to port %d", r.ethSrc, r.src, r.sport, r.dport)
			}
			if r.msgType() != 6 && r.yiaddr() != c.GuestAddr {
				t.Fatalf("yiaddr %v", r.yiaddr())
			}
			if _, err := decodeNames(r.opts[119]); err != nil {
				t.Fatalf("option 119: %v", err)
			}
		}
	})
}
