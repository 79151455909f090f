// SPDX-License-Identifier: GPL-2.0-or-later

package dhcp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"passt/pkt"
)

// handle runs Handle and parses the reply, failing the test if there is
// none or it is malformed.
func handle(t *testing.T, c *Config, frame []byte) *reply {
	t.Helper()
	out := Handle(c, frame)
	if out == nil {
		t.Fatal("no reply")
	}
	r, err := parseReply(out)
	if err != nil {
		t.Fatalf("malformed reply: %v", err)
	}
	return r
}

func bytesOf(addrs ...string) []byte {
	var b []byte
	for _, a := range addrs {
		b = append(b, netip.MustParseAddr(a).AsSlice()...)
	}
	return b
}

func TestDiscoverOffer(t *testing.T) {
	c := testConfig()
	r := handle(t, c, wrap(buildMsg(msgSpec{typ: 1, xid: 0xdeadbeef})))

	// Addressing: broadcast flag clear, so unicast to the client.
	if r.ethDst != clientMAC || r.ethSrc != ourMAC {
		t.Errorf("Ethernet %x -> %x, want %x -> %x", r.ethSrc, r.ethDst, ourMAC, clientMAC)
	}
	if r.src != c.ServerAddr || r.dst != c.GuestAddr {
		t.Errorf("IPv4 %v -> %v, want %v -> %v", r.src, r.dst, c.ServerAddr, c.GuestAddr)
	}
	if r.sport != 67 || r.dport != 68 {
		t.Errorf("ports %d -> %d", r.sport, r.dport)
	}
	if r.ttl != 255 || r.ipFlags != pkt.IPv4FlagDF || r.ipID != 0 {
		t.Errorf("TTL %d flags %#x ID %d, want 255, DF, 0", r.ttl, r.ipFlags, r.ipID)
	}

	// BOOTP header.
	m := r.msg
	if m[1] != 1 || m[2] != 6 || m[3] != 0 {
		t.Errorf("htype %d hlen %d hops %d", m[1], m[2], m[3])
	}
	if xid := binary.BigEndian.Uint32(m[4:]); xid != 0xdeadbeef {
		t.Errorf("xid %#x", xid)
	}
	if r.yiaddr() != c.GuestAddr {
		t.Errorf("yiaddr %v", r.yiaddr())
	}
	if !bytes.Equal(m[28:34], clientMAC[:]) || !bytes.Equal(m[34:44], make([]byte, 10)) {
		t.Errorf("chaddr %x", m[28:44])
	}
	if !bytes.Equal(m[8:10], []byte{0, 0}) || !bytes.Equal(m[20:24], make([]byte, 4)) {
		t.Errorf("secs %x siaddr %x not zero", m[8:10], m[20:24])
	}
	if !bytes.Equal(m[44:236], make([]byte, 192)) {
		t.Error("sname/file not zero")
	}

	// Every option's value.
	fqdn := append([]byte{0x04, 0xff, 0xff}, "\x05guest\x07example\x03com\x00"...)
	search := []byte("\x07example\x03com\x00\x03sub\xc0\x00\x07example\x03org\x00")
	want := map[byte][]byte{
		1:   {255, 255, 255, 0},
		3:   bytesOf("10.0.2.2"),
		6:   bytesOf("10.0.2.3", "192.0.2.53"),
		12:  []byte("guest"),
		26:  {0xff, 0xf0},
		51:  {0xff, 0xff, 0xff, 0xff},
		53:  {2},
		54:  bytesOf("10.0.2.2"),
		81:  fqdn,
		119: search,
	}
	for code, v := range want {
		if got, ok := r.opts[code]; !ok {
			t.Errorf("option %d missing", code)
		} else if !bytes.Equal(got, v) {
			t.Errorf("option %d = %x, want %x", code, got, v)
		}
	}
	for code := range r.opts {
		if _, ok := want[code]; !ok {
			t.Errorf("unexpected option %d = %x", code, r.opts[code])
		}
	}
	names, err := decodeNames(r.opts[119])
	if err != nil || !slices.Equal(names, c.Search) {
		t.Errorf("search list decodes to %q (%v), want %q", names, err, c.Search)
	}
	// No parameter request list: 53 first, then ascending.
	if wantOrder := []byte{53, 1, 3, 6, 12, 26, 51, 54, 81, 119}; !bytes.Equal(r.order, wantOrder) {
		t.Errorf("option order %v, want %v", r.order, wantOrder)
	}
}

