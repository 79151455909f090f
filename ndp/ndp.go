// SPDX-License-Identifier: GPL-2.0-or-later

// Package ndp answers the guest's IPv6 Neighbor Discovery (RFC 4861):
// Neighbor Solicitations get a Neighbor Advertisement with passt's MAC,
// Router Solicitations get a Router Advertisement that lets the guest
// configure itself with SLAAC; it also builds the few NDP messages passt
// sends on its own (periodic RAs, the initial NS, unsolicited NAs).
//
// # Theory of operation
//
// As with ARP (package arp), there is no link behind the guest's interface:
// every packet the guest sends reaches passt whatever its destination, so
// every neighbour the guest looks for is passt. Handle therefore answers a
// Neighbor Solicitation for any target address with an advertisement of
// OurMAC (or of the MAC Config.MACFor supplies for that target), with the
// Router, Solicited and Override flags set, sent from OurLinkLocal to the
// solicitor's address and MAC. Not answered:
//
//   - Duplicate Address Detection probes (source ::, RFC 4862 §5.4). An
//     answer would make the guest's address fail DAD. This is upstream's
//     only exclusion.
//   - Solicitations for the guest's own address (Config.GuestAddr). A guest
//     never asks for its own address except in DAD (already excluded), so
//     this changes nothing for a well-behaved guest; it mirrors the ARP rule
//     and keeps passt from ever claiming the guest's address.
//   - Anything that fails RFC 4861 §7.1.1 / §6.1.1 validation, which
//     upstream does not check but the Linux kernel does on its side: IP hop
//     limit other than 255, bad ICMPv6 checksum, code other than 0, message
//     too short, multicast target, an option of length 0 or running past the
//     end, a link-layer address option of the wrong size, a source
//     link-layer option from the unspecified address. Fragments are dropped.
//
// A Router Solicitation is answered with a Router Advertisement (unless
// Config.NoRA), unicast to the solicitor, or to all nodes (ff02::1) when
// the solicitation came from :: (RFC 4861 §6.2.6; upstream would send it to
// :: then). Neighbor and Router Advertisements and Redirects from the guest
// are ignored. The dispatcher should consume ICMPv6 types 133 to 136 (see
// IsNDP) whether or not a reply is returned, as upstream does, and not
// call Handle at all with --no-ndp.
//
// # Router Advertisements
//
// The RA carries what upstream's does, in upstream's order:
//
//   - Cur Hop Limit 255, as upstream (the guest adopts it as its default
//     hop limit; passt terminates every packet, so it only matters to the
//     guest), the M flag when Config.ManagedFlag is set (upstream sets it
//     unconditionally: set it when a DHCPv6 server answers), router
//     lifetime 65535 s (RouterLifetime, the maximum RFC 8319 allows),
//     reachable time and retransmission timer 0 (unspecified);
//   - Prefix Information for the /64 of GuestAddr, on-link and autonomous,
//     valid and preferred lifetimes infinite (0xffffffff); the bits after
//     the prefix length are cleared as RFC 4861 §4.6.2 asks (upstream sends
//     the whole address). Left out when GuestAddr is not a global-scope
//     IPv6 address (local mode: the guest keeps its link-local only);
//   - Source Link-Layer Address: OurMAC;
//   - MTU, when Config.MTU is not 0;
//   - RDNSS (RFC 8106) with Config.DNS, lifetime infinite, when not empty;
//   - DNSSL (RFC 8106) with Config.Search in DNS wire format (labels,
//     root terminator, zero padding to 8 bytes), lifetime infinite, when not
//     empty. Upstream only sends DNSSL alongside RDNSS; here the caller
//     decides by what it puts in Config. Upstream also adds 8 bytes of zero
//     padding that the option does not cover when the names fill a multiple
//     of 8 bytes, which Linux reads as an invalid zero-length option and then
//     drops the whole RA; here padding is always inside the option.
//
// The RA is sent from OurLinkLocal, which is what the guest installs as its
// default router: the global gateway address is not needed here (the guest
// reaches it through on-link NS, which is answered like any other). To stay
// within the IPv6 minimum MTU the RA is kept within 1280 bytes: DNS servers
// and search domains that do not fit are left out, as are names that are
// not valid DNS names (labels of 1 to 63 bytes, 255 bytes in all).
//
// Unsolicited RAs (RouterAdvertisement, to ff02::1) follow upstream's
// schedule: none right when the guest appears (it sends an RS itself), then
// one every RAInterval, a random time in [MinRAInterval, MaxRAInterval)
// (RFC 4861 §6.2.1 with MaxRtrAdvInterval 600 s). With NoRA, no RA is ever
// built.
//
// # Messages passt sends first
//
// When a guest connects, upstream sends an NS for the guest's address to
// learn its MAC (NeighborSolicitation here). Upstream unicasts it to the
// guest's address at the broadcast MAC without a source link-layer option;
// this package uses the form RFC 4861 §7.2.2 prescribes for an unknown
// neighbour, to the solicited-node multicast group with a source link-layer
// option, which reaches the guest just the same and lets it answer without
// resolving our address first. When passt learns the MAC of a host it
// proxies, upstream announces it with an unsolicited NA to all nodes
// (UnsolicitedNA); upstream sets the Solicited flag there, which Linux
// rejects for a multicast NA, so here it is clear (RFC 4861 §7.2.6).
//
// # Why not github.com/mdlayher/ndp
//
// That library can express every message and option used here (including
// RDNSS and DNSSL) and parses strictly, but it only covers the ICMPv6 body:
// the Ethernet and IPv6 headers, the checksum and the hop-limit check, which
// are half of the work here, would still come from package pkt. It would
// also bring golang.org/x/net (for IDNA checks of search domains, which
// come from the host's resolv.conf and need no such check) into a binary
// that otherwise avoids it. The wire formats needed are a few fixed layouts
// that pkt's builders and checksums cover, so the package builds and walks
// them directly; the tests parse every option back independently and the
// kernel test checks that Linux accepts the result.
package ndp

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"passt/pkt"
)

