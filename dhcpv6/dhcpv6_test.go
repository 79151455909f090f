// SPDX-License-Identifier: GPL-2.0-or-later

package dhcpv6

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// mustReply runs Handle and parses the reply, failing the test on nil or a
// malformed frame.
func mustReply(t *testing.T, c *Config, f []byte) *reply {
	t.Helper()
	out := Handle(c, f)
	if out == nil {
		t.Fatal("Handle returned nil, want a reply")
	}
	r, err := parseReply(out)
	if err != nil {
		t.Fatalf("malformed reply: %v", err)
	}
	return r
}

// checkEnvelope checks addressing, transaction ID, and both identifiers.
func checkEnvelope(t *testing.T, c *Config, r *reply, typ uint8, xid uint32) {
	t.Helper()
	if r.typ != typ {
		t.Errorf("message type %d, want %d", r.typ, typ)
	}
	if r.xid != xid {
		t.Errorf("xid %#06x, want %#06x", r.xid, xid)
	}
	if r.srcMAC != ourMAC || r.dstMAC != guestMAC {
		t.Errorf("MACs %x -> %x, want %x -> %x", r.srcMAC, r.dstMAC, ourMAC, guestMAC)
	}
	if r.src != ourLL || r.dst != guestLL {
		t.Errorf("addresses %v -> %v, want %v -> %v", r.src, r.dst, ourLL, guestLL)
	}
	if r.hopLimit != 255 {
		t.Errorf("hop limit %d, want 255", r.hopLimit)
	}
	if r.flowLabel != xid&0xfffff {
		t.Errorf("flow label %#x, want the xid %#x", r.flowLabel, xid&0xfffff)
	}
	wantSID := []byte{0, 1, 0, 1, 0x01, 0x02, 0x03, 0x04, 0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55}
	if sid := r.all(OptServerID); len(sid) != 1 || !bytes.Equal(sid[0], wantSID) {
		t.Errorf("server IDs %x, want one %x (DUID-LLT, Ethernet, time, MAC)", sid, wantSID)
	}
	if cid := r.all(OptClientID); len(cid) != 1 || !bytes.Equal(cid[0], clientDUID) {
		t.Errorf("client IDs %x, want one %x", cid, clientDUID)
	}
	_ = c
}

// checkLease checks for exactly one IA_NA with iaid, infinite T1/T2 and one
// IA Address with GuestAddr and infinite lifetimes.
func checkLease(t *testing.T, r *reply, iaid uint32) {
	t.Helper()
	ias := r.all(OptIANA)
	if len(ias) != 1 {
		t.Fatalf("%d IA_NA options, want 1", len(ias))
	}
	b := ias[0]
	if got := binary.BigEndian.Uint32(b); got != iaid {
		t.Errorf("IAID %#x, want %#x", got, iaid)
	}
	if t1, t2 := binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:]); t1 != Infinity || t2 != Infinity {
		t.Errorf("T1/T2 %d/%d, want infinity", t1, t2)
	}
	subs, _ := splitOpts(b[12:])
	if len(subs) != 1 || subs[0].code != OptIAAddr || len(subs[0].body) != 24 {
		t.Fatalf("IA_NA sub-options %+v, want one 24-byte IA Address", subs)
	}
	a := subs[0].body
	if got := netip.AddrFrom16([16]byte(a[:16])); got != guestAddr {
		t.Errorf("address %v, want %v", got, guestAddr)
	}
	if p, v := binary.BigEndian.Uint32(a[16:]), binary.BigEndian.Uint32(a[20:]); p != Infinity || v != Infinity {
		t.Errorf("lifetimes %d/%d, want infinity", p, v)
	}
}

var (
	wantDNS    = append(dns1.AsSlice(), dns2.AsSlice()...)
	wantSearch = []byte("\x07example\x03com\x00\x03lab\x07example\x03org\x00")
	wantFQDN   = []byte("\x00\x05guest\x07example\x03com\x00")
)

