// SPDX-License-Identifier: GPL-2.0-or-later

package tcp

import (
	"net/netip"
	"strings"

	"golang.org/x/sys/unix"
)

// Congestion control for sockets whose peer is on this host.
//
// A socket of ours connected to a process on the same host (a loopback
// address, or one of the host's own addresses: either way the segments
// cross lo) has no network path: no bottleneck link to probe, no other
// flow to be fair to. Congestion control there only decides how the
// kernel schedules its own transmissions. Where the system's default is
// BBR, that decision is costly: BBR asks for pacing, lo has no fq qdisc to
// do it, so the kernel paces every segment itself with high-resolution
// timers, and a transmission can then start from a timer on either CPU,
// which reorders segments on loopback and brings spurious retransmissions.
// On a 2-CPU VM with BBR as the default, pasta's namespace→host path to a
// loopback server went from 14-18.6 Gbit/s to 21-22.9 (slowest run 96% of
// the median) with the host-side socket moved off BBR.
//
// So such a socket of ours is moved to cubic, or to reno where cubic may
// not be chosen: an unprivileged process may pick only what
// net.ipv4.tcp_allowed_congestion_control lists, and reno is always
// there. Sockets to other hosts, and every socket when the default is not
// a BBR variant, are left with the system's choice. The default is read
// once per side (host, namespace), from the first local socket: sysctl
// changes made while we run are not followed.
//
// The choice has to be made before the connection is established: BBR's
// initialisation, which runs then, turns the socket's pacing on, and a
// later switch leaves it on (switching spliced sockets after their
// connect completed made no measurable difference). So it is set on the
// sockets we connect, before or right after connect(2), and on listeners
// that only local clients can reach (the namespace's splice listeners, on
// lo), whose accepted sockets inherit it. Sockets accepted on the host's
// forwarding listeners, which take remote clients too, keep the default.
// Measured on that VM: the splice paths went from a median of 14.6 Gbit/s
// to 25.6 (host→namespace) and 27.4 (namespace→host), above the 22-24 of
// iperf3 alone on loopback, whose sockets are BBR's.

// localCC is the choice for the local sockets of one side (the host, or
// the namespace: each network namespace has its own default).
type localCC struct {
	state localCCState
	name  string // with localCCSet: what the sockets are moved to
}

type localCCState uint8

const (
	localCCUnknown localCCState = iota // no local socket seen yet
	localCCKeep                        // the default paces nothing, or nothing else may be chosen
	localCCSet                         // local sockets are moved to name
)

// localCCChoices are tried in order the first time.
var localCCChoices = [...]string{"cubic", "reno"}

// wanted says whether local sockets may need a change: callers skip the
// test for locality (a system call) when it cannot matter.
func (l *localCC) wanted() bool { return l.state != localCCKeep }

// apply sets the congestion control of fd, a socket whose peer is on this
// host.
func (l *localCC) apply(fd int) {
	switch l.state {
	case localCCKeep:
		return
	case localCCSet:
		if unix.SetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION, l.name) != nil {
			// Refused here (another thread's capabilities, a
			// sysctl changed): the next choice, for this socket
			// and those after it.
			l.choose(fd, l.name)
		}
		return
	}
	l.state = localCCKeep
	cur, err := unix.GetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION)
	if err != nil || !strings.HasPrefix(cur, "bbr") {
		return
	}
	l.choose(fd, "")
}

// choose sets fd to the first of localCCChoices after the one named
// after (all of them if after is not one) that the kernel takes, and
// makes it the choice; if none is taken, local sockets are left alone
// from then on.
func (l *localCC) choose(fd int, after string) {
	l.state = localCCKeep
	choices := localCCChoices[:]
	for i, name := range choices {
		if name == after {
			choices = choices[i+1:]
			break
		}
	}
	for _, name := range choices {
		if unix.SetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION, name) == nil {
			l.state, l.name = localCCSet, name
			return
		}
	}
}

// applyIfLocal applies the choice to fd if its peer, at peer, is on this
// host: a loopback address, or the socket's own address (the kernel picks
// the destination itself as the source when it is one of ours). fd must
// be bound or connecting, so that it has an address of its own.
func (l *localCC) applyIfLocal(fd int, peer netip.Addr) {
	if !l.wanted() {
		return
	}
	peer = peer.Unmap()
	if !peer.IsLoopback() {
		sa, err := unix.Getsockname(fd)
		if err != nil || sockaddrAddrPort(sa).Addr().Unmap() != peer {
			return
		}
	}
	l.apply(fd)
}