// Timing and lifetimes announced in Router Advertisements.
const (
	// RouterLifetime is the router lifetime of our RAs, in seconds.
	RouterLifetime = 65535
	// MaxRAInterval and MinRAInterval bound the interval between
	// unsolicited RAs (RFC 4861 §6.2.1: MinRtrAdvInterval is a third of
	// MaxRtrAdvInterval, and at least 3 s).
	MaxRAInterval = 600 * time.Second
	MinRAInterval = MaxRAInterval / 3
	// InfiniteLifetime is the lifetime of prefixes, DNS servers and
	// search domains.
	InfiniteLifetime = 0xffffffff
)

// MaxRALen bounds the IPv6 packet of a Router Advertisement (the IPv6
// minimum MTU); options that would not fit are left out.
const MaxRALen = 1280

// NDP option types (RFC 4861 §4.6, RFC 8106).
const (
	OptSourceLLA  = 1
	OptTargetLLA  = 2
	OptPrefixInfo = 3
	OptMTU        = 5
	OptRDNSS      = 25
	OptDNSSL      = 31
)

// Flags of the Neighbor Advertisement (first word after the checksum).
const (
	naRouter    = 0x80000000
	naSolicited = 0x40000000
	naOverride  = 0x20000000
)

// Config is what the NDP responder needs to know about the link.
type Config struct {
	// OurMAC is passt's MAC address: Ethernet source of everything sent,
	// the link-layer address advertised in NAs and RAs.
	OurMAC [6]byte
	// OurLinkLocal is the source of our NAs, RAs and NSs, and the default
	// router the guest learns (contract §6.4).
	OurLinkLocal netip.Addr
	// GuestAddr is the guest's global IPv6 address: its /64 is the
	// announced prefix, NSs for it are not answered, and the initial NS
	// is for it. The zero Addr (local mode) means no prefix option.
	GuestAddr netip.Addr
	// MTU is announced in RAs; 0 leaves the option out.
	MTU int
	// DNS are the resolvers announced in the RDNSS option (IPv6 only;
	// others are skipped); empty: no option.
	DNS []netip.Addr
	// Search are the domains announced in the DNSSL option; empty: no
	// option.
	Search []string
	// NoRA (--no-ra, implied by pasta --config-net): answer NSs only, never
	// build RAs.
	NoRA bool
	// ManagedFlag sets the M flag in RAs (addresses from DHCPv6).
	ManagedFlag bool
	// MACFor, if not nil, may supply a different MAC to advertise for a
	// target address (upstream answers with the real MAC of some proxied
	// neighbours); when it is nil or returns false, OurMAC is advertised.
	MACFor func(target netip.Addr) ([6]byte, bool)
}

