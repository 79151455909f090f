// SPDX-License-Identifier: GPL-2.0-or-later

package flow

import (
	"net/netip"
	"testing"

	"passt/conf"
)

var (
	ip   = netip.MustParseAddr
	ap   = netip.MustParseAddrPort
	none netip.Addr
)

// baseNAT: host 192.0.2.2/24 via 192.0.2.1 and 2001:db8::2/64 via fe80::1,
// default gateway mapping, first resolvers 203.0.113.53 and 2001:db8:53::1.
func baseNAT() NAT {
	return NAT{
		V4: FamilyAddrs{
			Guest:           ip("192.0.2.2"),
			GuestSeen:       ip("192.0.2.2"),
			Our:             ip("192.0.2.1"),
			MapHostLoopback: ip("192.0.2.1"),
			DNSHost:         ip("203.0.113.53"),
		},
		V6: FamilyAddrs{
			Guest:           ip("2001:db8::2"),
			GuestSeen:       ip("2001:db8::2"),
			GuestSeenLL:     ip("fe80::abcd"),
			Our:             ip("fe80::1"),
			MapHostLoopback: ip("fe80::1"),
			DNSHost:         ip("2001:db8:53::1"),
		},
	}
}

func TestFromGuest(t *testing.T) {
	type tc struct {
		name  string
		mod   func(*NAT)
		proto uint8
		dst   string
		want  string // "" : dropped
		rule  Rule
	}
	noMapGW := func(n *NAT) { n.V4.MapHostLoopback, n.V6.MapHostLoopback = none, none }
	mapGuest := func(n *NAT) {
		n.V4.MapGuestAddr = ip("192.0.2.100")
		n.V6.MapGuestAddr = ip("2001:db8::100")
	}
	dnsFwd := func(n *NAT) {
		n.V4.DNSMatch = ip("192.0.2.3")
		n.V6.DNSMatch = ip("2001:db8::3")
	}
	// §6.9: loopback resolver, advertised as the map-host-loopback address,
	// which becomes the DNS match.
	dnsImplicit := func(n *NAT) {
		n.V4.DNSMatch = n.V4.MapHostLoopback
		n.V6.DNSMatch = n.V6.MapHostLoopback
		n.V4.DNSHost = ip("127.0.0.53")
		n.V6.DNSHost = ip("::1")
	}
	tests := []tc{
		// Rule 4: unchanged.
		{"v4 direct tcp", nil, ProtoTCP, "198.51.100.7:80", "198.51.100.7:80", RuleDirect},
		{"v4 direct udp", nil, ProtoUDP, "198.51.100.7:5000", "198.51.100.7:5000", RuleDirect},
		{"v4 direct icmp", nil, ProtoICMP, "198.51.100.7:0", "198.51.100.7:0", RuleDirect},
		{"v4 to own address", nil, ProtoTCP, "192.0.2.2:22", "192.0.2.2:22", RuleDirect},
		{"v6 direct tcp", nil, ProtoTCP, "[2001:db8:1::7]:443", "[2001:db8:1::7]:443", RuleDirect},
		{"v6 direct icmp", nil, ProtoICMPv6, "[2001:db8:1::7]:9", "[2001:db8:1::7]:9", RuleDirect},

		// Rule 2: map-host-loopback (default: gateway).
		{"v4 gw to loopback tcp", nil, ProtoTCP, "192.0.2.1:22", "127.0.0.1:22", RuleHostLoopback},
		{"v4 gw to loopback udp", nil, ProtoUDP, "192.0.2.1:5353", "127.0.0.1:5353", RuleHostLoopback},
		{"v4 gw to loopback icmp", nil, ProtoICMP, "192.0.2.1:7", "127.0.0.1:7", RuleHostLoopback},
		{"v4 mapped dst", nil, ProtoTCP, "[::ffff:192.0.2.1]:22", "127.0.0.1:22", RuleHostLoopback},
		{"v6 gw to loopback tcp", nil, ProtoTCP, "[fe80::1]:22", "[::1]:22", RuleHostLoopback},
		{"v6 gw to loopback zone", nil, ProtoTCP, "[fe80::1%eth0]:22", "[::1]:22", RuleHostLoopback},
		{"v6 gw to loopback icmp", nil, ProtoICMPv6, "[fe80::1]:3", "[::1]:3", RuleHostLoopback},
		{"v4 only exact address", nil, ProtoTCP, "192.0.2.4:22", "192.0.2.4:22", RuleDirect},
		{"v4 custom map-host-loopback", func(n *NAT) { n.V4.MapHostLoopback = ip("10.0.0.9") },
			ProtoTCP, "10.0.0.9:8080", "127.0.0.1:8080", RuleHostLoopback},
		{"v4 custom mhl, gateway not mapped", func(n *NAT) { n.V4.MapHostLoopback = ip("10.0.0.9") },
			ProtoTCP, "192.0.2.1:8080", "192.0.2.1:8080", RuleDirect},
		{"v4 --no-map-gw", noMapGW, ProtoTCP, "192.0.2.1:22", "192.0.2.1:22", RuleDirect},
		{"v6 --no-map-gw", noMapGW, ProtoTCP, "[fe80::1]:22", "[fe80::1]:22", RuleDirect},
		{"v4 mhl only v6 unset", func(n *NAT) { n.V6.MapHostLoopback = none },
			ProtoTCP, "192.0.2.1:22", "127.0.0.1:22", RuleHostLoopback},
		{"v6 unset, v4 still maps", func(n *NAT) { n.V6.MapHostLoopback = none },
			ProtoTCP, "[fe80::1]:22", "[fe80::1]:22", RuleDirect},

		// Rule 3: map-guest-addr.
		{"v4 map-guest-addr", mapGuest, ProtoTCP, "192.0.2.100:80", "192.0.2.2:80", RuleGuestAddr},
		{"v4 map-guest-addr icmp", mapGuest, ProtoICMP, "192.0.2.100:1", "192.0.2.2:1", RuleGuestAddr},
		{"v6 map-guest-addr", mapGuest, ProtoUDP, "[2001:db8::100]:80", "[2001:db8::2]:80", RuleGuestAddr},
		{"v4 map-guest-addr unset", nil, ProtoTCP, "192.0.2.100:80", "192.0.2.100:80", RuleDirect},
		{"v6 map-guest-addr, no assigned address", func(n *NAT) { mapGuest(n); n.V6.Guest = none },
			ProtoTCP, "[2001:db8::100]:80", "", RuleDrop},
		{"map-host-loopback wins over map-guest-addr", func(n *NAT) { n.V4.MapGuestAddr = n.V4.MapHostLoopback },
			ProtoTCP, "192.0.2.1:80", "127.0.0.1:80", RuleHostLoopback},

		// Rule 1: DNS.
		{"v4 dns udp 53", dnsFwd, ProtoUDP, "192.0.2.3:53", "203.0.113.53:53", RuleDNS},
		{"v4 dns tcp 53", dnsFwd, ProtoTCP, "192.0.2.3:53", "203.0.113.53:53", RuleDNS},
		{"v4 dns tcp 853", dnsFwd, ProtoTCP, "192.0.2.3:853", "203.0.113.53:853", RuleDNS},
		{"v4 dns udp 853", dnsFwd, ProtoUDP, "192.0.2.3:853", "203.0.113.53:853", RuleDNS},
		{"v4 dns port 54 not", dnsFwd, ProtoUDP, "192.0.2.3:54", "192.0.2.3:54", RuleDirect},
		{"v4 dns icmp not", dnsFwd, ProtoICMP, "192.0.2.3:53", "192.0.2.3:53", RuleDirect},
		{"v4 dns other address not", dnsFwd, ProtoUDP, "198.51.100.1:53", "198.51.100.1:53", RuleDirect},
		{"v4 no dns match", nil, ProtoUDP, "192.0.2.3:53", "192.0.2.3:53", RuleDirect},
		{"v4 dns match, no dns host", func(n *NAT) { dnsFwd(n); n.V4.DNSHost = none },
			ProtoUDP, "192.0.2.3:53", "192.0.2.3:53", RuleDirect},
		{"v6 dns udp 53", dnsFwd, ProtoUDP, "[2001:db8::3]:53", "[2001:db8:53::1]:53", RuleDNS},
		{"v6 dns tcp 853", dnsFwd, ProtoTCP, "[2001:db8::3]:853", "[2001:db8:53::1]:853", RuleDNS},
		{"v6 dns port 54 not", dnsFwd, ProtoUDP, "[2001:db8::3]:54", "[2001:db8::3]:54", RuleDirect},
		{"v6 dns other address not", dnsFwd, ProtoUDP, "[2001:db8::4]:53", "[2001:db8::4]:53", RuleDirect},
		{"v4 match is not v6 match", func(n *NAT) { dnsFwd(n); n.V6.DNSMatch = none },
			ProtoUDP, "[2001:db8::3]:53", "[2001:db8::3]:53", RuleDirect},

		// §6.9 interplay: DNS match == map-host-loopback address.
		{"v4 implicit dns 53", dnsImplicit, ProtoUDP, "192.0.2.1:53", "127.0.0.53:53", RuleDNS},
		{"v4 implicit dns 853", dnsImplicit, ProtoTCP, "192.0.2.1:853", "127.0.0.53:853", RuleDNS},
		{"v4 implicit, other port to loopback", dnsImplicit, ProtoTCP, "192.0.2.1:80", "127.0.0.1:80", RuleHostLoopback},
		{"v4 implicit, port 54 to loopback", dnsImplicit, ProtoUDP, "192.0.2.1:54", "127.0.0.1:54", RuleHostLoopback},
		{"v4 implicit, icmp to loopback", dnsImplicit, ProtoICMP, "192.0.2.1:53", "127.0.0.1:53", RuleHostLoopback},
		{"v6 implicit dns 53", dnsImplicit, ProtoUDP, "[fe80::1]:53", "[::1]:53", RuleDNS},
		{"v6 implicit, other port", dnsImplicit, ProtoUDP, "[fe80::1]:5353", "[::1]:5353", RuleHostLoopback},
		{"explicit dns-forward equal to gateway", func(n *NAT) { n.V4.DNSMatch = ip("192.0.2.1") },
			ProtoUDP, "192.0.2.1:53", "203.0.113.53:53", RuleDNS},

		// Unusable destinations.
		{"v4 unspecified", nil, ProtoTCP, "0.0.0.0:80", "", RuleDrop},
		{"v4 multicast", nil, ProtoUDP, "224.0.0.251:5353", "", RuleDrop},
		{"v4 broadcast", nil, ProtoUDP, "255.255.255.255:67", "", RuleDrop},
		{"v4 loopback", nil, ProtoTCP, "127.0.0.1:22", "", RuleDrop},
		{"v4 tcp port 0", nil, ProtoTCP, "198.51.100.7:0", "", RuleDrop},
		{"v4 udp port 0", nil, ProtoUDP, "198.51.100.7:0", "", RuleDrop},
		{"v6 unspecified", nil, ProtoTCP, "[::]:80", "", RuleDrop},
		{"v6 multicast", nil, ProtoUDP, "[ff02::fb]:5353", "", RuleDrop},
		{"v6 loopback", nil, ProtoTCP, "[::1]:22", "", RuleDrop},
		{"invalid", nil, ProtoTCP, "", "", RuleDrop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := baseNAT()
			if tt.mod != nil {
				tt.mod(&n)
			}
			var dst netip.AddrPort
			if tt.dst != "" {
				dst = ap(tt.dst)
			}
			got, rule, ok := n.FromGuest(tt.proto, dst)
			if rule != tt.rule {
				t.Errorf("rule %v, want %v", rule, tt.rule)
			}
			if tt.want == "" {
				if ok {
					t.Errorf("got %v, want drop", got)
				}
				return
			}
			if !ok || got != ap(tt.want) {
				t.Errorf("got %v %v, want %v", got, ok, tt.want)
			}
		})
	}
}

