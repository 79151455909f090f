// SPDX-License-Identifier: GPL-2.0-or-later

// Package icmp forwards the guest's ICMP and ICMPv6 echo requests (ping)
// to the host's network through unprivileged "ping" sockets, and the echo
// replies back to the guest.
//
// # Theory of operation
//
// Linux lets unprivileged processes send echo requests through datagram
// sockets of protocol IPPROTO_ICMP or IPPROTO_ICMPV6 ("ping sockets"), when
// the process's group is in the net.ipv4.ping_group_range sysctl (which
// covers both families). Such a socket is bound to an echo identifier, its
// "port": the kernel overwrites the identifier of every request sent
// through it with that one, computes the checksum, and delivers to it the
// echo replies carrying that identifier. Only echo requests with code 0 may
// be sent; everything else is refused by the kernel, so we never forward
// anything but echo, as upstream.
//
// A flow is one (guest address, echo identifier, destination) triple, kept
// in a [flow.Table] with the identifier as both ports of the key. Its host
// side is one ping socket, created when the guest's first request arrives:
// bound to the outbound address (-o) unless the target is loopback, bound
// to the outbound interface (--outbound-if4/6) likewise, and connected to
// the target, which is the guest's destination translated by the engine's
// NAT rules ([flow.NAT.FromGuest]: the map-host-loopback address, by
// default the gateway, reaches host loopback, and so on). The kernel picks
// the socket's identifier; the guest's identifier stays in the flow key.
// Connecting lets us use plain write(2) and read(2), so the data path needs
// no socket addresses and allocates nothing.
//
// Guest to host: the echo message (header and payload), as it sits in the
// guest's frame, is written to the flow's socket; the kernel replaces the
// identifier. Before that it is checked: unfragmented, the right ICMP
// version for the IP version, type echo request with code 0, a correct
// checksum (IPv4: over the message; IPv6: with the pseudo-header), and a
// unicast guest source address. Anything else is dropped and counted in
// [Stats], never answered.
//
// Host to guest: a readable socket is read straight into the payload area
// of a frame buffer; the identifier is put back to the guest's, the
// checksum recomputed (for ICMPv6 it covers the guest-side addresses), and
// Ethernet and IP headers are built in front, from the flow's original
// destination to the guest's address. Sequence numbers and payload are
// untouched. Frames are queued to the engine and flushed once per event.
//
// A flow lives until no request has used it for [IdleTimeout] (upstream's
// 60 seconds); a timer ticking every [tickInterval] while flows exist
// closes idle ones. The table holds [MaxFlows] flows, and the engine may
// cap them lower, at ICMP's share of the process's descriptors
// ([Handler.SetFDLimit], package fdbudget); beyond that new identifiers are
// refused until old ones expire.
//
// When the kernel refuses to create a ping socket (EACCES or EPERM: the
// sysctl does not include our group), upstream's three-line warning
// suggesting the sysctl is logged once for the life of the process, not
// for every request; later failures are only counted.
package icmp

import (
	"errors"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"passt/flow"
	"passt/log"
	"passt/loop"
	"passt/pkt"
)

// Limits and timing.
const (
	// MaxFlows is the capacity of the flow table: at most this many
	// (guest address, identifier, destination) triples, each holding one
	// socket, at a time.
	MaxFlows = 4096
	// IdleTimeout is how long a flow lives without requests (upstream:
	// 60 s).
	IdleTimeout = 60 * time.Second
	// tickInterval is the period of the expiry timer while flows exist.
	tickInterval = 5 * time.Second
	// frameBufs is how many reply frames can be queued before a flush.
	frameBufs = 16
	// maxMessage is the largest ICMP message we read: the largest IPv6
	// payload. IPv4 reads are capped so the total length fits 16 bits.
	maxMessage = 65535
	// readBudget bounds the datagrams read from one socket per event, so
	// that one busy flow cannot starve the others.
	readBudget = 32
	// replyHopLimit is the TTL or hop limit of replies to the guest.
	replyHopLimit = 255
)

const (
	ethLen  = pkt.EthernetHeaderLen
	ip4Len  = pkt.IPv4MinHeaderLen
	ip6Len  = pkt.IPv6HeaderLen
	bufSize = ethLen + ip6Len + maxMessage
)

// Output is where built frames go: the engine queues them for the guest.
type Output interface {
	// Queue queues a frame; it stays owned by the caller until Flush.
	Queue(frame []byte)
	// Flush writes the queued frames to the guest.
	Flush()
	// MACs returns the MAC addresses for frames to the guest.
	MACs() (ours, guest [6]byte)
}

