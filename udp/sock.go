// SPDX-License-Identifier: GPL-2.0-or-later

package udp

import (
	"errors"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batching and buffer sizes.
const (
	// batchMax is how many datagrams one recvmmsg(2) or sendmmsg(2)
	// moves at most.
	batchMax = 32
	// hdrRoom is the room left in front of every received payload for
	// the headers of a frame to the guest: Ethernet, IPv6 (the larger
	// one) and UDP. IPv4 frames start 20 bytes later in the buffer.
	hdrRoom = 14 + 40 + 8
	// MaxPayload is the largest UDP payload: 65535 bytes of IPv6
	// payload minus the UDP header (IPv4 allows 20 bytes less).
	MaxPayload = 65535 - 8
	// rxBufSize is the size of one receive buffer.
	rxBufSize = hdrRoom + MaxPayload
	// ctlSize holds one IP_PKTINFO or IPV6_PKTINFO control message.
	ctlSize = 64
)

// addrPort is an address and port in a pointer-free form (IPv4 as
// IPv4-mapped IPv6), for flow entries the garbage collector never scans.
type addrPort struct {
	addr [16]byte
	port uint16
}

func toAddrPort(a netip.AddrPort) addrPort {
	return addrPort{addr: a.Addr().As16(), port: a.Port()}
}

func (a addrPort) AddrPort() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16(a.addr).Unmap(), a.port)
}

// rawSockaddr fills sa (storage for either family) with a and returns
// the length to pass to the kernel.
func rawSockaddr(sa *unix.RawSockaddrInet6, a netip.AddrPort) uint32 {
	*sa = unix.RawSockaddrInet6{}
	port := a.Port()
	if a.Addr().Is4() {
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		s4.Family = unix.AF_INET
		s4.Port = port<<8 | port>>8
		s4.Addr = a.Addr().As4()
		return unix.SizeofSockaddrInet4
	}
	sa.Family = unix.AF_INET6
	sa.Port = port<<8 | port>>8
	sa.Addr = a.Addr().As16()
	return unix.SizeofSockaddrInet6
}

// fromRawSockaddr reads an IPv4 or IPv6 socket address; IPv4-mapped IPv6
// addresses come back as IPv4. The zero AddrPort means another family.
func fromRawSockaddr(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), s4.Port<<8|s4.Port>>8)
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), sa.Port<<8|sa.Port>>8)
	}
	return netip.AddrPort{}
}

// sockOpts say how a socket is opened.
type sockOpts struct {
	// v6 selects AF_INET6 (else AF_INET).
	v6 bool
	// dualStack, for AF_INET6 only, leaves IPV6_V6ONLY off.
	dualStack bool
	// pktinfo asks for the destination address of every datagram.
	pktinfo bool
	// freebind allows binding an address not (yet) configured.
	freebind bool
	// ifname binds to a device (SO_BINDTODEVICE), if set.
	ifname string
	// anyPort: if binding the requested port fails because it is in
	// use, bind an ephemeral port instead.
	anyPort bool
}

