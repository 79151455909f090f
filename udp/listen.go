// SPDX-License-Identifier: GPL-2.0-or-later

package udp

import (
	"errors"
	"net/netip"

	"golang.org/x/sys/unix"

	"passt/flow"
	"passt/log"
	"passt/loop"
	"passt/pkt"
)

// listener is the socket of one forwarded port: -u on the host, -U in the
// namespace (ns).
type listener struct {
	fd       int
	ns       bool
	port     uint16     // the port it is bound to
	toPort   uint16     // where datagrams go on the other side
	target   netip.Addr // -u: the rule's target address; invalid: none
	freebind bool
}

// Listen opens the socket of a -u rule's port: on addr (invalid: the
// dual-stack wildcard), bound to device ifname if set; its datagrams go to
// the guest's port toPort (on target, if valid), or through the bypass. It
// returns the listener's number, for CloseListener.
func (h *Handler) Listen(addr netip.Addr, ifname string, port, toPort uint16, target netip.Addr, freebind bool) (int, error) {
	o := sockOpts{v6: !addr.IsValid() || addr.Is6(), dualStack: !addr.IsValid(), pktinfo: true, freebind: freebind, ifname: ifname}
	fd, err := openSocket(o, netip.AddrPortFrom(addr, port), netip.AddrPort{})
	if err != nil {
		return -1, unwrapErrno(err)
	}
	return h.addListener(listener{fd: fd, port: port, toPort: toPort, target: target, freebind: freebind})
}

// ListenNamespace opens the socket of a -U rule's port in the namespace:
// any address of the family (v6) on device lo; datagrams go to the same
// loopback address on the host, port toPort. EnableSplice must have been
// called.
func (h *Handler) ListenNamespace(v6 bool, port, toPort uint16) (int, error) {
	if h.splice == nil {
		return -1, errors.New("UDP: no namespace to listen in")
	}
	var fd int
	var err error
	h.splice.thread.Do(func() {
		fd, err = openSocket(sockOpts{v6: v6, pktinfo: true, ifname: "lo"}, netip.AddrPortFrom(netip.Addr{}, port), netip.AddrPort{})
	})
	if err != nil {
		return -1, unwrapErrno(err)
	}
	return h.addListener(listener{fd: fd, ns: true, port: port, toPort: toPort})
}

// unwrapErrno returns the errno inside err, for the caller's messages
// (which quote strerror() like upstream).
func unwrapErrno(err error) error {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return err
}

func (h *Handler) addListener(l listener) (int, error) {
	idx := len(h.listeners)
	for i := range h.listeners {
		if h.listeners[i].fd < 0 {
			idx = i
			break
		}
	}
	if err := h.loop.Add(l.fd, unix.EPOLLIN, h.listenRef(idx)); err != nil {
		unix.Close(l.fd)
		return -1, err
	}
	if idx == len(h.listeners) {
		h.listeners = append(h.listeners, l)
	} else {
		h.listeners[idx] = l
	}
	return idx, nil
}

func (h *Handler) listenRef(idx int) loop.Ref { return loop.MakeRef(h.listenKind, uint64(idx)) }

// CloseListener closes listener idx. Flows it started keep their own
// sockets and carry on until they expire.
func (h *Handler) CloseListener(idx int) {
	if idx < 0 || idx >= len(h.listeners) || h.listeners[idx].fd < 0 {
		return
	}
	l := &h.listeners[idx]
	h.loop.Del(l.fd)
	unix.Close(l.fd)
	l.fd = -1
}

// Listeners returns the number of open listening sockets.
func (h *Handler) Listeners() int {
	n := 0
	for i := range h.listeners {
		if h.listeners[i].fd >= 0 {
			n++
		}
	}
	return n
}