// checkConfigOptions checks options 23, 24 and 39 against testConfig.
func checkConfigOptions(t *testing.T, r *reply, fqdnFlags uint8) {
	t.Helper()
	if b, _ := r.get(OptDNSServers); !bytes.Equal(b, wantDNS) {
		t.Errorf("DNS option %x, want %x", b, wantDNS)
	}
	if b, _ := r.get(OptDomainList); !bytes.Equal(b, wantSearch) {
		t.Errorf("domain list %q, want %q", b, wantSearch)
	}
	want := append([]byte{fqdnFlags}, wantFQDN[1:]...)
	if b, _ := r.get(OptClientFQDN); !bytes.Equal(b, want) {
		t.Errorf("FQDN option %q, want %q", b, want)
	}
}

func statusOf(t *testing.T, b []byte) uint16 {
	t.Helper()
	subs, err := splitOpts(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		if s.code == OptStatusCode {
			if len(s.body) < 2 {
				t.Fatal("short status code option")
			}
			return binary.BigEndian.Uint16(s.body)
		}
	}
	t.Fatalf("no status code in %x", b)
	return 0
}

func TestSolicitAdvertise(t *testing.T) {
	c := testConfig()
	f := clientFrame(MsgSolicit, 0xabcdef, optClientID(), optIANA(0x0e0f1011),
		opt{OptORO, []byte{0, 23, 0, 24}}, opt{OptClientFQDN, []byte{0}})
	r := mustReply(t, c, f)
	checkEnvelope(t, c, r, MsgAdvertise, 0xabcdef)
	checkLease(t, r, 0x0e0f1011)
	checkConfigOptions(t, r, 0)
	if _, ok := r.get(OptRapidCommit); ok {
		t.Error("ADVERTISE carries Rapid Commit")
	}
	// Option order as upstream: server ID, IA_NA, client ID, 23, 24, 39.
	var order []uint16
	for _, o := range r.opts {
		order = append(order, o.code)
	}
	want := []uint16{OptServerID, OptIANA, OptClientID, OptDNSServers, OptDomainList, OptClientFQDN}
	if !slices.Equal(order, want) {
		t.Errorf("option order %v, want %v", order, want)
	}
}

func TestSolicitRapidCommit(t *testing.T) {
	c := testConfig()
	r := mustReply(t, c, clientFrame(MsgSolicit, 0x123456, optClientID(), optIANA(7),
		opt{OptRapidCommit, nil}))
	checkEnvelope(t, c, r, MsgReply, 0x123456)
	checkLease(t, r, 7)
	checkConfigOptions(t, r, 0)
	if b, ok := r.get(OptRapidCommit); !ok || len(b) != 0 {
		t.Errorf("Rapid Commit option %x (present %v), want an empty one", b, ok)
	}
}

func TestRequestRenewRebind(t *testing.T) {
	c := testConfig()
	for _, tc := range []struct {
		name   string
		typ    uint8
		sid    bool
		reply  bool
		addrs  []netip.Addr
		fqdnIn []byte
		flags  uint8
	}{
		{"request", MsgRequest, true, true, []netip.Addr{guestAddr}, nil, 0},
		{"request without address hint", MsgRequest, true, true, nil, nil, 0},
		{"request with :: hint", MsgRequest, true, true, []netip.Addr{netip.IPv6Unspecified()}, nil, 0},
		{"request without server ID", MsgRequest, false, false, nil, nil, 0},
		{"request, FQDN S flag", MsgRequest, true, true, nil, []byte{FQDNFlagS, 0}, FQDNFlagO},
		{"request, FQDN N flag", MsgRequest, true, true, nil, []byte{0x04, 0}, 0},
		{"renew", MsgRenew, true, true, []netip.Addr{guestAddr}, nil, 0},
		{"renew without server ID", MsgRenew, false, false, nil, nil, 0},
		{"rebind", MsgRebind, false, true, []netip.Addr{guestAddr}, nil, 0},
		{"rebind with our server ID", MsgRebind, true, true, []netip.Addr{guestAddr}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []opt{optClientID(), optIANA(0xcafe, tc.addrs...)}
			if tc.sid {
				opts = append(opts, optServerID(c))
			}
			if tc.fqdnIn != nil {
				opts = append(opts, opt{OptClientFQDN, tc.fqdnIn})
			}
			f := clientFrame(tc.typ, 0x010203, opts...)
			if !tc.reply {
				if out := Handle(c, f); out != nil {
					t.Fatalf("got a reply, want none")
				}
				return
			}
			r := mustReply(t, c, f)
			checkEnvelope(t, c, r, MsgReply, 0x010203)
			checkLease(t, r, 0xcafe)
			checkConfigOptions(t, r, tc.flags)
		})
	}
}

