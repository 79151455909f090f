// SPDX-License-Identifier: GPL-2.0-or-later

package engine

import (
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"passt/conf"
	"passt/conf/hostinfo"
	"passt/pkt"
)

// captureLink is a guest link that keeps count of the frames sent to the
// guest and checks each is a well-formed Ethernet frame.
type captureLink struct {
	t      *testing.T
	fd     int
	frames int
}

func (l *captureLink) Fd() int                       { return l.fd }
func (l *captureLink) Receive([][]byte) (int, error) { return 0, nil }
func (l *captureLink) Send(frames [][]byte) error {
	for _, f := range frames {
		if len(f) < 14 || len(f) > 65535+14 {
			l.t.Fatalf("engine sent a frame of %d bytes", len(f))
		}
		l.frames++
	}
	return nil
}

var fuzzEngine *Engine
var fuzzLink *captureLink

// newFuzzEngine builds a passt engine for the guest 10.0.2.15/24 and
// fd00:abcd::2 behind the gateways 10.0.2.2 and fd00:abcd::1 (mapped to the
// host's loopback), with a link that only counts.
func newFuzzEngine(t *testing.T) *Engine {
	dir := t.TempDir()
	rc := filepath.Join(dir, "resolv.conf")
	os.WriteFile(rc, []byte("nameserver 10.0.2.3\nnameserver fd00:abcd::3\nsearch example.org\n"), 0o644)
	eph := filepath.Join(dir, "ip_local_port_range")
	os.WriteFile(eph, []byte("32768\t60999\n"), 0o644)
	env := conf.Env{
		Discover: func(hostinfo.Request) (*hostinfo.Host, error) {
			return &hostinfo.Host{
				V4: hostinfo.Template{Ifname: "eth0", Ifindex: 2, Usable: true,
					Addr: netip.MustParsePrefix("10.0.2.15/24"), Gateway: netip.MustParseAddr("10.0.2.2")},
				V6: hostinfo.Template{Ifname: "eth0", Ifindex: 2, Usable: true,
					Addr: netip.MustParsePrefix("fd00:abcd::2/64"), Gateway: netip.MustParseAddr("fd00:abcd::1"),
					LinkLocal: netip.MustParseAddr("fe80::2")},
			}, nil
		},
		InterfaceExists: func(string) error { return nil },
		ResolvConf:      rc,
		EphemeralRange:  eph,
		Geteuid:         func() int { return 1000 },
		Getegid:         func() int { return 1000 },
		InitUserNS:      func() bool { return false },
	}
	c, err := conf.Parse([]string{"passt", "-f", "-t", "none", "-u", "none"}, conf.ModePasst, env)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	e, err := New(c, nil)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("engine: %v", err)
		}
		t.Skip(err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err) // nothing to install: a failure, not a missing prerequisite
	}
	fuzzLink = &captureLink{t: t, fd: fds[0]}
	if err := e.SetLink(fuzzLink); err != nil {
		t.Fatal(err)
	}
	return e
}

// keepLocal points a frame's IP destination at the gateway (the host's
// loopback) and TCP to the closed port 9, except for DHCP to the broadcast
// address and NDP or DHCPv6 to link-local multicast, which the engine
// answers itself: whatever the fuzzer makes, the
// engine never talks to another address or disturbs a local service.
func keepLocal(f []byte) {
	if len(f) < 14 {
		return
	}
	switch binary.BigEndian.Uint16(f[12:14]) {
	case pkt.EtherTypeIPv4:
		if len(f) < 34 {
			return
		}
		dhcp := f[14] == 0x45 && f[23] == pkt.ProtoUDP && len(f) >= 38 && binary.BigEndian.Uint16(f[36:]) == 67
		if !dhcp || netip.AddrFrom4([4]byte(f[30:34])) != netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			copy(f[30:34], []byte{10, 0, 2, 2})
		}
		if ihl := int(f[14]&0xf) * 4; f[23] == pkt.ProtoTCP && len(f) >= 14+ihl+4 && ihl >= 20 {
			binary.BigEndian.PutUint16(f[14+ihl+2:], 9)
		}
	case pkt.EtherTypeIPv6:
		if len(f) < 54 {
			return
		}
		ndp := f[20] == pkt.ProtoICMPv6 && len(f) > 54 && f[54] >= 133 && f[54] <= 137
		dhcp6 := f[20] == pkt.ProtoUDP && len(f) >= 58 && binary.BigEndian.Uint16(f[56:]) == 547
		if dst := netip.AddrFrom16([16]byte(f[38:54])); !dst.IsLinkLocalMulticast() || !(ndp || dhcp6) {
			gw := netip.MustParseAddr("fd00:abcd::1").As16()
			copy(f[38:54], gw[:])
		}
		if f[20] == pkt.ProtoTCP && len(f) >= 58 {
			binary.BigEndian.PutUint16(f[56:], 9)
		}
	}
}

// FuzzFrame feeds arbitrary frames from the guest to the engine's L2
// dispatch (ARP, NDP, DHCP, DHCPv6, TCP, ICMP and the rest): it must never
// panic, and whatever it sends back must be a sane frame. The seeds in
// testdata/fuzz/FuzzFrame are valid frames of each kind (the corpus of
// test/framefuzz).
func FuzzFrame(f *testing.F) {
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06})
	f.Fuzz(func(t *testing.T, frame []byte) {
		if fuzzEngine == nil {
			fuzzEngine = newFuzzEngine(t)
		}
		fuzzLink.t = t
		b := append([]byte(nil), frame...)
		keepLocal(b)
		fuzzEngine.frame(b)
		fuzzEngine.flush()
	})
}
