// SPDX-License-Identifier: GPL-2.0-or-later

package udp

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vishvananda/netlink"
	"passt/flow"
	"passt/internal/netnstest"
	"passt/loop"
	"passt/ns"
	"passt/pkt"
	"passt/tap"
	"runtime"
)

var (
	guest4 = netip.MustParseAddr("10.0.2.15")
	gw4    = netip.MustParseAddr("10.0.2.2")
	guest6 = netip.MustParseAddr("fd00::2")
	gw6    = netip.MustParseAddr("fd00::1")
	ourMAC = [6]byte{0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55}
	gMAC   = [6]byte{0x02, 0, 0, 0, 0, 0x15}
)

// testNAT maps the gateways to host loopback, as passt does by default.
func testNAT() *flow.NAT {
	return &flow.NAT{
		V4: flow.FamilyAddrs{Guest: guest4, GuestSeen: guest4, Our: gw4, MapHostLoopback: gw4},
		V6: flow.FamilyAddrs{Guest: guest6, GuestSeen: guest6, Our: netip.MustParseAddr("fe80::1"), MapHostLoopback: gw6},
	}
}

// sink is an Output that keeps copies of the frames, without allocating
// once its buffers have grown.
type sink struct {
	frames [][]byte
	n      int
}

func (s *sink) Queue(f []byte) {
	if s.n == len(s.frames) {
		s.frames = append(s.frames, make([]byte, 0, 70000))
	}
	s.frames[s.n] = append(s.frames[s.n][:0], f...)
	s.n++
}
func (s *sink) Flush()                      {}
func (s *sink) MACs() (ours, guest [6]byte) { return ourMAC, gMAC }
func (s *sink) reset()                      { s.n = 0 }

func newTest(t testing.TB, capacity int) (*Handler, *sink) {
	t.Helper()
	l, err := loop.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	out := &sink{}
	h, err := newHandler(l, 1, 2, out, Config{NAT: testNAT()}, capacity)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := range h.flows {
			h.close(i)
		}
		for i := range h.listeners {
			h.CloseListener(i)
		}
	})
	return h, out
}

// guestFrame builds a UDP datagram from the guest.
func guestFrame(src, dst netip.AddrPort, payload []byte) []byte {
	et, ipLen := pkt.EtherTypeIPv4, pkt.IPv4MinHeaderLen
	if src.Addr().Is6() {
		et, ipLen = pkt.EtherTypeIPv6, pkt.IPv6HeaderLen
	}
	b := make([]byte, 14+ipLen+8+len(payload))
	n := pkt.BuildEthernet(b, ourMAC, gMAC, et)
	if src.Addr().Is6() {
		n += pkt.BuildIPv6(b[n:], src.Addr(), dst.Addr(), pkt.ProtoUDP, 8+len(payload), 64, 0)
	} else {
		n += pkt.BuildIPv4(b[n:], src.Addr(), dst.Addr(), pkt.ProtoUDP, 8+len(payload), 64, 0)
	}
	pkt.BuildUDP(b[n:], src.Port(), dst.Port(), len(payload))
	copy(b[n+8:], payload)
	pkt.FinishUDP(pkt.UDP(b[n:]), src.Addr(), dst.Addr())
	return b
}

func fromGuest(t testing.TB, h *Handler, f []byte) {
	var d pkt.Decoded
	if err := pkt.Decode(f, &d); err != nil {
		t.Fatalf("decode: %v", err)
	}
	h.FromGuest(f, &d)
	h.Flush()
}

// hostRead reads one datagram of at most size bytes from a host socket,
// failing the test when none comes within 2 s; it returns the payload and
// where it came from.
func hostRead(t testing.TB, c *net.UDPConn, size int) ([]byte, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, size)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("host socket %v: %v", c.LocalAddr(), err)
	}
	return buf[:n], from
}

// hostCount counts the datagrams a host socket receives until none comes
// for wait.
func hostCount(c *net.UDPConn, wait time.Duration) int {
	got := 0
	buf := make([]byte, 10)
	for {
		c.SetReadDeadline(time.Now().Add(wait))
		if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
			return got
		}
		got++
	}
}

// checkFrame decodes a frame to the guest and checks its addresses,
// checksum and payload.
func checkFrame(t *testing.T, f []byte, src, dst netip.AddrPort, payload []byte) {
	t.Helper()
	var d pkt.Decoded
	if err := pkt.Decode(f, &d); err != nil || d.L4Proto != pkt.ProtoUDP || d.L4HdrLen != 8 {
		t.Fatalf("bad frame (%v): %x", err, f[:min(len(f), 64)])
	}
	if pkt.Ethernet(f).Dst() != gMAC || pkt.Ethernet(f).Src() != ourMAC {
		t.Errorf("MACs %x -> %x", pkt.Ethernet(f).Src(), pkt.Ethernet(f).Dst())
	}
	u := pkt.UDP(f[d.L4Off : d.L4Off+d.L4Len])
	if got := netip.AddrPortFrom(d.Src, u.SrcPort()); got != src {
		t.Errorf("source %s, want %s", got, src)
	}
	if got := netip.AddrPortFrom(d.Dst, u.DstPort()); got != dst {
		t.Errorf("destination %s, want %s", got, dst)
	}
	if pkt.Finish(pkt.Checksum(u, pkt.PseudoHeaderSum(d.Src, d.Dst, pkt.ProtoUDP, uint32(len(u))))) != 0 {
		t.Errorf("bad UDP checksum")
	}
	if d.IPVersion == 4 && !pkt.IPv4(f[14:]).ChecksumValid() {
		t.Errorf("bad IPv4 header checksum")
	}
	if !bytes.Equal(u.Payload(), payload) {
		t.Errorf("payload of %d bytes, want %d", len(u.Payload()), len(payload))
	}
}

// hostUDP opens a UDP socket on the host's loopback.
func hostUDP(t testing.TB, v6 bool) *net.UDPConn {
	t.Helper()
	network, addr := "udp4", "127.0.0.1:0"
	if v6 {
		network, addr = "udp6", "[::1]:0"
	}
	c, err := net.ListenUDP(network, mustResolve(network, addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// hostUDPReuse is hostUDP with SO_REUSEADDR, as a client whose port the
// bypass binds again in the "namespace" (the same one, in these tests).
func hostUDPReuse(t testing.TB, v6 bool) *net.UDPConn {
	t.Helper()
	network, addr := "udp4", "127.0.0.1:0"
	if v6 {
		network, addr = "udp6", "[::1]:0"
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) })
	}}
	c, err := lc.ListenPacket(context.Background(), network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.UDPConn)
}

