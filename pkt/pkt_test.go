// SPDX-License-Identifier: GPL-2.0-or-later

package pkt

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

var (
	macGuest = [6]byte{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	macGW    = [6]byte{0x52, 0x55, 0x0a, 0x00, 0x02, 0x02}
	a4Guest  = netip.MustParseAddr("10.0.2.15")
	a4DNS    = netip.MustParseAddr("10.0.2.3")
	a4Web    = netip.MustParseAddr("93.184.216.34")
	a6Src    = netip.MustParseAddr("2001:db8::2")
	a6Dst    = netip.MustParseAddr("2001:db8:1::80")
)

// l4Valid verifies the L4 checksum of a decoded, unfragmented frame.
func l4Valid(frame []byte, d *Decoded) bool {
	l4 := frame[d.L4Off : d.L4Off+d.L4Len]
	if d.L4Proto == ProtoICMP {
		return Finish(Checksum(l4, 0)) == 0
	}
	return Finish(Checksum(l4, PseudoHeaderSum(d.Src, d.Dst, d.L4Proto, uint32(len(l4))))) == 0
}

func TestDecodeRealFrames(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		want  Decoded
		check func(t *testing.T, f []byte, d *Decoded)
	}{
		{"ARP request", frameARPRequest,
			Decoded{EtherType: EtherTypeARP, L3Off: 14, L3Len: 28},
			func(t *testing.T, f []byte, d *Decoded) {
				a, err := ParseARP(f[d.L3Off:])
				if err != nil {
					t.Fatal(err)
				}
				if a.Op() != ARPRequest || a.SenderMAC() != macGuest || a.SenderIP() != a4Guest ||
					a.TargetMAC() != [6]byte{} || a.TargetIP() != netip.MustParseAddr("10.0.2.2") {
					t.Errorf("ARP fields: op %d %x %v %x %v", a.Op(), a.SenderMAC(), a.SenderIP(), a.TargetMAC(), a.TargetIP())
				}
				if e := Ethernet(f); e.Dst() != Broadcast || e.Src() != macGuest || !IsMulticastMAC(e.Dst()) {
					t.Error("Ethernet addresses")
				}
			}},
		{"TCP SYN v4", frameTCPSyn4,
			Decoded{EtherType: EtherTypeIPv4, L3Off: 14, L3Len: 60, IPVersion: 4, TTL: 64,
				Src: a4Guest, Dst: a4Web, L4Proto: ProtoTCP, L4Off: 34, L4Len: 40, L4HdrLen: 40},
			func(t *testing.T, f []byte, d *Decoded) {
				ip := IPv4(f[d.L3Off : d.L3Off+d.L3Len])
				if !ip.ChecksumValid() || ip.ID() != 0x1c46 || ip.Flags() != IPv4FlagDF || ip.IsFragment() {
					t.Error("IPv4 header fields")
				}
				tcp := TCP(f[d.L4Off : d.L4Off+d.L4Len])
				if tcp.SrcPort() != 45678 || tcp.DstPort() != 80 || tcp.Seq() != 0x6f3c9a01 ||
					tcp.Ack() != 0 || tcp.Flags() != TCPFlagSYN || tcp.Window() != 64240 || len(tcp.Payload()) != 0 {
					t.Error("TCP fields")
				}
				var o TCPOptions
				if err := ParseTCPOptions(tcp.Options(), &o); err != nil {
					t.Fatal(err)
				}
				want := TCPOptions{MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 0x1a2b3c4d, HasWScale: true, WScale: 7}
				if o != want {
					t.Errorf("options %+v, want %+v", o, want)
				}
			}},
		{"DNS query v4", frameDNSQuery4,
			Decoded{EtherType: EtherTypeIPv4, L3Off: 14, L3Len: 57, IPVersion: 4, TTL: 64,
				Src: a4Guest, Dst: a4DNS, L4Proto: ProtoUDP, L4Off: 34, L4Len: 37, L4HdrLen: 8},
			func(t *testing.T, f []byte, d *Decoded) {
				u := UDP(f[d.L4Off : d.L4Off+d.L4Len])
				if u.SrcPort() != 54321 || u.DstPort() != 53 || u.Length() != 37 ||
					!bytes.Contains(u.Payload(), []byte("\x07example\x03com\x00")) {
					t.Error("UDP fields")
				}
			}},
		{"ICMP echo v4", frameEcho4,
			Decoded{EtherType: EtherTypeIPv4, L3Off: 14, L3Len: 68, IPVersion: 4, TTL: 64,
				Src: a4Guest, Dst: netip.MustParseAddr("8.8.8.8"), L4Proto: ProtoICMP, L4Off: 34, L4Len: 48, L4HdrLen: 8},
			func(t *testing.T, f []byte, d *Decoded) {
				m := ICMP(f[d.L4Off : d.L4Off+d.L4Len])
				if m.Type() != ICMPv4EchoRequest || m.Code() != 0 || m.ID() != 0x0c1d || m.Seq() != 1 || len(m.Payload()) != 40 {
					t.Error("ICMP fields")
				}
			}},
		{"ICMPv6 NS", frameNS6,
			Decoded{EtherType: EtherTypeIPv6, L3Off: 14, L3Len: 72, IPVersion: 6, TTL: 255,
				Src: netip.MustParseAddr("fe80::5054:ff:fe12:3456"), Dst: netip.MustParseAddr("ff02::1:ff00:1"),
				L4Proto: ProtoICMPv6, L4Off: 54, L4Len: 32, L4HdrLen: 8},
			func(t *testing.T, f []byte, d *Decoded) {
				m := ICMP(f[d.L4Off : d.L4Off+d.L4Len])
				if m.Type() != ICMPv6NeighSolicit || m.Rest() != 0 ||
					netip.AddrFrom16([16]byte(m.Payload()[:16])) != netip.MustParseAddr("fe80::1") {
					t.Error("NS fields")
				}
			}},
		{"TCP SYN v6", frameTCPSyn6,
			Decoded{EtherType: EtherTypeIPv6, L3Off: 14, L3Len: 80, IPVersion: 6, TTL: 64,
				Src: a6Src, Dst: a6Dst, L4Proto: ProtoTCP, L4Off: 54, L4Len: 40, L4HdrLen: 40},
			func(t *testing.T, f []byte, d *Decoded) {
				ip := IPv6(f[d.L3Off : d.L3Off+d.L3Len])
				if ip.FlowLabel() != 0x12345 || ip.TrafficClass() != 0 || ip.NextHeader() != ProtoTCP {
					t.Error("IPv6 fields")
				}
			}},
		{"IPv6 hop-by-hop + first fragment", frameHBHFrag6,
			Decoded{EtherType: EtherTypeIPv6, L3Off: 14, L3Len: 86, IPVersion: 6, TTL: 64,
				Src: a6Src, Dst: a6Dst, L4Proto: ProtoUDP, L4Off: 70, L4Len: 30,
				Fragment: true, FirstFragment: true, IPv6ExtHeaders: true}, nil},
		{"IPv6 later fragment", frameFrag6Later,
			Decoded{EtherType: EtherTypeIPv6, L3Off: 14, L3Len: 64, IPVersion: 6, TTL: 64,
				Src: a6Src, Dst: a6Dst, L4Proto: ProtoUDP, L4Off: 62, L4Len: 16,
				Fragment: true, IPv6ExtHeaders: true}, nil},
		{"IPv4 first fragment", frameFrag4First,
			Decoded{EtherType: EtherTypeIPv4, L3Off: 14, L3Len: 36, IPVersion: 4, TTL: 64,
				Src: a4Guest, Dst: a4DNS, L4Proto: ProtoUDP, L4Off: 34, L4Len: 16,
				Fragment: true, FirstFragment: true}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := hexFrame(tc.frame)
			var d Decoded
			if err := Decode(f, &d); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if d != tc.want {
				t.Fatalf("Decode:\n got %+v\nwant %+v", d, tc.want)
			}
			if d.L4HdrLen > 0 && !l4Valid(f, &d) {
				t.Error("L4 checksum does not verify")
			}
			if d.IPVersion == 4 && !IPv4(f[d.L3Off:d.L3Off+d.L3Len]).ChecksumValid() {
				t.Error("IPv4 header checksum does not verify")
			}
			if tc.check != nil {
				tc.check(t, f, &d)
			}
		})
	}
}