// openSocket creates a non-blocking UDP socket with SO_REUSEADDR and
// IP_RECVERR (errors from ICMP messages are queued for us to read), bound
// to local (a zero address: the family's wildcard) and, if peer is valid,
// connected to it. It runs on the calling thread, so its network namespace
// is the thread's.
func openSocket(o sockOpts, local, peer netip.AddrPort) (int, error) {
	family, level := unix.AF_INET, unix.IPPROTO_IP
	recverr, pktinfo, freebind := unix.IP_RECVERR, unix.IP_PKTINFO, unix.IP_FREEBIND
	if o.v6 {
		family, level = unix.AF_INET6, unix.IPPROTO_IPV6
		recverr, pktinfo, freebind = unix.IPV6_RECVERR, unix.IPV6_RECVPKTINFO, unix.IPV6_FREEBIND
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, fmt.Errorf("socket(): %w", err)
	}
	fail := func(what string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("%s: %w", what, err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if o.v6 {
		v6only := 1
		if o.dualStack {
			v6only = 0
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only)
	}
	if err := unix.SetsockoptInt(fd, level, recverr, 1); err != nil {
		return fail("setsockopt(RECVERR)", err)
	}
	if o.pktinfo {
		if err := unix.SetsockoptInt(fd, level, pktinfo, 1); err != nil {
			return fail("setsockopt(PKTINFO)", err)
		}
	}
	if o.freebind {
		_ = unix.SetsockoptInt(fd, level, freebind, 1)
	}
	if o.ifname != "" {
		if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, o.ifname); err != nil {
			return fail("setsockopt(SO_BINDTODEVICE)", err)
		}
	}
	a := local.Addr()
	if !a.IsValid() {
		a = netip.IPv4Unspecified()
		if o.v6 {
			a = netip.IPv6Unspecified()
		}
	}
	err = sockaddrCall(unix.SYS_BIND, fd, o.v6, netip.AddrPortFrom(a, local.Port()))
	if err != nil && o.anyPort && local.Port() != 0 && errors.Is(err, unix.EADDRINUSE) {
		err = sockaddrCall(unix.SYS_BIND, fd, o.v6, netip.AddrPortFrom(a, 0))
	}
	if err != nil {
		return fail("bind()", err)
	}
	if peer.IsValid() {
		if err := sockaddrCall(unix.SYS_CONNECT, fd, o.v6, peer); err != nil {
			return fail("connect()", err)
		}
	}
	return fd, nil
}

// sockaddrCall runs bind(2) or connect(2) (trap) on fd with address a; on
// an AF_INET6 socket (v6) an IPv4 address is passed IPv4-mapped.
func sockaddrCall(trap uintptr, fd int, v6 bool, a netip.AddrPort) error {
	if v6 && a.Addr().Is4() {
		a = netip.AddrPortFrom(netip.AddrFrom16(a.Addr().As16()), a.Port())
	}
	var sa unix.RawSockaddrInet6
	n := rawSockaddr(&sa, a)
	for {
		_, _, e := unix.Syscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&sa)), uintptr(n))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}

// rxBatch receives up to batchMax datagrams with one recvmmsg(2), each
// payload at offset hdrRoom of its buffer, with its source address and
// (on sockets with PKTINFO) its destination address.
type rxBatch struct {
	hdrs  [batchMax]unix.Mmsghdr
	iovs  [batchMax]unix.Iovec
	names [batchMax]unix.RawSockaddrInet6
	ctl   [batchMax][ctlSize]byte
	bufs  [batchMax][]byte
}

func newRxBatch() *rxBatch {
	r := &rxBatch{}
	backing := make([]byte, batchMax*rxBufSize)
	for i := range r.bufs {
		r.bufs[i] = backing[i*rxBufSize : (i+1)*rxBufSize : (i+1)*rxBufSize]
		r.iovs[i].Base = &r.bufs[i][hdrRoom]
		r.hdrs[i].Hdr.Iov = &r.iovs[i]
		r.hdrs[i].Hdr.Iovlen = 1
		r.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
	}
	return r
}

// recv reads up to max datagrams from fd without blocking; it returns how
// many (0: none, or an error, which the caller learns from EPOLLERR).
func (r *rxBatch) recv(fd, max int, withCtl bool) int {
	max = min(max, batchMax)
	for i := 0; i < max; i++ {
		h := &r.hdrs[i].Hdr
		r.iovs[i].SetLen(MaxPayload)
		h.Namelen = unix.SizeofSockaddrInet6
		h.Flags = 0
		if withCtl {
			h.Control = &r.ctl[i][0]
			h.SetControllen(ctlSize)
		} else {
			h.Control = nil
			h.SetControllen(0)
		}
		r.hdrs[i].Len = 0
	}
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&r.hdrs[0])),
			uintptr(max), unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0
		}
		return int(n)
	}
}

// payloadLen returns the length of datagram i.
func (r *rxBatch) payloadLen(i int) int { return int(r.hdrs[i].Len) }

// bytes returns the total length of the first n datagrams.
func (r *rxBatch) bytes(n int) int {
	total := 0
	for i := range n {
		total += int(r.hdrs[i].Len)
	}
	return total
}

// payload returns the payload of datagram i.
func (r *rxBatch) payload(i int) []byte {
	return r.bufs[i][hdrRoom : hdrRoom+int(r.hdrs[i].Len)]
}