func TestFromHost(t *testing.T) {
	type tc struct {
		name    string
		mod     func(*NAT)
		src     string
		hostDst string // "": unknown
		target  string // "": none
		port    uint16
		wantSrc string // "": dropped
		wantDst string
	}
	noMapGW := func(n *NAT) { n.V4.MapHostLoopback, n.V6.MapHostLoopback = none, none }
	mapGuest := func(n *NAT) {
		n.V4.MapGuestAddr = ip("192.0.2.100")
		n.V6.MapGuestAddr = ip("2001:db8::100")
	}
	tests := []tc{
		// Man page example: 127.0.0.1 -> 127.0.0.10 arrives as
		// 192.0.2.1 -> 192.0.2.2.
		{"v4 loopback to mhl", nil, "127.0.0.1:40000", "127.0.0.10", "", 8080, "192.0.2.1:40000", "192.0.2.2:8080"},
		{"v4 loopback to custom mhl", func(n *NAT) { n.V4.MapHostLoopback = ip("10.0.0.9") },
			"127.0.0.1:40000", "", "", 80, "10.0.0.9:40000", "192.0.2.2:80"},
		{"v4 mapped loopback", nil, "[::ffff:127.0.0.1]:1234", "", "", 80, "192.0.2.1:1234", "192.0.2.2:80"},
		{"v4 other loopback to our", func(n *NAT) { n.V4.MapHostLoopback = ip("10.0.0.9") },
			"127.0.0.5:1234", "", "", 80, "192.0.2.1:1234", "192.0.2.2:80"},
		// Code, not man page: --no-map-gw / none rewrite to our address.
		{"v4 loopback --no-map-gw", noMapGW, "127.0.0.1:1234", "", "", 80, "192.0.2.1:1234", "192.0.2.2:80"},
		{"v4 loopback, no mapping, no our address", func(n *NAT) { noMapGW(n); n.V4.Our = none },
			"127.0.0.1:1234", "", "", 80, "", ""},
		{"v4 unspecified source", nil, "0.0.0.0:1234", "", "", 80, "192.0.2.1:1234", "192.0.2.2:80"},
		{"v4 guest address, map-guest-addr", mapGuest, "192.0.2.2:1234", "", "", 80, "192.0.2.100:1234", "192.0.2.2:80"},
		{"v4 guest address, no mapping", nil, "192.0.2.2:1234", "", "", 80, "192.0.2.1:1234", "192.0.2.2:80"},
		{"v4 guest address, no mapping, no our", func(n *NAT) { n.V4.Our = none },
			"192.0.2.2:1234", "", "", 80, "", ""},
		{"v4 seen address to our", func(n *NAT) { n.V4.GuestSeen = ip("192.0.2.9") },
			"192.0.2.9:1234", "", "", 80, "192.0.2.1:1234", "192.0.2.9:80"},
		{"v4 seen address, map-guest-addr only for assigned", func(n *NAT) { mapGuest(n); n.V4.GuestSeen = ip("192.0.2.9") },
			"192.0.2.9:1234", "", "", 80, "192.0.2.1:1234", "192.0.2.9:80"},
		{"v4 remote unchanged", nil, "198.51.100.7:5555", "192.0.2.2", "", 2222, "198.51.100.7:5555", "192.0.2.2:2222"},
		{"v4 remote unchanged, no mhl", noMapGW, "198.51.100.7:5555", "", "", 22, "198.51.100.7:5555", "192.0.2.2:22"},
		{"v4 gateway as remote unchanged", nil, "192.0.2.1:5555", "", "", 22, "192.0.2.1:5555", "192.0.2.2:22"},

		// Destination choice.
		{"v4 seen destination", func(n *NAT) { n.V4.GuestSeen = ip("192.0.2.77") },
			"198.51.100.7:1", "", "", 22, "198.51.100.7:1", "192.0.2.77:22"},
		{"v4 nothing seen, assigned", func(n *NAT) { n.V4.GuestSeen = none },
			"198.51.100.7:1", "", "", 22, "198.51.100.7:1", "192.0.2.2:22"},
		{"v4 rule target", nil, "198.51.100.7:1", "", "192.0.2.50", 22, "198.51.100.7:1", "192.0.2.50:22"},
		{"v4 rule target, mapped loopback", nil, "127.0.0.1:1", "", "192.0.2.50", 22, "192.0.2.1:1", "192.0.2.50:22"},
		{"v4 multicast kept", nil, "198.51.100.7:1", "239.1.2.3", "", 5000, "198.51.100.7:1", "239.1.2.3:5000"},
		{"v4 unicast host destination not kept", nil, "198.51.100.7:1", "198.51.100.1", "", 5000, "198.51.100.7:1", "192.0.2.2:5000"},
		{"v4 target wins over multicast", nil, "198.51.100.7:1", "239.1.2.3", "192.0.2.50", 5000, "198.51.100.7:1", "192.0.2.50:5000"},
		{"family mismatch", nil, "198.51.100.7:1", "", "2001:db8::2", 22, "", ""},
		{"v4 disabled", func(n *NAT) { n.V4 = FamilyAddrs{} }, "198.51.100.7:1", "", "", 22, "", ""},

		// IPv6.
		{"v6 loopback to mhl", nil, "[::1]:40000", "", "", 80, "[fe80::1]:40000", "[fe80::abcd]:80"},
		{"v6 loopback, no ll seen", func(n *NAT) { n.V6.GuestSeenLL = none },
			"[::1]:40000", "", "", 80, "[fe80::1]:40000", "[2001:db8::2]:80"},
		{"v6 loopback to global mhl", func(n *NAT) { n.V6.MapHostLoopback = ip("2001:db8::1") },
			"[::1]:40000", "", "", 80, "[2001:db8::1]:40000", "[2001:db8::2]:80"},
		{"v6 loopback --no-map-gw", noMapGW, "[::1]:1", "", "", 80, "[fe80::1]:1", "[fe80::abcd]:80"},
		{"v6 loopback, no mapping, no our", func(n *NAT) { noMapGW(n); n.V6.Our = none },
			"[::1]:1", "", "", 80, "", ""},
		{"v6 unspecified source", nil, "[::]:1", "", "", 80, "[fe80::1]:1", "[fe80::abcd]:80"},
		{"v6 guest address, map-guest-addr", mapGuest, "[2001:db8::2]:1", "", "", 80, "[2001:db8::100]:1", "[2001:db8::2]:80"},
		{"v6 guest address, no mapping", nil, "[2001:db8::2]:1", "", "", 80, "[fe80::1]:1", "[fe80::abcd]:80"},
		{"v6 guest ll address", nil, "[fe80::abcd]:1", "", "", 80, "[fe80::1]:1", "[fe80::abcd]:80"},
		{"v6 global remote, global destination", nil, "[2001:db8:1::7]:1", "", "", 80, "[2001:db8:1::7]:1", "[2001:db8::2]:80"},
		{"v6 global remote, seen global", func(n *NAT) { n.V6.GuestSeen = ip("2001:db8::99") },
			"[2001:db8:1::7]:1", "", "", 80, "[2001:db8:1::7]:1", "[2001:db8::99]:80"},
		{"v6 link-local remote, link-local destination", nil, "[fe80::99%eth0]:1", "", "", 80, "[fe80::99]:1", "[fe80::abcd]:80"},
		{"v6 local mode, only ll seen", func(n *NAT) { n.V6.Guest, n.V6.GuestSeen = none, none },
			"[2001:db8:1::7]:1", "", "", 80, "[2001:db8:1::7]:1", "[fe80::abcd]:80"},
		{"v6 multicast kept", nil, "[2001:db8:1::7]:1", "ff05::1:3", "", 547, "[2001:db8:1::7]:1", "[ff05::1:3]:547"},
		{"v6 rule target", nil, "[::1]:1", "", "2001:db8::50", 22, "[fe80::1]:1", "[2001:db8::50]:22"},
		{"v6 disabled", func(n *NAT) { n.V6 = FamilyAddrs{} }, "[2001:db8:1::7]:1", "", "", 22, "", ""},
		{"v6 mhl does not apply to v4", func(n *NAT) { n.V4.MapHostLoopback = none },
			"127.0.0.1:1", "", "", 22, "192.0.2.1:1", "192.0.2.2:22"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := baseNAT()
			if tt.mod != nil {
				tt.mod(&n)
			}
			var hostDst, target netip.Addr
			if tt.hostDst != "" {
				hostDst = ip(tt.hostDst)
			}
			if tt.target != "" {
				target = ip(tt.target)
			}
			gs, gd, ok := n.FromHostTo(ap(tt.src), hostDst, target, tt.port)
			if tt.wantSrc == "" {
				if ok {
					t.Fatalf("got %v -> %v, want drop", gs, gd)
				}
				return
			}
			if !ok || gs != ap(tt.wantSrc) || gd != ap(tt.wantDst) {
				t.Fatalf("got %v -> %v (%v), want %v -> %v", gs, gd, ok, tt.wantSrc, tt.wantDst)
			}
			if tt.hostDst == "" {
				gs2, gd2, ok2 := n.FromHost(ap(tt.src), target, tt.port)
				if gs2 != gs || gd2 != gd || ok2 != ok {
					t.Errorf("FromHost differs from FromHostTo: %v -> %v", gs2, gd2)
				}
			}
		})
	}
}