// TestBuildMatchesCapture rebuilds captured frames with the builders and
// compares them byte for byte.
func TestBuildMatchesCapture(t *testing.T) {
	buf := make([]byte, 200)

	// TCP SYN over IPv4.
	n := BuildEthernet(buf, macGW, macGuest, EtherTypeIPv4)
	opts := TCPOptions{MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 0x1a2b3c4d, HasWScale: true, WScale: 7}
	thl := BuildTCP(buf[n+20:], 45678, 80, 0x6f3c9a01, 0, TCPFlagSYN, 64240, opts)
	BuildIPv4(buf[n:], a4Guest, a4Web, ProtoTCP, thl, 64, 0x1c46)
	ip := IPv4(buf[n : n+20+thl])
	ip.SetFlagsFragment(IPv4FlagDF)
	ip.UpdateChecksum()
	FinishTCP(TCP(buf[n+20:n+20+thl]), a4Guest, a4Web)
	if got, want := buf[:n+20+thl], hexFrame(frameTCPSyn4); !bytes.Equal(got, want) {
		t.Errorf("TCP SYN v4:\n got %x\nwant %x", got, want)
	}

	// DNS query over IPv4 (no DF).
	q := hexFrame(frameDNSQuery4)[42:]
	n = BuildEthernet(buf, macGW, macGuest, EtherTypeIPv4)
	n += BuildIPv4(buf[n:], a4Guest, a4DNS, ProtoUDP, UDPHeaderLen+len(q), 64, 0x4d2)
	u := UDP(buf[n : n+UDPHeaderLen+len(q)])
	BuildUDP(u, 54321, 53, len(q))
	copy(u.Payload(), q)
	FinishUDP(u, a4Guest, a4DNS)
	if got, want := buf[:n+len(u)], hexFrame(frameDNSQuery4); !bytes.Equal(got, want) {
		t.Errorf("DNS query:\n got %x\nwant %x", got, want)
	}

	// ICMP echo request.
	data := hexFrame(frameEcho4)[42:]
	n = BuildEthernet(buf, macGW, macGuest, EtherTypeIPv4)
	n += BuildIPv4(buf[n:], a4Guest, netip.MustParseAddr("8.8.8.8"), ProtoICMP, ICMPHeaderLen+len(data), 64, 0xa1b2)
	IPv4(buf[14:]).SetFlagsFragment(IPv4FlagDF)
	IPv4(buf[14:34]).UpdateChecksum()
	m := ICMP(buf[n : n+ICMPHeaderLen+len(data)])
	BuildICMP(m, ICMPv4EchoRequest, 0, 0x0c1d, 1)
	copy(m.Payload(), data)
	FinishICMPv4(m)
	if got, want := buf[:n+len(m)], hexFrame(frameEcho4); !bytes.Equal(got, want) {
		t.Errorf("echo:\n got %x\nwant %x", got, want)
	}

	// TCP SYN over IPv6.
	n = BuildEthernet(buf, macGW, macGuest, EtherTypeIPv6)
	opts = TCPOptions{MSS: 1440, SACKPermitted: true, HasTimestamp: true, TSVal: 0x01020304, HasWScale: true, WScale: 7}
	thl = BuildTCP(buf[n+40:], 40000, 443, 0xdeadbeef, 0, TCPFlagSYN, 64800, opts)
	n += BuildIPv6(buf[n:], a6Src, a6Dst, ProtoTCP, thl, 64, 0x12345)
	FinishTCP(TCP(buf[n:n+thl]), a6Src, a6Dst)
	if got, want := buf[:n+thl], hexFrame(frameTCPSyn6); !bytes.Equal(got, want) {
		t.Errorf("TCP SYN v6:\n got %x\nwant %x", got, want)
	}

	// ICMPv6 NS.
	body := hexFrame(frameNS6)[62:]
	src, dst := netip.MustParseAddr("fe80::5054:ff:fe12:3456"), netip.MustParseAddr("ff02::1:ff00:1")
	n = BuildEthernet(buf, [6]byte{0x33, 0x33, 0xff, 0, 0, 1}, macGuest, EtherTypeIPv6)
	n += BuildIPv6(buf[n:], src, dst, ProtoICMPv6, ICMPHeaderLen+len(body), 255, 0)
	m = ICMP(buf[n : n+ICMPHeaderLen+len(body)])
	BuildICMP(m, ICMPv6NeighSolicit, 0, 0, 0)
	copy(m.Payload(), body)
	FinishICMPv6(m, src, dst)
	if got, want := buf[:n+len(m)], hexFrame(frameNS6); !bytes.Equal(got, want) {
		t.Errorf("NS:\n got %x\nwant %x", got, want)
	}

	// ARP request (without the padding).
	n = BuildEthernet(buf, Broadcast, macGuest, EtherTypeARP)
	n += BuildARP(buf[n:], ARPRequest, macGuest, a4Guest, [6]byte{}, netip.MustParseAddr("10.0.2.2"))
	if got, want := buf[:n], hexFrame(frameARPRequest)[:42]; !bytes.Equal(got, want) {
		t.Errorf("ARP:\n got %x\nwant %x", got, want)
	}
}