func TestForeignServerID(t *testing.T) {
	c := testConfig()
	other := *c
	other.OurMAC[5] ^= 1
	for _, typ := range []uint8{MsgRequest, MsgRenew, MsgRebind, MsgInfoRequest, MsgRelease, MsgDecline, MsgSolicit, MsgConfirm} {
		f := clientFrame(typ, 1, optClientID(), optIANA(1, guestAddr), optServerID(&other))
		if out := Handle(c, f); out != nil {
			t.Errorf("type %d with another server's ID answered", typ)
		}
	}
	// SOLICIT and CONFIRM must not carry a server ID, even ours.
	for _, typ := range []uint8{MsgSolicit, MsgConfirm} {
		f := clientFrame(typ, 1, optClientID(), optIANA(1, guestAddr), optServerID(c))
		if out := Handle(c, f); out != nil {
			t.Errorf("type %d with a server ID answered", typ)
		}
	}
}

func TestNotOnLink(t *testing.T) {
	c := testConfig()
	wrong := netip.MustParseAddr("2001:db8:1::99")
	for _, typ := range []uint8{MsgRequest, MsgRenew, MsgRebind} {
		r := mustReply(t, c, clientFrame(typ, 0x55aa55, optClientID(), optServerID(c),
			optIANA(0x77, guestAddr, wrong)))
		checkEnvelope(t, c, r, MsgReply, 0x55aa55)
		ias := r.all(OptIANA)
		if len(ias) != 1 {
			t.Fatalf("type %d: %d IA_NA, want 1", typ, len(ias))
		}
		b := ias[0]
		if id, t1, t2 := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:]); id != 0x77 || t1 != 3600 || t2 != 5400 {
			t.Errorf("type %d: IA_NA %#x %d %d, want the client's 0x77 3600 5400", typ, id, t1, t2)
		}
		if s := statusOf(t, b[12:]); s != StatusNotOnLink {
			t.Errorf("type %d: IA status %d, want NotOnLink", typ, s)
		}
		subs, _ := splitOpts(b[12:])
		for _, s := range subs {
			if s.code == OptIAAddr {
				t.Errorf("type %d: NotOnLink IA carries an address", typ)
			}
		}
		if _, ok := r.get(OptDNSServers); ok {
			t.Errorf("type %d: NotOnLink reply carries DNS", typ)
		}
	}
	// A wrong address in an IA_TA: the IA_TA comes back with NotOnLink.
	r := mustReply(t, c, clientFrame(MsgRequest, 9, optClientID(), optServerID(c),
		optIANA(1), optIATA(0x88, wrong)))
	ta := r.all(OptIATA)
	if len(ta) != 1 || binary.BigEndian.Uint32(ta[0]) != 0x88 || statusOf(t, ta[0][4:]) != StatusNotOnLink {
		t.Errorf("IA_TA replies %x, want IAID 0x88 with NotOnLink", ta)
	}
}

func TestConfirm(t *testing.T) {
	c := testConfig()
	wrong := netip.MustParseAddr("2001:db8:1::99")
	for _, tc := range []struct {
		name   string
		ias    []opt
		status int // -1: no reply
	}{
		{"ours", []opt{optIANA(1, guestAddr)}, int(StatusSuccess)},
		{"not ours", []opt{optIANA(1, wrong)}, int(StatusNotOnLink)},
		{"one of two not ours", []opt{optIANA(1, guestAddr), optIANA(2, wrong)}, int(StatusNotOnLink)},
		{"IA_TA not ours", []opt{optIANA(1, guestAddr), optIATA(2, wrong)}, int(StatusNotOnLink)},
		{"no addresses", []opt{optIANA(1)}, -1},
		{"no IA", nil, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := clientFrame(MsgConfirm, 0xfedcba, append([]opt{optClientID()}, tc.ias...)...)
			if tc.status < 0 {
				if Handle(c, f) != nil {
					t.Fatal("got a reply, want none")
				}
				return
			}
			r := mustReply(t, c, f)
			checkEnvelope(t, c, r, MsgReply, 0xfedcba)
			var top []byte
			for _, o := range r.opts {
				top = append(top, encodeOpts(o)...)
			}
			if s := statusOf(t, top); int(s) != tc.status {
				t.Errorf("status %d, want %d", s, tc.status)
			}
			if len(r.all(OptIANA)) != 0 {
				t.Error("CONFIRM reply carries an IA_NA")
			}
		})
	}
}

