// SPDX-License-Identifier: GPL-2.0-or-later

package ndp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"passt/pkt"
)

var (
	ourMAC    = [6]byte{0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55}
	guestMAC  = [6]byte{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
	proxyMAC  = [6]byte{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}
	ourLL     = netip.MustParseAddr("fe80::1")
	guestLL   = netip.MustParseAddr("fe80::11:22ff:fe33:4455")
	guestAddr = netip.MustParseAddr("2001:db8:1:2:3:4:5:6")
	gateway   = netip.MustParseAddr("2001:db8:1:2::1")
	proxied   = netip.MustParseAddr("2001:db8:1:2::77")
	dns1      = netip.MustParseAddr("2001:db8::53")
	dns2      = netip.MustParseAddr("2001:db8::5353")
)

func testConfig() *Config {
	return &Config{
		OurMAC: ourMAC, OurLinkLocal: ourLL, GuestAddr: guestAddr,
		MTU: 65520, DNS: []netip.Addr{dns1, dns2},
		Search:      []string{"example.com", "a.b.example.org.", "x"},
		ManagedFlag: true,
		MACFor:      func(a netip.Addr) ([6]byte, bool) { return proxyMAC, a == proxied },
	}
}

func solicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 11: 1, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
}

// icmpFrame builds a frame from the guest carrying the ICMPv6 message msg.
func icmpFrame(src, dst netip.Addr, hop uint8, msg []byte) []byte {
	f := make([]byte, 14+40+len(msg))
	n := pkt.BuildEthernet(f, [6]byte{0x33, 0x33, 0, 0, 0, 1}, guestMAC, pkt.EtherTypeIPv6)
	n += pkt.BuildIPv6(f[n:], src, dst, pkt.ProtoICMPv6, len(msg), hop, 0)
	copy(f[n:], msg)
	pkt.FinishICMPv6(pkt.ICMP(f[n:]), src, dst)
	return f
}

// withHopByHop inserts a hop-by-hop options header (router alert) in front
// of the ICMPv6 message of frame f.
func withHopByHop(f []byte) []byte {
	out := make([]byte, 0, len(f)+8)
	out = append(out, f[:54]...)
	out = append(out, pkt.ProtoICMPv6, 0, 5, 2, 0, 0, 1, 0)
	out = append(out, f[54:]...)
	out[20] = pkt.ProtoHopByHop
	binary.BigEndian.PutUint16(out[18:], binary.BigEndian.Uint16(out[18:])+8)
	return out
}

func nsMsg(target netip.Addr, opts ...byte) []byte {
	m := make([]byte, 24, 24+len(opts))
	m[0] = pkt.ICMPv6NeighSolicit
	t := target.As16()
	copy(m[8:], t[:])
	return append(m, opts...)
}

func rsMsg(opts ...byte) []byte {
	m := make([]byte, 8, 8+len(opts))
	m[0] = pkt.ICMPv6RouterSolicit
	return append(m, opts...)
}

var sllaGuest = append([]byte{OptSourceLLA, 1}, guestMAC[:]...)

// parsed is a reply taken apart independently of the code under test.
type parsed struct {
	eth      pkt.Ethernet
	src, dst netip.Addr
	msg      []byte
	opts     map[byte][][]byte // option type -> option bodies (after type, len)
}