// TestRoundTrip builds frames for every family and L4 protocol, decodes
// them and checks what comes back.
func TestRoundTrip(t *testing.T) {
	payload := []byte("hello, odd-length payload!!")
	for _, fam := range []struct {
		src, dst netip.Addr
	}{{a4Guest, a4Web}, {a6Src, a6Dst}} {
		for _, proto := range []uint8{ProtoTCP, ProtoUDP, ProtoICMP} {
			is4 := fam.src.Is4()
			if !is4 && proto == ProtoICMP {
				proto = ProtoICMPv6
			}
			buf := make([]byte, 256)
			et := EtherTypeIPv6
			if is4 {
				et = EtherTypeIPv4
			}
			n := BuildEthernet(buf, macGuest, macGW, et)
			l3 := n
			ihl := IPv6HeaderLen
			if is4 {
				ihl = IPv4MinHeaderLen
			}
			l4 := buf[l3+ihl:]
			var hl int
			switch proto {
			case ProtoTCP:
				hl = BuildTCP(l4, 1000, 2000, 1, 2, TCPFlagACK|TCPFlagPSH, 512, TCPOptions{HasTimestamp: true, TSVal: 9, TSEcr: 8})
			case ProtoUDP:
				hl = BuildUDP(l4, 1000, 2000, len(payload))
			default:
				hl = BuildICMP(l4, 8, 0, 77, 78)
			}
			copy(l4[hl:], payload)
			l4 = l4[:hl+len(payload)]
			if is4 {
				BuildIPv4(buf[l3:], fam.src, fam.dst, proto, len(l4), 63, 5)
			} else {
				BuildIPv6(buf[l3:], fam.src, fam.dst, proto, len(l4), 63, 0)
			}
			switch proto {
			case ProtoTCP:
				FinishTCP(TCP(l4), fam.src, fam.dst)
			case ProtoUDP:
				FinishUDP(UDP(l4), fam.src, fam.dst)
			case ProtoICMP:
				FinishICMPv4(ICMP(l4))
			case ProtoICMPv6:
				FinishICMPv6(ICMP(l4), fam.src, fam.dst)
			}
			frame := buf[:l3+ihl+len(l4)]
			// Ethernet padding must be ignored.
			padded := append(append([]byte(nil), frame...), make([]byte, 20)...)
			var d Decoded
			if err := Decode(padded, &d); err != nil {
				t.Fatalf("%v/%d: %v", fam.src, proto, err)
			}
			want := Decoded{EtherType: et, L3Off: 14, L3Len: ihl + len(l4), IPVersion: d.IPVersion, TTL: 63,
				Src: fam.src, Dst: fam.dst, L4Proto: proto, L4Off: 14 + ihl, L4Len: len(l4), L4HdrLen: hl}
			if d != want || (is4 && d.IPVersion != 4) || (!is4 && d.IPVersion != 6) {
				t.Fatalf("%v/%d:\n got %+v\nwant %+v", fam.src, proto, d, want)
			}
			if !l4Valid(padded, &d) {
				t.Errorf("%v/%d: L4 checksum invalid", fam.src, proto)
			}
			if !bytes.Equal(padded[d.L4Off+d.L4HdrLen:d.L4Off+d.L4Len], payload) {
				t.Errorf("%v/%d: payload mismatch", fam.src, proto)
			}
		}
	}
}