// AllNodes is the link-local all-nodes multicast address, destination of
// unsolicited RAs and NAs.
var AllNodes = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 1})

// IsNDP reports whether an ICMPv6 message type belongs to this package
// (Router and Neighbor Solicitation and Advertisement, types 133 to 136).
// The dispatcher consumes such messages and never forwards them.
func IsNDP(icmpType uint8) bool {
	return icmpType >= pkt.ICMPv6RouterSolicit && icmpType <= pkt.ICMPv6NeighAdvert
}

// Handle answers one Ethernet frame from the guest: a valid Neighbor
// Solicitation gets a Neighbor Advertisement and a valid Router Solicitation
// a Router Advertisement, as described in the package comment. It returns
// nil for anything else, including malformed input.
func Handle(c *Config, frame []byte) []byte {
	var d pkt.Decoded
	if err := pkt.Decode(frame, &d); err != nil ||
		d.IPVersion != 6 || d.L4Proto != pkt.ProtoICMPv6 || d.Fragment ||
		d.TTL != 255 {
		return nil
	}
	msg := pkt.ICMP(frame[d.L4Off : d.L4Off+d.L4Len])
	if msg.Code() != 0 ||
		pkt.Finish(pkt.Checksum(msg, pkt.PseudoHeaderSum6(d.Src, d.Dst, pkt.ProtoICMPv6, uint32(len(msg))))) != 0 {
		return nil
	}
	eth := pkt.Ethernet(frame)
	switch msg.Type() {
	case pkt.ICMPv6NeighSolicit:
		// Reserved word, target address, options.
		if len(msg) < 24 {
			return nil
		}
		target := netip.AddrFrom16([16]byte(msg[8:24]))
		_, ok := walkOptions(msg[24:])
		if !ok || target.IsMulticast() {
			return nil
		}
		if d.Src.IsUnspecified() {
			return nil // DAD probe (an SLLA option would even be invalid)
		}
		if c.GuestAddr.Is6() && target == c.GuestAddr {
			return nil
		}
		return neighborAdvert(c, eth.Src(), d.Src, target, c.macFor(target), naRouter|naSolicited|naOverride)
	case pkt.ICMPv6RouterSolicit:
		// Reserved word, options.
		sllao, ok := walkOptions(msg[8:])
		if !ok || (sllao && d.Src.IsUnspecified()) || c.NoRA {
			return nil
		}
		if d.Src.IsUnspecified() {
			return routerAdvert(c, multicastMAC(AllNodes), AllNodes)
		}
		return routerAdvert(c, eth.Src(), d.Src)
	}
	return nil
}

// RouterAdvertisement builds an unsolicited Router Advertisement to all
// nodes (ff02::1, 33:33:00:00:00:01), or returns nil with NoRA.
func RouterAdvertisement(c *Config) []byte {
	if c.NoRA {
		return nil
	}
	return routerAdvert(c, multicastMAC(AllNodes), AllNodes)
}