// source returns the source of datagram i.
func (r *rxBatch) source(i int) netip.AddrPort { return fromRawSockaddr(&r.names[i]) }

// destination returns the local address datagram i arrived at, from its
// PKTINFO control message; invalid if there was none.
func (r *rxBatch) destination(i int) netip.Addr {
	h := &r.hdrs[i].Hdr
	return pktinfoAddr(r.ctl[i][:min(int(h.Controllen), ctlSize)])
}

// pktinfoAddr finds the destination address in control messages.
func pktinfoAddr(ctl []byte) netip.Addr {
	for len(ctl) >= unix.SizeofCmsghdr {
		c := (*unix.Cmsghdr)(unsafe.Pointer(&ctl[0]))
		l := int(c.Len)
		if l < unix.SizeofCmsghdr || l > len(ctl) {
			break
		}
		data := ctl[unix.SizeofCmsghdr:l]
		switch {
		case c.Level == unix.IPPROTO_IP && c.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
			return netip.AddrFrom4(pi.Addr)
		case c.Level == unix.IPPROTO_IPV6 && c.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			return netip.AddrFrom16(pi.Addr).Unmap()
		}
		next := (l + 7) &^ 7
		if next >= len(ctl) {
			break
		}
		ctl = ctl[next:]
	}
	return netip.Addr{}
}

// txBatch gathers datagrams for one connected socket and sends them with
// one sendmmsg(2). The payloads are not copied: they must stay valid until
// flush.
//
// Datagrams in a row of one size (the last of a row may be shorter) go as
// one message with UDP_SEGMENT (UDP GSO, Linux 4.18): the kernel takes the
// row through its IP output, and over loopback through the receiver's IP
// input, once, and cuts it into datagrams at the end (the receiver's UDP
// layer, or the device). The payloads stay where they are: the message's
// iovecs are theirs, one each. A message the kernel refuses segmented (a
// path MTU below the datagram size, a device without checksum offload, a
// kernel without UDP_SEGMENT) is sent again one datagram per message; a
// kernel without it at all is not asked again.
type txBatch struct {
	fd   int
	n    int
	hdrs [batchMax]unix.Mmsghdr
	iovs [batchMax]unix.Iovec

	msgs      [batchMax]unix.Mmsghdr // segmented rows, one message each
	ctl       [batchMax][segCtlLen]byte
	first     [batchMax + 1]int // datagram index of each message's first, then t.n
	noSegment bool              // the kernel has no UDP_SEGMENT
	// segmented counts the datagrams sent in segmented messages.
	segmented uint64
}

// segCtlLen is the room for a UDP_SEGMENT control message (a uint16):
// unix.CmsgSpace(2) on 64-bit Linux (a test checks).
const segCtlLen = 24

const (
	// maxSegments is the most datagrams the kernel takes in one
	// segmented send (UDP_MAX_SEGMENTS).
	maxSegments = 64
	// maxSegmented bounds a row's payload: one IPv4 packet.
	maxSegmented = 65535 - 20 - 8
)

func newTxBatch() *txBatch {
	t := &txBatch{fd: -1, noSegment: !kernelSegments()}
	for i := range t.hdrs {
		t.hdrs[i].Hdr.Iov = &t.iovs[i]
		t.hdrs[i].Hdr.Iovlen = 1
	}
	for i := range t.ctl {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&t.ctl[i][0]))
		h.Level = unix.SOL_UDP
		h.Type = unix.UDP_SEGMENT
		h.SetLen(unix.CmsgLen(2))
	}
	return t
}

// kernelSegments reports whether the kernel knows UDP_SEGMENT (Linux
// 4.18), as a socket option: one that does not would ignore the control
// message and send a row as one large datagram.
func kernelSegments() bool {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT, 0) == nil
}

// add queues payload for fd; full reports that the batch must be flushed
// first (another socket, or no room).
func (t *txBatch) full(fd int) bool { return t.n > 0 && (t.fd != fd || t.n == batchMax) }

// payloadLen is the length of queued datagram k.
func (t *txBatch) payloadLen(k int) int { return int(t.iovs[k].Len) }