// TestRewrite translates addresses and ports the way flow/ NAT will and
// checks the incrementally updated checksums against full recomputation.
func TestRewrite(t *testing.T) {
	// TCP over IPv4: rewrite destination address and port.
	f := hexFrame(frameTCPSyn4)
	ip := IPv4(f[14:34])
	tcp := TCP(f[34:])
	newDst := netip.MustParseAddr("127.0.0.1")
	tcp.RewriteAddr(ip.Dst(), newDst)
	ip.RewriteDst(newDst)
	tcp.RewriteDstPort(8080)
	gotIP, gotTCP := ip.Checksum(), tcp.Checksum()
	ip.UpdateChecksum()
	FinishTCP(tcp, ip.Src(), ip.Dst())
	if gotIP != ip.Checksum() || gotTCP != tcp.Checksum() {
		t.Errorf("v4 TCP: incremental %#04x/%#04x, full %#04x/%#04x", gotIP, gotTCP, ip.Checksum(), tcp.Checksum())
	}

	// UDP over IPv4: rewrite source, and a zero ("none") checksum.
	f = hexFrame(frameDNSQuery4)
	ip = IPv4(f[14:34])
	u := UDP(f[34:])
	newSrc := netip.MustParseAddr("192.168.77.1")
	u.RewriteAddr(ip.Src(), newSrc)
	ip.RewriteSrc(newSrc)
	u.RewriteSrcPort(1)
	gotIP, gotUDP := ip.Checksum(), u.Checksum()
	ip.UpdateChecksum()
	FinishUDP(u, ip.Src(), ip.Dst())
	if gotIP != ip.Checksum() || gotUDP != u.Checksum() {
		t.Errorf("v4 UDP: incremental %#04x/%#04x, full %#04x/%#04x", gotIP, gotUDP, ip.Checksum(), u.Checksum())
	}
	u.SetChecksum(0)
	u.RewriteDstPort(5353)
	if u.Checksum() != 0 || u.DstPort() != 5353 {
		t.Error("zero UDP checksum was modified")
	}

	// TCP over IPv6: rewrite source address and port.
	f = hexFrame(frameTCPSyn6)
	ip6 := IPv6(f[14:54])
	tcp = TCP(f[54:])
	newSrc6 := netip.MustParseAddr("fd00::ffff:1")
	tcp.RewriteAddr(ip6.Src(), newSrc6)
	ip6.SetSrc(newSrc6)
	tcp.RewriteSrcPort(65535)
	gotTCP = tcp.Checksum()
	FinishTCP(tcp, ip6.Src(), ip6.Dst())
	if gotTCP != tcp.Checksum() {
		t.Errorf("v6 TCP: incremental %#04x, full %#04x", gotTCP, tcp.Checksum())
	}
}