// ListenEvent handles a ready listening socket.
func (h *Handler) ListenEvent(ref loop.Ref, events uint32) {
	idx := int(ref.Index())
	if idx >= len(h.listeners) || h.listeners[idx].fd < 0 {
		return
	}
	l := &h.listeners[idx]
	h.clock()
	if events&unix.EPOLLERR != 0 {
		h.socketErrors(-1, l.fd, false)
	}
	if events&unix.EPOLLIN == 0 {
		return
	}
	n := h.rx.recv(l.fd, batchMax, true)
	h.received(n)
	queued := false
	for i := 0; i < n; i++ {
		src, local := h.rx.source(i), h.rx.destination(i)
		if !src.IsValid() || !local.IsValid() || src.Port() == 0 {
			h.dropped()
			continue
		}
		if l.ns {
			h.fromNamespace(l, i, src, local)
		} else if h.fromHost(l, i, src, local) {
			queued = true
		}
	}
	h.flushSends()
	if queued {
		h.out.Flush()
	}
}

// fromHost handles datagram i of the batch, received on -u listener l from
// src at local: relayed through the bypass, or sent to the guest. It
// reports whether a frame was queued.
func (h *Handler) fromHost(l *listener, i int, src netip.AddrPort, local netip.Addr) bool {
	if h.splice != nil && !l.target.IsValid() && local.IsLoopback() {
		key := flow.MakeKey(keySpliceHost, netip.AddrPortFrom(local, l.port), src)
		idx, ok := h.table.Lookup(key)
		if !ok {
			if idx, ok = h.newSpliceFromHost(key, l, src, local); !ok {
				h.Stats.NoFlow++
				h.dropped()
				return false
			}
		}
		fl := &h.flows[idx]
		h.activity(fl, 0)
		h.queueSend(int(fl.fd[1]), h.rx.payload(i))
		h.Stats.Relayed++
		return false
	}
	if h.spliceOnly {
		h.dropped()
		return false
	}
	gsrc, gdst, ok := h.nat.FromHostTo(src, local, l.target, l.toPort)
	if !ok {
		h.Stats.NoFlow++
		h.dropped()
		return false
	}
	key := flow.MakeKey(pkt.ProtoUDP, gdst, gsrc)
	idx, ok := h.table.Lookup(key)
	if !ok {
		if idx, ok = h.newGuestFlowFromHost(key, l, src, local); !ok {
			h.Stats.NoFlow++
			h.dropped()
			return false
		}
	}
	fl := &h.flows[idx]
	h.activity(fl, 1-h.guestSide(fl))
	h.queueFrame(h.rx.bufs[i], h.rx.payloadLen(i), gsrc, gdst)
	h.Stats.ToGuest++
	return true
}

// newGuestFlowFromHost opens the reply socket of a flow from the host to
// the guest: bound to the address and port the source sent to, connected
// to the source.
func (h *Handler) newGuestFlowFromHost(key flow.Key, l *listener, src netip.AddrPort, local netip.Addr) (int, bool) {
	if !h.admit(1) {
		return -1, false
	}
	fd, err := openSocket(sockOpts{v6: local.Is6(), freebind: l.freebind}, netip.AddrPortFrom(local, l.port), src)
	if err != nil {
		if log.Enabled(log.Debug) {
			log.Debugf("UDP: reply socket for %s to %s: %v", src, netip.AddrPortFrom(local, l.port), err)
		}
		return -1, false
	}
	idx, ok := h.table.Insert(key)
	if !ok {
		unix.Close(fd)
		return -1, false
	}
	h.flows[idx] = udpFlow{kind: kindGuest, v6: key.Guest().Addr().Is6(), fromHost: true,
		fd: [2]int32{int32(fd), -1}, peer: [2]addrPort{toAddrPort(src)}}
	h.fds++
	if !h.register(idx, 0, fd) {
		return -1, false
	}
	return idx, true
}

