// SPDX-License-Identifier: GPL-2.0-or-later

package tcp

import (
	"net/netip"
	"testing"

	"passt/loop"
	"passt/pkt"
)

// collect is an Output that keeps the frames the handler sends and checks
// that each is a well-formed TCP segment.
type collect struct {
	t      *testing.T
	frames int
}

func (o *collect) Queue(f []byte) {
	var d pkt.Decoded
	if err := pkt.Decode(f, &d); err != nil || d.L4Proto != pkt.ProtoTCP || d.L4HdrLen == 0 {
		o.t.Fatalf("handler sent a malformed frame (%v): %x", err, f)
	}
	o.frames++
}
func (o *collect) Flush()                      {}
func (o *collect) MACs() (ours, guest [6]byte) { return [6]byte{2}, [6]byte{4} }

// segment builds a guest frame: Ethernet, IPv4 or IPv6, TCP with the given
// fields and payload.
func segment(v6 bool, sport, dport uint16, seq, ack uint32, flags uint8, wnd uint16, opts []byte, payload []byte) []byte {
	src, dst := netip.MustParseAddr("10.0.2.15"), netip.MustParseAddr("10.0.2.2")
	et := pkt.EtherTypeIPv4
	if v6 {
		src, dst, et = netip.MustParseAddr("fd00::2"), netip.MustParseAddr("fd00::1"), pkt.EtherTypeIPv6
	}
	b := make([]byte, 14+40+60+len(payload))
	n := pkt.BuildEthernet(b, [6]byte{2}, [6]byte{4}, et)
	var o pkt.TCPOptions
	_ = pkt.ParseTCPOptions(opts, &o)
	tl := 20 + o.Len() + len(payload)
	if v6 {
		n += pkt.BuildIPv6(b[n:], src, dst, pkt.ProtoTCP, tl, 64, 0)
	} else {
		n += pkt.BuildIPv4(b[n:], src, dst, pkt.ProtoTCP, tl, 64, 0)
	}
	h := pkt.BuildTCP(b[n:], sport, dport, seq, ack, flags, wnd, o)
	copy(b[n+h:], payload)
	pkt.FinishTCP(pkt.TCP(b[n:n+tl]), src, dst)
	return b[:n+tl]
}

var fuzzHandler *Handler
var fuzzOut *collect

// FuzzFromGuest feeds arbitrary segments (any flags, sequence numbers,
// windows, options and payload, for a few ports so that flows are reused)
// to one handler: it must never panic, and whatever it sends back must be a
// well-formed segment. Connections go to a closed port on the host's
// loopback and stay half-open, so the table also fills up.
func FuzzFromGuest(f *testing.F) {
	f.Add(false, uint16(40000), uint16(80), uint32(1), uint32(0), uint8(pkt.TCPFlagSYN), uint16(65535), []byte{2, 4, 5, 180, 3, 3, 7}, []byte{})
	f.Add(false, uint16(40000), uint16(80), uint32(2), uint32(7), uint8(pkt.TCPFlagACK|pkt.TCPFlagPSH), uint16(100), []byte{}, []byte("GET / HTTP/1.0\r\n\r\n"))
	f.Add(true, uint16(40001), uint16(443), uint32(9), uint32(9), uint8(pkt.TCPFlagFIN|pkt.TCPFlagACK), uint16(0), []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0}, []byte{})
	f.Add(false, uint16(40002), uint16(22), uint32(0), uint32(0), uint8(pkt.TCPFlagRST), uint16(0), []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, v6 bool, sport, dport uint16, seq, ack uint32, flags uint8, wnd uint16, opts, payload []byte) {
		if fuzzHandler == nil {
			l, err := loop.New()
			if err != nil {
				t.Skip(err)
			}
			fuzzOut = &collect{}
			closed := func(dst netip.AddrPort) (netip.AddrPort, bool) {
				if dst.Addr().Is6() {
					return netip.AddrPortFrom(netip.IPv6Loopback(), 9), true
				}
				return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 9), true
			}
			h, err := New(l, 1, fuzzOut, closed, 65520, netip.Addr{}, netip.Addr{})
			if err != nil {
				t.Skip(err)
			}
			fuzzHandler = h
		}
		fuzzOut.t = t
		if len(opts) > 40 {
			opts = opts[:40]
		}
		if len(payload) > 2000 {
			payload = payload[:2000]
		}
		// A few ports only, so that segments meet existing flows.
		frame := segment(v6, 40000+sport%4, 80+dport%2, seq, ack, flags, wnd, opts, payload)
		var d pkt.Decoded
		if pkt.Decode(frame, &d) != nil {
			return
		}
		fuzzHandler.FromGuest(frame, &d)
		fuzzHandler.EndBatch() // as the engine does: writes the gather
	})
}
