// SPDX-License-Identifier: GPL-2.0-or-later

package dhcpv6

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"time"

	"passt/pkt"
)

// UDP ports (RFC 8415 §7.2).
const (
	ClientPort = 546
	ServerPort = 547
)

// AllServers is All_DHCP_Relay_Agents_and_Servers, where clients send.
var AllServers = netip.MustParseAddr("ff02::1:2")

// Message types (RFC 8415 §7.3).
const (
	MsgSolicit     uint8 = 1
	MsgAdvertise   uint8 = 2
	MsgRequest     uint8 = 3
	MsgConfirm     uint8 = 4
	MsgRenew       uint8 = 5
	MsgRebind      uint8 = 6
	MsgReply       uint8 = 7
	MsgRelease     uint8 = 8
	MsgDecline     uint8 = 9
	MsgInfoRequest uint8 = 11
)

// Option codes (RFC 8415 §21, RFC 3646, RFC 4704).
const (
	OptClientID    uint16 = 1
	OptServerID    uint16 = 2
	OptIANA        uint16 = 3
	OptIATA        uint16 = 4
	OptIAAddr      uint16 = 5
	OptORO         uint16 = 6
	OptStatusCode  uint16 = 13
	OptRapidCommit uint16 = 14
	OptDNSServers  uint16 = 23
	OptDomainList  uint16 = 24
	OptClientFQDN  uint16 = 39
)

// Status codes (RFC 8415 §21.13).
const (
	StatusSuccess      uint16 = 0
	StatusNoAddrsAvail uint16 = 2
	StatusNotOnLink    uint16 = 4
)

// Client FQDN option flags (RFC 4704 §4.1).
const (
	FQDNFlagS uint8 = 0x01 // client: server should update AAAA
	FQDNFlagO uint8 = 0x02 // server: it overrode the client's S
)

// Infinity is the "never expires" lifetime and T1/T2 value.
const Infinity uint32 = 0xffffffff

const (
	msgHeaderLen = 4   // type + 24-bit transaction ID
	maxDUIDLen   = 128 // largest Client Identifier body accepted (upstream)
	maxOptions   = 64  // options per level (message, or inside one IA)
	iaNAFixedLen = 12  // IAID, T1, T2
	iaTAFixedLen = 4   // IAID
	iaAddrLen    = 24  // address, preferred and valid lifetime
	maxNameLen   = 255 // encoded domain name (RFC 1035 §3.1)
	hopLimit     = 255
)

// Config is what the server hands out. It is read, never written, by Handle.
type Config struct {
	OurMAC       [6]byte
	OurLinkLocal netip.Addr   // source address of replies (contract §6.4)
	GuestAddr    netip.Addr   // the single address handed out (IA_NA)
	DNS          []netip.Addr // option 23 (empty: omitted)
	Search       []string     // option 24 domain names (empty: omitted)
	FQDN         string       // option 39 (empty: omitted)

	// DUIDTime is the time field of the server DUID-LLT: seconds since
	// 2000-01-01 00:00 UTC, taken once at start-up (see DUIDTimeFrom).
	// It must not change while clients hold leases. Zero is valid.
	DUIDTime uint32
}

// ServerDUID returns the server's DUID-LLT: type 1, hardware type 1
// (Ethernet), c.DUIDTime, c.OurMAC.
func (c *Config) ServerDUID() []byte {
	d := make([]byte, 14)
	binary.BigEndian.PutUint16(d[0:], 1) // DUID-LLT
	binary.BigEndian.PutUint16(d[2:], 1) // Ethernet
	binary.BigEndian.PutUint32(d[4:], c.DUIDTime)
	copy(d[8:], c.OurMAC[:])
	return d
}

// duidEpoch is the DUID-LLT time origin (RFC 8415 §11.2).
var duidEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// DUIDTimeFrom returns the DUID-LLT time for t: seconds since 2000-01-01
// 00:00 UTC, modulo 2^32 (zero before the epoch).
func DUIDTimeFrom(t time.Time) uint32 {
	if t.Before(duidEpoch) {
		return 0
	}
	return uint32(int64(t.Sub(duidEpoch) / time.Second))
}

var errMalformed = errors.New("dhcpv6: malformed message")