func TestBroadcastFlag(t *testing.T) {
	c := testConfig()
	for _, typ := range []int{1, 3} {
		r := handle(t, c, wrap(buildMsg(msgSpec{typ: typ, flags: 0x8000})))
		if r.ethDst != pkt.Broadcast || r.dst != bcastAddr {
			t.Errorf("type %d: broadcast flag set, reply to %x %v", typ, r.ethDst, r.dst)
		}
		if r.src != c.ServerAddr || r.ethSrc != ourMAC {
			t.Errorf("type %d: reply from %x %v", typ, r.ethSrc, r.src)
		}
		if f := binary.BigEndian.Uint16(r.msg[10:]); f != 0x8000 {
			t.Errorf("flags %#x not echoed", f)
		}
		r = handle(t, c, wrap(buildMsg(msgSpec{typ: typ, flags: 0})))
		if r.ethDst != clientMAC || r.dst != c.GuestAddr {
			t.Errorf("type %d: broadcast flag clear, reply to %x %v", typ, r.ethDst, r.dst)
		}
	}
}

func TestRequest(t *testing.T) {
	c := testConfig()
	guest := c.GuestAddr.As4()
	other := [4]byte{10, 0, 2, 99}
	for _, tc := range []struct {
		name   string
		spec   msgSpec
		want   int
		ciaddr netip.Addr
	}{
		{"selecting", msgSpec{typ: 3, extra: [][]byte{opt(50, guest[:]...), opt(54, 10, 0, 2, 2)}}, 5, zeroAddr},
		{"init-reboot", msgSpec{typ: 3, extra: [][]byte{opt(50, guest[:]...)}}, 5, zeroAddr},
		{"renewing", msgSpec{typ: 3, ciaddr: guest}, 5, c.GuestAddr},
		{"no address at all", msgSpec{typ: 3}, 5, zeroAddr},
		{"stale requested address", msgSpec{typ: 3, extra: [][]byte{opt(50, other[:]...)}}, 6, zeroAddr},
		{"stale ciaddr", msgSpec{typ: 3, ciaddr: other}, 6, zeroAddr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := handle(t, c, wrap(buildMsg(tc.spec)))
			if r.msgType() != tc.want {
				t.Fatalf("message type %d, want %d", r.msgType(), tc.want)
			}
			if r.ciaddr() != tc.ciaddr {
				t.Errorf("ciaddr %v, want %v", r.ciaddr(), tc.ciaddr)
			}
			if tc.want == 6 {
				if r.ethDst != pkt.Broadcast || r.dst != bcastAddr {
					t.Errorf("NAK to %x %v, want broadcast", r.ethDst, r.dst)
				}
				if r.yiaddr() != zeroAddr {
					t.Errorf("NAK with yiaddr %v", r.yiaddr())
				}
				if !bytes.Equal(r.order, []byte{53, 54}) || !bytes.Equal(r.opts[54], bytesOf("10.0.2.2")) {
					t.Errorf("NAK options %v %x", r.order, r.opts)
				}
				return
			}
			if r.yiaddr() != c.GuestAddr || !bytes.Equal(r.opts[51], []byte{255, 255, 255, 255}) {
				t.Errorf("yiaddr %v lease %x", r.yiaddr(), r.opts[51])
			}
		})
	}
}

func TestRapidCommit(t *testing.T) {
	c := testConfig()
	r := handle(t, c, wrap(buildMsg(msgSpec{typ: 1, extra: [][]byte{opt(80)}})))
	if r.msgType() != 5 {
		t.Errorf("message type %d, want ACK", r.msgType())
	}
	if v, ok := r.opts[80]; !ok || len(v) != 0 {
		t.Errorf("option 80 = %x, %v; want empty", v, ok)
	}
	// Rapid Commit in a REQUEST means nothing: a plain ACK.
	r = handle(t, c, wrap(buildMsg(msgSpec{typ: 3, extra: [][]byte{opt(80)}})))
	if _, ok := r.opts[80]; ok || r.msgType() != 5 {
		t.Errorf("REQUEST with option 80: type %d, option 80 echoed %v", r.msgType(), ok)
	}
}

