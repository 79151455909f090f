// SPDX-License-Identifier: GPL-2.0-or-later

package tcp

import (
	"net/netip"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"passt/internal/netnstest"
	"passt/loop"
	"passt/ns"
	"passt/pkt"
)

// TestLocalPeerLeavesBBR: with BBR as the network namespace's default, our
// sockets whose peer is on this host (a loopback address, or one of the
// host's own) are moved to cubic; a socket towards another host keeps the
// default. Covered: the host sockets of the guest's connections, and the
// splice bypass's sockets both ways.
func TestLocalPeerLeavesBBR(t *testing.T) {
	netnstest.RequireRoot(t)
	// Never unlocked: the thread, and the namespace with it, end with the
	// test's goroutine. Every socket below is opened on this thread.
	runtime.LockOSThread()
	// BBR as the namespace's default (the host's is left alone), and
	// 10.9.0.1/24 on lo: the rest of the prefix routes to lo but is
	// nobody's address.
	bbr := map[string]string{"ipv4/tcp_congestion_control": "bbr"}
	if err := netnstest.Enter(bbr, netip.MustParsePrefix("10.9.0.1/24")); err != nil {
		t.Fatal(err)
	}

	_, loopback := listenOn(t, "127.0.0.1")
	_, own := listenOn(t, "10.9.0.1")
	// Nobody answers at 10.9.0.2 (not an address of the namespace, so the
	// looped-back SYN is dropped): the socket stays in SYN_SENT, which is
	// enough to read its choice.
	targets := map[uint16]netip.AddrPort{
		1: loopback,
		2: own,
		3: netip.AddrPortFrom(netip.MustParseAddr("10.9.0.2"), 80),
	}

	l, err := loop.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	translate := func(dst netip.AddrPort) (netip.AddrPort, bool) {
		to, ok := targets[dst.Port()]
		return to, ok
	}
	h, err := New(l, 1, &recorder{t: t}, translate, 65520, netip.Addr{}, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	for port := range targets {
		feed(t, h, segment(false, 40000+port, port, 1000, 0, pkt.TCPFlagSYN, 65535, []byte{2, 4, 5, 180}, nil))
	}
	h.EndBatch()
	want := map[uint16]string{1: "cubic", 2: "cubic", 3: "bbr"}
	for port, cc := range want {
		fd := -1
		for i := range h.flows {
			if c := &h.flows[i]; c.fd > 0 && c.guest.Port() == 40000+port {
				fd = c.fd
			}
		}
		if fd < 0 {
			t.Fatalf("no host socket for the guest's connection to %v", targets[port])
		}
		if got, err := unix.GetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION); err != nil || got != cc {
			t.Errorf("host socket towards %v: congestion control %q (%v), want %q", targets[port], got, err, cc)
		}
	}

	// The splice bypass, both ways, with this namespace as both sides: the
	// socket it connects is moved off BBR, and so is the one accepted on
	// its namespace-side listener (inherited from the listener).
	netns, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	th, err := ns.NewThread(netns)
	unix.Close(netns)
	if err != nil {
		t.Fatal(err)
	}
	sp := NewSplicer(l, 3, 4, th, netip.Addr{}, netip.Addr{}) // conns[0], conns[1]... in order
	check := func(what string, fd int) {
		t.Helper()
		if got, err := unix.GetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION); err != nil || got != "cubic" {
			t.Errorf("%s: congestion control %q (%v), want cubic", what, got, err)
		}
	}
	idx, err := sp.ListenNamespaceIndex(false, 0, loopback.Port())
	if err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(sp.listeners[idx].fd)
	if err != nil {
		t.Fatal(err)
	}
	client := dial(t, sa)
	sp.Accept(loop.MakeRef(4, uint64(idx)), unix.EPOLLIN)
	if c := &sp.conns[0]; !c.used {
		t.Fatal("the namespace-side listener's connection was not spliced")
	} else {
		check("socket accepted on the namespace's listener", c.a)
		check("socket the splice connected to the host", c.b)
	}
	if got, _ := unix.GetsockoptString(client, unix.IPPROTO_TCP, unix.TCP_CONGESTION); got != "bbr" {
		t.Errorf("the client's own socket: %q, want the namespace's default, bbr", got)
	}

	// From the host: the accepted socket is the caller's; the splice
	// connects the namespace's side.
	lfd, ap := listenOn(t, "127.0.0.1")
	dial(t, &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())})
	accepted, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	sa, _ = unix.Getsockname(accepted)
	if !sp.FromHost(accepted, sockaddrAddrPort(sa), loopback.Port()) {
		t.Fatal("FromHost refused")
	}
	if c := &sp.conns[1]; !c.used {
		t.Fatal("the host's connection was not spliced")
	} else {
		check("socket the splice connected in the namespace", c.b)
	}
}

// dial connects a blocking client socket to sa.
func dial(t *testing.T, sa unix.Sockaddr) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Connect(fd, sa); err != nil {
		t.Fatal(err)
	}
	return fd
}

// listenOn opens a listening socket on addr, any port, until the test ends.
func listenOn(t *testing.T, addr string) (int, netip.AddrPort) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	a := netip.MustParseAddr(addr)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: a.As4()}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 4); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	return fd, netip.AddrPortFrom(a, uint16(sa.(*unix.SockaddrInet4).Port))
}

// TestLocalCCRefusedFallsBack: a choice the kernel refuses for a socket
// (setsockopt(TCP_CONGESTION) fails: another thread's capabilities, a
// changed sysctl) does not leave the socket on the default: the next
// choice is tried, and becomes the choice for the sockets after it.
func TestLocalCCRefusedFallsBack(t *testing.T) {
	cc := func(fd int) string {
		name, err := unix.GetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION)
		if err != nil {
			t.Fatal(err)
		}
		return name
	}
	socket := func() int {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		return fd
	}
	// A name no kernel has: refused like a choice not permitted.
	l := localCC{state: localCCSet, name: "no-such-cc"}
	first := socket()
	l.apply(first)
	if l.state != localCCSet || l.name != cc(first) || l.name == "no-such-cc" {
		t.Fatalf("after a refusal: state %v, choice %q, socket on %q", l.state, l.name, cc(first))
	}
	// A refused choice among ours: the ones after it.
	l = localCC{state: localCCSet, name: "cubic"}
	l.choose(socket(), "cubic")
	if l.state != localCCSet || l.name != "reno" {
		t.Errorf("after cubic was refused: state %v, choice %q, want reno", l.state, l.name)
	}
	second := socket()
	l.apply(second)
	if got := cc(second); got != l.name {
		t.Errorf("the next socket is on %q, want %q", got, l.name)
	}
}