// TestUDPZeroChecksum checks that a computed 0 is sent as 0xffff.
func TestUDPZeroChecksum(t *testing.T) {
	src, dst := netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("0.0.0.0")
	u := make(UDP, 10)
	BuildUDP(u, 0, 0, 2)
	// Choose the payload word so that the whole sum is 0xffff.
	s := Fold(Checksum(u, PseudoHeaderSum4(src, dst, ProtoUDP, 10)))
	u[8], u[9] = byte(^s>>8), byte(^s)
	FinishUDP(u, src, dst)
	if u.Checksum() != 0xffff {
		t.Fatalf("checksum %#04x, want 0xffff", u.Checksum())
	}
}

func TestDecodeErrors(t *testing.T) {
	syn4 := hexFrame(frameTCPSyn4)
	dns4 := hexFrame(frameDNSQuery4)
	syn6 := hexFrame(frameTCPSyn6)
	hbh := hexFrame(frameHBHFrag6)
	mod := func(f []byte, fn func(b []byte)) []byte {
		b := append([]byte(nil), f...)
		fn(b)
		return b
	}
	tests := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"empty", nil, ErrShort},
		{"13 bytes", syn4[:13], ErrShort},
		{"ARP short", hexFrame(frameARPRequest)[:14+27], ErrShort},
		{"ARP not Ethernet/IPv4", mod(hexFrame(frameARPRequest), func(b []byte) { b[19] = 16 }), ErrARP},
		{"IPv4 short", syn4[:14+19], ErrShort},
		{"IPv4 version 6 in IPv4 EtherType", mod(syn4, func(b []byte) { b[14] = 0x65 }), ErrIPVersion},
		{"IPv4 IHL 4", mod(syn4, func(b []byte) { b[14] = 0x44 }), ErrIPv4HeaderLen},
		{"IPv4 IHL beyond buffer", mod(syn4, func(b []byte) { b[14] = 0x4f })[:14+40], ErrIPv4HeaderLen},
		{"IPv4 total length beyond buffer", syn4[:len(syn4)-1], ErrIPv4TotalLen},
		{"IPv4 total length below header", mod(syn4, func(b []byte) { b[16], b[17] = 0, 19 }), ErrIPv4TotalLen},
		{"TCP data offset 4", mod(syn4, func(b []byte) { b[46] = 0x40 }), ErrTCPDataOffset},
		{"TCP data offset beyond segment", mod(syn4, func(b []byte) { b[46] = 0xb0 }), ErrTCPDataOffset},
		{"TCP truncated", mod(syn4, func(b []byte) { b[16], b[17] = 0, 20+19 }), ErrShort},
		{"UDP length 7", mod(dns4, func(b []byte) { b[38], b[39] = 0, 7 }), ErrUDPLength},
		{"UDP length beyond datagram", mod(dns4, func(b []byte) { b[38], b[39] = 0, 38 }), ErrUDPLength},
		{"UDP truncated", mod(dns4, func(b []byte) { b[16], b[17] = 0, 27 }), ErrShort},
		{"ICMP truncated", mod(hexFrame(frameEcho4), func(b []byte) { b[16], b[17] = 0, 27 }), ErrShort},
		{"IPv6 short", syn6[:14+39], ErrShort},
		{"IPv6 version 4", mod(syn6, func(b []byte) { b[14] = 0x40 }), ErrIPVersion},
		{"IPv6 payload length beyond buffer", syn6[:len(syn6)-1], ErrIPv6PayloadLen},
		{"IPv6 hop-by-hop truncated", mod(hbh, func(b []byte) { b[55] = 9 }), ErrIPv6ExtHeader},
		{"IPv6 hop-by-hop not first", mod(hbh, func(b []byte) { b[54] = ProtoHopByHop }), ErrIPv6ExtHeader},
		{"IPv6 extension header chain too long", ipv6Chain(MaxIPv6ExtHeaders + 1), ErrIPv6ExtHeader},
		{"IPv6 extension header cut at 7 bytes", mod(syn6, func(b []byte) { b[20] = ProtoDstOpts; b[18], b[19] = 0, 7 })[:14+47], ErrIPv6ExtHeader},
	}
	for _, tc := range tests {
		var d Decoded
		if err := Decode(tc.frame, &d); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	// The longest accepted chain.
	var d Decoded
	if err := Decode(ipv6Chain(MaxIPv6ExtHeaders), &d); err != nil || d.L4Proto != ProtoNoNext || d.L4Len != 0 {
		t.Errorf("chain of %d: %v %+v", MaxIPv6ExtHeaders, err, d)
	}
}

