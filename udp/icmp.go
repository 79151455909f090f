// SPDX-License-Identifier: GPL-2.0-or-later

package udp

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"

	"passt/pkt"
)

// Sizes of the ICMP errors we build: an IPv4 error quotes the IP and UDP
// headers and 8 bytes of data (RFC 792); an IPv6 error quotes as much as
// fits in the minimum IPv6 MTU (RFC 4443).
const (
	icmp4MaxData = 8
	icmp6MaxData = 1280 - 40 - 8 - 40 - 8
	icmpBufSize  = 14 + 40 + 8 + 40 + 8 + icmp6MaxData
	// sizeofExtendedErr is the size of struct sock_extended_err.
	sizeofExtendedErr = int(unsafe.Sizeof(unix.SockExtendedErr{}))
	// maxErrors bounds the errors read from one socket per event.
	maxErrors = 64
)

// errqueue reads one message from a socket's error queue (MSG_ERRQUEUE):
// the start of the datagram that caused it and the extended error with
// the address of the node that reported it.
type errqueue struct {
	hdr  unix.Msghdr
	iov  unix.Iovec
	name unix.RawSockaddrInet6
	data [icmp6MaxData]byte
	ctl  [256]byte

	ee       unix.SockExtendedErr
	offender netip.Addr
}

func newErrqueue() *errqueue {
	q := &errqueue{}
	q.iov.Base = &q.data[0]
	q.hdr.Iov = &q.iov
	q.hdr.Iovlen = 1
	q.hdr.Name = (*byte)(unsafe.Pointer(&q.name))
	q.hdr.Control = &q.ctl[0]
	return q
}

// read reads one error from fd; it returns the quoted data and false when
// the queue is empty.
func (q *errqueue) read(fd int) ([]byte, bool) {
	q.iov.SetLen(len(q.data))
	q.hdr.Namelen = unix.SizeofSockaddrInet6
	q.hdr.SetControllen(len(q.ctl))
	q.hdr.Flags = 0
	var n uintptr
	for {
		r, _, e := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&q.hdr)), unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return nil, false
		}
		n = r
		break
	}
	q.ee = unix.SockExtendedErr{}
	q.offender = netip.Addr{}
	ctl := q.ctl[:min(int(q.hdr.Controllen), len(q.ctl))]
	for len(ctl) >= unix.SizeofCmsghdr {
		c := (*unix.Cmsghdr)(unsafe.Pointer(&ctl[0]))
		l := int(c.Len)
		if l < unix.SizeofCmsghdr || l > len(ctl) {
			break
		}
		d := ctl[unix.SizeofCmsghdr:l]
		if ((c.Level == unix.IPPROTO_IP && c.Type == unix.IP_RECVERR) ||
			(c.Level == unix.IPPROTO_IPV6 && c.Type == unix.IPV6_RECVERR)) && len(d) >= sizeofExtendedErr {
			q.ee = *(*unix.SockExtendedErr)(unsafe.Pointer(&d[0]))
			if off := d[sizeofExtendedErr:]; len(off) >= unix.SizeofSockaddrInet4 {
				var sa unix.RawSockaddrInet6
				copy((*[unix.SizeofSockaddrInet6]byte)(unsafe.Pointer(&sa))[:], off)
				q.offender = fromRawSockaddr(&sa).Addr()
			}
			break
		}
		next := (l + 7) &^ 7
		if next >= len(ctl) {
			break
		}
		ctl = ctl[next:]
	}
	return q.data[:min(int(n), len(q.data))], true
}

// socketErrors empties the error queue of fd (and clears its pending
// error); for the host socket of guest flow idx, ICMP errors are
// reflected to the guest.
func (h *Handler) socketErrors(idx, fd int, reflect bool) {
	for i := 0; i < maxErrors; i++ {
		data, ok := h.errBuf.read(fd)
		if !ok {
			break
		}
		if reflect && idx >= 0 {
			h.reflect(idx, data)
		}
	}
	_, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
}