func parse(t *testing.T, f []byte) parsed {
	t.Helper()
	if len(f) < 14+40+8 {
		t.Fatalf("reply too short: %d", len(f))
	}
	eth := pkt.Ethernet(f)
	if eth.EtherType() != pkt.EtherTypeIPv6 || eth.Src() != ourMAC {
		t.Fatalf("Ethernet header % x", f[:14])
	}
	ip, err := pkt.ParseIPv6(eth.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if ip.NextHeader() != pkt.ProtoICMPv6 || ip.HopLimit() != 255 || len(ip) != len(f)-14 {
		t.Fatalf("IPv6 header % x", ip[:40])
	}
	if ip.Src() != ourLL {
		t.Errorf("source %v, want %v", ip.Src(), ourLL)
	}
	msg := ip.Payload()
	// The checksum, verified from scratch: pseudo-header and message sum
	// to zero.
	if s := pkt.Finish(pkt.Checksum(msg, pkt.PseudoHeaderSum6(ip.Src(), ip.Dst(), pkt.ProtoICMPv6, uint32(len(msg))))); s != 0 {
		t.Errorf("bad ICMPv6 checksum (residue %#x)", s)
	}
	if msg[1] != 0 {
		t.Errorf("code %d", msg[1])
	}
	return parsed{eth: eth, src: ip.Src(), dst: ip.Dst(), msg: msg}
}

func (p *parsed) parseOptions(t *testing.T, off int) {
	t.Helper()
	p.opts = map[byte][][]byte{}
	b := p.msg[off:]
	for len(b) > 0 {
		if len(b) < 8 || b[1] == 0 || int(b[1])*8 > len(b) {
			t.Fatalf("malformed options: % x", b)
		}
		n := int(b[1]) * 8
		p.opts[b[0]] = append(p.opts[b[0]], b[2:n])
		b = b[n:]
	}
}

func checkNA(t *testing.T, f []byte, dstMAC [6]byte, dst, target netip.Addr, mac [6]byte, flags uint32) {
	t.Helper()
	p := parse(t, f)
	if p.eth.Dst() != dstMAC || p.dst != dst {
		t.Errorf("NA to %v / %v, want %v / %v", p.eth.Dst(), p.dst, dstMAC, dst)
	}
	if p.msg[0] != pkt.ICMPv6NeighAdvert || len(p.msg) != 32 {
		t.Fatalf("not an NA: % x", p.msg)
	}
	if got := binary.BigEndian.Uint32(p.msg[4:8]); got != flags {
		t.Errorf("flags %#x, want %#x", got, flags)
	}
	if got := netip.AddrFrom16([16]byte(p.msg[8:24])); got != target {
		t.Errorf("target %v, want %v", got, target)
	}
	p.parseOptions(t, 24)
	tlla := p.opts[OptTargetLLA]
	if len(tlla) != 1 || [6]byte(tlla[0]) != mac || len(p.opts) != 1 {
		t.Errorf("options %v, want one target link-layer address %v", p.opts, mac)
	}
}

const rso = 0xe0000000

func TestNeighborSolicitation(t *testing.T) {
	c := testConfig()
	other := netip.MustParseAddr("2001:db8:ffff::9")
	tests := []struct {
		name     string
		frame    []byte
		answered bool
		dst      netip.Addr
		target   netip.Addr
		mac      [6]byte
	}{
		{"our link-local", icmpFrame(guestLL, solicitedNode(ourLL), 255, nsMsg(ourLL, sllaGuest...)), true, guestLL, ourLL, ourMAC},
		{"gateway from global", icmpFrame(guestAddr, solicitedNode(gateway), 255, nsMsg(gateway, sllaGuest...)), true, guestAddr, gateway, ourMAC},
		{"any address", icmpFrame(guestLL, solicitedNode(other), 255, nsMsg(other)), true, guestLL, other, ourMAC},
		{"unicast NUD", icmpFrame(guestLL, ourLL, 255, nsMsg(ourLL)), true, guestLL, ourLL, ourMAC},
		{"behind hop-by-hop options", withHopByHop(icmpFrame(guestLL, solicitedNode(ourLL), 255, nsMsg(ourLL, sllaGuest...))), true, guestLL, ourLL, ourMAC},
		{"proxied neighbour", icmpFrame(guestLL, solicitedNode(proxied), 255, nsMsg(proxied, sllaGuest...)), true, guestLL, proxied, proxyMAC},
		{"unknown option skipped", icmpFrame(guestLL, solicitedNode(ourLL), 255, nsMsg(ourLL, 200, 1, 0, 0, 0, 0, 0, 0)), true, guestLL, ourLL, ourMAC},
		{"DAD probe", icmpFrame(netip.IPv6Unspecified(), solicitedNode(guestAddr), 255, nsMsg(guestAddr)), false, netip.Addr{}, netip.Addr{}, [6]byte{}},
		{"DAD probe for another address", icmpFrame(netip.IPv6Unspecified(), solicitedNode(other), 255, nsMsg(other)), false, netip.Addr{}, netip.Addr{}, [6]byte{}},
		{"guest's own address", icmpFrame(guestLL, solicitedNode(guestAddr), 255, nsMsg(guestAddr)), false, netip.Addr{}, netip.Addr{}, [6]byte{}},
		{"multicast target", icmpFrame(guestLL, solicitedNode(ourLL), 255, nsMsg(AllNodes)), false, netip.Addr{}, netip.Addr{}, [6]byte{}},
		{"hop limit 64", icmpFrame(guestLL, solicitedNode(ourLL), 64, nsMsg(ourLL)), false, netip.Addr{}, netip.Addr{}, [6]byte{}},
		{"option length 0", icmpFrame(guestLL, solicitedNode(ourLL), 255, nsMsg(ourLL, OptSourceLLA, 0, 1, 2, 3, 4, 5, 6)), false, netip.Addr{}, netip.Addr{}, [6]byte{}},
		{"unknown option length 0", icmpFrame(guestLL, solicitedNode(ourLL), 255, nsMsg(ourLL, 200, 0, 1, 2, 3, 4, 5, 6)), false, netip.Addr{}, netip.Addr{}, [6]byte{}},
		{"truncated option", icmpFrame(guestLL, solicitedNode(ourLL), 255, nsMsg(ourLL, sllaGuest[:7]...)), false, netip.Addr{}, netip.Addr{}, [6]byte{}},
		{"option past end", icmpFrame(guestLL, solicitedNode(ourLL), 255, nsMsg(ourLL, OptSourceLLA, 2, 1, 2, 3, 4, 5, 6)), false, netip.Addr{}, netip.Addr{}, [6]byte{}},
		{"long link-layer option", icmpFrame(guestLL, solicitedNode(ourLL), 255, nsMsg(ourLL, OptSourceLLA, 2, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0)), false, netip.Addr{}, netip.Addr{}, [6]byte{}},
		{"short message", icmpFrame(guestLL, solicitedNode(ourLL), 255, nsMsg(ourLL)[:20]), false, netip.Addr{}, netip.Addr{}, [6]byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]byte(nil), tt.frame...)
			got := Handle(c, in)
			if !bytes.Equal(in, tt.frame) {
				t.Error("input modified")
			}
			if !tt.answered {
				if got != nil {
					t.Fatalf("got a reply, want none: % x", got)
				}
				return
			}
			if got == nil {
				t.Fatal("no reply")
			}
			checkNA(t, got, guestMAC, tt.dst, tt.target, tt.mac, rso)
		})
	}
}