// newSpliceFromHost opens the sockets of a flow from host loopback to the
// namespace: one in the namespace, bound to the source's port and
// connected to the namespace's address (or the same loopback address) and
// the rule's port, and a reply socket on the host.
func (h *Handler) newSpliceFromHost(key flow.Key, l *listener, src netip.AddrPort, local netip.Addr) (int, bool) {
	if !h.admit(2) {
		return -1, false
	}
	dst := h.splice.addr4
	if local.Is6() {
		dst = h.splice.addr6
	}
	if !dst.IsValid() {
		dst = local
	}
	target := netip.AddrPortFrom(dst, l.toPort)
	var nsfd int
	var err error
	h.splice.thread.Do(func() {
		nsfd, err = openSocket(sockOpts{v6: local.Is6(), anyPort: true}, netip.AddrPortFrom(netip.Addr{}, src.Port()), target)
	})
	if err != nil {
		if log.Enabled(log.Debug) {
			log.Debugf("UDP: namespace socket for %s to %s: %v", src, target, err)
		}
		return -1, false
	}
	return h.newSplice(key, nsfd, target, local, l.port, src, false)
}

// fromNamespace handles datagram i of the batch, received on -U listener
// l from src at local, both loopback addresses in the namespace.
func (h *Handler) fromNamespace(l *listener, i int, src netip.AddrPort, local netip.Addr) {
	if !src.Addr().IsLoopback() || !local.IsLoopback() {
		h.Stats.NoFlow++
		h.dropped()
		return
	}
	key := flow.MakeKey(keySpliceNS, netip.AddrPortFrom(local, l.port), src)
	idx, ok := h.table.Lookup(key)
	if !ok {
		if idx, ok = h.newSpliceFromNamespace(key, l, src, local); !ok {
			h.Stats.NoFlow++
			h.dropped()
			return
		}
	}
	fl := &h.flows[idx]
	h.activity(fl, 0)
	h.queueSend(int(fl.fd[1]), h.rx.payload(i))
	h.Stats.Relayed++
}

// newSpliceFromNamespace opens the sockets of a flow from the namespace's
// loopback to the host's: a host socket bound to the source's address and
// port, connected to the same loopback address and the rule's port, and a
// reply socket in the namespace.
func (h *Handler) newSpliceFromNamespace(key flow.Key, l *listener, src netip.AddrPort, local netip.Addr) (int, bool) {
	if !h.admit(2) {
		return -1, false
	}
	target := netip.AddrPortFrom(local, l.toPort)
	hostfd, err := openSocket(sockOpts{v6: local.Is6(), anyPort: true}, src, target)
	if err != nil {
		if log.Enabled(log.Debug) {
			log.Debugf("UDP: host socket for %s to %s: %v", src, target, err)
		}
		return -1, false
	}
	return h.newSplice(key, hostfd, target, local, l.port, src, true)
}

// newSplice completes a spliced flow whose target-side socket (connected
// to target) is open: it opens the reply socket, bound to local and port
// and connected to src, on the side the datagram came from (the namespace
// if replyInNS), and registers both.
func (h *Handler) newSplice(key flow.Key, tfd int, target netip.AddrPort, local netip.Addr, port uint16, src netip.AddrPort, replyInNS bool) (int, bool) {
	var rfd int
	var err error
	open := func() {
		rfd, err = openSocket(sockOpts{v6: local.Is6()}, netip.AddrPortFrom(local, port), src)
	}
	if replyInNS {
		h.splice.thread.Do(open)
	} else {
		open()
	}
	if err != nil {
		unix.Close(tfd)
		if log.Enabled(log.Debug) {
			log.Debugf("UDP: reply socket for %s: %v", src, err)
		}
		return -1, false
	}
	idx, ok := h.table.Insert(key)
	if !ok {
		unix.Close(tfd)
		unix.Close(rfd)
		return -1, false
	}
	h.flows[idx] = udpFlow{kind: kindSplice, v6: local.Is6(),
		fd:   [2]int32{int32(rfd), int32(tfd)},
		peer: [2]addrPort{toAddrPort(src), toAddrPort(target)}}
	h.fds += 2
	if !h.register(idx, 0, rfd) || !h.register(idx, 1, tfd) {
		return -1, false
	}
	return idx, true
}
