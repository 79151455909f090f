// SPDX-License-Identifier: GPL-2.0-or-later

// Package fdbudget shares the engine's file descriptors between the
// protocols that open sockets on the guest's behalf (TCP, UDP, ICMP echo),
// so that a guest that opens flows of one protocol as fast as it can runs
// out of its own share, not of the process's descriptors: new TCP
// connections, pings and UDP exchanges keep working whatever the others do.
//
// Theory of operation. Every flow holds descriptors: a TCP connection
// through the tap one socket, one spliced by pasta's bypass two sockets and
// two pipes, a UDP flow one socket (two when spliced), an ICMP echo flow one
// ping socket. Without a budget the first protocol to exhaust RLIMIT_NOFILE
// starves the others: with the usual limit of a few tens of thousands, a
// guest sending UDP datagrams from new ports (32 768 flows, each holding a
// socket for 30 s or more) takes every descriptor, and TCP connections are
// reset and pings dropped until its flows expire.
//
// When the engine is about to serve (everything it opens at start is open:
// the guest link, listening sockets, timers), Split takes the descriptor
// limit and the number in use, keeps a reserve for what the engine opens
// later (sockets of "auto" forwarding, spare splice pipes, the TCP reserve
// descriptor, short-lived sockets of the namespace thread), and divides the
// rest by fixed weights: half for TCP, three eighths for UDP, one eighth
// for ICMP. A protocol whose flow table cannot use its share (ICMP: 4 096
// flows, one socket each) gives the excess to TCP, the protocol whose
// connections users notice first. Fixed shares rather than first come,
// first served with minimum guarantees: the limits are easy to explain and
// to test, and with the usual limits they are far above what any protocol
// needs in practice.
//
// Each protocol handler enforces its own share, counting the descriptors
// its flows hold, and refuses a flow that would exceed it the way it
// refuses one when its table is full: TCP resets the connection (the
// guest's SYN or the host's accepted socket), UDP and ICMP drop the
// datagram. Existing flows are never touched. With a small limit (below
// a few hundred descriptors, as set by tests or very constrained hosts),
// shares would be too small to be useful: Split returns no budget and the
// handlers rely on their out-of-descriptor handling alone.
package fdbudget

import (
	"golang.org/x/sys/unix"
)

// Shares are the descriptors each protocol's flows may hold; 0 means no
// limit (no budget).
type Shares struct {
	TCP, UDP, ICMP int
}

// Need is the most descriptors each protocol can use at all, from the size
// of its flow tables; 0: no bound.
type Need struct {
	TCP, UDP, ICMP int
}

// Reserve bounds: what the engine keeps for itself beyond what is in use.
const (
	minReserve = 64
	maxReserve = 1024
	// minShared is the smallest number of descriptors worth sharing:
	// below it, Split returns no budget.
	minShared = 256
)

// Split divides limit descriptors, inUse of them already taken, between
// the protocols, each capped at its need.
func Split(limit, inUse int, need Need) Shares {
	reserve := min(max(limit/16, minReserve), maxReserve)
	avail := limit - inUse - reserve
	if avail < minShared {
		return Shares{}
	}
	s := Shares{TCP: avail / 2, UDP: avail * 3 / 8}
	s.ICMP = avail - s.TCP - s.UDP
	if need.ICMP > 0 && s.ICMP > need.ICMP {
		s.TCP += s.ICMP - need.ICMP
		s.ICMP = need.ICMP
	}
	if need.UDP > 0 && s.UDP > need.UDP {
		s.TCP += s.UDP - need.UDP
		s.UDP = need.UDP
	}
	if need.TCP > 0 && s.TCP > need.TCP {
		s.TCP = need.TCP
	}
	return s
}

// scanMax bounds the descriptors InUse looks at: one poll(2) entry each.
const scanMax = 1 << 16

// Limit returns the descriptor limit (the soft RLIMIT_NOFILE), or 0 if it
// cannot be read. Call it before the sandbox, which does not allow
// getrlimit(2).
func Limit() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return int(min(rl.Cur, 1<<31-1))
}

// InUse counts the descriptors open in this process below limit (at most
// scanMax of them), with one ppoll(2) over all of them, which reports
// POLLNVAL for those not open: it needs neither /proc, which the sandbox
// hides, nor a call per descriptor.
func InUse(limit int) (int, error) {
	fds := make([]unix.PollFd, min(limit, scanMax))
	for i := range fds {
		fds[i].Fd = int32(i)
	}
	var err error
	for {
		_, err = unix.Poll(fds, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return 0, err
	}
	inUse := 0
	for i := range fds {
		if fds[i].Revents&unix.POLLNVAL == 0 {
			inUse++
		}
	}
	return inUse, nil
}