func TestBOOTP(t *testing.T) {
	c := testConfig()
	r := handle(t, c, wrap(buildMsg(msgSpec{})))
	if r.msgType() != 5 || r.yiaddr() != c.GuestAddr {
		t.Errorf("BOOTP: type %d yiaddr %v", r.msgType(), r.yiaddr())
	}
}

func TestIgnoredTypes(t *testing.T) {
	c := testConfig()
	for _, typ := range []int{2, 4, 5, 6, 7, 8, 9, 42} {
		if out := Handle(c, wrap(buildMsg(msgSpec{typ: typ}))); out != nil {
			t.Errorf("message type %d answered", typ)
		}
	}
}

func TestStaticRoutes(t *testing.T) {
	for _, tc := range []struct {
		router string
		plen   int
		want   bool
	}{
		{"10.0.2.2", 24, false},
		{"10.0.2.254", 24, false},
		{"10.0.3.1", 24, true},
		{"192.0.2.1", 24, true},
		{"10.0.3.1", 16, false},
		{"10.0.2.2", 32, true},
		{"10.0.2.2", 0, false},
	} {
		c := testConfig()
		c.Router, c.PrefixLen = netip.MustParseAddr(tc.router), tc.plen
		r := handle(t, c, wrap(buildMsg(msgSpec{typ: 1})))
		got, ok := r.opts[121]
		if ok != tc.want {
			t.Errorf("router %s, /%d: option 121 present %v, want %v", tc.router, tc.plen, ok, tc.want)
			continue
		}
		if !bytes.Equal(r.opts[3], bytesOf(tc.router)) {
			t.Errorf("router %s: option 3 = %x", tc.router, r.opts[3])
		}
		var mask [4]byte
		binary.BigEndian.PutUint32(mask[:], uint32(uint64(0xffffffff)<<(32-tc.plen)))
		if !bytes.Equal(r.opts[1], mask[:]) {
			t.Errorf("/%d: mask %x", tc.plen, r.opts[1])
		}
		if !ok {
			continue
		}
		gw := bytesOf(tc.router)
		// router/32 via 0.0.0.0 (on-link), then 0.0.0.0/0 via router.
		want := append(append(append([]byte{32}, gw...), 0, 0, 0, 0, 0), gw...)
		if !bytes.Equal(got, want) {
			t.Errorf("router %s: option 121 = %x, want %x", tc.router, got, want)
		}
		if r.order[len(r.order)-1] != 121 {
			t.Errorf("order %v", r.order)
		}
	}
}

func TestOptionalOptionsOmitted(t *testing.T) {
	c := &Config{
		OurMAC:     ourMAC,
		ServerAddr: netip.MustParseAddr("169.254.2.2"),
		GuestAddr:  netip.MustParseAddr("169.254.2.1"),
		PrefixLen:  16,
		DNS:        []netip.Addr{netip.MustParseAddr("2001:db8::1"), netip.IPv4Unspecified()},
		Search:     []string{"", "bad..name", strings.Repeat("x", 64) + ".com"},
		FQDN:       "a..b",
	}
	r := handle(t, c, wrap(buildMsg(msgSpec{typ: 1})))
	if want := []byte{53, 1, 51, 54}; !bytes.Equal(r.order, want) {
		t.Errorf("options %v, want %v", r.order, want)
	}
	if !bytes.Equal(r.opts[1], []byte{255, 255, 0, 0}) {
		t.Errorf("mask %x", r.opts[1])
	}
}

