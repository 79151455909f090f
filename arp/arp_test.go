// SPDX-License-Identifier: GPL-2.0-or-later

package arp

import (
	"bytes"
	"net/netip"
	"testing"

	"passt/pkt"
)

var (
	ourMAC   = [6]byte{0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55}
	guestMAC = [6]byte{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
	proxyMAC = [6]byte{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}
	ourIP    = netip.MustParseAddr("10.0.2.2")
	guestIP  = netip.MustParseAddr("10.0.2.15")
	proxied  = netip.MustParseAddr("10.0.2.77")
	zero4    = netip.IPv4Unspecified()
)

func testConfig() *Config {
	return &Config{
		OurMAC: ourMAC, OurAddr: ourIP, GuestAddr: guestIP,
		MACFor: func(a netip.Addr) ([6]byte, bool) { return proxyMAC, a == proxied },
	}
}

// arpFrame builds an ARP frame from the guest, padded to 60 bytes.
func arpFrame(op uint16, sip, tip netip.Addr) []byte {
	f := make([]byte, 60)
	n := pkt.BuildEthernet(f, pkt.Broadcast, guestMAC, pkt.EtherTypeARP)
	pkt.BuildARP(f[n:], op, guestMAC, sip, [6]byte{}, tip)
	return f
}

func TestReply(t *testing.T) {
	c := testConfig()
	other := netip.MustParseAddr("192.168.1.1")
	tests := []struct {
		name     string
		frame    []byte
		wantMAC  [6]byte // zero: no reply expected
		sip, tip netip.Addr
	}{
		{"gateway", arpFrame(pkt.ARPRequest, guestIP, ourIP), ourMAC, guestIP, ourIP},
		{"any address", arpFrame(pkt.ARPRequest, guestIP, other), ourMAC, guestIP, other},
		{"proxied neighbour", arpFrame(pkt.ARPRequest, guestIP, proxied), proxyMAC, guestIP, proxied},
		{"probe for another address", arpFrame(pkt.ARPRequest, zero4, ourIP), ourMAC, zero4, ourIP},
		{"unpadded", arpFrame(pkt.ARPRequest, guestIP, ourIP)[:42], ourMAC, guestIP, ourIP},
		{"guest's own address", arpFrame(pkt.ARPRequest, guestIP, guestIP), [6]byte{}, guestIP, guestIP},
		{"probe for the guest's own address", arpFrame(pkt.ARPRequest, zero4, guestIP), [6]byte{}, zero4, guestIP},
		{"announcement", arpFrame(pkt.ARPRequest, other, other), [6]byte{}, other, other},
		{"reply", arpFrame(pkt.ARPReply, guestIP, ourIP), [6]byte{}, guestIP, ourIP},
		{"truncated ARP", arpFrame(pkt.ARPRequest, guestIP, ourIP)[:41], [6]byte{}, guestIP, ourIP},
		{"truncated Ethernet", arpFrame(pkt.ARPRequest, guestIP, ourIP)[:13], [6]byte{}, guestIP, ourIP},
		{"empty", nil, [6]byte{}, guestIP, ourIP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]byte(nil), tt.frame...)
			got := Reply(c, in)
			if !bytes.Equal(in, tt.frame) {
				t.Error("input frame modified")
			}
			if tt.wantMAC == ([6]byte{}) {
				if got != nil {
					t.Fatalf("got a reply, want none: % x", got)
				}
				return
			}
			checkReply(t, got, tt.wantMAC, tt.sip, tt.tip)
		})
	}
}

func checkReply(t *testing.T, got []byte, mac [6]byte, sip, tip netip.Addr) {
	t.Helper()
	if len(got) != 60 {
		t.Fatalf("reply length %d, want 60", len(got))
	}
	eth, err := pkt.ParseEthernet(got)
	if err != nil {
		t.Fatal(err)
	}
	if eth.Dst() != guestMAC || eth.Src() != ourMAC || eth.EtherType() != pkt.EtherTypeARP {
		t.Errorf("Ethernet %v -> %v type %#x", eth.Src(), eth.Dst(), eth.EtherType())
	}
	a, err := pkt.ParseARP(eth.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if a.Op() != pkt.ARPReply || a.SenderMAC() != mac || a.SenderIP() != tip ||
		a.TargetMAC() != guestMAC || a.TargetIP() != sip {
		t.Errorf("ARP op %d %v/%v -> %v/%v", a.Op(), a.SenderIP(), a.SenderMAC(), a.TargetIP(), a.TargetMAC())
	}
	if !bytes.Equal(got[42:], make([]byte, 18)) {
		t.Errorf("padding not zero: % x", got[42:])
	}
}

func TestReplyOtherFormats(t *testing.T) {
	c := testConfig()
	base := arpFrame(pkt.ARPRequest, guestIP, ourIP)
	for _, tt := range []struct {
		name string
		off  int
		val  byte
	}{
		{"EtherType IPv4", 12, 0x08},
		{"hardware type", 14, 0x01},
		{"protocol type", 16, 0x86},
		{"hardware length", 18, 8},
		{"protocol length", 19, 16},
		{"operation", 21, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := append([]byte(nil), base...)
			if tt.name == "EtherType IPv4" {
				f[12], f[13] = 0x08, 0x00
			} else {
				f[tt.off] = tt.val
			}
			if got := Reply(c, f); got != nil {
				t.Errorf("got reply % x", got)
			}
		})
	}
	if Reply(c, base) == nil {
		t.Fatal("unmodified request not answered")
	}
}