// Config is what the handler needs from the engine's configuration.
type Config struct {
	// NAT translates the guest's destinations; it is read when a flow is
	// created, so changes apply to new flows.
	NAT *flow.NAT
	// IfnameOut4 and IfnameOut6 are the interfaces sockets are bound to
	// (--outbound-if4, --outbound-if6), for targets other than loopback;
	// empty: none.
	IfnameOut4, IfnameOut6 string
}

// Stats counts what the handler did and dropped.
type Stats struct {
	Requests uint64 // echo requests written to a ping socket
	Replies  uint64 // echo replies queued to the guest

	Malformed   uint64 // fragments, wrong ICMP version, bad lengths or addresses
	BadChecksum uint64 // requests with a wrong checksum
	NotEcho     uint64 // other ICMP types, or echo requests with code != 0
	Refused     uint64 // no translation, table full, socket creation failed
	OverBudget  uint64 // of which: ICMP's descriptor share was spent
	SendErrors  uint64 // write(2) to the ping socket failed
	RecvDropped uint64 // read errors and unexpected datagrams from sockets
	Expired     uint64 // flows closed after IdleTimeout
}

// echoFlow is the per-flow state, indexed like the flow table. The guest's
// address and identifier and the original destination are in the table's
// key.
type echoFlow struct {
	fd       int
	v6       bool
	lastUsed time.Duration // since Handler.epoch, of the last request
}

// Handler is the ICMP side of the engine. It is not safe for concurrent
// use: everything runs on the engine's loop.
type Handler struct {
	loop *loop.Loop
	kind loop.Kind
	out  Output
	cfg  Config

	table   *flow.Table
	flows   []echoFlow
	timer   *loop.Timer
	timerOn bool
	epoch   time.Time
	// Timeout is the idle timeout of flows, IdleTimeout unless changed.
	Timeout time.Duration

	bufs [frameBufs][]byte
	nbuf int

	warned bool
	// fdLimit, if not 0, caps the flows (one socket each).
	fdLimit int
	Stats   Stats
}

// warnf logs warnings; tests replace it.
var warnf = log.Warnf

// New creates the ICMP handler. kind is the loop kind its sockets and
// timer are registered with; the Index of a Ref is the flow index, or
// MaxFlows for the timer.
func New(l *loop.Loop, kind loop.Kind, out Output, cfg Config) (*Handler, error) {
	if cfg.NAT == nil {
		return nil, errors.New("icmp: no NAT rules")
	}
	h := &Handler{
		loop: l, kind: kind, out: out, cfg: cfg,
		table:   flow.NewTable(MaxFlows),
		flows:   make([]echoFlow, MaxFlows),
		epoch:   time.Now(),
		Timeout: IdleTimeout,
	}
	for i := range h.bufs {
		h.bufs[i] = make([]byte, bufSize)
	}
	t, err := l.NewTimer(loop.MakeRef(kind, MaxFlows))
	if err != nil {
		return nil, err
	}
	h.timer = t
	return h, nil
}

// Flows returns the number of open flows.
func (h *Handler) Flows() int { return h.table.Len() }

// SetFDLimit caps the sockets flows hold, one each (0: only the table's
// capacity): ICMP's share of the process's descriptors (package fdbudget).
func (h *Handler) SetFDLimit(n int) { h.fdLimit = n }

// clock returns the time since the handler was created (monotonic).
func (h *Handler) clock() time.Duration { return time.Since(h.epoch) }

