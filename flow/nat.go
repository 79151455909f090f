// SPDX-License-Identifier: GPL-2.0-or-later

package flow

import (
	"net/netip"

	"passt/conf"
)

// IP protocol numbers the translation rules care about.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

// FamilyAddrs are the addresses of one IP family the rules use. The zero
// value (all invalid) describes a disabled family: every flow of it is
// refused.
type FamilyAddrs struct {
	// Guest is the address assigned to the guest (-a, or the host's).
	Guest netip.Addr
	// GuestSeen is the last source address seen from the guest (IPv6:
	// the last global one); invalid: nothing seen yet.
	GuestSeen netip.Addr
	// GuestSeenLL (IPv6 only) is the last link-local source address seen
	// from the guest; invalid: none seen yet.
	GuestSeenLL netip.Addr
	// Our is our own address on the link: the IPv4 gateway, our IPv6
	// link-local address.
	Our netip.Addr
	// MapHostLoopback: guest traffic to it reaches host loopback
	// (--map-host-loopback, default the gateway unless --no-map-gw);
	// invalid: none.
	MapHostLoopback netip.Addr
	// MapGuestAddr: guest traffic to it reaches Guest on the host
	// (--map-guest-addr); invalid: none.
	MapGuestAddr netip.Addr
	// DNSMatch: guest DNS traffic to it goes to DNSHost (--dns-forward or
	// the implicit match of §6.9); invalid: none.
	DNSMatch netip.Addr
	// DNSHost is the target of DNS redirection (--dns-host).
	DNSHost netip.Addr
	// AddrOut is the address to bind outbound host sockets to (-o);
	// invalid: let the kernel choose.
	AddrOut netip.Addr
}

// FamilyFromConf returns the addresses of a configured family, with nothing
// seen from the guest yet (GuestSeen is the assigned address).
func FamilyFromConf(f *conf.Family) FamilyAddrs {
	if !f.Enabled {
		return FamilyAddrs{}
	}
	return FamilyAddrs{
		Guest:           f.Addr,
		GuestSeen:       f.Addr,
		Our:             f.OurAddr,
		MapHostLoopback: f.MapHostLoopback,
		MapGuestAddr:    f.MapGuestAddr,
		DNSMatch:        f.DNSMatch,
		DNSHost:         f.DNSHost,
		AddrOut:         f.AddrOut,
	}
}

// NAT holds the translation rules of both families.
type NAT struct {
	V4, V6 FamilyAddrs
}

// NATFromConf returns the rules for a configuration.
func NATFromConf(c *conf.Config) NAT {
	return NAT{V4: FamilyFromConf(&c.IP4), V6: FamilyFromConf(&c.IP6)}
}

// Rule tells which guest → host rule applied to a destination.
type Rule uint8

const (
	// RuleDrop: the flow is refused.
	RuleDrop Rule = iota
	// RuleDirect: destination unchanged (rule 4).
	RuleDirect
	// RuleDNS: redirected to the DNS host (rule 1).
	RuleDNS
	// RuleHostLoopback: the map-host-loopback address, to host loopback
	// (rule 2).
	RuleHostLoopback
	// RuleGuestAddr: the map-guest-addr address, to the guest's assigned
	// address (rule 3).
	RuleGuestAddr
)

func (r Rule) String() string {
	switch r {
	case RuleDrop:
		return "drop"
	case RuleDirect:
		return "direct"
	case RuleDNS:
		return "dns-forward"
	case RuleHostLoopback:
		return "map-host-loopback"
	case RuleGuestAddr:
		return "map-guest-addr"
	}
	return "unknown"
}

// family returns the addresses of a's family (a already unmapped).
func (n *NAT) family(a netip.Addr) *FamilyAddrs {
	if a.Is4() {
		return &n.V4
	}
	return &n.V6
}

// norm unmaps IPv4-mapped IPv6 addresses and drops zones.
func norm(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

var (
	loop4 = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	loop6 = netip.IPv6Loopback()
	bcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})
)

func isDNSPort(proto uint8, port uint16) bool {
	return (proto == ProtoTCP || proto == ProtoUDP) && (port == 53 || port == 853)
}

// FromGuest translates the destination of a guest-initiated flow (protocol,
// destination address and port as the guest sent them; for ICMP the port is
// the echo identifier) to the address and port a host socket should
// connect or send to. ok is false when the flow must be dropped: the
// destination is not a unicast address usable as a peer, a TCP/UDP port is
// 0, or the rule that applies has no address to translate to.
//
// Rules, first match wins: DNS redirection (TCP/UDP ports 53 and 853 to
// DNSMatch, only when DNSHost is set), MapHostLoopback to 127.0.0.1 / ::1,
// MapGuestAddr to Guest, else unchanged. The port never changes.
func (n *NAT) FromGuest(proto uint8, dst netip.AddrPort) (target netip.AddrPort, rule Rule, ok bool) {
	a := norm(dst.Addr())
	port := dst.Port()
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a == bcast {
		return netip.AddrPort{}, RuleDrop, false
	}
	if port == 0 && (proto == ProtoTCP || proto == ProtoUDP) {
		return netip.AddrPort{}, RuleDrop, false
	}
	f := n.family(a)
	switch {
	case isDNSPort(proto, port) && f.DNSMatch.IsValid() && f.DNSHost.IsValid() && a == norm(f.DNSMatch):
		return netip.AddrPortFrom(norm(f.DNSHost), port), RuleDNS, true
	case f.MapHostLoopback.IsValid() && a == norm(f.MapHostLoopback):
		if a.Is4() {
			return netip.AddrPortFrom(loop4, port), RuleHostLoopback, true
		}
		return netip.AddrPortFrom(loop6, port), RuleHostLoopback, true
	case f.MapGuestAddr.IsValid() && a == norm(f.MapGuestAddr):
		g := norm(f.Guest)
		if !g.IsValid() || g.IsUnspecified() {
			return netip.AddrPort{}, RuleDrop, false
		}
		return netip.AddrPortFrom(g, port), RuleGuestAddr, true
	}
	return netip.AddrPortFrom(a, port), RuleDirect, true
}