// RAInterval returns the time until the next unsolicited RA: uniformly
// random in [MinRAInterval, MaxRAInterval), whole seconds as upstream. The
// first unsolicited RA is due one interval after the guest appears, not
// right away.
func RAInterval() time.Duration {
	span := int64((MaxRAInterval - MinRAInterval) / time.Second)
	return MinRAInterval + time.Duration(rand.Int64N(span))*time.Second
}

// NeighborSolicitation builds the NS passt sends for the guest's address
// when a guest connects, to learn its MAC from the answer: from
// OurLinkLocal to the solicited-node group of GuestAddr, with our
// link-layer address. It returns nil when GuestAddr is not an IPv6 address.
func NeighborSolicitation(c *Config) []byte {
	if !c.GuestAddr.Is6() || c.GuestAddr.IsUnspecified() {
		return nil
	}
	g := c.GuestAddr.As16()
	dst := netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 11: 1, 12: 0xff, 13: g[13], 14: g[14], 15: g[15]})
	msg := make([]byte, 32)
	msg[0] = pkt.ICMPv6NeighSolicit
	copy(msg[8:24], g[:])
	msg[24], msg[25] = OptSourceLLA, 1
	copy(msg[26:32], c.OurMAC[:])
	return frame(c, multicastMAC(dst), dst, msg)
}

// UnsolicitedNA builds an unsolicited Neighbor Advertisement to all nodes
// announcing that addr is at mac (Router and Override flags set, Solicited
// clear), or nil if addr is not IPv6. Upstream sends one when it learns the
// MAC of a host it proxies.
func UnsolicitedNA(c *Config, addr netip.Addr, mac [6]byte) []byte {
	if !addr.Is6() || addr.Is4In6() {
		return nil
	}
	return neighborAdvert(c, multicastMAC(AllNodes), AllNodes, addr, mac, naRouter|naOverride)
}

func (c *Config) macFor(a netip.Addr) [6]byte {
	if c.MACFor != nil {
		if m, ok := c.MACFor(a); ok {
			return m
		}
	}
	return c.OurMAC
}

// walkOptions checks NDP options (RFC 4861 §4.6): each has a length of at
// least one 8-byte unit and fits; a link-layer address option has exactly
// one unit (Ethernet). It reports whether a source link-layer option is
// present and whether the options are valid.
func walkOptions(b []byte) (sllao, ok bool) {
	for len(b) > 0 {
		if len(b) < 2 {
			return false, false
		}
		n := int(b[1]) * 8
		if n == 0 || n > len(b) {
			return false, false
		}
		switch b[0] {
		case OptSourceLLA:
			if n != 8 {
				return false, false
			}
			sllao = true
		case OptTargetLLA:
			if n != 8 {
				return false, false
			}
		}
		b = b[n:]
	}
	return sllao, true
}

// multicastMAC maps an IPv6 multicast address to its Ethernet group
// address (RFC 2464 §7).
func multicastMAC(a netip.Addr) [6]byte {
	b := a.As16()
	return [6]byte{0x33, 0x33, b[12], b[13], b[14], b[15]}
}

// frame wraps an ICMPv6 message in IPv6 (from OurLinkLocal, hop limit 255)
// and Ethernet (from OurMAC) headers, with the checksum computed. Without
// a usable OurLinkLocal nothing can be sent: it returns nil.
func frame(c *Config, dstMAC [6]byte, dst netip.Addr, msg []byte) []byte {
	if !c.OurLinkLocal.Is6() || c.OurLinkLocal.Is4In6() {
		return nil
	}
	out := make([]byte, pkt.EthernetHeaderLen+pkt.IPv6HeaderLen+len(msg))
	n := pkt.BuildEthernet(out, dstMAC, c.OurMAC, pkt.EtherTypeIPv6)
	n += pkt.BuildIPv6(out[n:], c.OurLinkLocal, dst, pkt.ProtoICMPv6, len(msg), 255, 0)
	copy(out[n:], msg)
	pkt.FinishICMPv6(pkt.ICMP(out[n:]), c.OurLinkLocal, dst)
	return out
}