// reflect sends the guest of flow idx the ICMP error just read, quoting
// data, the start of the datagram it refers to.
func (h *Handler) reflect(idx int, data []byte) {
	fl := &h.flows[idx]
	ee := &h.errBuf.ee
	if fl.kind != kindGuest || (ee.Origin != unix.SO_EE_ORIGIN_ICMP && ee.Origin != unix.SO_EE_ORIGIN_ICMP6) {
		return
	}
	key := h.table.Key(idx)
	guest, peer := key.Guest(), key.Peer()
	v6 := guest.Addr().Is6()
	if (ee.Origin == unix.SO_EE_ORIGIN_ICMP6) != v6 || !h.errBuf.offender.IsValid() {
		return
	}
	// The guest sees the peer itself as the address it talked to; any
	// other node as the translation of its address.
	var src netip.Addr
	if off := h.errBuf.offender; off == fl.peer[0].AddrPort().Addr() {
		src = peer.Addr()
	} else {
		gs, _, ok := h.nat.FromHost(netip.AddrPortFrom(off, 0), netip.Addr{}, 0)
		if !ok {
			return
		}
		src = gs.Addr()
	}
	if src.Is6() != v6 {
		return
	}
	ttl := fl.ttl
	if ttl == 0 {
		ttl = 64
	}
	f := buildICMPError(h.icmpBuf, h.out, ee, src, guest, peer, ttl, data)
	h.out.Queue(f)
	h.out.Flush()
	h.Stats.ICMPErrors++
}

// buildICMPError writes into b a frame from src to the guest with an ICMP
// or ICMPv6 error of the type and code of ee about the datagram the guest
// sent to peer, quoting data.
func buildICMPError(b []byte, out Output, ee *unix.SockExtendedErr, src netip.Addr, guest, peer netip.AddrPort, ttl uint8, data []byte) []byte {
	ours, guestMAC := out.MACs()
	if guest.Addr().Is4() {
		dlen := min(len(data), icmp4MaxData)
		icmpLen := pkt.ICMPHeaderLen + pkt.IPv4MinHeaderLen + pkt.UDPHeaderLen + dlen
		n := pkt.BuildEthernet(b, guestMAC, ours, pkt.EtherTypeIPv4)
		n += pkt.BuildIPv4(b[n:], src, guest.Addr(), pkt.ProtoICMP, icmpLen, 255, 0)
		m := b[n : n+icmpLen]
		pkt.BuildICMP(m, ee.Type, ee.Code, 0, 0)
		if ee.Type == pkt.ICMPv4Unreachable && ee.Code == 4 { // fragmentation needed: next-hop MTU
			binary.BigEndian.PutUint16(m[6:8], uint16(ee.Info))
		}
		q := m[pkt.ICMPHeaderLen:]
		pkt.BuildIPv4(q, guest.Addr(), peer.Addr(), pkt.ProtoUDP, pkt.UDPHeaderLen+dlen, ttl, 0)
		u := q[pkt.IPv4MinHeaderLen:]
		pkt.BuildUDP(u, guest.Port(), peer.Port(), dlen)
		copy(u[pkt.UDPHeaderLen:], data[:dlen])
		pkt.FinishUDP(pkt.UDP(u), guest.Addr(), peer.Addr())
		pkt.FinishICMPv4(pkt.ICMP(m))
		return b[:n+icmpLen]
	}
	dlen := min(len(data), icmp6MaxData)
	icmpLen := pkt.ICMPHeaderLen + pkt.IPv6HeaderLen + pkt.UDPHeaderLen + dlen
	n := pkt.BuildEthernet(b, guestMAC, ours, pkt.EtherTypeIPv6)
	n += pkt.BuildIPv6(b[n:], src, guest.Addr(), pkt.ProtoICMPv6, icmpLen, 255, 0)
	m := b[n : n+icmpLen]
	pkt.BuildICMP(m, ee.Type, ee.Code, 0, 0)
	if ee.Type == pkt.ICMPv6PacketTooBig {
		binary.BigEndian.PutUint32(m[4:8], ee.Info)
	}
	q := m[pkt.ICMPHeaderLen:]
	pkt.BuildIPv6(q, guest.Addr(), peer.Addr(), pkt.ProtoUDP, pkt.UDPHeaderLen+dlen, ttl, 0)
	u := q[pkt.IPv6HeaderLen:]
	pkt.BuildUDP(u, guest.Port(), peer.Port(), dlen)
	copy(u[pkt.UDPHeaderLen:], data[:dlen])
	pkt.FinishUDP(pkt.UDP(u), guest.Addr(), peer.Addr())
	pkt.FinishICMPv6(pkt.ICMP(m), src, guest.Addr())
	return b[:n+icmpLen]
}