// TestRoundTrip: a guest flow through a mapping and an inbound flow from
// the address it maps to agree on what the guest sees.
func TestRoundTrip(t *testing.T) {
	n := baseNAT()
	n.V4.MapGuestAddr = ip("192.0.2.100")
	for _, c := range []struct{ guestDst, hostSrc string }{
		{"192.0.2.1:22", "127.0.0.1:22"},
		{"[fe80::1]:22", "[::1]:22"},
		{"192.0.2.100:22", "192.0.2.2:22"},
		{"198.51.100.7:22", "198.51.100.7:22"},
	} {
		tgt, _, ok := n.FromGuest(ProtoTCP, ap(c.guestDst))
		if !ok || tgt != ap(c.hostSrc) {
			t.Errorf("FromGuest(%s) = %v, want %s", c.guestDst, tgt, c.hostSrc)
		}
		gs, _, ok := n.FromHost(tgt, none, 1)
		if !ok || gs.Addr() != ap(c.guestDst).Addr().WithZone("") {
			t.Errorf("FromHost(%v) source %v, want %s", tgt, gs, c.guestDst)
		}
	}
}

func TestHostBind(t *testing.T) {
	n := baseNAT()
	n.V4.AddrOut = ip("192.0.2.200")
	if got := n.HostBind(ip("198.51.100.7")); got != ip("192.0.2.200") {
		t.Errorf("v4: %v", got)
	}
	if got := n.HostBind(ip("::ffff:198.51.100.7")); got != ip("192.0.2.200") {
		t.Errorf("v4 mapped: %v", got)
	}
	if got := n.HostBind(ip("2001:db8::7")); got.IsValid() {
		t.Errorf("v6: %v", got)
	}
	if got := n.HostBind(none); got.IsValid() {
		t.Errorf("invalid: %v", got)
	}
}

