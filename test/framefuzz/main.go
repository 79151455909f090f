// SPDX-License-Identifier: GPL-2.0-or-later

// Command framefuzz writes hostile frames at passt or pasta: valid frames
// of every kind the guest side handles (ARP, DHCP, DHCPv6, NDP, ICMP,
// ICMPv6, UDP, TCP), mutated (bit flips, random bytes, header fields set to
// edge values, truncation, extension, splices of two frames), and plain
// random bytes.
//
// Usage:
//
//	framefuzz -iface IFNAME [-duration D] [-rate N] [-seed S] [-max BYTES]
//	framefuzz -stream SOCKET [-duration D] [-seed S]
//
// With -iface (run inside the guest's network namespace) it sends the
// frames out of the guest's interface with a packet socket, so that they
// reach pasta's tap (or passt through the test shim) as the guest's own.
// With -stream it is passt's client itself and also breaks the stream
// framing: zero, short, oversized and truncated length prefixes, partial
// frames, abrupt disconnects; it reconnects whenever passt drops it.
//
// Two things are never mutated, so that the fuzzer cannot do harm outside
// the test: the source MAC address stays the guest's (the engine follows
// the guest's MAC, and a concurrent transfer must keep working), and the
// IPv4 or IPv6 destination address of every frame is forced to the
// gateway, which the engine maps to the host's loopback (no traffic ever
// leaves the machine). It prints "ok N" (frames sent) at the end.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"passt/pkt"
)

var (
	iface    = flag.String("iface", "", "guest interface to send frames from (packet socket)")
	stream   = flag.String("stream", "", "passt socket to connect to as its client")
	duration = flag.Duration("duration", 10*time.Second, "how long to fuzz")
	rate     = flag.Int("rate", 5000, "frames per second")
	seed     = flag.Uint64("seed", 1, "random seed")
	maxLen   = flag.Int("max", 1514, "largest frame")
)

// Addresses of the test setup: the guest and its gateway.
var (
	guest4 = netip.MustParseAddr("10.0.2.15")
	gw4    = netip.MustParseAddr("10.0.2.2")
	guest6 = netip.MustParseAddr("fd00:abcd::2")
	gw6    = netip.MustParseAddr("fd00:abcd::1")
	ll6    = netip.MustParseAddr("fe80::2")
)

func main() {
	flag.Parse()
	rng := rand.New(rand.NewPCG(*seed, *seed^0x5eed))
	var n int
	var err error
	switch {
	case *iface != "":
		n, err = fuzzInterface(rng)
	case *stream != "":
		n, err = fuzzStream(rng)
	default:
		err = fmt.Errorf("-iface or -stream needed")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "framefuzz:", err)
		os.Exit(1)
	}
	fmt.Println("ok", n)
}

// fuzzInterface sends frames out of the guest's interface.
func fuzzInterface(rng *rand.Rand) (int, error) {
	ifi, err := net.InterfaceByName(*iface)
	if err != nil {
		return 0, err
	}
	var mac [6]byte
	copy(mac[:], ifi.HardwareAddr)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("packet socket: %w", err)
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
	corpus := buildCorpus(mac)
	m := &mutator{rng: rng, corpus: corpus, mac: mac, max: min(*maxLen, ifi.MTU+14)}
	n := 0
	deadline := time.Now().Add(*duration)
	start := time.Now()
	for time.Now().Before(deadline) {
		for i := 0; i < 50; i++ {
			f := m.next()
			copy(sa.Addr[:], f[:6])
			if err := unix.Sendto(fd, f, 0, sa); err == nil {
				n++
			}
		}
		// Keep to the rate.
		if ahead := time.Duration(n)*time.Second/time.Duration(*rate) - time.Since(start); ahead > 0 {
			time.Sleep(ahead)
		}
	}
	return n, nil
}

// fuzzStream is passt's client: mutated frames in QEMU's stream framing,
// and broken framing.
func fuzzStream(rng *rand.Rand) (int, error) {
	mac := [6]byte{0x02, 0x00, 0x00, 0x00, 0x0f, 0x0f}
	m := &mutator{rng: rng, corpus: buildCorpus(mac), mac: mac, max: 65535}
	n := 0
	deadline := time.Now().Add(*duration)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("unix", *stream, time.Second)
		if err != nil {
			time.Sleep(20 * time.Millisecond) // passt between clients
			continue
		}
		// A good while of well-framed hostile frames, then a framing
		// fault, then the connection goes.
		for i := rng.IntN(2000); i > 0 && time.Now().Before(deadline); i-- {
			f := m.next()
			var hdr [4]byte
			binary.BigEndian.PutUint32(hdr[:], uint32(len(f)))
			c.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := c.Write(append(hdr[:], f...)); err != nil {
				break
			}
			n++
		}
		var hdr [4]byte
		switch rng.IntN(5) {
		case 0: // zero length
		case 1: // oversized
			binary.BigEndian.PutUint32(hdr[:], 65536+uint32(rng.IntN(1<<20)))
		case 2: // huge
			binary.BigEndian.PutUint32(hdr[:], 0xffffffff-uint32(rng.IntN(16)))
		case 3: // a frame cut short
			binary.BigEndian.PutUint32(hdr[:], 1000)
		case 4: // a header cut short
		}
		c.SetWriteDeadline(time.Now().Add(time.Second))
		c.Write(hdr[:1+rng.IntN(4)])
		if rng.IntN(2) == 0 {
			c.Write(make([]byte, rng.IntN(600)))
		}
		c.Close()
	}
	return n, nil
}

