// SPDX-License-Identifier: GPL-2.0-or-later

// Package dhcp is the DHCPv4 server that lets the guest configure itself: it
// answers DHCP (and plain BOOTP) requests from the guest with the one address
// the guest is meant to have, and the routes, DNS servers, search list, MTU
// and names that go with it.
//
// # Theory of operation
//
// There is exactly one client on the link and exactly one address to give
// it, so there is no pool, no lease database and no timer: every request is
// answered from the [Config] alone, and the lease never expires (option 51
// is 0xffffffff), so a well-behaved client never comes back to renew. The
// server is stateless: [Handle] takes one Ethernet frame from the guest and
// returns the reply frame, or nil.
//
// Handle validates the frame layer by layer with package pkt (Ethernet,
// IPv4 without fragmentation, UDP to port 67 whose length field matches the
// datagram exactly), then the fixed 236-byte BOOTP header (BOOTREQUEST,
// hardware address length at most 16) and the magic cookie, then walks the
// options: pad bytes are skipped, every other option must fit entirely in
// the message, and the end option must be present. Anything that fails is
// dropped (nil), never half-answered; the walk touches each byte once, so a
// flood of options costs time linear in the frame size and nothing else.
//
// The message type (option 53) decides the answer, as upstream passt does:
//
//   - DHCPDISCOVER: DHCPOFFER; or, when the client asked for Rapid Commit
//     (option 80, RFC 4039), DHCPACK with an empty option 80.
//   - DHCPREQUEST: DHCPACK, unless the client explicitly asks for another
//     address (option 50, or ciaddr without option 50), which gets a
//     broadcast DHCPNAK so that it starts over with a DHCPDISCOVER (RFC 2131
//     §4.3.2). Upstream passt acknowledges such requests with its own
//     address in yiaddr instead; the NAK is the standard answer and makes
//     clients with a stale lease (say, from before the host's address
//     changed) converge in one round trip instead of depending on how each
//     client treats an ACK for an address it did not ask for.
//   - No option 53 at all: a BOOTP client, answered with a DHCPACK-like
//     BOOTREPLY, as upstream does.
//   - DHCPDECLINE, DHCPRELEASE, DHCPINFORM and anything else: no reply
//     (upstream ignores them too; with a single infinite lease there is
//     nothing to release, and no other address to offer after a decline).
//
// The reply carries, whether or not the client listed them in its parameter
// request list (option 55), every option the configuration provides:
// 1 (netmask), 3 (router), 6 (DNS servers), 12 (hostname), 26 (interface
// MTU), 51 (lease time), 53 (message type), 54 (server identifier), 81
// (client FQDN: flags 0x04, the E bit for canonical wire format, both RCODEs
// 255, as upstream and RFC 4702 §3.1 say), 119 (domain search list, RFC
// 3397, with RFC 1035 suffix compression) and 121 (classless static routes,
// RFC 3442) when the router lies outside the guest's subnet: then the option
// holds a host route to the router (router/32 via 0.0.0.0, that is on-link)
// followed by a default route via the router, because a client that gets
// option 121 ignores option 3. Like upstream, options the client requested
// come first, in the order it requested them, then the rest in numerical
// order; option 53 goes first unless requested explicitly, because some
// small clients (wattcp, mTCP) look for it there. Options are never split
// (RFC 3396): the options field is capped at 308 bytes so the whole message
// fits in the 576 bytes every client must accept (RFC 2131 §2), the search
// list is trimmed (whole domains) to the room left by the others, and short
// replies are padded with zeros to the minimum BOOTP message of 300 bytes
// (RFC 951).
//
// Addressing follows RFC 2131 §4.1 and upstream: when the client sets the
// broadcast flag, the reply goes to 255.255.255.255 at ff:ff:ff:ff:ff:ff;
// otherwise it is unicast to GuestAddr at the MAC address the request came
// from, which covers both a client without an address (the address it is
// about to accept is GuestAddr) and one renewing (ciaddr is GuestAddr, or it
// would have been refused). DHCPNAK is always broadcast. The source is
// ServerAddr:67 and OurMAC, the destination port 68; the IPv4 header has
// TTL 255, DF and identification 0 as upstream's, and both checksums are
// computed.
//
// # Callers
//
// Like upstream, the tap dispatcher should consume every IPv4 UDP datagram
// to port 67 whatever Handle returns: a nil reply means "drop", never
// "forward to the host".
//
// # Why no DHCP library
//
// github.com/insomniacslk/dhcp (package dhcpv4) would express every option
// here, but it buys little: the BOOTP format is a fixed 236-byte header and
// a list of type-length-value options, a few dozen lines to parse, while the
// policy (which options, in which order, the size budget, upstream's FQDN
// flags, the compressed search list, strict rejection of malformed frames)
// would have to be written around the library anyway. It keeps options in
// a map and serialises them sorted by code, so neither option 53 nor the
// options the client requested can come first as upstream sends them, and
// it splits long options (RFC 3396) instead of keeping the reply within 576
// bytes, which clients that do not reassemble split options need. The
// module publishes no tagged releases (only pseudo-versions) and would add
// it and its dependencies (u-root/uio and others) to a binary that is
// otherwise built from x/sys and netlink alone. Hand-written code also keeps
// the fuzzed surface small and entirely ours.
package dhcp