func TestParameterRequestOrder(t *testing.T) {
	c := testConfig()
	c.Router = netip.MustParseAddr("192.0.2.1")
	for _, tc := range []struct {
		params []byte
		want   []byte
	}{
		{[]byte{1, 3, 6}, []byte{53, 1, 3, 6, 12, 26, 51, 54, 81, 119, 121}},
		{[]byte{121, 119, 3, 53, 1}, []byte{121, 119, 3, 53, 1, 6, 12, 26, 51, 54, 81}},
		// Unknown and repeated codes, pad and end in the list: ignored.
		{[]byte{0, 42, 6, 6, 255, 26}, []byte{53, 6, 26, 1, 3, 12, 51, 54, 81, 119, 121}},
		{[]byte{}, []byte{53, 1, 3, 6, 12, 26, 51, 54, 81, 119, 121}},
	} {
		r := handle(t, c, wrap(buildMsg(msgSpec{typ: 1, extra: [][]byte{opt(55, tc.params...)}})))
		if !bytes.Equal(r.order, tc.want) {
			t.Errorf("params %v: order %v, want %v", tc.params, r.order, tc.want)
		}
	}
}

func TestSearchList(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string // encoding
		dec  []string
	}{
		{[]string{"example.com"}, "\x07example\x03com\x00", nil},
		{[]string{"example.com."}, "\x07example\x03com\x00", []string{"example.com"}},
		{[]string{"a.example.com", "b.example.com", "example.com", "com"},
			"\x01a\x07example\x03com\x00\x01b\xc0\x02\xc0\x02\xc0\x0a", nil},
		// Suffixes match whole labels only.
		{[]string{"example.community", "example.com", "xample.com"},
			"\x07example\x09community\x00\x07example\x03com\x00\x06xample\xc0\x1b", nil},
		{[]string{"example.com", "example.com"}, "\x07example\x03com\x00\xc0\x00", nil},
	} {
		c := testConfig()
		c.Search = tc.in
		r := handle(t, c, wrap(buildMsg(msgSpec{typ: 1})))
		if got := string(r.opts[119]); got != tc.want {
			t.Errorf("%q: option 119 = %q, want %q", tc.in, got, tc.want)
		}
		dec := tc.dec
		if dec == nil {
			dec = tc.in
		}
		if names, err := decodeNames(r.opts[119]); err != nil || !slices.Equal(names, dec) {
			t.Errorf("%q: decodes to %q, %v", tc.in, names, err)
		}
	}
}

// TestSizeBudget fills the search list beyond what fits: the reply stays
// within 576 bytes, every other option is still there and the search list
// holds whole names only.
func TestSizeBudget(t *testing.T) {
	c := testConfig()
	c.Router = netip.MustParseAddr("192.0.2.1")
	c.Search = nil
	for i := range 40 {
		c.Search = append(c.Search, strings.Repeat(string(rune('a'+i%26)), 20)+".example"+strings.Repeat("x", i%3)+".net")
	}
	c.Hostname = strings.Repeat("h", 100)
	r := handle(t, c, wrap(buildMsg(msgSpec{typ: 1})))
	for _, code := range []byte{1, 3, 6, 12, 26, 51, 53, 54, 81, 119, 121} {
		if _, ok := r.opts[code]; !ok {
			t.Errorf("option %d missing", code)
		}
	}
	names, err := decodeNames(r.opts[119])
	if err != nil || len(names) == 0 || !slices.Equal(names, c.Search[:len(names)]) {
		t.Errorf("search list %q, %v", names, err)
	}
	if r.ipLen > 576 {
		t.Errorf("IPv4 length %d", r.ipLen)
	}
	t.Logf("%d of %d search domains fit, IPv4 length %d", len(names), len(c.Search), r.ipLen)

	// Without room for even one: no option 119 at all.
	c.Hostname = strings.Repeat("h", 255)
	c.FQDN = strings.Repeat("f", 63) + "." + strings.Repeat("g", 63) + "." + strings.Repeat("i", 63)
	r = handle(t, c, wrap(buildMsg(msgSpec{typ: 1})))
	if v, ok := r.opts[119]; ok {
		t.Errorf("option 119 = %q, want none", v)
	}
}