func mustResolve(network, addr string) *net.UDPAddr {
	a, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		panic(err)
	}
	return a
}

// pollReady is poll(2) again after a signal: poll is never restarted, and
// the Go runtime signals its threads (preemption). It allocates nothing.
func pollReady(pfd []unix.PollFd, ms int) (int, error) {
	for {
		n, err := unix.Poll(pfd, ms)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// waitReadable waits until fd has something to read (or an error).
func waitReadable(t testing.TB, fd int, events int16) int16 {
	t.Helper()
	pfd := []unix.PollFd{{Fd: int32(fd), Events: events}}
	n, err := pollReady(pfd, 2000)
	if err != nil || n == 0 {
		t.Fatalf("fd %d not ready: %v", fd, err)
	}
	return pfd[0].Revents
}

func flowOf(t testing.TB, h *Handler, guest, peer netip.AddrPort) int {
	t.Helper()
	idx, ok := h.table.Lookup(flow.MakeKey(pkt.ProtoUDP, guest, peer))
	if !ok {
		t.Fatalf("no flow %s <-> %s", guest, peer)
	}
	return idx
}

// TestGuestToHost: a datagram from the guest to the gateway reaches a
// host socket on loopback from the guest's own source port, and the
// server's replies, up to the largest datagram, come back as frames from
// the gateway.
func TestGuestToHost(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		h, out := newTest(t, 16)
		srv := hostUDP(t, v6)
		port := uint16(srv.LocalAddr().(*net.UDPAddr).Port)
		g, gw := netip.AddrPortFrom(guest4, 40123), netip.AddrPortFrom(gw4, port)
		if v6 {
			g, gw = netip.AddrPortFrom(guest6, 40123), netip.AddrPortFrom(gw6, port)
		}
		msg := bytes.Repeat([]byte("5 KiB datagram "), 5*1024/15)
		fromGuest(t, h, guestFrame(g, gw, msg))
		got, from := hostRead(t, srv, 70000)
		if !bytes.Equal(got, msg) {
			t.Fatalf("v6=%v: server got %d bytes, want the %d sent", v6, len(got), len(msg))
		}
		if from.Port() != g.Port() {
			t.Errorf("v6=%v: source port %d, want the guest's %d", v6, from.Port(), g.Port())
		}
		idx := flowOf(t, h, g, gw)
		for _, size := range []int{0, 1, 5000, 65000, MaxPayload - 20} {
			if v6 && size == MaxPayload-20 {
				size = MaxPayload
			}
			reply := bytes.Repeat([]byte{byte(size)}, size)
			if _, err := srv.WriteToUDPAddrPort(reply, from); err != nil {
				t.Fatalf("reply of %d: %v", size, err)
			}
			waitReadable(t, int(h.flows[idx].fd[0]), unix.POLLIN)
			out.reset()
			h.Event(h.ref(idx, 0), unix.EPOLLIN)
			if out.n != 1 {
				t.Fatalf("v6=%v: %d frames for a reply of %d bytes", v6, out.n, size)
			}
			checkFrame(t, out.frames[0], gw, g, reply)
		}
		if h.Stats.FromGuest != 1 || h.Stats.ToGuest != 5 || h.Stats.Dropped != 0 {
			t.Errorf("stats %+v", h.Stats)
		}
	}
}

// TestBulk: replies of one byte, however many, leave the loop polling
// between events; 40 KB ones make bulk traffic, after which the handler
// tells the loop to sleep (BulkEvents counts it).
func TestBulk(t *testing.T) {
	h, out := newTest(t, 16)
	srv := hostUDP(t, false)
	g, gw := netip.AddrPortFrom(guest4, 40124), netip.AddrPortFrom(gw4, uint16(srv.LocalAddr().(*net.UDPAddr).Port))
	fromGuest(t, h, guestFrame(g, gw, []byte("hello")))
	_, from := hostRead(t, srv, 100)
	idx := flowOf(t, h, g, gw)
	exchange := func(size int) {
		if _, err := srv.WriteToUDPAddrPort(make([]byte, size), from); err != nil {
			t.Fatal(err)
		}
		waitReadable(t, int(h.flows[idx].fd[0]), unix.POLLIN)
		out.reset()
		h.Event(h.ref(idx, 0), unix.EPOLLIN)
		if out.n != 1 {
			t.Fatalf("%d frames for a reply of %d bytes", out.n, size)
		}
	}
	for range 100 {
		exchange(1)
	}
	if h.Stats.BulkEvents != 0 {
		t.Errorf("%d bulk events for 100 replies of 1 byte", h.Stats.BulkEvents)
	}
	exchange(40000)
	if h.Stats.BulkEvents != 1 {
		t.Errorf("%d bulk events after a reply of 40000 bytes, want 1", h.Stats.BulkEvents)
	}
}

// TestPortUnreachable: a datagram from the guest to a closed port of the
// host comes back as an ICMP port unreachable from the gateway, quoting
// the guest's datagram.
func TestPortUnreachable(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		h, out := newTest(t, 16)
		srv := hostUDP(t, v6)
		port := uint16(srv.LocalAddr().(*net.UDPAddr).Port)
		srv.Close()
		g, gw := netip.AddrPortFrom(guest4, 40001), netip.AddrPortFrom(gw4, port)
		if v6 {
			g, gw = netip.AddrPortFrom(guest6, 40001), netip.AddrPortFrom(gw6, port)
		}
		fromGuest(t, h, guestFrame(g, gw, []byte("anyone there?")))
		idx := flowOf(t, h, g, gw)
		waitReadable(t, int(h.flows[idx].fd[0]), 0)
		out.reset()
		h.Event(h.ref(idx, 0), unix.EPOLLERR)
		if out.n != 1 {
			t.Fatalf("v6=%v: %d frames, want an ICMP error", v6, out.n)
		}
		f := out.frames[0]
		var d pkt.Decoded
		if err := pkt.Decode(f, &d); err != nil {
			t.Fatal(err)
		}
		m := pkt.ICMP(f[d.L4Off : d.L4Off+d.L4Len])
		wantType, wantCode, inner := pkt.ICMPv4Unreachable, uint8(3), pkt.IPv4MinHeaderLen
		if v6 {
			wantType, wantCode, inner = pkt.ICMPv6Unreachable, 4, pkt.IPv6HeaderLen
		}
		if d.Src != gw.Addr() || d.Dst != g.Addr() || m.Type() != wantType || m.Code() != wantCode {
			t.Fatalf("v6=%v: ICMP %d/%d from %s to %s", v6, m.Type(), m.Code(), d.Src, d.Dst)
		}
		var sum uint64
		if v6 {
			sum = pkt.PseudoHeaderSum6(d.Src, d.Dst, pkt.ProtoICMPv6, uint32(len(m)))
		}
		if pkt.Finish(pkt.Checksum(m, sum)) != 0 {
			t.Errorf("v6=%v: bad ICMP checksum", v6)
		}
		q := pkt.UDP(m[8+inner:])
		if q.SrcPort() != g.Port() || q.DstPort() != gw.Port() {
			t.Errorf("v6=%v: quoted ports %d -> %d", v6, q.SrcPort(), q.DstPort())
		}
		if h.Stats.ICMPErrors != 1 {
			t.Errorf("stats %+v", h.Stats)
		}
	}
}