func TestInformationRequest(t *testing.T) {
	c := testConfig()
	for _, sid := range []bool{false, true} {
		opts := []opt{optClientID(), opt{OptORO, []byte{0, 23, 0, 24}}}
		if sid {
			opts = append(opts, optServerID(c))
		}
		r := mustReply(t, c, clientFrame(MsgInfoRequest, 0x0a0b0c, opts...))
		checkEnvelope(t, c, r, MsgReply, 0x0a0b0c)
		if len(r.all(OptIANA)) != 0 || len(r.all(OptIATA)) != 0 {
			t.Error("INFORMATION-REQUEST reply carries an IA")
		}
		checkConfigOptions(t, r, 0)
	}
	// An IA in an INFORMATION-REQUEST is a protocol error (upstream drops it).
	if Handle(c, clientFrame(MsgInfoRequest, 1, optClientID(), optIANA(1))) != nil {
		t.Error("INFORMATION-REQUEST with IA_NA answered")
	}
}

func TestReleaseDecline(t *testing.T) {
	c := testConfig()
	for _, typ := range []uint8{MsgRelease, MsgDecline} {
		r := mustReply(t, c, clientFrame(typ, 0x42, optClientID(), optServerID(c), optIANA(1, guestAddr)))
		checkEnvelope(t, c, r, MsgReply, 0x42)
		var top []byte
		for _, o := range r.opts {
			top = append(top, encodeOpts(o)...)
		}
		if s := statusOf(t, top); s != StatusSuccess {
			t.Errorf("type %d: status %d, want Success", typ, s)
		}
		if Handle(c, clientFrame(typ, 0x42, optClientID(), optIANA(1, guestAddr))) != nil {
			t.Errorf("type %d without server ID answered", typ)
		}
	}
}

func TestMultipleIANA(t *testing.T) {
	c := testConfig()
	r := mustReply(t, c, clientFrame(MsgSolicit, 3, optClientID(), optIANA(1), optIANA(2)))
	ias := r.all(OptIANA)
	if len(ias) != 2 {
		t.Fatalf("%d IA_NA, want 2", len(ias))
	}
	if binary.BigEndian.Uint32(ias[1]) != 2 || statusOf(t, ias[1][12:]) != StatusNoAddrsAvail {
		t.Errorf("second IA_NA %x, want IAID 2 with NoAddrsAvail", ias[1])
	}
	// Without IA_NA: no IA in the reply.
	r = mustReply(t, c, clientFrame(MsgSolicit, 3, optClientID()))
	if len(r.all(OptIANA)) != 0 {
		t.Error("reply to a SOLICIT without IA_NA carries one")
	}
}

func TestOptionalOptionsOmitted(t *testing.T) {
	c := testConfig()
	c.DNS = []netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.IPv6Unspecified()}
	c.Search = []string{".", "", "bad..name", string(make([]byte, 64)) + ".com"}
	c.FQDN = ""
	r := mustReply(t, c, clientFrame(MsgSolicit, 3, optClientID(), optIANA(1)))
	for _, code := range []uint16{OptDNSServers, OptDomainList, OptClientFQDN} {
		if b, ok := r.get(code); ok {
			t.Errorf("option %d present (%x), want omitted", code, b)
		}
	}
}

func TestNoGuestAddress(t *testing.T) {
	c := testConfig()
	c.GuestAddr = netip.Addr{}
	r := mustReply(t, c, clientFrame(MsgSolicit, 3, optClientID(), optIANA(1)))
	ias := r.all(OptIANA)
	if len(ias) != 1 || statusOf(t, ias[0][12:]) != StatusNoAddrsAvail {
		t.Errorf("IA_NA %x, want NoAddrsAvail", ias)
	}
}