// ipv6Chain returns an IPv6 frame with n destination-options headers and
// no upper-layer header.
func ipv6Chain(n int) []byte {
	b := make([]byte, 14+40+8*n)
	BuildEthernet(b, macGW, macGuest, EtherTypeIPv6)
	next := ProtoNoNext
	if n > 0 {
		next = ProtoDstOpts
	}
	BuildIPv6(b[14:], a6Src, a6Dst, next, 8*n, 64, 0)
	for i := 0; i < n; i++ {
		h := b[54+8*i:]
		h[0] = ProtoDstOpts
		if i == n-1 {
			h[0] = ProtoNoNext
		}
		h[2], h[3] = 1, 4 // PadN covering the rest
	}
	return b
}

func TestDecodeOther(t *testing.T) {
	// Unknown EtherType: accepted, only L2 facts set.
	f := make([]byte, 60)
	BuildEthernet(f, macGW, macGuest, 0x88cc)
	var d Decoded
	if err := Decode(f, &d); err != nil || d != (Decoded{EtherType: 0x88cc, L3Off: 14, L3Len: 46}) {
		t.Errorf("LLDP: %v %+v", err, d)
	}
	// AH and routing headers are skipped.
	b := make([]byte, 14+40+16+24+8)
	BuildEthernet(b, macGW, macGuest, EtherTypeIPv6)
	BuildIPv6(b[14:], a6Src, a6Dst, ProtoRouting, 16+24+8, 64, 0)
	b[54], b[55] = ProtoAH, 1  // routing, 16 bytes
	b[70], b[71] = ProtoUDP, 4 // AH, (4+2)*4 = 24 bytes
	BuildUDP(b[94:], 1, 2, 0)
	if err := Decode(b, &d); err != nil || d.L4Proto != ProtoUDP || d.L4Off != 94 || d.L4Len != 8 || !d.IPv6ExtHeaders {
		t.Errorf("routing+AH: %v %+v", err, d)
	}
	// ESP ends the walk.
	b[70] = ProtoESP
	b[54] = ProtoESP
	if err := Decode(b, &d); err != nil || d.L4Proto != ProtoESP || d.L4Off != 70 || d.L4HdrLen != 0 {
		t.Errorf("ESP: %v %+v", err, d)
	}
	// ICMP over IPv6 is not validated as ICMPv6.
	b = make([]byte, 14+40+2)
	BuildEthernet(b, macGW, macGuest, EtherTypeIPv6)
	BuildIPv6(b[14:], a6Src, a6Dst, ProtoICMP, 2, 64, 0)
	if err := Decode(b, &d); err != nil || d.L4HdrLen != 0 {
		t.Errorf("ICMP over IPv6: %v %+v", err, d)
	}
}