// TestHostToGuest: -u without the bypass: a datagram to the listening
// socket reaches the guest from the gateway (for host loopback), the
// guest's reply leaves from the address and port the client sent to, and
// the client's next datagrams, now on the flow's own socket, reach the
// guest too.
func TestHostToGuest(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		h, out := newTest(t, 16)
		lo, gw, g := netip.MustParseAddr("127.0.0.1"), gw4, guest4
		if v6 {
			lo, gw, g = netip.IPv6Loopback(), gw6, guest6
		}
		probe := hostUDP(t, v6)
		port := uint16(probe.LocalAddr().(*net.UDPAddr).Port)
		probe.Close()
		li, err := h.Listen(lo, "", port, 5353, netip.Addr{}, false)
		if err != nil {
			t.Fatal(err)
		}
		cli := hostUDP(t, v6)
		cport := uint16(cli.LocalAddr().(*net.UDPAddr).Port)
		to := netip.AddrPortFrom(lo, port)
		cli.WriteToUDPAddrPort([]byte("query"), to)
		waitReadable(t, h.listeners[li].fd, unix.POLLIN)
		h.ListenEvent(loop.MakeRef(2, uint64(li)), unix.EPOLLIN)
		if out.n != 1 {
			t.Fatalf("v6=%v: %d frames to the guest", v6, out.n)
		}
		peer := netip.AddrPortFrom(gw, cport)
		gp := netip.AddrPortFrom(g, 5353)
		checkFrame(t, out.frames[0], peer, gp, []byte("query"))

		fromGuest(t, h, guestFrame(gp, peer, []byte("answer")))
		got, from := hostRead(t, cli, 100)
		if string(got) != "answer" || from != to {
			t.Fatalf("v6=%v: client got %q from %s, want answer from %s", v6, got, from, to)
		}
		cli.WriteToUDPAddrPort([]byte("again"), to)
		idx := flowOf(t, h, gp, peer)
		waitReadable(t, int(h.flows[idx].fd[0]), unix.POLLIN)
		out.reset()
		h.Event(h.ref(idx, 0), unix.EPOLLIN)
		if out.n != 1 {
			t.Fatalf("v6=%v: second datagram: %d frames", v6, out.n)
		}
		checkFrame(t, out.frames[0], peer, gp, []byte("again"))
		h.CloseListener(li)
		if h.Listeners() != 0 {
			t.Errorf("listener not closed")
		}
	}
}

// TestBadInput: fragments, port 0, multicast and broadcast destinations,
// IPv4-mapped addresses and frames whose lengths lie are dropped and
// counted; nothing is sent.
func TestBadInput(t *testing.T) {
	h, _ := newTest(t, 16)
	srv := hostUDP(t, false)
	port := uint16(srv.LocalAddr().(*net.UDPAddr).Port)
	g, gw := netip.AddrPortFrom(guest4, 40000), netip.AddrPortFrom(gw4, port)
	good := guestFrame(g, gw, []byte("x"))

	frag := bytes.Clone(good)
	ip := pkt.IPv4(frag[14:])
	ip.SetFlagsFragment(pkt.IPv4FlagMF)
	ip.UpdateChecksum()
	zeroPort := guestFrame(netip.AddrPortFrom(guest4, 0), gw, []byte("x"))
	toZero := guestFrame(g, netip.AddrPortFrom(gw4, 0), []byte("x"))
	mcast := guestFrame(g, netip.MustParseAddrPort("224.0.0.251:5353"), []byte("x"))
	bcast := guestFrame(g, netip.MustParseAddrPort("255.255.255.255:67"), []byte("x"))
	mapped := guestFrame(netip.AddrPortFrom(guest6, 1000), netip.MustParseAddrPort("[::ffff:127.0.0.1]:53"), []byte("x"))
	for i, f := range [][]byte{frag, zeroPort, toZero, mcast, bcast, mapped} {
		var d pkt.Decoded
		if err := pkt.Decode(f, &d); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		h.FromGuest(f, &d)
		h.Flush()
	}
	if h.Stats.Dropped != 6 || h.Stats.FromGuest != 0 || h.Flows() != 0 {
		t.Errorf("stats %+v, %d flows", h.Stats, h.Flows())
	}
	// A UDP length beyond the packet, or shorter than the header: the
	// decoder refuses the frame before it reaches the handler.
	for _, l := range []uint16{9 + 1, 7, 0, 65535} {
		f := bytes.Clone(good)
		pkt.UDP(f[34:]).SetLength(l)
		var d pkt.Decoded
		if pkt.Decode(f, &d) == nil {
			t.Errorf("UDP length %d in a datagram of 9 accepted", l)
		}
	}
	srv.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _, err := srv.ReadFromUDPAddrPort(make([]byte, 10)); err == nil {
		t.Errorf("server got %d bytes of bad input", n)
	}
}

// TestFlowsFull: once the table is full, datagrams of new flows are
// dropped and counted while existing flows carry on.
func TestFlowsFull(t *testing.T) {
	h, _ := newTest(t, 4)
	srv := hostUDP(t, false)
	gw := netip.AddrPortFrom(gw4, uint16(srv.LocalAddr().(*net.UDPAddr).Port))
	for p := uint16(41000); p < 41006; p++ {
		fromGuest(t, h, guestFrame(netip.AddrPortFrom(guest4, p), gw, []byte{byte(p)}))
	}
	if h.Flows() != 4 || h.Stats.FlowsFull != 2 || h.Stats.Dropped != 2 {
		t.Fatalf("%d flows, stats %+v", h.Flows(), h.Stats)
	}
	fromGuest(t, h, guestFrame(netip.AddrPortFrom(guest4, 41000), gw, []byte("still")))
	buf := make([]byte, 10)
	got := 0
	for {
		srv.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _, err := srv.ReadFromUDPAddrPort(buf)
		if err != nil {
			break
		}
		got++
		if got == 5 && string(buf[:n]) != "still" {
			t.Errorf("last datagram %q", buf[:n])
		}
	}
	if got != 5 {
		t.Errorf("server got %d datagrams, want 5", got)
	}
}

