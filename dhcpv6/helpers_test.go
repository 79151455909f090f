// SPDX-License-Identifier: GPL-2.0-or-later

package dhcpv6

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"passt/pkt"
)

var (
	ourMAC     = [6]byte{0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55}
	guestMAC   = [6]byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x42}
	ourLL      = netip.MustParseAddr("fe80::1")
	guestLL    = netip.MustParseAddr("fe80::42")
	guestAddr  = netip.MustParseAddr("2001:db8::42")
	dns1       = netip.MustParseAddr("2001:db8::53")
	dns2       = netip.MustParseAddr("2001:db8::54")
	clientDUID = []byte{0, 3, 0, 1, 0x02, 0x00, 0x00, 0x00, 0x00, 0x42} // DUID-LL
)

func testConfig() *Config {
	return &Config{
		OurMAC:       ourMAC,
		OurLinkLocal: ourLL,
		GuestAddr:    guestAddr,
		DNS:          []netip.Addr{dns1, dns2},
		Search:       []string{"example.com", "lab.example.org."},
		FQDN:         "guest.example.com",
		DUIDTime:     0x01020304,
	}
}

// opt is one DHCPv6 option for building test messages.
type opt struct {
	code uint16
	body []byte
}

func encodeOpts(opts ...opt) []byte {
	var b []byte
	for _, o := range opts {
		b = binary.BigEndian.AppendUint16(b, o.code)
		b = binary.BigEndian.AppendUint16(b, uint16(len(o.body)))
		b = append(b, o.body...)
	}
	return b
}

func optClientID() opt { return opt{OptClientID, clientDUID} }

func optServerID(c *Config) opt { return opt{OptServerID, c.ServerDUID()} }

func optIANA(iaid uint32, addrs ...netip.Addr) opt {
	b := binary.BigEndian.AppendUint32(nil, iaid)
	b = binary.BigEndian.AppendUint32(b, 3600)
	b = binary.BigEndian.AppendUint32(b, 5400)
	for _, a := range addrs {
		a16 := a.As16()
		ab := append([]byte(nil), a16[:]...)
		ab = binary.BigEndian.AppendUint32(ab, 7200)
		ab = binary.BigEndian.AppendUint32(ab, 7500)
		b = append(b, encodeOpts(opt{OptIAAddr, ab})...)
	}
	return opt{OptIANA, b}
}

func optIATA(iaid uint32, addrs ...netip.Addr) opt {
	o := optIANA(iaid, addrs...)
	o.code = OptIATA
	o.body = append(o.body[:4:4], o.body[12:]...)
	return o
}

// message returns a DHCPv6 client message.
func message(typ uint8, xid uint32, opts ...opt) []byte {
	m := []byte{typ, byte(xid >> 16), byte(xid >> 8), byte(xid)}
	return append(m, encodeOpts(opts...)...)
}

// udpFrame wraps payload in Ethernet/IPv6/UDP with a valid checksum.
func udpFrame(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	f := make([]byte, pkt.EthernetHeaderLen+pkt.IPv6HeaderLen+pkt.UDPHeaderLen+len(payload))
	dstMAC := [6]byte{0x33, 0x33, 0, 1, 0, 2}
	if !dst.IsMulticast() {
		dstMAC = ourMAC
	}
	n := pkt.BuildEthernet(f, dstMAC, guestMAC, pkt.EtherTypeIPv6)
	n += pkt.BuildIPv6(f[n:], src, dst, pkt.ProtoUDP, pkt.UDPHeaderLen+len(payload), 1, 0)
	pkt.BuildUDP(f[n:], sport, dport, len(payload))
	copy(f[n+pkt.UDPHeaderLen:], payload)
	pkt.FinishUDP(pkt.UDP(f[n:]), src, dst)
	return f
}

// clientFrame is a client message from the guest's link-local address to
// All_DHCP_Relay_Agents_and_Servers.
func clientFrame(typ uint8, xid uint32, opts ...opt) []byte {
	return udpFrame(guestLL, AllServers, ClientPort, ServerPort, message(typ, xid, opts...))
}

// reply is a parsed server reply.
type reply struct {
	srcMAC, dstMAC [6]byte
	src, dst       netip.Addr
	hopLimit       uint8
	flowLabel      uint32
	typ            uint8
	xid            uint32
	opts           []opt // top level, in order
}