// TestCorrupted checks that damage the validation must catch is caught:
// each case starts from a frame that is answered.
func TestCorrupted(t *testing.T) {
	c := testConfig()
	ns := icmpFrame(guestLL, solicitedNode(ourLL), 255, nsMsg(ourLL, sllaGuest...))
	rs := icmpFrame(guestLL, AllNodes, 255, rsMsg(sllaGuest...))
	for _, base := range [][]byte{ns, rs} {
		if Handle(c, base) == nil {
			t.Fatal("base frame not answered")
		}
		for _, tt := range []struct {
			name string
			mut  func(f []byte) []byte
		}{
			{"checksum", func(f []byte) []byte { f[56] ^= 1; return f }},
			{"payload bit", func(f []byte) []byte { f[len(f)-1] ^= 0x80; return f }},
			{"code", func(f []byte) []byte {
				f[55] = 1
				pkt.ICMP(f[54:]).SetChecksum(0)
				pkt.FinishICMPv6(pkt.ICMP(f[54:]), guestLL, pkt.IPv6(f[14:]).Dst())
				return f
			}},
			{"next header", func(f []byte) []byte { f[20] = pkt.ProtoUDP; return f }},
			{"EtherType", func(f []byte) []byte { f[12], f[13] = 0x08, 0x00; return f }},
			{"truncated IPv6", func(f []byte) []byte { return f[:50] }},
			{"truncated payload", func(f []byte) []byte { return f[:len(f)-4] }},
			{"truncated ICMPv6", func(f []byte) []byte { binary.BigEndian.PutUint16(f[18:], 4); return f[:58] }},
			{"echo request", func(f []byte) []byte {
				f[54] = pkt.ICMPv6EchoRequest
				pkt.ICMP(f[54:]).SetChecksum(0)
				pkt.FinishICMPv6(pkt.ICMP(f[54:]), guestLL, pkt.IPv6(f[14:]).Dst())
				return f
			}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				f := tt.mut(append([]byte(nil), base...))
				if got := Handle(c, f); got != nil {
					t.Errorf("got reply % x", got)
				}
			})
		}
	}
}

