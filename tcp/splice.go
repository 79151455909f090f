// SPDX-License-Identifier: GPL-2.0-or-later

package tcp

import (
	"errors"
	"net/netip"

	"golang.org/x/sys/unix"

	"passt/log"
	"passt/loop"
	"passt/ns"
	"passt/splice"
)

// Splicer is pasta's loopback bypass: a connection arriving on a host
// loopback address for a -t rule is joined to a socket connected inside the
// namespace, and a connection to the namespace's loopback for a -T rule to a
// socket connected to the host's loopback, with splice(2) through pipes:
// the data never becomes frames and is never copied through user space.
//
// Each spliced connection holds two sockets, both registered in the loop
// under the connection's number with the side in the lowest bit of the
// reference's index. A socket created for the namespace is opened on the
// namespace thread (ns.Thread); once open it is used from the loop like any
// other. Connecting is non-blocking: the pair starts moving data when the
// outgoing socket reports it is writable.
type Splicer struct {
	loop       *loop.Loop
	kind       loop.Kind
	listenKind loop.Kind
	nsThread   *ns.Thread
	pool       *splice.Pool

	// nsAddr4, nsAddr6: where host-side connections go in the namespace
	// (its address; invalid with --host-lo-to-ns-lo: the same loopback).
	nsAddr4, nsAddr6 netip.Addr

	conns     []splicedConn
	free      []int
	listeners []spliceListener
	reserve   reserveFD // see capacity.go
	// hostCC, nsCC: congestion control for the spliced sockets, all of
	// them local, on either side (localcc.go): set on the sockets we
	// connect, and on the namespace's listeners, whose connections come
	// from lo only, so that what they accept inherits it.
	hostCC, nsCC localCC
	owner        *Handler // whose descriptor share it draws on (capacity.go)
}

type splicedConn struct {
	used       bool
	connecting bool // the outgoing socket (B) is still connecting
	conn       splice.Conn
	a, b       int    // accepted socket, outgoing socket
	evA, evB   uint32 // registered events
}

type spliceListener struct {
	fd     int
	toPort uint16
}

// maxSpliced is the number of spliced connections held at once.
const maxSpliced = 32768

// NewSplicer creates the bypass; kind and listenKind are the loop kinds of
// its connections and of its namespace-side listeners.
func NewSplicer(l *loop.Loop, kind, listenKind loop.Kind, t *ns.Thread, nsAddr4, nsAddr6 netip.Addr) *Splicer {
	s := &Splicer{
		loop: l, kind: kind, listenKind: listenKind, nsThread: t,
		pool:    splice.NewPool(64, splice.MaxPipeSize),
		nsAddr4: nsAddr4, nsAddr6: nsAddr6,
		conns:   make([]splicedConn, maxSpliced),
		reserve: newReserve(),
	}
	for i := maxSpliced - 1; i >= 0; i-- {
		s.free = append(s.free, i)
	}
	return s
}

// FromHost takes a connection accepted on a host loopback address (local)
// for guest port toPort and connects its partner in the namespace. It
// returns false if it could not (the caller then resets the connection).
func (s *Splicer) FromHost(fd int, local netip.AddrPort, toPort uint16) bool {
	dst := s.nsAddr4
	if local.Addr().Is6() {
		dst = s.nsAddr6
	}
	if !dst.IsValid() {
		dst = local.Addr() // --host-lo-to-ns-lo: the same loopback address
	}
	var out int
	var err error
	s.nsThread.Do(func() {
		// The namespace's thread keeps the capabilities that let us
		// choose its congestion control; the others may not have them
		// (setsockopt(TCP_CONGESTION) from another thread failed with
		// EPERM, and the socket kept BBR).
		if out, err = socketFor(dst); err == nil {
			s.nsCC.apply(out)
		}
	})
	if err != nil {
		log.Debugf("splice: socket in namespace: %v", err)
		return false
	}
	return s.start(fd, out, netip.AddrPortFrom(dst, toPort))
}

// fromNamespace takes a connection accepted in the namespace on loopback
// (local) and connects its partner to the same loopback address on the
// host, port toPort.
func (s *Splicer) fromNamespace(fd int, local netip.AddrPort, toPort uint16) bool {
	out, err := socketFor(local.Addr())
	if err != nil {
		return false
	}
	s.hostCC.apply(out)
	return s.start(fd, out, netip.AddrPortFrom(local.Addr(), toPort))
}

func socketFor(a netip.Addr) (int, error) {
	family := unix.AF_INET
	if a.Is6() {
		family = unix.AF_INET6
	}
	return unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
}

// start connects out to dst and registers the pair.
func (s *Splicer) start(a, b int, dst netip.AddrPort) bool {
	if len(s.free) == 0 || (s.owner != nil && s.owner.overBudget(splicedFDs)) {
		unix.Close(b)
		return false
	}
	err := unix.Connect(b, sockaddr(dst))
	if err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(b)
		return false
	}
	idx := s.free[len(s.free)-1]
	s.free = s.free[:len(s.free)-1]
	c := &s.conns[idx]
	*c = splicedConn{used: true, connecting: true, a: a, b: b, evB: unix.EPOLLOUT}
	if err := s.loop.Add(a, 0, s.ref(idx, 0)); err != nil {
		s.abort(idx)
		return true
	}
	if err := s.loop.Add(b, unix.EPOLLOUT, s.ref(idx, 1)); err != nil {
		s.loop.Del(a)
		s.abort(idx)
	}
	return true
}