func (t *txBatch) add(fd int, payload []byte) {
	t.fd = fd
	iov := &t.iovs[t.n]
	if len(payload) > 0 {
		iov.Base = &payload[0]
	} else {
		iov.Base = nil
	}
	iov.SetLen(len(payload))
	t.n++
}

// flush sends the queued datagrams and returns how many could not be sent.
func (t *txBatch) flush() (dropped int) {
	if t.noSegment || t.n < 2 {
		dropped = t.sendEach(0, t.n)
	} else {
		dropped = t.sendSegmented()
	}
	for i := 0; i < t.n; i++ {
		t.iovs[i].Base = nil
	}
	t.n = 0
	return dropped
}

// rowEnd returns the end of the row of datagrams from i on (before n)
// that can travel as one, segmented (UDP_SEGMENT here, GSO_UDP_L4 frames
// to pasta's namespace), and its payload bytes. length(k) is datagram k's
// payload length, or -1 if it cannot join a row (another source): the
// row's datagrams all have datagram i's length but the last, which may be
// shorter (and ends the row); maxCount of them at most, limit bytes in all.
// An empty datagram is a row of its own.
func rowEnd(i, n, maxCount, limit int, length func(k int) int) (end, total int) {
	size := length(i)
	if size <= 0 {
		return i + 1, max(size, 0)
	}
	total, k := size, i+1
	for ; k < n && k-i < maxCount; k++ {
		l := length(k)
		if l <= 0 || l > size || total+l > limit {
			break
		}
		total += l
		if l < size {
			k++ // a shorter one ends the row
			break
		}
	}
	return k, total
}

// sendSegmented sends the batch with one message per row.
func (t *txBatch) sendSegmented() (dropped int) {
	m := 0
	for i := 0; i < t.n; m++ {
		end, _ := rowEnd(i, t.n, maxSegments, maxSegmented, t.payloadLen)
		h := &t.msgs[m].Hdr
		*h = unix.Msghdr{Iov: &t.iovs[i]}
		h.SetIovlen(end - i)
		if end-i > 1 {
			*(*uint16)(unsafe.Pointer(&t.ctl[m][unix.CmsgLen(0)])) = uint16(t.iovs[i].Len)
			h.Control = &t.ctl[m][0]
			h.SetControllen(segCtlLen)
		}
		t.first[m] = i
		i = end
	}
	t.first[m] = t.n
	if m == t.n {
		// Not one row of two: nothing to segment.
		return t.sendEach(0, t.n)
	}
	sent := 0
	for sent < m {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(t.fd), uintptr(unsafe.Pointer(&t.msgs[sent])),
			uintptr(m-sent), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN:
			return dropped + t.n - t.first[sent]
		case e != 0:
			// Refused segmented, or an earlier ICMP error reported
			// now: this message's datagrams one at a time, by the
			// rules of sendEach.
			if t.msgs[sent].Hdr.Controllen != 0 && (e == unix.ENOPROTOOPT || e == unix.EOPNOTSUPP) {
				t.noSegment = true
			}
			dropped += t.sendEach(t.first[sent], t.first[sent+1])
			sent++
		default:
			for k := sent; k < sent+int(r); k++ {
				if t.msgs[k].Hdr.Controllen != 0 {
					t.segmented += uint64(t.first[k+1] - t.first[k])
				}
			}
			sent += int(r)
		}
	}
	return dropped
}

// sendEach sends datagrams from to end-1, one per message, and returns how
// many could not be sent. An error for the first datagram of a call may be
// the report of an earlier ICMP error on the connected socket (the kernel
// reports it to the next send, which then sends nothing): that datagram is
// tried once more before it is dropped.
func (t *txBatch) sendEach(from, end int) (dropped int) {
	sent, retried := from, false
	for sent < end {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(t.fd), uintptr(unsafe.Pointer(&t.hdrs[sent])),
			uintptr(end-sent), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN:
			return dropped + end - sent
		case e != 0:
			if !retried {
				retried = true
				continue
			}
			dropped++
			sent++
			retried = false
		default:
			sent += int(r)
			retried = false
		}
	}
	return dropped
}