func TestPaddedFrame(t *testing.T) {
	// Link-layer padding after the IPv6 packet is not part of the message.
	f := icmpFrame(guestLL, solicitedNode(ourLL), 255, nsMsg(ourLL))
	f = append(f, 0, 0, 0, 0, 0, 0, 0, 0)
	checkNA(t, Handle(testConfig(), f), guestMAC, guestLL, ourLL, ourMAC, rso)
}

type ra struct {
	parsed
	hopLimit   uint8
	flags      uint8
	lifetime   uint16
	reach, ret uint32
}

func parseRA(t *testing.T, f []byte) ra {
	t.Helper()
	p := parse(t, f)
	if p.msg[0] != pkt.ICMPv6RouterAdvert || len(p.msg) < 16 {
		t.Fatalf("not an RA: % x", p.msg)
	}
	if len(f)-14 > MaxRALen {
		t.Errorf("RA of %d bytes", len(f)-14)
	}
	p.parseOptions(t, 16)
	return ra{
		parsed: p, hopLimit: p.msg[4], flags: p.msg[5],
		lifetime: binary.BigEndian.Uint16(p.msg[6:]),
		reach:    binary.BigEndian.Uint32(p.msg[8:]), ret: binary.BigEndian.Uint32(p.msg[12:]),
	}
}

func decodeNames(t *testing.T, b []byte) []string {
	t.Helper()
	var names []string
	for len(b) > 0 && b[0] != 0 {
		var labels []string
		for {
			if len(b) == 0 {
				t.Fatal("name runs past the option")
			}
			l := int(b[0])
			b = b[1:]
			if l == 0 {
				break
			}
			if l > 63 || l > len(b) {
				t.Fatalf("bad label length %d", l)
			}
			labels = append(labels, string(b[:l]))
			b = b[l:]
		}
		names = append(names, strings.Join(labels, "."))
	}
	if !bytes.Equal(b, make([]byte, len(b))) {
		t.Errorf("padding not zero: % x", b)
	}
	return names
}

func checkRA(t *testing.T, f []byte, c *Config, dstMAC [6]byte, dst netip.Addr) ra {
	t.Helper()
	r := parseRA(t, f)
	if r.eth.Dst() != dstMAC || r.dst != dst {
		t.Errorf("RA to %v / %v, want %v / %v", r.eth.Dst(), r.dst, dstMAC, dst)
	}
	wantFlags := uint8(0)
	if c.ManagedFlag {
		wantFlags = 0x80
	}
	if r.hopLimit != 255 || r.flags != wantFlags || r.lifetime != 65535 || r.reach != 0 || r.ret != 0 {
		t.Errorf("RA header hop %d flags %#x lifetime %d reachable %d retrans %d", r.hopLimit, r.flags, r.lifetime, r.reach, r.ret)
	}
	if s := r.opts[OptSourceLLA]; len(s) != 1 || len(s[0]) != 6 || [6]byte(s[0]) != ourMAC {
		t.Errorf("source link-layer options %x", s)
	}
	return r
}