func TestOversizedConfigValues(t *testing.T) {
	c := testConfig()
	c.Hostname = strings.Repeat("h", 256)
	c.FQDN = strings.Repeat(strings.Repeat("f", 60)+".", 5) + "com" // > 255 in wire format
	c.MTU = 70000
	for range 70 {
		c.DNS = append(c.DNS, netip.MustParseAddr("10.0.2.3"))
	}
	r := handle(t, c, wrap(buildMsg(msgSpec{typ: 1})))
	for _, code := range []byte{12, 26, 81} {
		if v, ok := r.opts[code]; ok {
			t.Errorf("option %d = %x, want none", code, v)
		}
	}
	if n := len(r.opts[6]); n != 252 {
		t.Errorf("option 6 has %d bytes, want 252", n)
	}
}

func TestPaddingAndIPOptions(t *testing.T) {
	c := testConfig()
	f := wrap(buildMsg(msgSpec{typ: 1}))
	// Ethernet padding after the datagram is not part of it.
	handle(t, c, append(f, make([]byte, 32)...))

	// An IPv4 header with options (IHL 6): the UDP header moves.
	msg := buildMsg(msgSpec{typ: 1})
	g := make([]byte, 14+24+8+len(msg))
	n := pkt.BuildEthernet(g, pkt.Broadcast, clientMAC, pkt.EtherTypeIPv4)
	pkt.BuildIPv4(g[n:], zeroAddr, bcastAddr, pkt.ProtoUDP, 4+8+len(msg), 64, 1)
	ip := pkt.IPv4(g[n:])
	ip[0] = 0x46
	ip.SetTotalLen(uint16(24 + 8 + len(msg)))
	copy(ip[20:24], []byte{1, 1, 1, 0}) // NOPs, EOL
	ip.UpdateChecksum()
	pkt.BuildUDP(g[n+24:], 68, 67, len(msg))
	copy(g[n+32:], msg)
	pkt.FinishUDP(pkt.UDP(g[n+24:]), zeroAddr, bcastAddr)
	handle(t, c, g)
}