func neighborAdvert(c *Config, dstMAC [6]byte, dst, target netip.Addr, mac [6]byte, flags uint32) []byte {
	msg := make([]byte, 32)
	msg[0] = pkt.ICMPv6NeighAdvert
	binary.BigEndian.PutUint32(msg[4:8], flags)
	t := target.As16()
	copy(msg[8:24], t[:])
	msg[24], msg[25] = OptTargetLLA, 1
	copy(msg[26:32], mac[:])
	return frame(c, dstMAC, dst, msg)
}

// hasPrefix reports whether a is an address whose /64 can be announced.
func hasPrefix(a netip.Addr) bool {
	return a.Is6() && !a.Is4In6() && !a.IsUnspecified() && !a.IsLoopback() &&
		!a.IsMulticast() && !a.IsLinkLocalUnicast()
}

func routerAdvert(c *Config, dstMAC [6]byte, dst netip.Addr) []byte {
	const maxMsg = MaxRALen - pkt.IPv6HeaderLen
	msg := make([]byte, 16, 256)
	msg[0] = pkt.ICMPv6RouterAdvert
	msg[4] = 255 // Cur Hop Limit, as upstream
	if c.ManagedFlag {
		msg[5] = 0x80
	}
	binary.BigEndian.PutUint16(msg[6:8], RouterLifetime)

	if hasPrefix(c.GuestAddr) {
		p := netip.PrefixFrom(c.GuestAddr, 64).Masked().Addr().As16()
		o := make([]byte, 32)
		o[0], o[1], o[2], o[3] = OptPrefixInfo, 4, 64, 0xc0 // L, A
		binary.BigEndian.PutUint32(o[4:8], InfiniteLifetime)
		binary.BigEndian.PutUint32(o[8:12], InfiniteLifetime)
		copy(o[16:32], p[:])
		msg = append(msg, o...)
	}

	msg = append(msg, OptSourceLLA, 1)
	msg = append(msg, c.OurMAC[:]...)

	if c.MTU > 0 {
		msg = append(msg, OptMTU, 1, 0, 0)
		msg = binary.BigEndian.AppendUint32(msg, uint32(c.MTU))
	}

	var dns [][16]byte
	for _, a := range c.DNS {
		if !a.Is6() || a.Is4In6() || a.IsUnspecified() {
			continue
		}
		if len(msg)+8+16*(len(dns)+1) > maxMsg {
			break
		}
		dns = append(dns, a.As16())
	}
	if len(dns) > 0 {
		msg = append(msg, OptRDNSS, byte(1+2*len(dns)), 0, 0)
		msg = binary.BigEndian.AppendUint32(msg, InfiniteLifetime)
		for _, a := range dns {
			msg = append(msg, a[:]...)
		}
	}

	var names []byte
	for _, s := range c.Search {
		w := appendName(nil, s)
		if w == nil {
			continue
		}
		if len(msg)+8+(len(names)+len(w)+7)/8*8 > maxMsg {
			break
		}
		names = append(names, w...)
	}
	if len(names) > 0 {
		units := 1 + (len(names)+7)/8
		msg = append(msg, OptDNSSL, byte(units), 0, 0)
		msg = binary.BigEndian.AppendUint32(msg, InfiniteLifetime)
		msg = append(msg, names...)
		msg = append(msg, make([]byte, (units-1)*8-len(names))...)
	}

	return frame(c, dstMAC, dst, msg)
}

// appendName appends domain name s in DNS wire format (RFC 1035 §3.1) to b,
// or returns nil if s is not a valid name. One trailing dot is accepted;
// the root name alone is not a useful search domain and is refused.
func appendName(b []byte, s string) []byte {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s)+2 > 255 {
		return nil
	}
	for label := range strings.SplitSeq(s, ".") {
		if len(label) == 0 || len(label) > 63 {
			return nil
		}
		b = append(b, byte(len(label)))
		b = append(b, label...)
	}
	return append(b, 0)
}