// TestFDLimit: beyond UDP's descriptor share new flows are refused like
// beyond the table's capacity, existing ones carry on, and the count of
// sockets follows flows as they open and expire.
func TestFDLimit(t *testing.T) {
	h, _ := newTest(t, 64)
	h.SetFDLimit(3)
	h.SetTimeouts(time.Hour, time.Hour)
	srv := hostUDP(t, false)
	gw := netip.AddrPortFrom(gw4, uint16(srv.LocalAddr().(*net.UDPAddr).Port))
	for p := uint16(43000); p < 43005; p++ {
		fromGuest(t, h, guestFrame(netip.AddrPortFrom(guest4, p), gw, []byte{byte(p)}))
	}
	if h.Flows() != 3 || h.FDs() != 3 || h.Stats.OverBudget != 2 || h.Stats.FlowsFull != 0 || h.Stats.Dropped != 2 {
		t.Fatalf("%d flows, %d sockets, stats %+v", h.Flows(), h.FDs(), h.Stats)
	}
	fromGuest(t, h, guestFrame(netip.AddrPortFrom(guest4, 43000), gw, []byte("still")))
	if got := hostCount(srv, 200*time.Millisecond); got != 4 {
		t.Errorf("server got %d datagrams, want 4 (3 flows, one twice)", got)
	}
	// Once they expire, new flows open again.
	h.SetTimeouts(time.Nanosecond, time.Nanosecond)
	time.Sleep(time.Millisecond)
	h.tick()
	if h.Flows() != 0 || h.FDs() != 0 {
		t.Fatalf("after expiry: %d flows, %d sockets", h.Flows(), h.FDs())
	}
	fromGuest(t, h, guestFrame(netip.AddrPortFrom(guest4, 43004), gw, []byte("new")))
	if h.Flows() != 1 || h.FDs() != 1 || h.Stats.OverBudget != 2 {
		t.Fatalf("after expiry, a new flow: %d flows, %d sockets, stats %+v", h.Flows(), h.FDs(), h.Stats)
	}
}

// TestExpiry: idle flows are closed by the timer, with their sockets.
func TestExpiry(t *testing.T) {
	h, _ := newTest(t, 16)
	h.SetTimeouts(50*time.Millisecond, time.Hour)
	srv := hostUDP(t, false)
	gw := netip.AddrPortFrom(gw4, uint16(srv.LocalAddr().(*net.UDPAddr).Port))
	fromGuest(t, h, guestFrame(netip.AddrPortFrom(guest4, 42000), gw, []byte("x")))
	fd := int(h.flows[flowOf(t, h, netip.AddrPortFrom(guest4, 42000), gw)].fd[0])
	h.tick()
	if h.Flows() != 1 {
		t.Fatalf("flow expired at once")
	}
	time.Sleep(80 * time.Millisecond)
	h.tick()
	if h.Flows() != 0 || h.Stats.Expired != 1 || h.armed {
		t.Fatalf("%d flows after the timeout, stats %+v, timer armed %v", h.Flows(), h.Stats, h.armed)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
		// The number may have been reused by another test's socket;
		// it must at least not be ours any more.
		if st, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err == nil && st == unix.SOCK_DGRAM {
			t.Logf("descriptor %d reused", fd)
		}
	}
}

// TestSplice: the bypass relays datagrams from a -u socket on host
// loopback to a socket in the namespace (here the test's own namespace,
// entered by the namespace thread, with --host-lo-to-ns-lo addressing)
// and the replies back from the port the client sent to; -U relays the
// other way.
func TestSplice(t *testing.T) {
	nsf, err := os.Open("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer nsf.Close()
	th, err := ns.NewThread(int(nsf.Fd()))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("namespace thread (needs CAP_SYS_ADMIN): %v", err)
		}
		t.Skipf("namespace thread (needs CAP_SYS_ADMIN): %v", err)
	}
	for _, v6 := range []bool{false, true} {
		h, out := newTest(t, 16)
		h.EnableSplice(th, netip.Addr{}, netip.Addr{})
		lo := netip.MustParseAddr("127.0.0.1")
		if v6 {
			lo = netip.IPv6Loopback()
		}
		srv := hostUDP(t, v6) // stands for the server in the namespace
		sport := uint16(srv.LocalAddr().(*net.UDPAddr).Port)
		probe := hostUDP(t, v6)
		port := uint16(probe.LocalAddr().(*net.UDPAddr).Port)
		probe.Close()
		li, err := h.Listen(lo, "", port, sport, netip.Addr{}, false)
		if err != nil {
			t.Fatal(err)
		}
		cli := hostUDPReuse(t, v6)
		to := netip.AddrPortFrom(lo, port)
		cli.WriteToUDPAddrPort([]byte("ping"), to)
		waitReadable(t, h.listeners[li].fd, unix.POLLIN)
		h.ListenEvent(loop.MakeRef(2, uint64(li)), unix.EPOLLIN)
		got, from := hostRead(t, srv, 100)
		if string(got) != "ping" {
			t.Fatalf("v6=%v: server got %q", v6, got)
		}
		if from.Port() != uint16(cli.LocalAddr().(*net.UDPAddr).Port) {
			t.Errorf("v6=%v: source port %d not preserved", v6, from.Port())
		}
		srv.WriteToUDPAddrPort([]byte("pong"), from)
		idx, ok := h.table.Lookup(flow.MakeKey(keySpliceHost, to, netip.AddrPortFrom(lo, uint16(cli.LocalAddr().(*net.UDPAddr).Port))))
		if !ok {
			t.Fatal("no spliced flow")
		}
		waitReadable(t, int(h.flows[idx].fd[1]), unix.POLLIN)
		h.Event(h.ref(idx, 1), unix.EPOLLIN)
		got, from = hostRead(t, cli, 100)
		if string(got) != "pong" || from != to {
			t.Fatalf("v6=%v: client got %q from %s", v6, got, from)
		}
		if out.n != 0 || h.Stats.Relayed != 2 {
			t.Errorf("v6=%v: %d frames to the guest, stats %+v", v6, out.n, h.Stats)
		}
		if h.FDs() != 2 {
			t.Errorf("v6=%v: a spliced flow counted as %d sockets, want 2", v6, h.FDs())
		}
		// The client's next datagrams arrive on the flow's reply socket
		// and are relayed without allocating.
		cfd, sfd := rawFd(t, cli), rawFd(t, srv)
		pfd := make([]unix.PollFd, 1)
		buf := make([]byte, 100)
		ref := h.ref(idx, 0)
		var dst unix.Sockaddr = &unix.SockaddrInet6{Addr: lo.As16(), Port: int(port)}
		if !v6 {
			dst = &unix.SockaddrInet4{Addr: lo.As4(), Port: int(port)}
		}
		if a := testing.AllocsPerRun(100, func() {
			if err := unix.Sendto(cfd, buf[:64], 0, dst); err != nil {
				t.Fatal(err)
			}
			pfd[0] = unix.PollFd{Fd: h.flows[idx].fd[0], Events: unix.POLLIN}
			if n, err := pollReady(pfd, 2000); n != 1 || err != nil {
				t.Fatal("reply socket not readable")
			}
			h.Event(ref, unix.EPOLLIN)
			if _, err := unix.Read(sfd, buf); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("v6=%v: %v allocations per relayed datagram", v6, a)
		}
	}
}