func TestRouterSolicitation(t *testing.T) {
	c := testConfig()
	for _, tt := range []struct {
		name   string
		frame  []byte
		dstMAC [6]byte
		dst    netip.Addr
	}{
		{"from link-local", icmpFrame(guestLL, netip.MustParseAddr("ff02::2"), 255, rsMsg(sllaGuest...)), guestMAC, guestLL},
		{"without option", icmpFrame(guestLL, netip.MustParseAddr("ff02::2"), 255, rsMsg()), guestMAC, guestLL},
		{"from unspecified", icmpFrame(netip.IPv6Unspecified(), netip.MustParseAddr("ff02::2"), 255, rsMsg()), [6]byte{0x33, 0x33, 0, 0, 0, 1}, AllNodes},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := checkRA(t, Handle(c, tt.frame), c, tt.dstMAC, tt.dst)

			pi := r.opts[OptPrefixInfo]
			if len(pi) != 1 || len(pi[0]) != 30 {
				t.Fatalf("prefix options %x", pi)
			}
			o := pi[0]
			if o[0] != 64 || o[1] != 0xc0 || binary.BigEndian.Uint32(o[2:]) != 0xffffffff ||
				binary.BigEndian.Uint32(o[6:]) != 0xffffffff || binary.BigEndian.Uint32(o[10:]) != 0 {
				t.Errorf("prefix option % x", o)
			}
			if got, want := netip.AddrFrom16([16]byte(o[14:30])), netip.MustParseAddr("2001:db8:1:2::"); got != want {
				t.Errorf("prefix %v, want %v", got, want)
			}

			if m := r.opts[OptMTU]; len(m) != 1 || len(m[0]) != 6 || binary.BigEndian.Uint16(m[0]) != 0 ||
				binary.BigEndian.Uint32(m[0][2:]) != 65520 {
				t.Errorf("MTU options % x", m)
			}

			rd := r.opts[OptRDNSS]
			if len(rd) != 1 || len(rd[0]) != 6+32 || binary.BigEndian.Uint32(rd[0][2:]) != 0xffffffff {
				t.Fatalf("RDNSS options % x", rd)
			}
			if a, b := netip.AddrFrom16([16]byte(rd[0][6:22])), netip.AddrFrom16([16]byte(rd[0][22:38])); a != dns1 || b != dns2 {
				t.Errorf("RDNSS %v %v", a, b)
			}

			ds := r.opts[OptDNSSL]
			if len(ds) != 1 || binary.BigEndian.Uint32(ds[0][2:]) != 0xffffffff {
				t.Fatalf("DNSSL options % x", ds)
			}
			if names, want := decodeNames(t, ds[0][6:]), []string{"example.com", "a.b.example.org", "x"}; !slices.Equal(names, want) {
				t.Errorf("DNSSL names %q, want %q", names, want)
			}
			if len(r.opts) != 5 {
				t.Errorf("%d option types, want 5", len(r.opts))
			}
		})
	}
	for _, tt := range []struct {
		name  string
		frame []byte
	}{
		{"option from unspecified", icmpFrame(netip.IPv6Unspecified(), netip.MustParseAddr("ff02::2"), 255, rsMsg(sllaGuest...))},
		{"hop limit 1", icmpFrame(guestLL, netip.MustParseAddr("ff02::2"), 1, rsMsg())},
		{"option length 0", icmpFrame(guestLL, netip.MustParseAddr("ff02::2"), 255, rsMsg(OptSourceLLA, 0, 0, 0, 0, 0, 0, 0))},
		{"truncated option", icmpFrame(guestLL, netip.MustParseAddr("ff02::2"), 255, rsMsg(OptSourceLLA))},
		{"short link-layer option", icmpFrame(guestLL, netip.MustParseAddr("ff02::2"), 255, rsMsg(OptSourceLLA, 1, 0, 0, 0, 0, 0))},
		{"router advertisement", icmpFrame(guestLL, AllNodes, 255, append([]byte{pkt.ICMPv6RouterAdvert}, make([]byte, 15)...))},
		{"neighbor advertisement", icmpFrame(guestLL, ourLL, 255, append([]byte{pkt.ICMPv6NeighAdvert}, make([]byte, 23)...))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Handle(c, tt.frame); got != nil {
				t.Errorf("got reply % x", got)
			}
		})
	}
}