func (s *Splicer) ref(idx, side int) loop.Ref {
	return loop.MakeRef(s.kind, uint64(idx)<<1|uint64(side))
}

// Event handles a ready socket of a spliced connection.
func (s *Splicer) Event(ref loop.Ref, events uint32) {
	idx := int(ref.Index() >> 1)
	c := &s.conns[idx]
	if !c.used {
		return
	}
	if c.connecting {
		if ref.Index()&1 == 0 {
			if events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
				s.teardown(idx, true)
			}
			return
		}
		soerr, _ := unix.GetsockoptInt(c.b, unix.SOL_SOCKET, unix.SO_ERROR)
		if soerr != 0 || events&unix.EPOLLERR != 0 {
			s.teardown(idx, true)
			return
		}
		if err := c.conn.Init(s.pool, c.a, c.b); err != nil {
			s.teardown(idx, true)
			return
		}
		c.connecting = false
		c.evA, c.evB = ^uint32(0), ^uint32(0) // force registration below
		events = unix.EPOLLIN | unix.EPOLLOUT // first round: both ways
	}
	waitA, waitB, state, _ := c.conn.PumpEvents(int(ref.Index()&1), events)
	if state != splice.Open {
		s.loop.Del(c.a)
		s.loop.Del(c.b)
		c.conn.Close()
		s.release(idx)
		return
	}
	if waitA != c.evA {
		_ = s.loop.Mod(c.a, waitA, s.ref(idx, 0))
		c.evA = waitA
	}
	if waitB != c.evB {
		_ = s.loop.Mod(c.b, waitB, s.ref(idx, 1))
		c.evB = waitB
	}
}

// teardown closes a pair that never started; with reset, the accepted side
// is reset so that its client sees the refusal.
func (s *Splicer) teardown(idx int, reset bool) {
	c := &s.conns[idx]
	s.loop.Del(c.a)
	s.loop.Del(c.b)
	if reset {
		_ = unix.SetsockoptLinger(c.a, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}
	unix.Close(c.a)
	unix.Close(c.b)
	s.release(idx)
}

func (s *Splicer) abort(idx int) {
	c := &s.conns[idx]
	_ = unix.SetsockoptLinger(c.a, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	unix.Close(c.a)
	unix.Close(c.b)
	s.release(idx)
}

func (s *Splicer) release(idx int) {
	s.conns[idx] = splicedConn{}
	s.free = append(s.free, idx)
}

// ListenNamespace opens a listening socket in the namespace for a -T rule:
// any address of the loopback device (bound to lo), port, with connections
// going to the host's same loopback address on toPort. v6 selects the
// family.
func (s *Splicer) ListenNamespace(v6 bool, port, toPort uint16) error {
	_, err := s.ListenNamespaceIndex(v6, port, toPort)
	return err
}

// CloseListener closes the namespace-side listener number idx.
func (s *Splicer) CloseListener(idx int) {
	l := &s.listeners[idx]
	if l.fd >= 0 {
		s.loop.Del(l.fd)
		unix.Close(l.fd)
		l.fd = -1
	}
}

// ListenNamespaceIndex is ListenNamespace, also returning the listener's
// number.
func (s *Splicer) ListenNamespaceIndex(v6 bool, port, toPort uint16) (int, error) {
	var fd int
	var err error
	s.nsThread.Do(func() {
		family, sa := unix.AF_INET, unix.Sockaddr(&unix.SockaddrInet4{Port: int(port)})
		if v6 {
			family, sa = unix.AF_INET6, &unix.SockaddrInet6{Port: int(port)}
		}
		fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return
		}
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		if v6 {
			_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
		}
		s.nsCC.apply(fd)
		if err = unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, "lo"); err == nil {
			if err = unix.Bind(fd, sa); err == nil {
				err = unix.Listen(fd, 128)
			}
		}
		if err != nil {
			unix.Close(fd)
		}
	})
	if err != nil {
		return -1, err
	}
	idx := len(s.listeners)
	if err := s.loop.Add(fd, unix.EPOLLIN, loop.MakeRef(s.listenKind, uint64(idx))); err != nil {
		unix.Close(fd)
		return -1, err
	}
	s.listeners = append(s.listeners, spliceListener{fd: fd, toPort: toPort})
	return idx, nil
}

// Accept takes connections on a namespace-side listener.
func (s *Splicer) Accept(ref loop.Ref, _ uint32) {
	l := &s.listeners[ref.Index()]
	for l.fd >= 0 {
		fd, _, err := unix.Accept4(l.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			if s.reserve.refuse(l.fd, err) { // out of descriptors
				continue
			}
			return
		}
		sa, err := unix.Getsockname(fd)
		local := sockaddrAddrPort(sa)
		if err != nil || !local.Addr().IsLoopback() || !s.fromNamespace(fd, local, l.toPort) {
			_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
			unix.Close(fd)
		}
	}
}

func sockaddr(a netip.AddrPort) unix.Sockaddr {
	if a.Addr().Is4() {
		return &unix.SockaddrInet4{Addr: a.Addr().As4(), Port: int(a.Port())}
	}
	return &unix.SockaddrInet6{Addr: a.Addr().As16(), Port: int(a.Port())}
}