// TestAllocs: no allocation per datagram in steady state, from the guest
// to a host socket and from the socket to the guest.
func TestAllocs(t *testing.T) {
	h, out := newTest(t, 16)
	srv := hostUDP(t, false)
	gw := netip.AddrPortFrom(gw4, uint16(srv.LocalAddr().(*net.UDPAddr).Port))
	g := netip.AddrPortFrom(guest4, 43000)
	f := guestFrame(g, gw, make([]byte, 1400))
	var d pkt.Decoded
	if err := pkt.Decode(f, &d); err != nil {
		t.Fatal(err)
	}
	h.FromGuest(f, &d)
	h.Flush()
	srvFd := rawFd(t, srv)
	buf := make([]byte, 2000)
	recvOne := func() {
		if _, err := unix.Read(srvFd, buf); err != nil {
			t.Fatal(err)
		}
	}
	pfd := make([]unix.PollFd, 1)
	recvOne()
	idx := flowOf(t, h, g, gw)
	peer := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	lsa, _ := unix.Getsockname(int(h.flows[idx].fd[0]))
	peer.Port = lsa.(*unix.SockaddrInet4).Port
	if a := testing.AllocsPerRun(200, func() {
		h.FromGuest(f, &d)
		h.Flush()
		recvOne()
	}); a != 0 {
		t.Errorf("guest to host: %v allocations per datagram", a)
	}
	ref := h.ref(idx, 0)
	if a := testing.AllocsPerRun(200, func() {
		if err := unix.Sendto(srvFd, buf[:1400], 0, peer); err != nil {
			t.Fatal(err)
		}
		pfd[0] = unix.PollFd{Fd: h.flows[idx].fd[0], Events: unix.POLLIN}
		if n, err := pollReady(pfd, 2000); n != 1 || err != nil {
			t.Fatal("flow socket not readable")
		}
		out.reset()
		h.Event(ref, unix.EPOLLIN)
		if out.n != 1 {
			t.Fatal("no frame")
		}
	}); a != 0 {
		t.Errorf("host to guest: %v allocations per datagram", a)
	}
}

func rawFd(t testing.TB, c *net.UDPConn) int {
	sc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	sc.Control(func(f uintptr) { fd = int(f) })
	return fd
}

// TestDNSRedirect: a datagram to the --dns-forward address and port 53
// goes to the --dns-host resolver; the answer, and an ICMP error once the
// resolver is gone, come from the address the guest asked.
func TestDNSRedirect(t *testing.T) {
	resolver := netip.MustParseAddr("127.0.0.99")
	srv, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(resolver, 53)))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("binding the test resolver: %v", err)
		}
		t.Skipf("binding the test resolver: %v", err)
	}
	defer srv.Close()
	h, out := newTest(t, 16)
	fwd := netip.MustParseAddr("10.0.2.3")
	nat := h.nat.(*flow.NAT)
	nat.V4.DNSMatch, nat.V4.DNSHost = fwd, resolver
	g, dns := netip.AddrPortFrom(guest4, 45000), netip.AddrPortFrom(fwd, 53)
	fromGuest(t, h, guestFrame(g, dns, []byte("query")))
	got, from := hostRead(t, srv, 100)
	if string(got) != "query" {
		t.Fatalf("resolver got %q", got)
	}
	srv.WriteToUDPAddrPort([]byte("answer"), from)
	idx := flowOf(t, h, g, dns)
	waitReadable(t, int(h.flows[idx].fd[0]), unix.POLLIN)
	h.Event(h.ref(idx, 0), unix.EPOLLIN)
	if out.n != 1 {
		t.Fatalf("%d frames for the answer", out.n)
	}
	checkFrame(t, out.frames[0], dns, g, []byte("answer"))

	srv.Close()
	fromGuest(t, h, guestFrame(g, dns, []byte("again")))
	waitReadable(t, int(h.flows[idx].fd[0]), 0)
	out.reset()
	h.Event(h.ref(idx, 0), unix.EPOLLERR)
	var d pkt.Decoded
	if out.n != 1 || pkt.Decode(out.frames[0], &d) != nil || d.L4Proto != pkt.ProtoICMP || d.Src != fwd {
		t.Fatalf("no ICMP error from %s: %d frames", fwd, out.n)
	}
}

// offloadSink is a sink whose link takes partial checksums.
type offloadSink struct {
	sink
	partial []bool
}

func (s *offloadSink) QueueOffload(f []byte, gso uint16, partial bool) {
	s.Queue(f)
	s.partial = append(s.partial, partial && gso == 0)
}

// TestOffload: with SetOffload, frames to the guest carry the
// pseudo-header sum in their checksum field, which the kernel completes
// into the right checksum; without it (a capture is on), full checksums.
func TestOffload(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		l, err := loop.New()
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out := &offloadSink{}
		h, err := newHandler(l, 1, 2, out, Config{NAT: testNAT()}, 16)
		if err != nil {
			t.Fatal(err)
		}
		h.SetOffload(true)
		b := make([]byte, rxBufSize)
		payload := []byte("partial checksum, odd length")
		copy(b[hdrRoom:], payload)
		src, dst := netip.AddrPortFrom(gw4, 53), netip.AddrPortFrom(guest4, 40000)
		if v6 {
			src, dst = netip.AddrPortFrom(gw6, 53), netip.AddrPortFrom(guest6, 40000)
		}
		h.queueFrame(b, len(payload), src, dst)
		if out.n != 1 || len(out.partial) != 1 || !out.partial[0] {
			t.Fatalf("v6=%v: %d frames, offloads %v", v6, out.n, out.partial)
		}
		f := out.frames[0]
		var d pkt.Decoded
		if err := pkt.Decode(f, &d); err != nil {
			t.Fatal(err)
		}
		u := pkt.UDP(f[d.L4Off : d.L4Off+d.L4Len])
		pseudo := pkt.PseudoHeaderSum(d.Src, d.Dst, pkt.ProtoUDP, uint32(len(u)))
		if u.Checksum() != pkt.Fold(pseudo) {
			t.Fatalf("v6=%v: checksum field %04x, want the pseudo-header sum %04x", v6, u.Checksum(), pkt.Fold(pseudo))
		}
		// What the kernel does with csum_start and csum_offset.
		u.SetChecksum(pkt.Finish(pkt.Checksum(u, 0)))
		if pkt.Finish(pkt.Checksum(u, pseudo)) != 0 {
			t.Errorf("v6=%v: completed checksum does not verify", v6)
		}
		h.SetOffload(false)
		out.reset()
		h.queueFrame(b, len(payload), src, dst)
		checkFrame(t, out.frames[0], src, dst, payload)
		if len(out.partial) != 1 {
			t.Errorf("v6=%v: offload used with SetOffload(false)", v6)
		}
	}
}