func TestDestinations(t *testing.T) {
	c := testConfig()
	m := message(MsgSolicit, 5, optClientID(), optIANA(1))
	if r := mustReply(t, c, udpFrame(guestLL, ourLL, ClientPort, ServerPort, m)); r.dst != guestLL {
		t.Errorf("reply to %v", r.dst)
	}
	global := netip.MustParseAddr("2001:db8::77")
	if r := mustReply(t, c, udpFrame(global, AllServers, ClientPort, ServerPort, m)); r.dst != global {
		t.Errorf("reply to %v, want the source %v", r.dst, global)
	}
	for name, f := range map[string][]byte{
		"other unicast dst":     udpFrame(guestLL, netip.MustParseAddr("fe80::2"), ClientPort, ServerPort, m),
		"all-nodes dst":         udpFrame(guestLL, netip.MustParseAddr("ff02::1"), ClientPort, ServerPort, m),
		"unspecified src":       udpFrame(netip.IPv6Unspecified(), AllServers, ClientPort, ServerPort, m),
		"multicast src":         udpFrame(netip.MustParseAddr("ff02::1"), AllServers, ClientPort, ServerPort, m),
		"server port as source": udpFrame(guestLL, AllServers, ServerPort, ServerPort, m),
		"client port as dest":   udpFrame(guestLL, AllServers, ClientPort, ClientPort, m),
	} {
		if Handle(c, f) != nil {
			t.Errorf("%s: answered", name)
		}
	}
	bad := *c
	bad.OurLinkLocal = netip.Addr{}
	if Handle(&bad, clientFrame(MsgSolicit, 1, optClientID())) != nil {
		t.Error("answered without our link-local address")
	}
}

func TestMalformed(t *testing.T) {
	c := testConfig()
	good := clientFrame(MsgRequest, 1, optClientID(), optServerID(c), optIANA(1, guestAddr))
	if Handle(c, good) == nil {
		t.Fatal("the well-formed baseline is not answered")
	}
	// Every truncation of a good frame.
	for n := 0; n < len(good); n++ {
		if Handle(c, good[:n]) != nil {
			t.Errorf("frame truncated to %d bytes answered", n)
		}
	}
	iaLong := optIANA(1, guestAddr)
	binary.BigEndian.PutUint16(iaLong.body[14:], 200) // IA Address length overruns IA_NA
	iaAddrShort := opt{OptIANA, append(binary.BigEndian.AppendUint32(make([]byte, 8), 1),
		encodeOpts(opt{OptIAAddr, make([]byte, 20)})...)}
	var flood []opt
	for range maxOptions {
		flood = append(flood, opt{OptORO, nil})
	}
	var subFlood []byte
	for range maxOptions + 1 {
		subFlood = append(subFlood, encodeOpts(opt{99, nil})...)
	}
	addrNested := optIANA(1, guestAddr)
	addrNested.body = append(addrNested.body[:12], encodeOpts(opt{OptIAAddr,
		append(append(guestAddr.AsSlice(), make([]byte, 8)...), 0, 13, 0, 9)})...) // nested option overruns

	cases := map[string][]byte{
		"missing client ID":     message(MsgSolicit, 1, optIANA(1)),
		"empty client ID":       message(MsgSolicit, 1, opt{OptClientID, nil}, optIANA(1)),
		"oversized client ID":   message(MsgSolicit, 1, opt{OptClientID, make([]byte, 129)}),
		"option overrun":        append(message(MsgSolicit, 1, optClientID()), 0, 3, 0, 40, 1, 2, 3),
		"overrun by one":        append(message(MsgSolicit, 1, optClientID()), 0, 99, 0, 2, 1),
		"IA overrun by one":     message(MsgSolicit, 1, optClientID(), opt{OptIANA, append(make([]byte, 12), 0, 99, 0, 2, 1)}),
		"trailing bytes":        append(message(MsgSolicit, 1, optClientID()), 0, 3, 0),
		"IA_NA overrun":         message(MsgRequest, 1, optClientID(), optServerID(c), iaLong),
		"IA_NA too short":       message(MsgSolicit, 1, optClientID(), opt{OptIANA, make([]byte, 11)}),
		"IA_TA too short":       message(MsgSolicit, 1, optClientID(), opt{OptIATA, make([]byte, 3)}),
		"IA Address short":      message(MsgRequest, 1, optClientID(), optServerID(c), iaAddrShort),
		"IA Address nested":     message(MsgRequest, 1, optClientID(), optServerID(c), addrNested),
		"option flood":          message(MsgSolicit, 1, append([]opt{optClientID()}, flood...)...),
		"IA option flood":       message(MsgSolicit, 1, optClientID(), opt{OptIANA, append(make([]byte, 12), subFlood...)}),
		"header only":           {MsgSolicit, 0, 0, 1},
		"short header":          {MsgSolicit, 0, 0},
		"empty":                 {},
		"advertise from client": message(MsgAdvertise, 1, optClientID(), optIANA(1)),
		"reply from client":     message(MsgReply, 1, optClientID(), optIANA(1)),
		"relay-forward":         message(12, 1, optClientID(), optIANA(1)),
		"unknown type":          message(200, 1, optClientID(), optIANA(1)),
	}
	for name, m := range cases {
		if Handle(c, udpFrame(guestLL, AllServers, ClientPort, ServerPort, m)) != nil {
			t.Errorf("%s: answered", name)
		}
	}

	// The flood limit is exact: maxOptions options in all are accepted.
	ok := message(MsgSolicit, 1, append([]opt{optClientID()}, flood[1:]...)...)
	if Handle(c, udpFrame(guestLL, AllServers, ClientPort, ServerPort, ok)) == nil {
		t.Error("message with exactly maxOptions options dropped")
	}

	// UDP length shorter than the IP payload.
	f := append([]byte(nil), good...)
	udp := f[14+40:]
	binary.BigEndian.PutUint16(udp[4:], binary.BigEndian.Uint16(udp[4:])-4)
	if Handle(c, f) != nil {
		t.Error("UDP length shorter than the IP payload: answered")
	}
	// IPv4 and non-UDP frames.
	f = append([]byte(nil), good...)
	f[14+6] = 58 // next header ICMPv6
	if Handle(c, f) != nil {
		t.Error("ICMPv6 frame answered")
	}
	f = append([]byte(nil), good...)
	f[12], f[13] = 0x08, 0x00
	if Handle(c, f) != nil {
		t.Error("frame with IPv4 EtherType answered")
	}
	if Handle(nil, good) != nil {
		t.Error("answered with a nil config")
	}
}