func TestNoRA(t *testing.T) {
	c := testConfig()
	c.NoRA = true
	if Handle(c, icmpFrame(guestLL, netip.MustParseAddr("ff02::2"), 255, rsMsg())) != nil {
		t.Error("RA sent with NoRA")
	}
	if RouterAdvertisement(c) != nil {
		t.Error("unsolicited RA built with NoRA")
	}
	if Handle(c, icmpFrame(guestLL, solicitedNode(ourLL), 255, nsMsg(ourLL))) == nil {
		t.Error("NS not answered with NoRA")
	}
}

func TestMinimalRA(t *testing.T) {
	// Local mode: no global address, no MTU, no DNS, M flag clear.
	c := &Config{OurMAC: ourMAC, OurLinkLocal: ourLL}
	r := checkRA(t, RouterAdvertisement(c), c, [6]byte{0x33, 0x33, 0, 0, 0, 1}, AllNodes)
	if len(r.opts) != 1 || len(r.msg) != 16+8 {
		t.Errorf("options %v, want only the source link-layer address", r.opts)
	}
	// Link-local guest address: no prefix either. Only invalid names: no
	// DNSSL. IPv4 servers: no RDNSS.
	c.GuestAddr = guestLL
	c.Search = []string{"", ".", "a..b", strings.Repeat("x", 64) + ".com"}
	c.DNS = []netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.IPv6Unspecified()}
	if r := checkRA(t, RouterAdvertisement(c), c, [6]byte{0x33, 0x33, 0, 0, 0, 1}, AllNodes); len(r.opts) != 1 {
		t.Errorf("options %v, want only the source link-layer address", r.opts)
	}
}

func TestDNSSLPadding(t *testing.T) {
	// Names of every length modulo 8: the option always covers its
	// padding, and the options walk ends exactly at the end of the
	// message (parseOptions fails otherwise).
	for n := 1; n <= 16; n++ {
		c := testConfig()
		c.Search = []string{strings.Repeat("a", n)}
		r := checkRA(t, RouterAdvertisement(c), c, [6]byte{0x33, 0x33, 0, 0, 0, 1}, AllNodes)
		ds := r.opts[OptDNSSL]
		if len(ds) != 1 {
			t.Fatalf("len %d: no DNSSL", n)
		}
		if names := decodeNames(t, ds[0][6:]); len(names) != 1 || names[0] != c.Search[0] {
			t.Errorf("len %d: names %q", n, names)
		}
		if want := 8 + (n+2+7)/8*8; len(ds[0])+2 != want {
			t.Errorf("len %d: option of %d bytes, want %d", n, len(ds[0])+2, want)
		}
	}
}

func TestRASizeLimit(t *testing.T) {
	c := testConfig()
	c.DNS = nil
	for i := range 100 {
		c.DNS = append(c.DNS, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}))
	}
	for i := range 100 {
		c.Search = append(c.Search, strings.Repeat("d", 40)+"."+string(rune('a'+i%26))+".example")
	}
	r := checkRA(t, RouterAdvertisement(c), c, [6]byte{0x33, 0x33, 0, 0, 0, 1}, AllNodes)
	if n := (len(r.opts[OptRDNSS][0]) - 6) / 16; n < 10 || n > 100 {
		t.Errorf("%d DNS servers", n)
	}
}