func TestFromConf(t *testing.T) {
	c := &conf.Config{
		IP4: conf.Family{
			Enabled: true, Addr: ip("192.0.2.2"), Gateway: ip("192.0.2.1"), OurAddr: ip("192.0.2.1"),
			MapHostLoopback: ip("192.0.2.1"), DNSMatch: ip("192.0.2.1"), DNSHost: ip("127.0.0.53"),
			AddrOut: ip("192.0.2.2"),
		},
		IP6: conf.Family{Addr: ip("2001:db8::2")},
	}
	n := NATFromConf(c)
	want := FamilyAddrs{
		Guest: ip("192.0.2.2"), GuestSeen: ip("192.0.2.2"), Our: ip("192.0.2.1"),
		MapHostLoopback: ip("192.0.2.1"), DNSMatch: ip("192.0.2.1"), DNSHost: ip("127.0.0.53"),
		AddrOut: ip("192.0.2.2"),
	}
	if n.V4 != want {
		t.Errorf("V4 = %+v, want %+v", n.V4, want)
	}
	if n.V6 != (FamilyAddrs{}) {
		t.Errorf("disabled V6 = %+v", n.V6)
	}
}

func TestRuleString(t *testing.T) {
	for r := RuleDrop; r <= RuleGuestAddr+1; r++ {
		if r.String() == "" {
			t.Errorf("rule %d has no name", r)
		}
	}
}