// FromGuest handles one ICMP or ICMPv6 packet from the guest: f is the
// whole frame and d its decoding by pkt.Decode. Echo requests are sent on
// the flow's ping socket; anything else is dropped and counted.
func (h *Handler) FromGuest(f []byte, d *pkt.Decoded) {
	v6 := d.IPVersion == 6
	proto := uint8(pkt.ProtoICMP)
	echoRequest := pkt.ICMPv4EchoRequest
	if v6 {
		proto, echoRequest = pkt.ProtoICMPv6, pkt.ICMPv6EchoRequest
	}
	if (d.IPVersion != 4 && !v6) || d.L4Proto != proto || d.Fragment ||
		d.L4HdrLen != pkt.ICMPHeaderLen || d.L4Off < 0 || d.L4Len < pkt.ICMPHeaderLen ||
		d.L4Off > len(f)-d.L4Len {
		h.Stats.Malformed++
		return
	}
	msg := pkt.ICMP(f[d.L4Off : d.L4Off+d.L4Len])
	if msg.Type() != echoRequest || msg.Code() != 0 {
		h.Stats.NotEcho++
		return
	}
	src, dst := d.Src, d.Dst
	if src.Is4() == v6 || dst.Is4() == v6 || src.Is4In6() || dst.Is4In6() ||
		!src.IsValid() || src.IsUnspecified() || src.IsMulticast() {
		h.Stats.Malformed++
		return
	}
	var sum uint64
	if v6 {
		sum = pkt.PseudoHeaderSum6(src, dst, pkt.ProtoICMPv6, uint32(len(msg)))
	}
	if pkt.Finish(pkt.Checksum(msg, sum)) != 0 {
		h.Stats.BadChecksum++
		return
	}

	id := msg.ID()
	key := flow.MakeKey(proto, netip.AddrPortFrom(src, id), netip.AddrPortFrom(dst, id))
	idx, ok := h.table.Lookup(key)
	if !ok {
		if idx = h.open(key, v6); idx < 0 {
			h.Stats.Refused++
			return
		}
	}
	fl := &h.flows[idx]
	fl.lastUsed = h.clock()
	if _, err := unix.Write(fl.fd, msg); err != nil {
		h.Stats.SendErrors++
		if log.TraceEnabled() {
			log.Tracef("ICMP: echo request id %d seq %d to %v: %v", id, msg.Seq(), dst, err)
		}
		return
	}
	h.Stats.Requests++
	if log.TraceEnabled() {
		log.Tracef("ICMP: echo request id %d seq %d from %v to %v", id, msg.Seq(), src, dst)
	}
}

// open creates the flow of key: a ping socket connected to the translated
// destination, registered with the loop. It returns the flow index, or -1.
func (h *Handler) open(key flow.Key, v6 bool) int {
	if h.table.Len() >= h.table.Cap() {
		log.Debugf("ICMP: flow table full, dropping echo request %v", key)
		return -1
	}
	if h.fdLimit > 0 && h.table.Len() >= h.fdLimit {
		h.Stats.OverBudget++
		log.Debugf("ICMP: descriptor share spent, dropping echo request %v", key)
		return -1
	}
	target, _, ok := h.cfg.NAT.FromGuest(key.Proto, key.Peer())
	if !ok || target.Addr().Is4() == v6 {
		log.Debugf("ICMP: no translation for %v", key)
		return -1
	}
	fd, err := h.socket(target.Addr(), v6)
	if err != nil {
		if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
			h.warnNoPingSocket()
		}
		log.Debugf("ICMP: %v: %v", key, err)
		return -1
	}
	idx, ok := h.table.Insert(key)
	if !ok {
		unix.Close(fd)
		return -1
	}
	if err := h.loop.Add(fd, unix.EPOLLIN, loop.MakeRef(h.kind, uint64(idx))); err != nil {
		log.Debugf("ICMP: %v: %v", key, err)
		h.table.Remove(idx)
		unix.Close(fd)
		return -1
	}
	h.flows[idx] = echoFlow{fd: fd, v6: v6}
	if !h.timerOn {
		_ = h.timer.Set(tickInterval, tickInterval)
		h.timerOn = true
	}
	if log.Enabled(log.Debug) {
		log.Debugf("ICMP: new flow %d: %v, host target %v", idx, key, target.Addr())
	}
	return idx
}

// socket returns a non-blocking ping socket connected to target.
func (h *Handler) socket(target netip.Addr, v6 bool) (int, error) {
	family, proto := unix.AF_INET, unix.IPPROTO_ICMP
	if v6 {
		family, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, &opError{"socket", err}
	}
	var sa unix.Sockaddr
	if !target.IsLoopback() {
		ifname := h.cfg.IfnameOut4
		if v6 {
			ifname = h.cfg.IfnameOut6
		}
		if ifname != "" {
			if err := unix.BindToDevice(fd, ifname); err != nil {
				unix.Close(fd)
				return -1, &opError{"SO_BINDTODEVICE " + ifname, err}
			}
		}
		if out := h.cfg.NAT.HostBind(target); out.IsValid() {
			if v6 {
				sa = &unix.SockaddrInet6{Addr: out.As16()}
			} else {
				sa = &unix.SockaddrInet4{Addr: out.As4()}
			}
			if err := unix.Bind(fd, sa); err != nil {
				unix.Close(fd)
				return -1, &opError{"bind " + out.String(), err}
			}
		}
	}
	if v6 {
		sa = &unix.SockaddrInet6{Addr: target.As16()}
	} else {
		sa = &unix.SockaddrInet4{Addr: target.As4()}
	}
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return -1, &opError{"connect to " + target.String(), err}
	}
	return fd, nil
}