func TestIPv6Setters(t *testing.T) {
	ip := make(IPv6, 40)
	BuildIPv6(ip, a6Src, a6Dst, ProtoUDP, 0, 1, 0xfffff)
	ip.SetTrafficClass(0xb8)
	if ip.Version() != 6 || ip.TrafficClass() != 0xb8 || ip.FlowLabel() != 0xfffff {
		t.Errorf("%x", []byte(ip[:4]))
	}
	ip.SetFlowLabel(0x12345)
	ip.SetHopLimit(9)
	ip.SetNextHeader(ProtoTCP)
	ip.SetPayloadLen(7)
	ip.SetDst(a6Src)
	if ip.TrafficClass() != 0xb8 || ip.FlowLabel() != 0x12345 || ip.HopLimit() != 9 ||
		ip.NextHeader() != ProtoTCP || ip.PayloadLen() != 7 || ip.Dst() != a6Src {
		t.Error("IPv6 setters")
	}
}

// TestAllocs checks that the hot-path functions do not allocate.
func TestAllocs(t *testing.T) {
	frames := [][]byte{hexFrame(frameTCPSyn4), hexFrame(frameTCPSyn6), hexFrame(frameHBHFrag6),
		hexFrame(frameDNSQuery4), hexFrame(frameARPRequest), hexFrame(frameNS6)}
	var d Decoded
	if n := testing.AllocsPerRun(100, func() {
		for _, f := range frames {
			_ = Decode(f, &d)
		}
	}); n != 0 {
		t.Errorf("Decode: %v allocs", n)
	}
	buf := make([]byte, 1600)
	opts := TCPOptions{MSS: 1460, HasWScale: true, WScale: 7, SACKPermitted: true, HasTimestamp: true}
	var o TCPOptions
	if n := testing.AllocsPerRun(100, func() {
		BuildEthernet(buf, macGW, macGuest, EtherTypeIPv4)
		hl := BuildTCP(buf[34:], 1, 2, 3, 4, TCPFlagSYN, 5, opts)
		BuildIPv4(buf[14:], a4Guest, a4Web, ProtoTCP, hl+1000, 64, 1)
		FinishTCP(TCP(buf[34:34+hl+1000]), a4Guest, a4Web)
		_ = ParseTCPOptions(TCP(buf[34:]).Options(), &o)
		BuildIPv6(buf[14:], a6Src, a6Dst, ProtoUDP, 8+100, 64, 0)
		BuildUDP(buf[54:], 1, 2, 100)
		FinishUDP(UDP(buf[54:162]), a6Src, a6Dst)
		BuildICMP(buf[54:], ICMPv6EchoReply, 0, 1, 2)
		FinishICMPv6(ICMP(buf[54:100]), a6Src, a6Dst)
		FinishICMPv4(ICMP(buf[54:100]))
		BuildARP(buf[14:], ARPReply, macGW, a4DNS, macGuest, a4Guest)
		IPv4(buf[14:34]).RewriteSrc(a4DNS)
		TCP(buf[34:]).RewriteAddr(a4Web, a4DNS)
		TCP(buf[34:]).RewriteDstPort(80)
		sink += Checksum(buf, 0)
	}); n != 0 {
		t.Errorf("builders and checksums: %v allocs", n)
	}
}

func BenchmarkDecode(b *testing.B) {
	f := hexFrame(frameTCPSyn6)
	var d Decoded
	b.ReportAllocs()
	for b.Loop() {
		if err := Decode(f, &d); err != nil {
			b.Fatal(err)
		}
	}
}