func TestReplyNoGuestAddr(t *testing.T) {
	c := &Config{OurMAC: ourMAC, OurAddr: ourIP}
	checkReply(t, Reply(c, arpFrame(pkt.ARPRequest, guestIP, guestIP.Next())), ourMAC, guestIP, guestIP.Next())
}

func TestRequest(t *testing.T) {
	c := testConfig()
	f := Request(c, guestIP)
	if len(f) != 60 {
		t.Fatalf("length %d", len(f))
	}
	eth, _ := pkt.ParseEthernet(f)
	if eth.Dst() != pkt.Broadcast || eth.Src() != ourMAC || eth.EtherType() != pkt.EtherTypeARP {
		t.Errorf("Ethernet header % x", f[:14])
	}
	a, err := pkt.ParseARP(eth.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if a.Op() != pkt.ARPRequest || a.SenderMAC() != ourMAC || a.SenderIP() != ourIP ||
		a.TargetIP() != guestIP || a.TargetMAC() != ([6]byte{}) {
		t.Errorf("ARP % x", []byte(a))
	}
	if Request(c, netip.MustParseAddr("fe80::1")) != nil {
		t.Error("request for an IPv6 target")
	}
	if Request(&Config{OurMAC: ourMAC}, guestIP) != nil {
		t.Error("request without our address")
	}
	// Our own Request, looped back, is answered (it is not an
	// announcement), but not for the guest's address.
	if Reply(c, f) != nil {
		t.Error("answered our request for the guest's address")
	}
}

func TestAnnounce(t *testing.T) {
	f := Announce(proxied, proxyMAC)
	eth, _ := pkt.ParseEthernet(f)
	a, err := pkt.ParseARP(eth.Payload())
	if err != nil || len(f) != 60 {
		t.Fatal(err, len(f))
	}
	if eth.Dst() != pkt.Broadcast || eth.Src() != proxyMAC || a.Op() != pkt.ARPRequest ||
		a.SenderMAC() != proxyMAC || a.SenderIP() != proxied || a.TargetIP() != proxied ||
		a.TargetMAC() != ([6]byte{}) {
		t.Errorf("announcement % x", f)
	}
	// An announcement is never answered.
	if Reply(testConfig(), f) != nil {
		t.Error("answered an announcement")
	}
	if Announce(netip.MustParseAddr("::1"), proxyMAC) != nil {
		t.Error("IPv6 announcement")
	}
}

func FuzzARPReply(f *testing.F) {
	f.Add(arpFrame(pkt.ARPRequest, guestIP, ourIP))
	f.Add(arpFrame(pkt.ARPRequest, zero4, guestIP))
	f.Add(arpFrame(pkt.ARPReply, guestIP, ourIP))
	c := testConfig()
	f.Fuzz(func(t *testing.T, frame []byte) {
		in := append([]byte(nil), frame...)
		got := Reply(c, in)
		if !bytes.Equal(in, frame) {
			t.Fatal("input modified")
		}
		if got == nil {
			return
		}
		eth, err := pkt.ParseEthernet(got)
		if err != nil || len(got) != FrameLen || eth.EtherType() != pkt.EtherTypeARP || eth.Src() != ourMAC {
			t.Fatalf("bad reply % x", got)
		}
		a, err := pkt.ParseARP(eth.Payload())
		if err != nil || a.Op() != pkt.ARPReply {
			t.Fatalf("bad ARP reply % x", got)
		}
		req := pkt.ARP(frame[14:42])
		if a.TargetIP() != req.SenderIP() || a.SenderIP() != req.TargetIP() || a.TargetMAC() != req.SenderMAC() ||
			eth.Dst() != pkt.Ethernet(frame).Src() {
			t.Fatalf("reply does not match request")
		}
		if a.SenderIP() == guestIP || (a.SenderIP() == a.TargetIP() && !a.SenderIP().IsUnspecified()) {
			t.Fatalf("answered a request that must be ignored")
		}
		if want, _ := c.MACFor(a.SenderIP()); a.SenderIP() != proxied {
			if a.SenderMAC() != ourMAC {
				t.Fatal("wrong MAC")
			}
		} else if a.SenderMAC() != want {
			t.Fatal("wrong proxied MAC")
		}
	})
}
