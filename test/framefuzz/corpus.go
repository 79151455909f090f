// SPDX-License-Identifier: GPL-2.0-or-later

package main

import (
	"encoding/binary"
	"net/netip"

	"passt/pkt"
)

var broadcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// ourMAC is a destination for unicast frames; the engine does not filter
// on it.
var ourMAC = [6]byte{0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55}

// buildCorpus returns valid frames from a guest with MAC mac, one or more
// of each kind the engine handles, with correct lengths and checksums.
func buildCorpus(mac [6]byte) [][]byte {
	var c [][]byte
	// ARP request for the gateway, and a reply.
	for _, op := range []uint16{1, 2} {
		b := make([]byte, 14+pkt.ARPLen)
		n := pkt.BuildEthernet(b, broadcast, mac, pkt.EtherTypeARP)
		pkt.BuildARP(b[n:], op, mac, guest4, [6]byte{}, gw4)
		c = append(c, b)
	}
	// DHCP DISCOVER and REQUEST.
	for _, typ := range []byte{1, 3} {
		opts := []byte{99, 130, 83, 99, 53, 1, typ, 55, 6, 1, 3, 6, 15, 26, 119, 61, 7, 1}
		opts = append(opts, mac[:]...)
		if typ == 3 {
			opts = append(opts, 50, 4, 10, 0, 2, 15, 54, 4, 10, 0, 2, 2, 12, 4, 'h', 'o', 's', 't', 81, 6, 0, 0, 0, 'a', '.', 'b')
		}
		opts = append(opts, 255)
		bootp := make([]byte, 236, 236+len(opts))
		bootp[0], bootp[1], bootp[2] = 1, 1, 6
		binary.BigEndian.PutUint32(bootp[4:], 0x12345678)
		copy(bootp[28:], mac[:])
		c = append(c, udp4(mac, broadcast, netip.IPv4Unspecified(), netip.AddrFrom4([4]byte{255, 255, 255, 255}), 68, 67, append(bootp, opts...)))
	}
	// DHCPv6 SOLICIT and REQUEST with client ID, IA_NA, option request,
	// FQDN.
	for _, typ := range []byte{1, 3} {
		m := []byte{typ, 0xab, 0xcd, 0xef}
		m = append(m, 0, 1, 0, 10, 0, 3, 0, 1) // client ID, DUID-LL
		m = append(m, mac[:]...)
		m = append(m, 0, 3, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0) // IA_NA
		m = append(m, 0, 6, 0, 4, 0, 23, 0, 24)                        // ORO: DNS, search
		m = append(m, 0, 39, 0, 5, 0, 1, 'h', 0, 0)                    // FQDN
		if typ == 3 {
			m = append(m, 0, 2, 0, 4, 1, 2, 3, 4) // server ID
		}
		c = append(c, udp6(mac, [6]byte{0x33, 0x33, 0, 1, 0, 2}, ll6, netip.MustParseAddr("ff02::1:2"), 546, 547, m))
	}
	// NDP: router solicitation, neighbour solicitation for the gateway,
	// neighbour advertisement, each with a source link-layer option.
	sll := append([]byte{1, 1}, mac[:]...)
	c = append(c, icmp6(mac, [6]byte{0x33, 0x33, 0, 0, 0, 2}, ll6, netip.MustParseAddr("ff02::2"), 133, 0, append(make([]byte, 4), sll...)))
	ns := append(make([]byte, 4), gw6.AsSlice()...)
	c = append(c, icmp6(mac, [6]byte{0x33, 0x33, 0xff, 0, 0, 1}, ll6, netip.MustParseAddr("ff02::1:ff00:1"), 135, 0, append(ns, sll...)))
	na := append([]byte{0x60, 0, 0, 0}, guest6.AsSlice()...)
	c = append(c, icmp6(mac, ourMAC, guest6, gw6, 136, 0, append(na, 2, 1, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5])))
	// Echo requests, both families.
	echo := make([]byte, 4+56)
	binary.BigEndian.PutUint16(echo[0:], 0x4242)
	binary.BigEndian.PutUint16(echo[2:], 1)
	c = append(c, icmp4(mac, ourMAC, guest4, gw4, 8, 0, echo))
	c = append(c, icmp6(mac, ourMAC, guest6, gw6, 128, 0, echo))
	// UDP: a DNS query to the gateway, both families.
	dns := []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1}
	c = append(c, udp4(mac, ourMAC, guest4, gw4, 40000, 53, dns))
	c = append(c, udp6(mac, ourMAC, guest6, gw6, 40000, 53, dns))
	// TCP: SYN with options, ACK with data, FIN, RST, both families, to
	// a port on the gateway (the host's loopback) where nothing listens.
	syn := pkt.TCPOptions{MSS: 1460, HasWScale: true, WScale: 7}
	for _, v6 := range []bool{false, true} {
		c = append(c, tcp(mac, v6, 41000, 9, 1000, 0, pkt.TCPFlagSYN, syn, nil))
		c = append(c, tcp(mac, v6, 41000, 9, 1001, 5000, pkt.TCPFlagACK|pkt.TCPFlagPSH, pkt.TCPOptions{}, []byte("GET / HTTP/1.0\r\n\r\n")))
		c = append(c, tcp(mac, v6, 41000, 9, 1019, 5000, pkt.TCPFlagFIN|pkt.TCPFlagACK, pkt.TCPOptions{}, nil))
		c = append(c, tcp(mac, v6, 41001, 9, 7, 0, pkt.TCPFlagRST, pkt.TCPOptions{}, nil))
	}
	// IPv4 fragments and an IPv6 fragment header.
	frag := udp4(mac, ourMAC, guest4, gw4, 40001, 53, make([]byte, 64))
	binary.BigEndian.PutUint16(frag[14+6:], 0x2000) // more fragments
	c = append(c, frag)
	f6 := udp6(mac, ourMAC, guest6, gw6, 40001, 53, make([]byte, 64))
	f6 = append(f6[:14+40], append([]byte{pkt.ProtoUDP, 0, 0, 1, 0, 0, 0, 9}, f6[14+40:]...)...)
	f6[14+6] = pkt.ProtoFragment
	binary.BigEndian.PutUint16(f6[14+4:], uint16(len(f6)-14-40))
	c = append(c, f6)
	return c
}

