// SPDX-License-Identifier: GPL-2.0-or-later

package udp

import (
	"net/netip"
	"testing"

	"passt/flow"
	"passt/loop"
	"passt/pkt"
)

// contained is a Translator that sends every flow the rules accept to a
// port of host loopback, so that fuzzing never reaches the network.
type contained struct{ *flow.NAT }

func (c contained) FromGuest(proto uint8, dst netip.AddrPort) (netip.AddrPort, flow.Rule, bool) {
	_, r, ok := c.NAT.FromGuest(proto, dst)
	if !ok {
		return netip.AddrPort{}, r, false
	}
	if dst.Addr().Unmap().Is4() {
		return netip.MustParseAddrPort("127.0.0.1:9"), r, true
	}
	return netip.MustParseAddrPort("[::1]:9"), r, true
}

var fuzzHandler *Handler

// FuzzFromGuest feeds arbitrary frames to the guest side: whatever the
// decoder lets through (any ports, lengths, addresses, fragments, flow
// table exhaustion with the small table) must never make the handler
// panic, and its counters must add up.
func FuzzFromGuest(f *testing.F) {
	g4, g6 := netip.AddrPortFrom(guest4, 40000), netip.AddrPortFrom(guest6, 40000)
	f.Add(guestFrame(g4, netip.AddrPortFrom(gw4, 53), []byte("query")))
	f.Add(guestFrame(g6, netip.AddrPortFrom(gw6, 53), []byte("query")))
	f.Add(guestFrame(g4, netip.MustParseAddrPort("192.0.2.1:7"), make([]byte, 1472)))
	f.Add(guestFrame(g4, netip.MustParseAddrPort("224.0.0.251:5353"), []byte{}))
	f.Add(guestFrame(g6, netip.MustParseAddrPort("[::ffff:10.0.2.2]:53"), []byte("mapped")))
	frag := guestFrame(g4, netip.AddrPortFrom(gw4, 53), make([]byte, 100))
	frag[14+6] = 0x20 // more fragments
	f.Add(frag)
	short := guestFrame(g4, netip.AddrPortFrom(gw4, 53), make([]byte, 100))
	short[14+20+5] = 9 // UDP length shorter than the IP payload
	f.Add(short)
	f.Fuzz(func(t *testing.T, frame []byte) {
		if fuzzHandler == nil {
			l, err := loop.New()
			if err != nil {
				t.Skip(err)
			}
			h, err := newHandler(l, 1, 2, &sink{}, Config{NAT: contained{testNAT()}}, 8)
			if err != nil {
				t.Skip(err)
			}
			fuzzHandler = h
		}
		h := fuzzHandler
		var d pkt.Decoded
		if pkt.Decode(frame, &d) != nil || d.L4Proto != pkt.ProtoUDP {
			return
		}
		before := h.Stats
		h.FromGuest(frame, &d)
		h.Flush()
		s := h.Stats
		if s.FromGuest+s.Dropped < before.FromGuest+before.Dropped+1 {
			t.Fatalf("datagram neither sent nor dropped: %+v -> %+v", before, s)
		}
		if h.Flows() > h.table.Cap() {
			t.Fatalf("%d flows in a table of %d", h.Flows(), h.table.Cap())
		}
	})
}