// HostBind returns the address a host socket for a flow to target should be
// bound to (-o of target's family); invalid: let the kernel choose. TCP
// lets the kernel pick the source port too; UDP keeps the guest's.
func (n *NAT) HostBind(target netip.Addr) netip.Addr {
	a := norm(target)
	if !a.IsValid() {
		return netip.Addr{}
	}
	return n.family(a).AddrOut
}

// guestCanSee reports whether the guest can tell src (a host address,
// normalised) apart from addresses on its own side of the link, so that it
// can be used as a source unchanged.
func (f *FamilyAddrs) guestCanSee(src netip.Addr) bool {
	if src.IsLoopback() || src.IsUnspecified() {
		return false
	}
	for _, own := range [...]netip.Addr{f.Guest, f.GuestSeen, f.GuestSeenLL} {
		if own.IsValid() && src == norm(own) {
			return false
		}
	}
	return true
}

// guestDst returns the guest address a flow from src should go to.
func (f *FamilyAddrs) guestDst(src netip.Addr) netip.Addr {
	if src.Is6() && src.IsLinkLocalUnicast() && f.GuestSeenLL.IsValid() {
		return norm(f.GuestSeenLL)
	}
	for _, a := range [...]netip.Addr{f.GuestSeen, f.Guest, f.GuestSeenLL} {
		if a.IsValid() && !a.IsUnspecified() {
			return norm(a)
		}
	}
	return netip.Addr{}
}

// FromHost translates a host-initiated flow that is not spliced: src is
// the host peer's address and port, target the forwarding rule's target
// address (invalid: none) and dstPort the guest port the rule maps to. It
// returns the source and destination the guest sees; ok is false when the
// flow must be dropped (no usable source or destination address, or
// source and destination of different families).
func (n *NAT) FromHost(src netip.AddrPort, target netip.Addr, dstPort uint16) (gsrc, gdst netip.AddrPort, ok bool) {
	return n.FromHostTo(src, netip.Addr{}, target, dstPort)
}

// FromHostTo is [NAT.FromHost] knowing the host-side address the flow
// arrived at (hostDst, invalid: unknown): a multicast hostDst is kept as
// the guest destination when the rule has no target address.
//
// Source: 127.0.0.1 → V4.MapHostLoopback and ::1 → V6.MapHostLoopback when
// set; the guest's assigned address → MapGuestAddr when set; other addresses
// the guest could not tell from its own (loopback, unspecified, the guest's
// assigned or observed addresses) → Our, dropped if Our is invalid; anything
// else unchanged. The source port is kept. IPv4-mapped IPv6 addresses are
// IPv4; zones are dropped.
//
// Destination: target if valid; else a multicast hostDst; else the guest's
// last observed address (IPv6: link-local if the source is link-local,
// global otherwise) and, before it has been observed, the assigned one
// (IPv6 with no assigned address: the observed link-local one).
func (n *NAT) FromHostTo(src netip.AddrPort, hostDst, target netip.Addr, dstPort uint16) (gsrc, gdst netip.AddrPort, ok bool) {
	s := norm(src.Addr())
	if !s.IsValid() {
		return netip.AddrPort{}, netip.AddrPort{}, false
	}
	f := n.family(s)
	var gs netip.Addr
	switch {
	case s == loop4 && f.MapHostLoopback.IsValid():
		gs = norm(f.MapHostLoopback)
	case s == loop6 && f.MapHostLoopback.IsValid():
		gs = norm(f.MapHostLoopback)
	case f.MapGuestAddr.IsValid() && f.Guest.IsValid() && s == norm(f.Guest):
		gs = norm(f.MapGuestAddr)
	case f.guestCanSee(s):
		gs = s
	default:
		gs = norm(f.Our)
	}
	if !gs.IsValid() || gs.IsUnspecified() {
		return netip.AddrPort{}, netip.AddrPort{}, false
	}

	var gd netip.Addr
	switch t, h := norm(target), norm(hostDst); {
	case t.IsValid() && !t.IsUnspecified():
		gd = t
	case h.IsValid() && h.IsMulticast():
		gd = h
	default:
		gd = n.family(gs).guestDst(gs)
	}
	if !gd.IsValid() || gd.IsUnspecified() || gd.Is4() != gs.Is4() {
		return netip.AddrPort{}, netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(gs, src.Port()), netip.AddrPortFrom(gd, dstPort), true
}