// TestExpiredMakeRoom: flows past their timeout, which the timer closes
// at its next tick (up to a second later), do not refuse new flows
// meanwhile: a new flow that would exceed the descriptor share or the
// table closes them at once (the soak's UDP churn, with a 1 s timeout,
// filled the share with such flows between ticks, and a client retrying
// once a second, in step with the timer, was refused five times in a
// row). Flows within their timeout still refuse new ones.
func TestExpiredMakeRoom(t *testing.T) {
	srv := hostUDP(t, false)
	gw := netip.AddrPortFrom(gw4, uint16(srv.LocalAddr().(*net.UDPAddr).Port))
	received := func() int { return hostCount(srv, 100*time.Millisecond) }
	for _, limit := range []string{"descriptors", "table"} {
		capacity := 64
		if limit == "table" {
			capacity = 2
		}
		h, _ := newTest(t, capacity)
		if limit == "descriptors" {
			h.SetFDLimit(2)
		}
		h.SetTimeouts(50*time.Millisecond, 50*time.Millisecond)
		for p := uint16(44000); p < 44002; p++ {
			fromGuest(t, h, guestFrame(netip.AddrPortFrom(guest4, p), gw, []byte{byte(p)}))
		}
		// Within the timeout, the share or the table is full.
		fromGuest(t, h, guestFrame(netip.AddrPortFrom(guest4, 44002), gw, []byte("early")))
		if h.Flows() != 2 || h.Stats.NoFlow != 1 || h.Stats.Expired != 0 {
			t.Fatalf("%s: before the timeout: %d flows, stats %+v", limit, h.Flows(), h.Stats)
		}
		// One flow stays active, the other expires; no tick runs.
		time.Sleep(30 * time.Millisecond)
		fromGuest(t, h, guestFrame(netip.AddrPortFrom(guest4, 44001), gw, []byte("keep")))
		time.Sleep(40 * time.Millisecond)
		fromGuest(t, h, guestFrame(netip.AddrPortFrom(guest4, 44002), gw, []byte("late")))
		if h.Flows() != 2 || h.FDs() != 2 || h.Stats.NoFlow != 1 || h.Stats.Expired != 1 {
			t.Fatalf("%s: after the first flow's timeout: %d flows, %d sockets, stats %+v", limit, h.Flows(), h.FDs(), h.Stats)
		}
		if _, ok := h.table.Lookup(flow.MakeKey(pkt.ProtoUDP, netip.AddrPortFrom(guest4, 44000), gw)); ok {
			t.Errorf("%s: the expired flow is still there", limit)
		}
		flowOf(t, h, netip.AddrPortFrom(guest4, 44001), gw)
		flowOf(t, h, netip.AddrPortFrom(guest4, 44002), gw)
		if got := received(); got != 4 {
			t.Errorf("%s: server got %d datagrams, want 4", limit, got)
		}
	}
}

// TestExpiryQueued: a flow past its timeout whose socket holds a datagram
// the loop has not read yet (a reply, or a client that reused the flow's
// port, arriving just before the tick) is kept, and the datagram
// delivered, rather than lost with the socket.
func TestExpiryQueued(t *testing.T) {
	h, out := newTest(t, 16)
	h.SetTimeouts(50*time.Millisecond, 50*time.Millisecond)
	srv := hostUDP(t, false)
	gw := netip.AddrPortFrom(gw4, uint16(srv.LocalAddr().(*net.UDPAddr).Port))
	g := netip.AddrPortFrom(guest4, 45000)
	fromGuest(t, h, guestFrame(g, gw, []byte("x")))
	_, from := hostRead(t, srv, 10)
	time.Sleep(80 * time.Millisecond)
	srv.WriteToUDPAddrPort([]byte("late"), from)
	idx := flowOf(t, h, g, gw)
	waitReadable(t, int(h.flows[idx].fd[0]), unix.POLLIN)
	h.tick()
	if h.Flows() != 1 || h.Stats.Expired != 0 {
		t.Fatalf("a flow with a datagram queued expired: %d flows, stats %+v", h.Flows(), h.Stats)
	}
	h.Event(h.ref(idx, 0), unix.EPOLLIN)
	if out.n != 1 {
		t.Fatalf("%d frames to the guest, want 1", out.n)
	}
	checkFrame(t, out.frames[0], gw, g, []byte("late"))
	// Idle again, it expires.
	time.Sleep(80 * time.Millisecond)
	h.tick()
	if h.Flows() != 0 || h.Stats.Expired != 1 {
		t.Fatalf("after the timeout: %d flows, stats %+v", h.Flows(), h.Stats)
	}
}

// segSink is an offloadSink whose link takes UDP super-frames; it keeps
// each super-frame whole (the frame, then its tail) with its GSO size.
type segSink struct {
	offloadSink
	gso []uint16 // per frame: 0 for a plain one
}

func (s *segSink) QueueOffload(f []byte, gso uint16, partial bool) {
	s.offloadSink.QueueOffload(f, gso, partial)
	s.gso = append(s.gso, 0)
}

func (s *segSink) QueueSegments(f []byte, tail [][]byte, gso uint16) {
	whole := append([]byte(nil), f...)
	for _, t := range tail {
		whole = append(whole, t...)
	}
	s.Queue(whole)
	s.partial = append(s.partial, true)
	s.gso = append(s.gso, gso)
}

