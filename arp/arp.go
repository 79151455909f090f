// SPDX-License-Identifier: GPL-2.0-or-later

// Package arp answers the guest's ARP requests and builds the few ARP
// messages passt sends on its own, so that an IPv4 guest can resolve its
// gateway (and every other address it believes to be on the link) without
// any real Ethernet segment behind the tap.
//
// # Theory of operation
//
// There is no link behind the guest's interface: every IPv4 packet it sends
// ends up in passt, whatever its destination, and passt turns it into socket
// traffic. So whatever IPv4 address the guest asks about, the right answer is
// "send it to me": Reply answers every ARP request with OurMAC (or with the
// MAC that Config.MACFor supplies for that address), with two exceptions
// taken from upstream passt:
//
//   - requests whose target is the guest's own assigned address
//     (Config.GuestAddr). Answering those would tell the guest that another
//     host holds its address: a duplicate-address probe (RFC 5227, sender
//     0.0.0.0) would fail and the guest would give the address up.
//   - announcements (RFC 5227 §2.3, gratuitous ARP): sender and target
//     address equal and not 0.0.0.0. They are the guest telling the link
//     about itself; there is nothing to answer. Probes (sender 0.0.0.0) for
//     any other address are answered, which is what tells a guest that
//     tries to claim, say, the gateway's address that it is taken.
//
// Anything else is dropped silently (nil): frames that are not ARP,
// truncated frames, ARP for other hardware or protocol types, replies.
// Frames are never modified in place; replies are fresh buffers, since this
// is control-plane traffic (a handful of frames per guest lifetime).
//
// The reply is unicast to the requester's Ethernet source address; its ARP
// sender fields carry the requested IP address and our MAC, its target
// fields echo the requester's sender fields (so a reply to a probe is
// addressed to 0.0.0.0, as upstream does). Replies and requests are padded to
// the 60-byte Ethernet minimum (without FCS), which a tap device does not
// need but a real NIC or bridge on the QEMU side might.
//
// Request builds the ARP request passt sends when a guest connects (or the
// tap comes up), with our address as sender and the guest's as target: the
// guest's reply tells passt the guest's MAC before any other traffic. Its
// target hardware address is zero, as RFC 5227 recommends and Linux sends
// (upstream puts the broadcast address there; receivers ignore the field).
// Announce builds an RFC 5227 announcement on behalf of another host, which
// upstream sends when it learns the MAC of a host it proxies.
package arp

import (
	"net/netip"

	"passt/pkt"
)

// FrameLen is the length of every frame built here: the Ethernet minimum
// without frame check sequence (14 + 28 bytes of ARP, zero-padded).
const FrameLen = 60

// Config is what the ARP responder needs to know about the link.
type Config struct {
	// OurMAC is passt's MAC address on the link, the Ethernet source of
	// everything sent and the answer to every request.
	OurMAC [6]byte
	// OurAddr is passt's own IPv4 address on the link (the gateway, or
	// the local-mode address), the sender address of Request.
	OurAddr netip.Addr
	// GuestAddr is the guest's assigned IPv4 address: requests for it are
	// never answered. The zero Addr excludes nothing.
	GuestAddr netip.Addr
	// MACFor, if not nil, may supply a different MAC for a target address
	// (upstream answers with the real MAC of some proxied neighbours); when
	// it is nil or returns false, OurMAC is the answer.
	MACFor func(target netip.Addr) ([6]byte, bool)
}

var zeroMAC [6]byte

// Reply returns the reply to an ARP frame (a whole Ethernet frame), or nil if
// none is due: see the package comment for which requests are answered.
func Reply(c *Config, frame []byte) []byte {
	eth, err := pkt.ParseEthernet(frame)
	if err != nil || eth.EtherType() != pkt.EtherTypeARP {
		return nil
	}
	req, err := pkt.ParseARP(eth.Payload())
	if err != nil || req.Op() != pkt.ARPRequest {
		return nil
	}
	sip, tip := req.SenderIP(), req.TargetIP()
	if !sip.IsUnspecified() && sip == tip {
		return nil // announcement
	}
	if c.GuestAddr.Is4() && tip == c.GuestAddr {
		return nil // the guest's own address
	}
	mac := c.OurMAC
	if c.MACFor != nil {
		if m, ok := c.MACFor(tip); ok {
			mac = m
		}
	}
	out := make([]byte, FrameLen)
	n := pkt.BuildEthernet(out, eth.Src(), c.OurMAC, pkt.EtherTypeARP)
	pkt.BuildARP(out[n:], pkt.ARPReply, mac, tip, req.SenderMAC(), sip)
	return out
}

// Request builds a broadcast ARP request from OurMAC/OurAddr for target,
// padded to FrameLen, or returns nil if OurAddr or target is not IPv4.
// passt sends one for the guest's address when a guest connects, to learn
// the guest's MAC early.
func Request(c *Config, target netip.Addr) []byte {
	if !c.OurAddr.Is4() || !target.Is4() {
		return nil
	}
	out := make([]byte, FrameLen)
	n := pkt.BuildEthernet(out, pkt.Broadcast, c.OurMAC, pkt.EtherTypeARP)
	pkt.BuildARP(out[n:], pkt.ARPRequest, c.OurMAC, c.OurAddr, zeroMAC, target)
	return out
}

// Announce builds a broadcast ARP announcement (RFC 5227 §2.3: a request
// whose sender and target address are both addr, target MAC zero) telling
// the guest that addr is at mac, padded to FrameLen, or nil if addr is not
// IPv4. The Ethernet source is mac too, as in upstream.
func Announce(addr netip.Addr, mac [6]byte) []byte {
	if !addr.Is4() {
		return nil
	}
	out := make([]byte, FrameLen)
	n := pkt.BuildEthernet(out, pkt.Broadcast, mac, pkt.EtherTypeARP)
	pkt.BuildARP(out[n:], pkt.ARPRequest, mac, addr, zeroMAC, addr)
	return out
}