// opError is a failed socket operation.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return e.op + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

// warnNoPingSocket tells, once, that ping sockets are not permitted, in
// upstream's words.
func (h *Handler) warnNoPingSocket() {
	if h.warned {
		return
	}
	h.warned = true
	warnf("Cannot open \"ping\" socket. You might need to:")
	warnf("  sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"")
	warnf("...echo requests/replies will fail.")
}

// Event handles a readable ping socket, or the expiry timer.
func (h *Handler) Event(ref loop.Ref, _ uint32) {
	idx := int(ref.Index())
	if idx == MaxFlows {
		h.timer.Ack()
		h.expire(h.clock())
		return
	}
	if !h.table.InUse(idx) {
		return
	}
	fl := &h.flows[idx]
	key := h.table.Key(idx)
	hdr, limit := ethLen+ip4Len, maxMessage-ip4Len
	echoReply := pkt.ICMPv4EchoReply
	if fl.v6 {
		hdr, limit, echoReply = ethLen+ip6Len, maxMessage, pkt.ICMPv6EchoReply
	}
	queued := false
	for range readBudget {
		if h.nbuf == frameBufs {
			h.flush()
		}
		b := h.bufs[h.nbuf]
		n, err := unix.Read(fl.fd, b[hdr:hdr+limit])
		if err != nil {
			if err == unix.EAGAIN {
				break
			}
			// A pending socket error (an ICMP error from the
			// network) is reported, and cleared, by read.
			h.Stats.RecvDropped++
			continue
		}
		msg := pkt.ICMP(b[hdr : hdr+n])
		if n < pkt.ICMPHeaderLen || msg.Type() != echoReply || msg.Code() != 0 {
			h.Stats.RecvDropped++
			continue
		}
		h.reply(&key, fl.v6, b, n)
		h.nbuf++
		queued = true
	}
	if queued {
		h.flush()
	}
}

// reply completes the echo reply of mlen bytes read into b after the
// headers, for the flow with key, and queues it.
func (h *Handler) reply(key *flow.Key, v6 bool, b []byte, mlen int) {
	ours, guest := h.out.MACs()
	src, dst := key.Peer(), key.Guest()
	et := pkt.EtherTypeIPv4
	if v6 {
		et = pkt.EtherTypeIPv6
	}
	n := pkt.BuildEthernet(b, guest, ours, et)
	if v6 {
		n += pkt.BuildIPv6(b[n:], src.Addr(), dst.Addr(), pkt.ProtoICMPv6, mlen, replyHopLimit, 0)
	} else {
		n += pkt.BuildIPv4(b[n:], src.Addr(), dst.Addr(), pkt.ProtoICMP, mlen, replyHopLimit, 0)
	}
	msg := pkt.ICMP(b[n : n+mlen])
	msg.SetID(dst.Port())
	if v6 {
		pkt.FinishICMPv6(msg, src.Addr(), dst.Addr())
	} else {
		pkt.FinishICMPv4(msg)
	}
	h.out.Queue(b[:n+mlen])
	h.Stats.Replies++
	if log.TraceEnabled() {
		log.Tracef("ICMP: echo reply id %d seq %d from %v to %v", dst.Port(), msg.Seq(), src.Addr(), dst.Addr())
	}
}

// flush writes the queued frames; their buffers are free again.
func (h *Handler) flush() {
	h.out.Flush()
	h.nbuf = 0
}

// expire closes the flows idle for longer than Timeout at now, and stops
// the timer when none is left.
func (h *Handler) expire(now time.Duration) {
	for idx := range h.table.Limit() {
		if h.table.InUse(idx) && now-h.flows[idx].lastUsed > h.Timeout {
			h.close(idx)
			h.Stats.Expired++
		}
	}
	if h.table.Len() == 0 && h.timerOn {
		_ = unix.TimerfdSettime(h.timer.Fd(), 0, &unix.ItimerSpec{}, nil)
		h.timerOn = false
	}
}

// close frees flow idx and closes its socket.
func (h *Handler) close(idx int) {
	fl := &h.flows[idx]
	h.loop.Del(fl.fd)
	unix.Close(fl.fd)
	h.table.Remove(idx)
	*fl = echoFlow{}
}

// Close closes every flow's socket.
func (h *Handler) Close() {
	for idx := range h.table.Limit() {
		if h.table.InUse(idx) {
			h.close(idx)
		}
	}
}