// mutator makes the next hostile frame.
type mutator struct {
	rng    *rand.Rand
	corpus [][]byte
	mac    [6]byte
	max    int
	buf    [65536]byte
}

func (m *mutator) next() []byte {
	r := m.rng
	var f []byte
	if r.IntN(20) == 0 { // plain random bytes
		f = m.buf[:14+r.IntN(m.max-13)]
		for i := range f {
			f[i] = byte(r.Uint32())
		}
	} else {
		src := m.corpus[r.IntN(len(m.corpus))]
		f = m.buf[:len(src)]
		copy(f, src)
		for k := r.IntN(4); k >= 0; k-- {
			f = m.mutate(f)
		}
	}
	if len(f) < 14 {
		f = m.buf[:14]
	}
	m.fixUp(f)
	return f
}

// mutate applies one random mutation.
func (m *mutator) mutate(f []byte) []byte {
	r := m.rng
	switch r.IntN(8) {
	case 0, 1: // flip bits
		for k := 1 + r.IntN(8); k > 0 && len(f) > 0; k-- {
			f[r.IntN(len(f))] ^= 1 << r.IntN(8)
		}
	case 2: // random bytes
		for k := 1 + r.IntN(4); k > 0 && len(f) > 0; k-- {
			f[r.IntN(len(f))] = byte(r.Uint32())
		}
	case 3: // an edge value in a 16-bit field (lengths, ports, offsets)
		if len(f) > 2 {
			i := r.IntN(len(f) - 1)
			v := []uint16{0, 1, 0x7fff, 0x8000, 0xffff, 0xfffe, uint16(len(f)), uint16(len(f) + 1), uint16(len(f) - 15)}[r.IntN(9)]
			binary.BigEndian.PutUint16(f[i:], v)
		}
	case 4: // truncate
		f = f[:r.IntN(len(f)+1)]
	case 5: // extend with random bytes
		n := min(len(f)+1+r.IntN(256), m.max)
		for i := len(f); i < n; i++ {
			m.buf[i] = byte(r.Uint32())
		}
		f = m.buf[:n]
	case 6: // the tail of another frame
		o := m.corpus[r.IntN(len(m.corpus))]
		if len(o) > 14 && len(f) > 14 {
			cut := 14 + r.IntN(len(f)-14)
			from := 14 + r.IntN(len(o)-14)
			n := min(cut+len(o)-from, m.max)
			copy(m.buf[cut:n], o[from:])
			f = m.buf[:n]
		}
	case 7: // a header byte at an extreme (IHL, TTL, flags, offsets)
		if len(f) > 14 {
			i := 14 + r.IntN(min(len(f)-14, 60))
			f[i] = []byte{0, 0xff, 0x0f, 0xf0, 0x45, 0x60}[r.IntN(6)]
		}
	}
	return f
}

// fixUp keeps the guest's source MAC and points IP traffic at the
// gateway, except for the few link-local destinations the engine answers
// itself (DHCP to 255.255.255.255:67, DHCPv6 to ff02::1:2 port 547, NDP to
// ff02::1, ff02::2 and solicited-node addresses), which never leave the
// engine.
func (m *mutator) fixUp(f []byte) {
	copy(f[6:12], m.mac[:])
	switch binary.BigEndian.Uint16(f[12:14]) {
	case pkt.EtherTypeIPv4:
		if len(f) < 14+20 {
			return
		}
		dst := netip.AddrFrom4([4]byte(f[14+16 : 14+20]))
		dhcp := dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) && f[14] == 0x45 && f[14+9] == pkt.ProtoUDP &&
			len(f) >= 14+20+4 && binary.BigEndian.Uint16(f[14+22:]) == 67
		if !dhcp {
			a := gw4.As4()
			copy(f[14+16:14+20], a[:])
		}
	case pkt.EtherTypeIPv6:
		if len(f) < 14+40 {
			return
		}
		dst := netip.AddrFrom16([16]byte(f[14+24 : 14+40]))
		next := f[14+6]
		dhcp6 := dst == netip.MustParseAddr("ff02::1:2") && next == pkt.ProtoUDP &&
			len(f) >= 14+40+4 && binary.BigEndian.Uint16(f[14+42:]) == 547
		ndp := next == pkt.ProtoICMPv6 && len(f) > 54 && f[54] >= 133 && f[54] <= 137 &&
			(dst == netip.MustParseAddr("ff02::1") || dst == netip.MustParseAddr("ff02::2") ||
				netip.MustParsePrefix("ff02::1:ff00:0/104").Contains(dst))
		if !dhcp6 && !ndp {
			a := gw6.As16()
			copy(f[14+24:14+40], a[:])
		}
	}
}