// ia is one IA_NA or IA_TA of a client message. T1 and T2 are zero for IA_TA.
type ia struct {
	code   uint16
	iaid   uint32
	t1, t2 uint32
	addrs  []netip.Addr
}

// request is a parsed client message. Option bodies alias the frame.
type request struct {
	typ         uint8
	xid         [3]byte
	clientID    []byte // DUID (body of the first Client Identifier option)
	serverID    []byte // body of the first Server Identifier option, if any
	hasServerID bool
	rapidCommit bool
	hasFQDN     bool
	fqdnFlags   uint8
	ias         []ia
}

// walkOptions calls fn for each option in b. It fails on an option running
// past b or on more than maxOptions options.
func walkOptions(b []byte, fn func(code uint16, body []byte) error) error {
	for n := 0; len(b) > 0; n++ {
		if n == maxOptions || len(b) < 4 {
			return errMalformed
		}
		code := binary.BigEndian.Uint16(b)
		l := int(binary.BigEndian.Uint16(b[2:]))
		if 4+l > len(b) {
			return errMalformed
		}
		if err := fn(code, b[4:4+l]); err != nil {
			return err
		}
		b = b[4+l:]
	}
	return nil
}

// parseIA parses the body of an IA_NA or IA_TA option.
func parseIA(code uint16, body []byte) (ia, error) {
	fixed := iaNAFixedLen
	if code == OptIATA {
		fixed = iaTAFixedLen
	}
	if len(body) < fixed {
		return ia{}, errMalformed
	}
	r := ia{code: code, iaid: binary.BigEndian.Uint32(body)}
	if code == OptIANA {
		r.t1 = binary.BigEndian.Uint32(body[4:])
		r.t2 = binary.BigEndian.Uint32(body[8:])
	}
	err := walkOptions(body[fixed:], func(c uint16, b []byte) error {
		if c != OptIAAddr {
			return nil
		}
		if len(b) < iaAddrLen {
			return errMalformed
		}
		r.addrs = append(r.addrs, netip.AddrFrom16([16]byte(b[:16])))
		// Options nested in the IA Address (a status code from the
		// client) are checked for framing only.
		return walkOptions(b[iaAddrLen:], func(uint16, []byte) error { return nil })
	})
	return r, err
}