func ip4(b []byte, mac, dmac [6]byte, src, dst netip.Addr, proto uint8, l4 int) int {
	n := pkt.BuildEthernet(b, dmac, mac, pkt.EtherTypeIPv4)
	n += pkt.BuildIPv4(b[n:], src, dst, proto, l4, 64, 1)
	pkt.IPv4(b[14:n]).UpdateChecksum()
	return n
}

func ip6(b []byte, mac, dmac [6]byte, src, dst netip.Addr, next uint8, l4 int) int {
	n := pkt.BuildEthernet(b, dmac, mac, pkt.EtherTypeIPv6)
	return n + pkt.BuildIPv6(b[n:], src, dst, next, l4, 255, 0)
}

func udp4(mac, dmac [6]byte, src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 14+20+8+len(payload))
	n := ip4(b, mac, dmac, src, dst, pkt.ProtoUDP, 8+len(payload))
	pkt.BuildUDP(b[n:], sport, dport, len(payload))
	copy(b[n+8:], payload)
	pkt.FinishUDP(pkt.UDP(b[n:]), src, dst)
	return b
}

func udp6(mac, dmac [6]byte, src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 14+40+8+len(payload))
	n := ip6(b, mac, dmac, src, dst, pkt.ProtoUDP, 8+len(payload))
	pkt.BuildUDP(b[n:], sport, dport, len(payload))
	copy(b[n+8:], payload)
	pkt.FinishUDP(pkt.UDP(b[n:]), src, dst)
	return b
}

func icmp4(mac, dmac [6]byte, src, dst netip.Addr, typ, code uint8, body []byte) []byte {
	b := make([]byte, 14+20+4+len(body))
	n := ip4(b, mac, dmac, src, dst, pkt.ProtoICMP, 4+len(body))
	b[n], b[n+1] = typ, code
	copy(b[n+4:], body)
	pkt.FinishICMPv4(pkt.ICMP(b[n:]))
	return b
}

func icmp6(mac, dmac [6]byte, src, dst netip.Addr, typ, code uint8, body []byte) []byte {
	b := make([]byte, 14+40+4+len(body))
	n := ip6(b, mac, dmac, src, dst, pkt.ProtoICMPv6, 4+len(body))
	b[n], b[n+1] = typ, code
	copy(b[n+4:], body)
	pkt.FinishICMPv6(pkt.ICMP(b[n:]), src, dst)
	return b
}

func tcp(mac [6]byte, v6 bool, sport, dport uint16, seq, ack uint32, flags uint8, opts pkt.TCPOptions, payload []byte) []byte {
	b := make([]byte, 14+40+60+len(payload))
	l4 := 20 + opts.Len() + len(payload)
	src, dst := guest4, gw4
	var n int
	if v6 {
		src, dst = guest6, gw6
		n = ip6(b, mac, ourMAC, src, dst, pkt.ProtoTCP, l4)
	} else {
		n = ip4(b, mac, ourMAC, src, dst, pkt.ProtoTCP, l4)
	}
	h := pkt.BuildTCP(b[n:], sport, dport, seq, ack, flags, 65535, opts)
	copy(b[n+h:], payload)
	pkt.FinishTCP(pkt.TCP(b[n:n+l4]), src, dst)
	return b[:n+l4]
}