// TestSegments: with SetSegmentation, the datagrams one read brings from a
// flow's peer go to the guest as super-frames, a run ending at a shorter
// datagram or a change of size: lengths counting the whole run, the
// pseudo-header sum over it, and every datagram's bytes in order, as the
// kernel will cut them. Without it, one frame each.
func TestSegments(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		l, err := loop.New()
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out := &segSink{}
		h, err := newHandler(l, 1, 2, out, Config{NAT: testNAT()}, 16)
		if err != nil {
			t.Fatal(err)
		}
		h.SetSegmentation(true)
		if h.segOut != nil {
			t.Fatal("segmentation on without offloads")
		}
		h.SetOffload(true)
		h.SetSegmentation(true)

		srv := hostUDP(t, v6)
		port := uint16(srv.LocalAddr().(*net.UDPAddr).Port)
		g, gw := netip.AddrPortFrom(guest4, 40200), netip.AddrPortFrom(gw4, port)
		if v6 {
			g, gw = netip.AddrPortFrom(guest6, 40200), netip.AddrPortFrom(gw6, port)
		}
		fromGuest(t, h, guestFrame(g, gw, []byte("start")))
		_, from := hostRead(t, srv, 100)
		idx := flowOf(t, h, g, gw)

		sizes := []int{1000, 1000, 1000, 1000, 1000, 300, 500, 500, 700, 0}
		runs := [][]int{{0, 6}, {6, 8}, {8, 9}, {9, 10}} // [first, end) of each frame
		send := func() [][]byte {
			var sent [][]byte
			for i, n := range sizes {
				d := bytes.Repeat([]byte{byte('a' + i)}, n)
				if _, err := srv.WriteToUDPAddrPort(d, from); err != nil {
					t.Fatal(err)
				}
				sent = append(sent, d)
			}
			waitReadable(t, int(h.flows[idx].fd[0]), unix.POLLIN)
			return sent
		}
		sent := send()
		out.reset()
		out.partial, out.gso = out.partial[:0], out.gso[:0]
		h.Event(h.ref(idx, 0), unix.EPOLLIN)
		if out.n != len(runs) {
			t.Fatalf("v6=%v: %d frames, want %d (gso sizes %v)", v6, out.n, len(runs), out.gso)
		}
		for r, run := range runs {
			f := out.frames[r]
			var d pkt.Decoded
			if err := pkt.Decode(f, &d); err != nil {
				t.Fatalf("v6=%v: frame %d: %v", v6, r, err)
			}
			u := pkt.UDP(f[d.L4Off : d.L4Off+d.L4Len])
			var want []byte
			for _, s := range sent[run[0]:run[1]] {
				want = append(want, s...)
			}
			if !bytes.Equal(u.Payload(), want) || int(u.Length()) != 8+len(want) || d.Src != gw.Addr() || d.Dst != g.Addr() {
				t.Errorf("v6=%v: frame %d: %d payload bytes (UDP length %d), want datagrams %v of %d", v6, r, len(u.Payload()), u.Length(), run, len(want))
			}
			if pseudo := pkt.PseudoHeaderSum(d.Src, d.Dst, pkt.ProtoUDP, uint32(8+len(want))); u.Checksum() != pkt.Fold(pseudo) {
				t.Errorf("v6=%v: frame %d: checksum field %04x, want the pseudo-header sum %04x", v6, r, u.Checksum(), pkt.Fold(pseudo))
			}
			wantGSO := uint16(0)
			if run[1]-run[0] > 1 {
				wantGSO = uint16(sizes[run[0]])
			}
			if out.gso[r] != wantGSO {
				t.Errorf("v6=%v: frame %d: GSO size %d, want %d", v6, r, out.gso[r], wantGSO)
			}
		}
		if h.Stats.ToGuest != uint64(len(sizes)) {
			t.Errorf("v6=%v: ToGuest %d, want %d", v6, h.Stats.ToGuest, len(sizes))
		}

		h.SetSegmentation(false)
		send()
		out.reset()
		h.Event(h.ref(idx, 0), unix.EPOLLIN)
		if out.n != len(sizes) {
			t.Errorf("v6=%v: %d frames without segmentation, want %d", v6, out.n, len(sizes))
		}
	}
}

// countSink counts frames and super-frames without keeping them.
type countSink struct{ frames, supers, datagrams int }

func (s *countSink) Queue([]byte)                      { s.frames++ }
func (s *countSink) QueueOffload([]byte, uint16, bool) { s.frames++ }
func (s *countSink) QueueSegments(_ []byte, tail [][]byte, _ uint16) {
	s.supers++
	s.datagrams += 1 + len(tail)
}
func (s *countSink) Flush()                      {}
func (s *countSink) MACs() (ours, guest [6]byte) { return ourMAC, gMAC }

// TestSegmentsAllocs: datagrams to the guest as super-frames allocate
// nothing; and a read's datagrams fit one super-frame of the tap's.
func TestSegmentsAllocs(t *testing.T) {
	if batchMax-1 > tap.MaxTail {
		t.Fatalf("a read of %d datagrams would need %d pieces after the first; the tap takes %d", batchMax, batchMax-1, tap.MaxTail)
	}
	l, err := loop.New()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	out := &countSink{}
	h, err := newHandler(l, 1, 2, out, Config{NAT: testNAT()}, 16)
	if err != nil {
		t.Fatal(err)
	}
	h.SetOffload(true)
	h.SetSegmentation(true)
	srv := hostUDP(t, false)
	gw := netip.AddrPortFrom(gw4, uint16(srv.LocalAddr().(*net.UDPAddr).Port))
	g := netip.AddrPortFrom(guest4, 43001)
	fromGuest(t, h, guestFrame(g, gw, []byte("start")))
	_, from := hostRead(t, srv, 100)
	idx := flowOf(t, h, g, gw)
	srvFd := rawFd(t, srv)
	peer := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: int(from.Port())}
	buf := make([]byte, 1400)
	pfd := make([]unix.PollFd, 1)
	ref := h.ref(idx, 0)
	if a := testing.AllocsPerRun(100, func() {
		for range 4 {
			if err := unix.Sendto(srvFd, buf, 0, peer); err != nil {
				t.Fatal(err)
			}
		}
		pfd[0] = unix.PollFd{Fd: h.flows[idx].fd[0], Events: unix.POLLIN}
		if n, err := pollReady(pfd, 2000); n != 1 || err != nil {
			t.Fatal("flow socket not readable")
		}
		h.Event(ref, unix.EPOLLIN)
	}); a != 0 {
		t.Errorf("%v allocations per read of 4 datagrams", a)
	}
	if out.frames != 0 || out.datagrams != 4*out.supers || out.supers < 100 {
		t.Errorf("%d frames, %d super-frames of %d datagrams: want super-frames of 4", out.frames, out.supers, out.datagrams)
	}
}

