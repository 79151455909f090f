// SPDX-License-Identifier: GPL-2.0-or-later

package tcp

import (
	"errors"

	"golang.org/x/sys/unix"

	"passt/log"
	"passt/pkt"
)

// Out of descriptors. A listening socket whose accept(2) fails with
// EMFILE or ENFILE stays readable: epoll, level-triggered, reports it again
// at once, and the loop spins at full CPU while the clients in the backlog
// hang with a connection the kernel completed but nobody serves. A reserve
// descriptor gets us out: close it, accept the connection, reset it (the
// client sees a refusal at once, as when the flow table is full), and take
// the reserve again. A guest's SYN that finds no descriptor for its socket
// is answered with a reset the same way, instead of being dropped (the
// guest would retry for two minutes).

// reserveFD is a descriptor kept to be given up when the process runs out.
type reserveFD struct{ fd int }

// newReserve takes the reserve: an unbound UDP socket, which holds no port
// and is made with the one call the sandbox allows for new flows anyway.
func newReserve() reserveFD {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return reserveFD{fd: -1}
	}
	return reserveFD{fd: fd}
}

// outOfFDs tells whether err means no descriptor (or no memory for one).
func outOfFDs(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) ||
		errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ENOMEM)
}

// refuse resets one pending connection of listening socket lfd after
// accept failed with err; it returns false when there is nothing more to
// do (other errors, or no reserve).
func (r *reserveFD) refuse(lfd int, err error) bool {
	if !outOfFDs(err) || r.fd < 0 {
		return false
	}
	unix.Close(r.fd)
	r.fd = -1
	fd, _, aerr := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	if aerr == nil {
		_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		unix.Close(fd)
	}
	*r = newReserve()
	if aerr != nil {
		return false
	}
	log.Debugf("TCP: out of descriptors, refused a connection")
	return true
}

// refuseSyn answers a guest's SYN with a reset, without a flow.
func (h *Handler) refuseSyn(key flowKey, d *pkt.Decoded, t pkt.TCP) {
	tmp := conn{v6: d.IPVersion == 6, guest: key.guest, peer: key.peer, rcvNxt: t.Seq() + 1}
	h.resetGuest(&tmp, 0)
	h.flush()
}

// The descriptor share. The engine gives TCP a share of the process's
// descriptors (package fdbudget) so that a flood of UDP or ICMP flows
// cannot starve it, nor it them. Connections through the tap hold one
// socket each, spliced ones two sockets and two pipes; a new connection
// that would take TCP past its share is refused like one beyond the
// table's capacity: the guest's SYN or the host's connection is reset.

// splicedFDs is what a spliced connection holds: two sockets, two pipes.
const splicedFDs = 6

// SetFDLimit sets TCP's descriptor share (0: none).
func (h *Handler) SetFDLimit(n int) { h.fdLimit = n }

// overBudget tells whether a new connection holding fds descriptors would
// take TCP past its share.
func (h *Handler) overBudget(fds int) bool {
	if h.fdLimit <= 0 {
		return false
	}
	used := h.table.Len()
	if h.splicer != nil {
		used += (len(h.splicer.conns) - len(h.splicer.free)) * splicedFDs
	}
	return used+fds > h.fdLimit
}