// TestMalformed feeds broken frames: none gets a reply, none panics.
func TestMalformed(t *testing.T) {
	c := testConfig()
	valid := buildMsg(msgSpec{typ: 1, extra: [][]byte{opt(55, 1, 3, 6)}})
	if Handle(c, wrap(valid)) == nil {
		t.Fatal("valid request not answered")
	}
	mod := func(f func(m []byte) []byte) []byte { return f(slices.Clone(valid)) }
	pads := func(n int) []byte { return make([]byte, n) }

	cases := map[string][]byte{
		"empty":             nil,
		"Ethernet only":     wrap(valid)[:14],
		"ARP":               func() []byte { f := wrap(valid); f[12], f[13] = 0x08, 0x06; return f }(),
		"not UDP":           func() []byte { f := wrap(valid); pkt.IPv4(f[14:]).SetProtocol(6); return f }(),
		"to port 68":        wrapAddr(valid, zeroAddr, bcastAddr, 67, 68),
		"to port 53":        wrapAddr(valid, zeroAddr, bcastAddr, 68, 53),
		"BOOTREPLY":         wrap(mod(func(m []byte) []byte { m[0] = 2; return m })),
		"op 0":              wrap(mod(func(m []byte) []byte { m[0] = 0; return m })),
		"hlen 17":           wrap(mod(func(m []byte) []byte { m[2] = 17; return m })),
		"hlen 255":          wrap(mod(func(m []byte) []byte { m[2] = 255; return m })),
		"bad magic":         wrap(mod(func(m []byte) []byte { m[239] ^= 1; return m })),
		"no magic":          wrap(valid[:236]),
		"header only":       wrap(valid[:240]),
		"short header":      wrap(valid[:100]),
		"no end option":     wrap(buildMsg(msgSpec{typ: 1, noEnd: true})),
		"pads, no end":      wrap(buildMsg(msgSpec{typ: 1, extra: [][]byte{pads(1000)}, noEnd: true})),
		"option overruns":   wrap(append(buildMsg(msgSpec{typ: 1, noEnd: true}), 55, 10, 1, 3)),
		"length byte cut":   wrap(append(buildMsg(msgSpec{typ: 1, noEnd: true}), 55)),
		"end inside option": wrap(append(buildMsg(msgSpec{typ: 1, noEnd: true}), 12, 4, 255)),
		"empty type":        wrap(buildMsg(msgSpec{extra: [][]byte{opt(53)}})),
		"long type":         wrap(buildMsg(msgSpec{extra: [][]byte{opt(53, 1, 1)}})),
		"type 0":            wrap(buildMsg(msgSpec{extra: [][]byte{opt(53, 0)}})),
		"short option 50":   wrap(buildMsg(msgSpec{typ: 3, extra: [][]byte{opt(50, 10, 0, 2)}})),
		"UDP length short": func() []byte {
			f := wrap(valid)
			u := pkt.UDP(f[34:])
			u.SetLength(u.Length() - 4)
			pkt.FinishUDP(u[:u.Length()], zeroAddr, bcastAddr)
			return f
		}(),
		"UDP length long": func() []byte {
			f := wrap(valid)
			pkt.UDP(f[34:]).SetLength(uint16(len(f) - 34 + 1))
			return f
		}(),
		"UDP length below header": func() []byte {
			f := wrap(valid)
			pkt.UDP(f[34:]).SetLength(7)
			return f
		}(),
		"IP total length long": func() []byte {
			f := wrap(valid)
			pkt.IPv4(f[14:]).SetTotalLen(uint16(len(f) - 14 + 1))
			return f
		}(),
		"IP fragment": func() []byte {
			f := wrap(valid)
			ip := pkt.IPv4(f[14:])
			ip.SetFlagsFragment(pkt.IPv4FlagMF)
			ip.UpdateChecksum()
			return f
		}(),
		"IPv6": func() []byte {
			f := make([]byte, 14+40+8+len(valid))
			n := pkt.BuildEthernet(f, pkt.Broadcast, clientMAC, pkt.EtherTypeIPv6)
			src, dst := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::1:2")
			n += pkt.BuildIPv6(f[n:], src, dst, pkt.ProtoUDP, 8+len(valid), 1, 0)
			pkt.BuildUDP(f[n:], 68, 67, len(valid))
			copy(f[n+8:], valid)
			return f
		}(),
	}
	// Option floods: thousands of options, each well-formed, but never an
	// end: linear work, then nil.
	var flood []byte
	for range 2000 {
		flood = append(flood, 12, 1, 'x')
	}
	cases["option flood"] = wrap(append(buildMsg(msgSpec{typ: 1, noEnd: true}), flood...))

	for name, f := range cases {
		if out := Handle(c, f); out != nil {
			t.Errorf("%s: answered", name)
		}
	}
	// The same flood with an end option is a valid, if odd, request.
	handle(t, c, wrap(append(append(buildMsg(msgSpec{typ: 1, noEnd: true}), flood...), 255)))

	// Every truncation of a valid frame.
	f := wrap(valid)
	for n := range len(f) {
		if Handle(c, f[:n]) != nil {
			t.Errorf("frame truncated to %d bytes answered", n)
		}
	}
}

func TestBadConfig(t *testing.T) {
	f := wrap(buildMsg(msgSpec{typ: 1}))
	for name, mod := range map[string]func(*Config){
		"no server address": func(c *Config) { c.ServerAddr = netip.Addr{} },
		"IPv6 guest":        func(c *Config) { c.GuestAddr = netip.MustParseAddr("2001:db8::1") },
		"prefix 33":         func(c *Config) { c.PrefixLen = 33 },
		"prefix -1":         func(c *Config) { c.PrefixLen = -1 },
	} {
		c := testConfig()
		mod(c)
		if Handle(c, f) != nil {
			t.Errorf("%s: answered", name)
		}
	}
}

// TestUnicastRequest checks a renewal sent to us by unicast from the leased
// address, as clients do in RENEWING state.
func TestUnicastRequest(t *testing.T) {
	c := testConfig()
	guest := c.GuestAddr.As4()
	r := handle(t, c, wrapAddr(buildMsg(msgSpec{typ: 3, ciaddr: guest}), c.GuestAddr, c.ServerAddr, 68, 67))
	if r.msgType() != 5 || r.dst != c.GuestAddr || r.ethDst != clientMAC {
		t.Errorf("type %d to %v %x", r.msgType(), r.dst, r.ethDst)
	}
}