// TestHopByHop: extension headers before UDP are walked (pkt.Decode).
func TestHopByHop(t *testing.T) {
	c := testConfig()
	m := message(MsgSolicit, 5, optClientID(), optIANA(1))
	f := udpFrame(guestLL, AllServers, ClientPort, ServerPort, m)
	hbh := []byte{17, 0, 5, 2, 0, 0, 1, 0} // router alert, then PadN... (6 bytes of options)
	g := append(append(append([]byte(nil), f[:54]...), hbh...), f[54:]...)
	g[14+6] = 0 // hop-by-hop
	binary.BigEndian.PutUint16(g[14+4:], uint16(len(g)-54))
	r := mustReply(t, c, g)
	checkEnvelope(t, c, r, MsgAdvertise, 5)
}

func TestEncodeName(t *testing.T) {
	for in, want := range map[string]string{
		"example.com":  "\x07example\x03com\x00",
		"example.com.": "\x07example\x03com\x00",
		"a":            "\x01a\x00",
		"":             "",
		".":            "",
		"a..b":         "",
		".a":           "",
	} {
		if got := encodeName(in); string(got) != want {
			t.Errorf("encodeName(%q) = %q, want %q", in, got, want)
		}
	}
	long := string(bytes.Repeat([]byte("a"), 63))
	if encodeName(long+".b") == nil || encodeName(long+"a.b") != nil {
		t.Error("63-byte label limit not applied")
	}
	name := long + "." + long + "." + long + "." + long[:61] // 253 chars: 255 encoded
	if encodeName(name) == nil || encodeName(name+"x") != nil {
		t.Error("255-byte name limit not applied")
	}
}

func TestDUIDTime(t *testing.T) {
	if got := DUIDTimeFrom(time.Date(2000, 1, 1, 0, 1, 40, 0, time.UTC)); got != 100 {
		t.Errorf("DUIDTimeFrom = %d, want 100", got)
	}
	if got := DUIDTimeFrom(time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)); got != 0 {
		t.Errorf("DUIDTimeFrom before 2000 = %d, want 0", got)
	}
}
