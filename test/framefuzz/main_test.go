// SPDX-License-Identifier: GPL-2.0-or-later

package main

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"passt/pkt"
)

// Every corpus frame is well formed: it decodes, with the L4 protocol its
// builder meant (fragments aside).
func TestCorpusDecodes(t *testing.T) {
	mac := [6]byte{2, 0, 0, 0, 0, 1}
	for i, f := range buildCorpus(mac) {
		var d pkt.Decoded
		if err := pkt.Decode(f, &d); err != nil {
			t.Errorf("frame %d does not decode: %v: %x", i, err, f)
		}
	}
}

// Whatever the mutations do, a frame keeps the guest's source MAC, and an
// IP frame goes to the gateway or to one of the link-local destinations
// the engine answers itself: the fuzzer never makes the engine talk to
// another address.
func TestMutationsStayLocal(t *testing.T) {
	mac := [6]byte{2, 0, 0, 0, 0, 1}
	m := &mutator{rng: rand.New(rand.NewPCG(1, 2)), corpus: buildCorpus(mac), mac: mac, max: 1514}
	allowed := map[netip.Addr]bool{
		gw4: true, gw6: true,
		netip.MustParseAddr("255.255.255.255"): true,
		netip.MustParseAddr("ff02::1:2"):       true,
		netip.MustParseAddr("ff02::1"):         true,
		netip.MustParseAddr("ff02::2"):         true,
	}
	for i := 0; i < 200000; i++ {
		f := m.next()
		if [6]byte(f[6:12]) != mac {
			t.Fatalf("source MAC changed: %x", f)
		}
		var dst netip.Addr
		switch binary.BigEndian.Uint16(f[12:14]) {
		case pkt.EtherTypeIPv4:
			if len(f) >= 34 {
				dst = netip.AddrFrom4([4]byte(f[30:34]))
			}
		case pkt.EtherTypeIPv6:
			if len(f) >= 54 {
				dst = netip.AddrFrom16([16]byte(f[38:54]))
			}
		}
		if dst.IsValid() && !allowed[dst] && !netip.MustParsePrefix("ff02::1:ff00:0/104").Contains(dst) {
			t.Fatalf("frame to %v: %x", dst, f)
		}
		// Multicast and broadcast only for the services the engine
		// answers itself (never an echo request the host would send).
		if dst.IsValid() && dst != gw4 && dst != gw6 {
			switch {
			case dst.Is4():
				if f[23] != pkt.ProtoUDP || binary.BigEndian.Uint16(f[36:]) != 67 {
					t.Fatalf("broadcast that is not DHCP: %x", f)
				}
			case f[20] == pkt.ProtoICMPv6:
				if f[54] < 133 || f[54] > 137 {
					t.Fatalf("multicast ICMPv6 that is not NDP: %x", f)
				}
			case f[20] != pkt.ProtoUDP || binary.BigEndian.Uint16(f[56:]) != 547:
				t.Fatalf("multicast that is not DHCPv6: %x", f)
			}
		}
	}
}