func (r *reply) all(code uint16) [][]byte {
	var out [][]byte
	for _, o := range r.opts {
		if o.code == code {
			out = append(out, o.body)
		}
	}
	return out
}

func (r *reply) get(code uint16) ([]byte, bool) {
	a := r.all(code)
	if len(a) == 0 {
		return nil, false
	}
	return a[0], true
}

// splitOpts splits an option area, failing on any framing error.
func splitOpts(b []byte) ([]opt, error) {
	var out []opt
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, fmt.Errorf("truncated option header (%d bytes)", len(b))
		}
		code := binary.BigEndian.Uint16(b)
		l := int(binary.BigEndian.Uint16(b[2:]))
		if 4+l > len(b) {
			return nil, fmt.Errorf("option %d: length %d overruns %d bytes", code, l, len(b)-4)
		}
		out = append(out, opt{code, b[4 : 4+l]})
		b = b[4+l:]
	}
	return out, nil
}

// parseReply checks that f is a well-formed Ethernet/IPv6/UDP frame from
// port 547 to 546 with a valid checksum, carrying a well-formed ADVERTISE or
// REPLY (every option, including those nested in IAs, correctly framed).
func parseReply(f []byte) (*reply, error) {
	var d pkt.Decoded
	if err := pkt.Decode(f, &d); err != nil {
		return nil, err
	}
	if d.IPVersion != 6 || d.L4Proto != pkt.ProtoUDP || d.IPv6ExtHeaders || d.Fragment {
		return nil, fmt.Errorf("not a plain IPv6/UDP frame")
	}
	if d.L3Off+d.L3Len != len(f) || d.L4Off+d.L4Len != len(f) {
		return nil, fmt.Errorf("lengths: L3 %d+%d, L4 %d+%d, frame %d", d.L3Off, d.L3Len, d.L4Off, d.L4Len, len(f))
	}
	u := pkt.UDP(f[d.L4Off:])
	if u.SrcPort() != ServerPort || u.DstPort() != ClientPort {
		return nil, fmt.Errorf("ports %d -> %d", u.SrcPort(), u.DstPort())
	}
	if u.Checksum() == 0 {
		return nil, fmt.Errorf("zero UDP checksum")
	}
	if s := pkt.Finish(pkt.Checksum(u, pkt.PseudoHeaderSum6(d.Src, d.Dst, pkt.ProtoUDP, uint32(len(u))))); s != 0 {
		return nil, fmt.Errorf("bad UDP checksum (residue %#04x)", s)
	}
	eth := pkt.Ethernet(f)
	ip := pkt.IPv6(f[pkt.EthernetHeaderLen:])
	r := &reply{
		srcMAC: eth.Src(), dstMAC: eth.Dst(),
		src: d.Src, dst: d.Dst,
		hopLimit: ip.HopLimit(), flowLabel: ip.FlowLabel(),
	}
	m := u.Payload()
	if len(m) < 4 {
		return nil, fmt.Errorf("DHCPv6 message of %d bytes", len(m))
	}
	r.typ = m[0]
	r.xid = uint32(m[1])<<16 | uint32(m[2])<<8 | uint32(m[3])
	if r.typ != MsgAdvertise && r.typ != MsgReply {
		return nil, fmt.Errorf("message type %d", r.typ)
	}
	var err error
	if r.opts, err = splitOpts(m[4:]); err != nil {
		return nil, err
	}
	for _, o := range r.opts {
		var sub []byte
		switch o.code {
		case OptIANA:
			if len(o.body) < 12 {
				return nil, fmt.Errorf("short IA_NA")
			}
			sub = o.body[12:]
		case OptIATA:
			if len(o.body) < 4 {
				return nil, fmt.Errorf("short IA_TA")
			}
			sub = o.body[4:]
		default:
			continue
		}
		subs, err := splitOpts(sub)
		if err != nil {
			return nil, fmt.Errorf("in IA: %v", err)
		}
		for _, s := range subs {
			if s.code == OptIAAddr {
				if len(s.body) < 24 {
					return nil, fmt.Errorf("short IA Address")
				}
				if _, err := splitOpts(s.body[24:]); err != nil {
					return nil, fmt.Errorf("in IA Address: %v", err)
				}
			}
		}
	}
	if _, ok := r.get(OptServerID); !ok {
		return nil, fmt.Errorf("no Server Identifier")
	}
	if _, ok := r.get(OptClientID); !ok {
		return nil, fmt.Errorf("no Client Identifier")
	}
	return r, nil
}