// connectedPair returns two UDP sockets on loopback connected to each
// other, the receiver with a read timeout.
func connectedPair(t *testing.T, v6 bool) (send, recv int) {
	t.Helper()
	family, lo := unix.AF_INET, unix.Sockaddr(&unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	if v6 {
		family, lo = unix.AF_INET6, &unix.SockaddrInet6{Addr: netip.IPv6Loopback().As16()}
	}
	var fds [2]int
	for i := range fds {
		fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		if err := unix.Bind(fd, lo); err != nil {
			t.Fatal(err)
		}
		fds[i] = fd
	}
	for i := range fds {
		peer, err := unix.Getsockname(fds[1-i])
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Connect(fds[i], peer); err != nil {
			t.Fatal(err)
		}
	}
	_ = unix.SetsockoptTimeval(fds[1], unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 2})
	_ = unix.SetsockoptInt(fds[1], unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	return fds[0], fds[1]
}

// sendRows queues datagrams of the given sizes (each filled with its
// number) on tx, flushes, and checks that recv gets them all, whole and in
// order; it returns how many went in segmented messages.
func sendRows(t *testing.T, tx *txBatch, send, recv int, sizes []int) uint64 {
	t.Helper()
	before := tx.segmented
	var sent [][]byte
	for i, n := range sizes {
		d := bytes.Repeat([]byte{byte('a' + i)}, n)
		sent = append(sent, d)
		tx.add(send, d)
	}
	if dropped := tx.flush(); dropped != 0 {
		t.Fatalf("%d datagrams dropped", dropped)
	}
	buf := make([]byte, 70000)
	for i, want := range sent {
		n, err := unix.Read(recv, buf)
		if err != nil {
			t.Fatalf("datagram %d of %d: %v", i, len(sent), err)
		}
		if !bytes.Equal(buf[:n], want) {
			t.Fatalf("datagram %d: %d bytes starting %q, want %d of %q", i, n, buf[:min(n, 4)], len(want), want[:min(len(want), 1)])
		}
	}
	return tx.segmented - before
}

// TestTxSegmented: rows of one size go as segmented messages (the last of
// a row may be shorter; an empty datagram, a longer one or 64 in a row
// start another), and every datagram arrives whole and in order, v4 and
// v6, up to the largest row an IPv4 packet holds.
func TestTxSegmented(t *testing.T) {
	if unix.CmsgSpace(2) > segCtlLen {
		t.Fatalf("segCtlLen %d < CmsgSpace(2) %d", segCtlLen, unix.CmsgSpace(2))
	}
	if !kernelSegments() {
		t.Fatal("the kernel does not know UDP_SEGMENT (Linux 4.18 does)")
	}
	for _, v6 := range []bool{false, true} {
		send, recv := connectedPair(t, v6)
		tx := newTxBatch()
		sizes := []int{1000, 1000, 1000, 1000, 1000, 300, 500, 500, 0, 700, 800, 1}
		// Rows: 5×1000 and 300; 500 and 500; 0 alone; 700 alone (800
		// is longer); 800 and 1.
		if seg := sendRows(t, tx, send, recv, sizes); seg != 10 {
			t.Errorf("v6=%v: %d datagrams segmented, want 10", v6, seg)
		}
		// 32 datagrams of 2047 bytes: a row stops before 65507 bytes.
		big := make([]int, batchMax)
		for i := range big {
			big[i] = 2047
		}
		if seg := sendRows(t, tx, send, recv, big); seg != batchMax {
			t.Errorf("v6=%v: %d of %d large datagrams segmented", v6, seg, batchMax)
		}
		if sendRows(t, tx, send, recv, []int{1200}) != 0 {
			t.Errorf("v6=%v: a lone datagram went segmented", v6)
		}
		// A full batch of rows of one, each longer than the last (as
		// 65000-byte datagrams, two of which no packet holds, once made
		// the batch index past its end).
		for _, grow := range []int{1, 2000} {
			rows := make([]int, batchMax)
			for i := range rows {
				rows[i] = 1 + i*grow
			}
			if seg := sendRows(t, tx, send, recv, rows); seg != 0 {
				t.Errorf("v6=%v: %d of %d growing datagrams segmented", v6, seg, batchMax)
			}
		}
		// Full batches that end with a row of two, and of 65000 bytes.
		mixed := make([]int, batchMax)
		for i := range mixed {
			mixed[i] = 1 + i
		}
		mixed[batchMax-1] = mixed[batchMax-2]
		if seg := sendRows(t, tx, send, recv, mixed); seg != 2 {
			t.Errorf("v6=%v: %d datagrams segmented, want the last 2", v6, seg)
		}
		huge := []int{65000, 65000, 65000, 65000}
		if seg := sendRows(t, tx, send, recv, huge); seg != 0 {
			t.Errorf("v6=%v: %d datagrams of 65000 bytes segmented", v6, seg)
		}
		payload, buf := make([]byte, 1400), make([]byte, 2000)
		if a := testing.AllocsPerRun(50, func() {
			for range 4 {
				tx.add(send, payload)
			}
			if tx.flush() != 0 {
				t.Fatal("dropped")
			}
			for range 4 {
				if _, err := unix.Read(recv, buf); err != nil {
					t.Fatal(err)
				}
			}
		}); a != 0 {
			t.Errorf("v6=%v: %v allocations per segmented send", v6, a)
		}
	}
}

// TestTxSegmentedRefused: over a loopback whose MTU is below the
// datagrams' size the kernel refuses segmented sends (it would have to
// fragment each piece); the row goes one datagram at a time, fragmented
// as usual, and nothing is lost.
func TestTxSegmentedRefused(t *testing.T) {
	netnstest.RequireRoot(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread ends with its namespace
		if err := netnstest.Enter(nil); err != nil {
			t.Error(err)
			return
		}
		nl, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			t.Error(err)
			return
		}
		defer nl.Close()
		lo, err := nl.LinkByName("lo")
		if err == nil {
			err = nl.LinkSetMTU(lo, 1300)
		}
		if err != nil {
			t.Error(err)
			return
		}
		send, recv := connectedPair(t, false)
		tx := newTxBatch()
		if seg := sendRows(t, tx, send, recv, []int{1400, 1400, 1400, 200}); seg != 0 {
			t.Errorf("%d datagrams went segmented over an MTU of 1300", seg)
		}
		if tx.noSegment {
			t.Error("a refusal for this path turned segmentation off for good")
		}
		// Datagrams that fit still go segmented.
		if seg := sendRows(t, tx, send, recv, []int{1000, 1000, 1000}); seg != 3 {
			t.Errorf("%d of 3 datagrams under the MTU went segmented", seg)
		}
	}()
	<-done
}