import (
	"encoding/binary"
	"net/netip"

	"passt/pkt"
)

// Ports.
const (
	ServerPort = 67
	ClientPort = 68
)

// Config is what the server hands out. Zero values of optional fields leave
// the matching option out. Handle reads it and never modifies it, so one
// Config can serve concurrent callers as long as nobody writes to it.
type Config struct {
	OurMAC     [6]byte      // source MAC address of replies
	ServerAddr netip.Addr   // our address on the link: server identifier (54) and source
	GuestAddr  netip.Addr   // the single address leased (yiaddr)
	PrefixLen  int          // subnet mask (option 1), 0 to 32
	Router     netip.Addr   // option 3; off-subnet also option 121; invalid: omitted
	DNS        []netip.Addr // option 6 (IPv4 entries only; empty: omitted)
	Search     []string     // option 119 (empty: omitted)
	MTU        int          // option 26 (0: omitted)
	Hostname   string       // option 12 (empty: omitted)
	FQDN       string       // option 81 (empty: omitted)
}

// Message types (option 53).
const (
	msgDiscover = 1
	msgOffer    = 2
	msgRequest  = 3
	msgDecline  = 4
	msgAck      = 5
	msgNak      = 6
	msgRelease  = 7
	msgInform   = 8
)

// Option codes.
const (
	optPad          = 0
	optSubnetMask   = 1
	optRouter       = 3
	optDNS          = 6
	optHostname     = 12
	optMTU          = 26
	optRequestedIP  = 50
	optLeaseTime    = 51
	optMessageType  = 53
	optServerID     = 54
	optParamRequest = 55
	optRapidCommit  = 80
	optClientFQDN   = 81
	optDomainSearch = 119
	optStaticRoutes = 121
	optEnd          = 255
)

// BOOTP layout.
const (
	bootRequest = 1
	bootReply   = 2

	offFlags  = 10
	offCiaddr = 12
	offYiaddr = 16
	offGiaddr = 24
	offChaddr = 28
	offMagic  = 236
	hdrLen    = 240 // fixed header and magic cookie: where options start

	flagBroadcast = 0x8000
	magicCookie   = 0x63825363

	// maxOptions is the room for options, end option included, so that the
	// message stays within 576 bytes of IP datagram (RFC 2131 §2):
	// 576 - 20 (IPv4) - 8 (UDP) - 240.
	maxOptions = 308
	// minOptions pads short replies to the 300-byte BOOTP minimum (RFC 951).
	minOptions = 300 - hdrLen
)

// request is what Handle needs from a validated DHCP message.
type request struct {
	msg         []byte // the BOOTP message: header, cookie, options
	msgType     int    // option 53, 0 if absent (BOOTP)
	requested   netip.Addr
	params      []byte // option 55
	rapidCommit bool
}

// Handle answers one frame from the guest: a whole Ethernet frame. It
// returns the reply frame, freshly allocated, or nil if the frame is not a
// well-formed DHCP/BOOTP request or needs no answer (see the package
// documentation). It never panics, whatever the frame holds; it returns nil
// if c lacks an IPv4 ServerAddr or GuestAddr or has a PrefixLen outside
// 0..32.
func Handle(c *Config, frame []byte) []byte {
	if !c.ServerAddr.Is4() || !c.GuestAddr.Is4() || c.PrefixLen < 0 || c.PrefixLen > 32 {
		return nil
	}
	eth, err := pkt.ParseEthernet(frame)
	if err != nil || eth.EtherType() != pkt.EtherTypeIPv4 {
		return nil
	}
	ip, err := pkt.ParseIPv4(eth.Payload())
	if err != nil || ip.Protocol() != pkt.ProtoUDP || ip.IsFragment() {
		return nil
	}
	udp, err := pkt.ParseUDP(ip.Payload())
	if err != nil || udp.DstPort() != ServerPort || len(udp) != len(ip.Payload()) {
		// ParseUDP rejects a UDP length beyond the datagram; one that
		// falls short of it lies as well.
		return nil
	}
	req, ok := parseRequest(udp.Payload())
	if !ok {
		return nil
	}

	var typ int
	switch req.msgType {
	case 0:
		typ = msgAck // BOOTP
	case msgDiscover:
		typ = msgOffer
		if req.rapidCommit {
			typ = msgAck
		}
	case msgRequest:
		typ = msgAck
		ciaddr := netip.AddrFrom4([4]byte(req.msg[offCiaddr : offCiaddr+4]))
		switch {
		case req.requested.IsValid():
			if req.requested != c.GuestAddr {
				typ = msgNak
			}
		case !ciaddr.IsUnspecified() && ciaddr != c.GuestAddr:
			typ = msgNak
		}
	case msgDecline, msgRelease, msgInform:
		return nil // nothing to release, nothing else to offer
	default:
		return nil
	}
	return buildReply(c, eth.Src(), &req, typ)
}