func FuzzNAT(f *testing.F) {
	f.Add(uint8(ProtoTCP), []byte{192, 0, 2, 1}, uint16(53))
	f.Add(uint8(ProtoUDP), []byte{0xfe, 0x80, 15: 1}, uint16(853))
	f.Fuzz(func(t *testing.T, proto uint8, addr []byte, port uint16) {
		a, ok := netip.AddrFromSlice(addr)
		if !ok {
			return
		}
		n := baseNAT()
		n.V4.DNSMatch = n.V4.MapHostLoopback
		n.V4.MapGuestAddr = ip("192.0.2.100")
		if tgt, _, ok := n.FromGuest(proto, netip.AddrPortFrom(a, port)); ok {
			if tgt.Port() != port || tgt.Addr().Is4() != a.Unmap().Is4() {
				t.Fatalf("FromGuest(%v) = %v", a, tgt)
			}
		}
		if gs, gd, ok := n.FromHost(netip.AddrPortFrom(a, port), none, 80); ok {
			if gs.Port() != port || gd.Port() != 80 || gs.Addr().Is4() != gd.Addr().Is4() ||
				gs.Addr().IsLoopback() || gs.Addr().IsUnspecified() {
				t.Fatalf("FromHost(%v) = %v -> %v", a, gs, gd)
			}
		}
	})
}