func TestNoLinkLocal(t *testing.T) {
	c := testConfig()
	c.OurLinkLocal = netip.Addr{}
	if Handle(c, icmpFrame(guestLL, solicitedNode(ourLL), 255, nsMsg(ourLL))) != nil ||
		RouterAdvertisement(c) != nil || NeighborSolicitation(c) != nil {
		t.Error("frame built without a source address")
	}
}

func TestNeighborSolicitationInit(t *testing.T) {
	c := testConfig()
	f := NeighborSolicitation(c)
	p := parse(t, f)
	sn := solicitedNode(guestAddr)
	if p.dst != sn || p.eth.Dst() != [6]byte{0x33, 0x33, 0xff, 0x05, 0x00, 0x06} {
		t.Errorf("NS to %v / %v", p.eth.Dst(), p.dst)
	}
	if p.msg[0] != pkt.ICMPv6NeighSolicit || binary.BigEndian.Uint32(p.msg[4:]) != 0 ||
		netip.AddrFrom16([16]byte(p.msg[8:24])) != guestAddr {
		t.Errorf("NS % x", p.msg)
	}
	p.parseOptions(t, 24)
	if s := p.opts[OptSourceLLA]; len(s) != 1 || [6]byte(s[0]) != ourMAC {
		t.Errorf("options %v", p.opts)
	}
	if NeighborSolicitation(&Config{OurMAC: ourMAC, OurLinkLocal: ourLL}) != nil {
		t.Error("NS without a guest address")
	}
}

func TestUnsolicitedNA(t *testing.T) {
	checkNA(t, UnsolicitedNA(testConfig(), proxied, proxyMAC), [6]byte{0x33, 0x33, 0, 0, 0, 1}, AllNodes, proxied, proxyMAC, 0xa0000000)
	if UnsolicitedNA(testConfig(), netip.MustParseAddr("192.0.2.1"), proxyMAC) != nil {
		t.Error("NA for an IPv4 address")
	}
}

func TestRAInterval(t *testing.T) {
	lo, hi := time.Hour, time.Duration(0)
	for range 2000 {
		d := RAInterval()
		if d < 200*time.Second || d >= 600*time.Second || d%time.Second != 0 {
			t.Fatalf("interval %v", d)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	if hi-lo < 300*time.Second {
		t.Errorf("intervals between %v and %v: not spread", lo, hi)
	}
}

func TestIsNDP(t *testing.T) {
	for typ := range 256 {
		if got, want := IsNDP(uint8(typ)), typ >= 133 && typ <= 136; got != want {
			t.Errorf("IsNDP(%d) = %v", typ, got)
		}
	}
}

func FuzzNDPHandle(f *testing.F) {
	f.Add(icmpFrame(guestLL, solicitedNode(ourLL), 255, nsMsg(ourLL, sllaGuest...)))
	f.Add(icmpFrame(guestLL, netip.MustParseAddr("ff02::2"), 255, rsMsg(sllaGuest...)))
	f.Add(icmpFrame(netip.IPv6Unspecified(), solicitedNode(guestAddr), 255, nsMsg(guestAddr)))
	c := testConfig()
	f.Fuzz(func(t *testing.T, frame []byte) {
		in := append([]byte(nil), frame...)
		got := Handle(c, in)
		if !bytes.Equal(in, frame) {
			t.Fatal("input modified")
		}
		if got == nil {
			return
		}
		p := parse(t, got)
		var d pkt.Decoded
		if err := pkt.Decode(got, &d); err != nil || d.L4Len != len(p.msg) {
			t.Fatalf("reply does not decode: %v", err)
		}
		switch p.msg[0] {
		case pkt.ICMPv6NeighAdvert:
			p.parseOptions(t, 24)
			target := netip.AddrFrom16([16]byte(p.msg[8:24]))
			if target == guestAddr || target.IsMulticast() || p.dst.IsUnspecified() {
				t.Fatalf("answered NS for %v from %v", target, p.dst)
			}
		case pkt.ICMPv6RouterAdvert:
			p.parseOptions(t, 16)
		default:
			t.Fatalf("reply of type %d", p.msg[0])
		}
	})
}