// parseMessage parses a DHCPv6 client message (UDP payload).
func parseMessage(m []byte) (*request, error) {
	if len(m) < msgHeaderLen {
		return nil, errMalformed
	}
	r := &request{typ: m[0], xid: [3]byte(m[1:4])}
	var haveClientID bool
	err := walkOptions(m[msgHeaderLen:], func(code uint16, body []byte) error {
		switch code {
		case OptClientID:
			if !haveClientID {
				haveClientID = true
				r.clientID = body
			}
		case OptServerID:
			if !r.hasServerID {
				r.hasServerID = true
				r.serverID = body
			}
		case OptIANA, OptIATA:
			a, err := parseIA(code, body)
			if err != nil {
				return err
			}
			r.ias = append(r.ias, a)
		case OptRapidCommit:
			r.rapidCommit = true
		case OptClientFQDN:
			if len(body) > 0 && !r.hasFQDN {
				r.hasFQDN = true
				r.fqdnFlags = body[0]
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !haveClientID || len(r.clientID) == 0 || len(r.clientID) > maxDUIDLen {
		return nil, errMalformed
	}
	return r, nil
}

// Handle answers one frame from the guest (a whole Ethernet frame) and
// returns the reply frame, or nil if there is nothing to answer.
func Handle(c *Config, frame []byte) []byte {
	if c == nil || !c.OurLinkLocal.Is6() || c.OurLinkLocal.Is4In6() {
		return nil
	}
	var d pkt.Decoded
	if pkt.Decode(frame, &d) != nil || d.IPVersion != 6 ||
		d.L4Proto != pkt.ProtoUDP || d.Fragment || d.L4HdrLen == 0 {
		return nil
	}
	// The UDP length must cover the IP payload exactly (as upstream).
	if d.L4Off+d.L4Len != d.L3Off+d.L3Len {
		return nil
	}
	u := pkt.UDP(frame[d.L4Off : d.L4Off+d.L4Len])
	if u.SrcPort() != ClientPort || u.DstPort() != ServerPort {
		return nil
	}
	if d.Dst != AllServers && d.Dst != c.OurLinkLocal {
		return nil
	}
	if !d.Src.IsValid() || d.Src.IsUnspecified() || d.Src.IsMulticast() {
		return nil
	}
	req, err := parseMessage(u.Payload())
	if err != nil {
		return nil
	}
	msg := respond(c, req)
	if msg == nil {
		return nil
	}
	eth, err := pkt.ParseEthernet(frame)
	if err != nil {
		return nil
	}
	return buildFrame(c, eth.Src(), d.Src, req.xid, msg)
}

// respond builds the DHCPv6 reply message for req, or returns nil.
func respond(c *Config, req *request) []byte {
	duid := c.ServerDUID()
	ours := req.hasServerID && string(req.serverID) == string(duid)
	notOurs := req.hasServerID && !ours

	typ := MsgReply
	switch req.typ {
	case MsgSolicit:
		if req.hasServerID {
			return nil
		}
		if !req.rapidCommit {
			typ = MsgAdvertise
		}
	case MsgRequest, MsgRenew:
		if !ours {
			return nil
		}
	case MsgRebind:
		if notOurs {
			return nil
		}
	case MsgInfoRequest:
		if notOurs || len(req.ias) > 0 {
			return nil
		}
		return fullReply(c, req, typ, duid)
	case MsgConfirm:
		if req.hasServerID {
			return nil
		}
		return confirmReply(c, req, duid)
	case MsgRelease, MsgDecline:
		if !ours {
			return nil
		}
		m := header(typ, req.xid)
		m = appendOption(m, OptServerID, duid)
		m = appendOption(m, OptClientID, req.clientID)
		return appendStatus(m, StatusSuccess, "Success")
	default:
		return nil
	}

	if req.typ != MsgSolicit {
		for _, a := range req.ias {
			if !onLink(c, a.addrs) {
				return notOnLinkReply(req, a, duid)
			}
		}
	}
	return fullReply(c, req, typ, duid)
}

// onLink reports whether every (specified) address in addrs is ours.
func onLink(c *Config, addrs []netip.Addr) bool {
	for _, a := range addrs {
		if !a.IsUnspecified() && a != c.GuestAddr {
			return false
		}
	}
	return true
}

func header(typ uint8, xid [3]byte) []byte {
	return append(make([]byte, 0, 512), typ, xid[0], xid[1], xid[2])
}

func appendOption(m []byte, code uint16, body []byte) []byte {
	m = binary.BigEndian.AppendUint16(m, code)
	m = binary.BigEndian.AppendUint16(m, uint16(len(body)))
	return append(m, body...)
}

func statusBody(code uint16, text string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), text...)
}

func appendStatus(m []byte, code uint16, text string) []byte {
	return appendOption(m, OptStatusCode, statusBody(code, text))
}

// fullReply is the ADVERTISE or REPLY handing out the address and the
// configuration options.
func fullReply(c *Config, req *request, typ uint8, duid []byte) []byte {
	m := header(typ, req.xid)
	m = appendOption(m, OptServerID, duid)
	first := true
	for _, a := range req.ias {
		if a.code != OptIANA {
			continue
		}
		body := binary.BigEndian.AppendUint32(nil, a.iaid)
		body = binary.BigEndian.AppendUint32(body, Infinity) // T1
		body = binary.BigEndian.AppendUint32(body, Infinity) // T2
		if first && c.GuestAddr.Is6() && !c.GuestAddr.Is4In6() && !c.GuestAddr.IsUnspecified() {
			addr := c.GuestAddr.As16()
			ab := append([]byte(nil), addr[:]...)
			ab = binary.BigEndian.AppendUint32(ab, Infinity) // preferred
			ab = binary.BigEndian.AppendUint32(ab, Infinity) // valid
			body = appendOption(body, OptIAAddr, ab)
		} else {
			body = appendOption(body, OptStatusCode,
				statusBody(StatusNoAddrsAvail, "No addresses available"))
		}
		first = false
		m = appendOption(m, OptIANA, body)
	}
	m = appendOption(m, OptClientID, req.clientID)
	if typ == MsgReply && req.typ == MsgSolicit {
		m = appendOption(m, OptRapidCommit, nil)
	}
	var dns []byte
	for _, a := range c.DNS {
		if a.Is6() && !a.Is4In6() && !a.IsUnspecified() {
			b := a.As16()
			dns = append(dns, b[:]...)
		}
	}
	if len(dns) > 0 {
		m = appendOption(m, OptDNSServers, dns)
	}
	var search []byte
	for _, s := range c.Search {
		if n := encodeName(s); n != nil && len(search)+len(n) <= 0xffff {
			search = append(search, n...)
		}
	}
	if len(search) > 0 {
		m = appendOption(m, OptDomainList, search)
	}
	if n := encodeName(c.FQDN); n != nil {
		var flags uint8
		if req.hasFQDN && req.fqdnFlags&FQDNFlagS != 0 {
			flags = FQDNFlagO
		}
		m = appendOption(m, OptClientFQDN, append([]byte{flags}, n...))
	}
	return m
}

// notOnLinkReply returns the IA with addresses that are not ours, without
// addresses and with a NotOnLink status inside.
func notOnLinkReply(req *request, a ia, duid []byte) []byte {
	m := header(MsgReply, req.xid)
	m = appendOption(m, OptServerID, duid)
	body := binary.BigEndian.AppendUint32(nil, a.iaid)
	if a.code == OptIANA {
		body = binary.BigEndian.AppendUint32(body, a.t1)
		body = binary.BigEndian.AppendUint32(body, a.t2)
	}
	body = appendOption(body, OptStatusCode,
		statusBody(StatusNotOnLink, "Prefix not appropriate for link."))
	m = appendOption(m, a.code, body)
	return appendOption(m, OptClientID, req.clientID)
}

// confirmReply answers CONFIRM with a top-level status (RFC 8415 §18.3.3).
func confirmReply(c *Config, req *request, duid []byte) []byte {
	found, ok := false, true
	for _, a := range req.ias {
		found = found || len(a.addrs) > 0
		ok = ok && onLink(c, a.addrs)
	}
	if !found {
		return nil
	}
	m := header(MsgReply, req.xid)
	m = appendOption(m, OptServerID, duid)
	m = appendOption(m, OptClientID, req.clientID)
	if ok {
		return appendStatus(m, StatusSuccess, "All addresses on link")
	}
	return appendStatus(m, StatusNotOnLink, "Prefix not appropriate for link.")
}

// encodeName encodes a domain name in DNS wire format (RFC 1035 §3.1), fully
// qualified. A trailing dot is accepted. It returns nil for an empty or
// root-only name, an empty or overlong label, or a name longer than 255
// bytes once encoded.
func encodeName(s string) []byte {
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return nil
	}
	out := make([]byte, 0, len(s)+2)
	for label := range strings.SplitSeq(s, ".") {
		if len(label) == 0 || len(label) > 63 {
			return nil
		}
		out = append(out, byte(len(label)))
		out = append(out, label...)
	}
	out = append(out, 0)
	if len(out) > maxNameLen {
		return nil
	}
	return out
}

// buildFrame wraps msg in Ethernet, IPv6 and UDP headers, from us to the
// client.
func buildFrame(c *Config, dstMAC [6]byte, dst netip.Addr, xid [3]byte, msg []byte) []byte {
	udpLen := pkt.UDPHeaderLen + len(msg)
	if udpLen > 0xffff {
		return nil
	}
	f := make([]byte, pkt.EthernetHeaderLen+pkt.IPv6HeaderLen+udpLen)
	n := pkt.BuildEthernet(f, dstMAC, c.OurMAC, pkt.EtherTypeIPv6)
	flow := uint32(xid[0])<<16 | uint32(xid[1])<<8 | uint32(xid[2])
	n += pkt.BuildIPv6(f[n:], c.OurLinkLocal, dst, pkt.ProtoUDP, udpLen, hopLimit, flow)
	u := f[n:]
	pkt.BuildUDP(u, ServerPort, ClientPort, len(msg))
	copy(u[pkt.UDPHeaderLen:], msg)
	pkt.FinishUDP(pkt.UDP(u), c.OurLinkLocal, dst)
	return f
}