// parseRequest validates a BOOTP message and extracts the options Handle
// looks at. Repeated options: the last one counts.
func parseRequest(m []byte) (request, bool) {
	r := request{msg: m}
	if len(m) < hdrLen || m[0] != bootRequest || m[2] > 16 ||
		binary.BigEndian.Uint32(m[offMagic:]) != magicCookie {
		return r, false
	}
	opts := m[hdrLen:]
	for i := 0; ; {
		if i >= len(opts) {
			return r, false // no end option
		}
		code := opts[i]
		if code == optEnd {
			return r, true
		}
		if code == optPad {
			i++
			continue
		}
		if i+2 > len(opts) {
			return r, false
		}
		n := int(opts[i+1])
		val := opts[i+2:]
		if n > len(val) {
			return r, false
		}
		val = val[:n]
		i += 2 + n
		switch code {
		case optMessageType:
			if n != 1 {
				return r, false
			}
			r.msgType = int(val[0])
			if r.msgType == 0 {
				return r, false
			}
		case optRequestedIP:
			if n != 4 {
				return r, false
			}
			r.requested = netip.AddrFrom4([4]byte(val))
		case optParamRequest:
			r.params = val
		case optRapidCommit:
			r.rapidCommit = true
		}
	}
}

// buildReply builds the whole reply frame for a validated request.
func buildReply(c *Config, clientMAC [6]byte, req *request, typ int) []byte {
	var opts []option
	if typ == msgNak {
		opts = []option{
			{optMessageType, []byte{msgNak}},
			{optServerID, c.ServerAddr.AsSlice()},
		}
	} else {
		opts = replyOptions(c, typ, req.rapidCommit && req.msgType == msgDiscover)
	}
	optBytes := serialise(opts, req.params)

	dst, dstMAC := c.GuestAddr, clientMAC
	if typ == msgNak || binary.BigEndian.Uint16(req.msg[offFlags:])&flagBroadcast != 0 {
		dst, dstMAC = netip.AddrFrom4([4]byte{255, 255, 255, 255}), pkt.Broadcast
	}

	msgLen := hdrLen + len(optBytes)
	const l2l3l4 = pkt.EthernetHeaderLen + pkt.IPv4MinHeaderLen + pkt.UDPHeaderLen
	frame := make([]byte, l2l3l4+msgLen)
	m := frame[l2l3l4:]

	in := req.msg
	m[0] = bootReply
	m[1], m[2] = in[1], in[2]                                   // htype, hlen
	copy(m[4:8], in[4:8])                                       // xid
	copy(m[10:12], in[10:12])                                   // flags
	copy(m[offGiaddr:offChaddr+16], in[offGiaddr:offChaddr+16]) // giaddr, chaddr
	if typ != msgNak {
		if typ != msgOffer {
			copy(m[offCiaddr:offCiaddr+4], in[offCiaddr:offCiaddr+4])
		}
		g := c.GuestAddr.As4()
		copy(m[offYiaddr:offYiaddr+4], g[:])
	}
	binary.BigEndian.PutUint32(m[offMagic:], magicCookie)
	copy(m[hdrLen:], optBytes)

	n := pkt.BuildEthernet(frame, dstMAC, c.OurMAC, pkt.EtherTypeIPv4)
	ip := pkt.IPv4(frame[n:])
	n += pkt.BuildIPv4(ip, c.ServerAddr, dst, pkt.ProtoUDP, pkt.UDPHeaderLen+msgLen, 255, 0)
	ip.SetFlagsFragment(pkt.IPv4FlagDF)
	ip.UpdateChecksum()
	udp := pkt.UDP(frame[n:])
	pkt.BuildUDP(udp, ServerPort, ClientPort, msgLen)
	pkt.FinishUDP(udp, c.ServerAddr, dst)
	return frame
}
