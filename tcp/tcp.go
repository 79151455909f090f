// SPDX-License-Identifier: GPL-2.0-or-later

// Package tcp translates between the guest's TCP segments and ordinary TCP
// sockets on the host, without a TCP stack of its own.
//
// Theory of operation. Each guest connection is mirrored by one host
// socket. The guest's SYN makes us connect a non-blocking socket to the
// (translated) destination; only once the real peer has accepted do we
// answer the guest's SYN with a SYN-ACK, so a refused connection reaches the
// guest as a reset. From then on the two sides are kept in step:
//
//   - Guest to host: a segment carrying the next expected sequence number
//     is written to the socket; we acknowledge exactly what the socket took,
//     and advertise as window the payload the socket's send buffer can
//     still take (its free memory scaled by the payload-to-memory ratio of
//     its queue), so that what the guest sends within the window is taken
//     whole. Anything else (out of order, beyond the window) gets a
//     duplicate ACK, and the guest retransmits. Whenever we advertise a
//     window with the buffer low, we ask epoll to tell us when it drains and
//     then send a window update, so the guest never waits for its
//     zero-window probe timer. ACKs are owed per flow and sent once at the
//     end of each batch of guest frames (EndBatch), not once per segment,
//     or sooner once a batch brought ackEvery bytes. The in-order payloads
//     of one flow in a batch are gathered (iovecs into the batch's frames)
//     and written with one sendmsg(2), not one each: at MTU 1500 a guest
//     without TSO sends 1448-byte segments (see data). Nothing is
//     acknowledged before it is written.
//   - Unacceptable segments (RFC 9293 §3.10.7.4: zero-window probes, old
//     duplicates, ACKs of data never sent) are answered with an ACK; a RST
//     ends the flow only with the exact next sequence number, one elsewhere
//     in the window and a SYN on a synchronised connection get a challenge
//     ACK (RFC 5961). A connection idle for two hours is reset.
//   - Host to guest: data stays in the socket's receive queue until the
//     guest acknowledges it. We read it with MSG_PEEK, with SO_PEEK_OFF
//     moving past what is in flight, straight into the payload area of the
//     frames we build, as much as the guest's window allows; an ACK from
//     the guest discards the acknowledged bytes from the queue (MSG_TRUNC).
//     Retransmission rewinds the peek offset to the first unacknowledged
//     byte (go-back-N): on the timer, or at once on the third duplicate
//     ACK in a row (fast retransmit, RFC 5681). There is no per-connection
//     buffer.
//     Sockets are edge-triggered: peeked data stays readable until the
//     guest acknowledges it, which would wake a level-triggered loop for
//     nothing; we read until EAGAIN (or the end of stream, once epoll
//     reports EPOLLRDHUP), or until the guest's window stops us.
//   - FIN from the guest becomes shutdown(SHUT_WR); end of stream from the
//     host becomes a FIN to the guest once every byte before it is
//     acknowledged. RST travels both ways (a socket closed with SO_LINGER 0
//     resets the real peer).
//
// Flows live in a fixed-size, pointer-free table (package flow) keyed by
// the guest-side addresses and ports; every socket is
// registered in the engine's epoll loop with a reference carrying that
// number. One timer tick drives retransmissions and the SYN-ACK timeout.
// Connections forwarded from the host (-t, accepted on our listening
// sockets) use the same state machine, starting with our SYN to the guest.
package tcp

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"passt/flow"
	"passt/log"
	"passt/loop"
	"passt/pkt"
)

// Output is where built frames go: the engine queues them for the guest.
type Output interface {
	// Queue queues a frame; it stays owned by the caller until Flush.
	Queue(frame []byte)
	// Flush writes the queued frames to the guest.
	Flush()
	// Addresses returns the MACs for frames to the guest.
	MACs() (ours, guest [6]byte)
}

// OffloadOutput is an Output that also takes super-frames and frames with
// a partial checksum (pasta's tap with offloads on).
type OffloadOutput interface {
	// QueueOffload queues a frame of payload gsoSize per segment (0:
	// one segment) whose TCP checksum is partial if partial is set.
	QueueOffload(frame []byte, gsoSize uint16, partial bool)
}

// Translator maps a guest's destination to the host socket's target.
type Translator func(dst netip.AddrPort) (netip.AddrPort, bool)

// Flow states.
const (
	stateFree       = iota
	stateConnecting // guest-initiated: host socket connecting
	stateSynAckSent // guest-initiated: waiting for the guest's ACK
	stateSynSent    // host-initiated: waiting for the guest's SYN-ACK
	stateEstablished
	stateClosing
)

// Limits and timing.
const (
	// MaxFlows is the capacity of the flow table.
	MaxFlows = 65536
	// ourWScale is the window scale we announce.
	ourWScale = 8
	// defaultGuestMSS applies when the guest's SYN has no MSS option.
	defaultGuestMSS = 536
	tickInterval    = 50 * time.Millisecond
	rto             = 200 * time.Millisecond
	dupAckThreshold = 3 // duplicate ACKs that make us retransmit at once
	synAckTimeout   = 10 * time.Second
	maxRetries      = 12
	// frameBufs bounds the frames queued between two flushes: at MTU
	// 1500, 1024 frames (1.5 MiB) go to passt's socket in a few
	// writev(2) calls. With 256 passt host→guest through the shim (with
	// GRO) ran at 10.4-10.9 Gbit/s, and at 11.2-11.6 with 1024.
	frameBufs = 1024
	// frameBudget bounds the bytes of frame buffers used between two
	// flushes when frames are large (super-frames with offload, or a
	// 64 KiB MTU): 4 MiB of frames is as good a batch as 16, and every
	// buffer touched is memory the process keeps (its peak RSS).
	frameBudget = 4 << 20
	// peekSegs is how many segments' payloads sendData peeks with one
	// recvmsg(2) at most, when segments are small (no offload): 374 KiB
	// at MTU 1500, as much as a loopback sender has in flight at a time.
	peekSegs = 256
	// minBufs is the fewest frame buffers, however large: 64 frames of
	// 64 KiB, a 4 MiB batch, for 64 KiB segments without offload.
	minBufs  = 64
	maxFrame = 65535 + 14

	// ackEvery is how much guest data we take before acknowledging it
	// within a batch of frames, rather than at its end: a batch from a
	// tap can hold 2 MiB, and the guest, on another CPU, would wait for
	// its window meanwhile.
	ackEvery = 256 << 10

	// gatherIovs and gatherBytes bound a gather of guest payloads
	// written with one sendmsg(2) (see data): an iovec per segment.
	gatherIovs  = 64
	gatherBytes = ackEvery
)

// idleTimeout resets an established connection neither side has used for
// this long (upstream's activity timeout); a variable for tests.
var idleTimeout = 2 * time.Hour

type flowKey struct {
	guest, peer netip.AddrPort
}

type conn struct {
	state uint8
	v6    bool
	fd    int
	// slot is the flow's index in the table plus one; 0 marks a
	// stand-in outside the table (the reset answering a segment of an
	// unknown connection).
	slot  int32
	guest netip.AddrPort // guest's address and port
	peer  netip.AddrPort // the address the guest talks to, as it sees it

	sndUna, sndNxt uint32 // towards the guest
	rcvNxt         uint32 // from the guest
	guestWnd       uint32 // bytes
	guestWS        uint8
	guestMSS       uint16
	wsOK           bool

	rcvWnd       uint32 // the window we last advertised, in bytes
	ackDue       bool   // an ACK is owed to the guest (sent at EndBatch)
	ackSent      uint32 // the acknowledgement the guest was last sent
	lastActive   time.Time
	finFromGuest bool   // received, socket shut down for writing
	hostEOF      bool   // the socket reached end of stream
	finSent      bool   // our FIN is out (sndNxt counts it)
	wantOut      bool   // waiting for EPOLLOUT (socket full)
	registered   bool   // in the epoll set
	events       uint32 // the events registered, when registered
	peerShut     bool   // EPOLLRDHUP seen: read to the end of stream
	spaceHint    int    // send buffer memory we may still fill before it runs low
	inOff        bool   // EPOLLIN disabled (guest window full)
	lastSend     time.Time
	retries      int
	dupAcks      uint8  // duplicate ACKs in a row (fast retransmit at dupAckThreshold)
	toDiscard    uint32 // acknowledged bytes still in the receive queue (flushDiscards)
	sendDue      bool   // the guest's window opened: send on at the end of the batch
	started      time.Time
}

// Handler is the TCP side of the engine.
type Handler struct {
	loop      *loop.Loop
	kind      loop.Kind
	out       Output
	translate Translator
	mtu       int
	addrOut4  netip.Addr
	addrOut6  netip.Addr
	localCC   localCC // host sockets whose peer is on this host (localcc.go)

	flows  []conn
	table  *flow.Table
	active []int // indices in use, for the timer
	// listed marks the indices in active: a flow that closes and whose
	// index is taken again before the timer's next pass must not be
	// listed twice (the list grew by one per connection under churn).
	listed []bool

	bufs  [frameBufs][]byte
	nbufs int // how many of bufs are used (setBufs)
	nbuf  int
	timer *loop.Timer
	now   time.Time
	// batchClock: now was stamped for the whole batch of frames from
	// the guest (BeginBatch), not read again per segment.
	batchClock bool
	ackList    []int // flows owed an ACK at the end of the batch
	lateAcks   []int // flows whose ACK waits for a reply to carry it (mayAckLate)
	// discardList: flows with acknowledged bytes to discard from their
	// receive queue at the end of the batch (see acked).
	discardList []int
	// sendList: window-bound flows whose window the guest opened in this
	// batch, to send on at its end (sendLater).
	sendList []int
	// The window held for the segments of one sendData call, or for the
	// ACK of a windowUpdate (wndHold: the flow, nil: none; wndValid:
	// wndHeld computed): one getsockopt(2) per call instead of one per
	// segment.
	wndHold  *conn
	wndHeld  uint16
	wndValid bool
	// peekIov and peekMsg read several segments' payloads with one
	// recvmsg(2) (sendData).
	peekIov [peekSegs]unix.Iovec
	peekMsg unix.Msghdr

	// The gather: in-order guest payloads of one flow (gatherIdx, -1:
	// none) not yet written to its socket, pointing into the batch's
	// frames, written with one sendmsg(2) (flushGather). The flow's
	// rcvNxt already counts them; nothing acknowledges them before
	// they are written.
	gatherIdx int
	gatherIov [gatherIovs]unix.Iovec
	gatherN   int // iovecs in use
	gatherLen int // bytes in them
	gatherMsg unix.Msghdr
	// gatherWrites counts the sendmsg(2) calls that wrote a gather (for
	// tests).
	gatherWrites int
	// peeks and discards count the reads of host data (sendSegments) and
	// the recv(2) calls that drop acknowledged data (for tests).
	peeks, discards int
	swept           time.Time // the last idle sweep

	// With offloads (SetOffload): frames to the guest of up to 64 KiB
	// whatever the MTU, and checksums left to the kernel (partial).
	offOut  OffloadOutput
	partial bool

	listenKind loop.Kind
	inbound    InboundTranslator
	listeners  []listener
	splicer    *Splicer
	reserve    reserveFD // given up to refuse connections when out of descriptors
	fdLimit    int       // TCP's descriptor share, 0: none (capacity.go)
	isns       isnGen    // our initial sequence numbers (isn.go)
}

// SetSplicer makes connections arriving on a host loopback address for a
// rule without target address go through the splice bypass.
func (h *Handler) SetSplicer(s *Splicer) { h.splicer, s.owner = s, h }

// New creates the TCP handler. kind is the loop kind its sockets and timer
// are registered with; the Index of a Ref is the flow number, or
// MaxFlows for the timer.
func New(l *loop.Loop, kind loop.Kind, out Output, translate Translator, mtu int, addrOut4, addrOut6 netip.Addr) (*Handler, error) {
	h := &Handler{
		loop: l, kind: kind, out: out, translate: translate, mtu: mtu,
		addrOut4: addrOut4, addrOut6: addrOut6,
		flows:   make([]conn, MaxFlows),
		table:   flow.NewTable(MaxFlows),
		reserve: newReserve(),

		gatherIdx: -1,
	}
	l.BeforeSleep(h.flushLateAcks)
	isns, err := newISNGen()
	if err != nil {
		return nil, err
	}
	h.isns = isns
	if h.mtu <= 0 || h.mtu > 65520 {
		h.mtu = 65520
	}
	h.setBufs(14 + 60 + h.mtu)
	t, err := l.NewTimer(loop.MakeRef(kind, MaxFlows))
	if err != nil {
		return nil, err
	}
	h.timer = t
	return h, nil
}

// SetOffload makes the handler send super-frames (segments of up to 64 KiB,
// with the guest's MSS as their segment size), with partial checksums if
// partial is set, through an Output that implements OffloadOutput. Call it
// before any flow exists.
func (h *Handler) SetOffload(gso, partial bool) {
	oo, ok := h.out.(OffloadOutput)
	if !gso || !ok {
		h.offOut, h.partial = nil, false
		h.setBufs(14 + 60 + h.mtu)
		return
	}
	h.offOut, h.partial = oo, partial
	h.setBufs(maxFrame + 60)
}

// setBufs allocates the frame buffers, size bytes each: as many as
// frameBudget holds, but at least minBufs and at most frameBufs. A peek
// fills at most that many in a row (sendSegments). Buffers of that size
// already are kept (SetOffload without offload asks again for New's).
func (h *Handler) setBufs(size int) {
	if h.nbufs > 0 && len(h.bufs[0]) == size {
		return
	}
	h.nbufs = min(max(frameBudget/size, minBufs), frameBufs)
	for i := range h.bufs {
		h.bufs[i] = nil
	}
	for i := range h.nbufs {
		h.bufs[i] = make([]byte, size)
	}
}

// Flows returns the number of flows in use.
func (h *Handler) Flows() int { return h.table.Len() }

// buf returns a frame buffer, flushing when all are queued.
func (h *Handler) buf() []byte {
	if h.nbuf == h.nbufs {
		h.flush()
	}
	b := h.bufs[h.nbuf]
	h.nbuf++
	return b
}

// flush writes the queued frames to the guest; their buffers are free
// again afterwards.
func (h *Handler) flush() {
	h.out.Flush()
	h.nbuf = 0
}

// hdrLen is the length of Ethernet, IP and TCP headers (without options).
func hdrLen(v6 bool) int {
	if v6 {
		return 14 + 40 + 20
	}
	return 14 + 20 + 20
}

// segment builds and queues a segment to the guest with the payload
// already at b[hdrLen+optLen:], of plen bytes.
func (h *Handler) segment(c *conn, b []byte, flags uint8, seq uint32, plen int, opts *pkt.TCPOptions) {
	if h.gatherIdx >= 0 && &h.flows[h.gatherIdx] == c {
		// Never acknowledge bytes not yet written. The callers write
		// the gather before they get here; this is the backstop, which
		// may not reset the flow or flush frames under its caller.
		if _, all, _ := h.writeGather(false); !all {
			h.needOut(c) // a window update once the socket drains
		}
	}
	ours, guest := h.out.MACs()
	et := pkt.EtherTypeIPv4
	if c.v6 {
		et = pkt.EtherTypeIPv6
	}
	n := pkt.BuildEthernet(b, guest, ours, et)
	olen := 0
	if opts != nil {
		olen = opts.Len()
	}
	tcpLen := 20 + olen + plen
	src, dst := c.peer.Addr(), c.guest.Addr()
	if c.v6 {
		n += pkt.BuildIPv6(b[n:], src, dst, pkt.ProtoTCP, tcpLen, 255, 0)
	} else {
		n += pkt.BuildIPv4(b[n:], src, dst, pkt.ProtoTCP, tcpLen, 255, 0)
		binary.BigEndian.PutUint16(b[n-20+6:], pkt.IPv4FlagDF)
		ip := pkt.IPv4(b[n-20 : n])
		ip.UpdateChecksum()
	}
	var o pkt.TCPOptions
	if opts != nil {
		o = *opts
	}
	pkt.BuildTCP(b[n:], c.peer.Port(), c.guest.Port(), seq, c.rcvNxt, flags, h.heldWindow(c), o)
	t := pkt.TCP(b[n : n+tcpLen])
	if h.offOut == nil {
		pkt.FinishTCP(t, src, dst)
		h.out.Queue(b[:n+tcpLen])
	} else {
		if h.partial {
			t.SetChecksum(pkt.Fold(pkt.PseudoHeaderSum(src, dst, pkt.ProtoTCP, uint32(tcpLen))))
		} else {
			pkt.FinishTCP(t, src, dst)
		}
		var gso uint16
		if mss := h.segMSS(c); plen > mss {
			gso = uint16(mss)
		}
		h.offOut.QueueOffload(b[:n+tcpLen], gso, h.partial)
	}
	c.lastSend = h.now
	c.ackDue = false // every segment carries the acknowledgement
	c.ackSent = c.rcvNxt
}

// sendSpace returns the free space of a socket's send buffer as the kernel
// counts it (sk_sndbuf - sk_wmem_queued, from SO_MEMINFO) and the buffer's
// size. The socket reports EPOLLOUT once the space is at least a third of
// the buffer.
func sendSpace(fd int) (space, size int) {
	space, size, _ = sendMemory(fd)
	return space, size
}

// sendMemory is sendSpace, also returning the memory the queue takes.
func sendMemory(fd int) (space, size, queued int) {
	var mi [unix.SK_MEMINFO_VARS]uint32
	l := uint32(len(mi) * 4)
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(&mi)), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return 0, 0, 0
	}
	size = int(mi[unix.SK_MEMINFO_SNDBUF])
	queued = int(mi[unix.SK_MEMINFO_WMEM_QUEUED])
	return max(size-queued, 0), size, queued
}

// heldWindow is window(c), computed once for the segments of one sendData
// call.
func (h *Handler) heldWindow(c *conn) uint16 {
	if h.wndHold != c {
		return h.window(c)
	}
	if !h.wndValid {
		h.wndHeld, h.wndValid = h.window(c), true
	}
	return h.wndHeld
}

// window is the window we advertise: the payload the socket's send buffer
// can still take. The kernel counts the buffers' overhead too (sk_buff
// headers, more of them when the peer's window makes segments small), so
// the space is scaled by the payload-to-memory ratio of what is queued now
// (TIOCOUTQ against the memory it takes), less a sixteenth; with little
// queued, a quarter is kept back. Advertising more than the socket takes
// would make us drop the excess and the guest retransmit after a timeout.
//
// The payload is read first, the memory second: the host's ACKs free both
// at any moment, on another CPU, and one arriving between the two reads
// must not pass for memory without payload in it (a sliver of a window
// for an almost empty socket: read the other way round, an ACK of 2.5 MB
// there gave 78 KB of payload in 2.6 MB of memory and a 41 KB window).
//
// A window smaller than one of the guest's segments, with the buffer not
// low, is raised to a segment (what the socket has room for): no EPOLLOUT
// would follow it, and a Linux guest that has seen a larger window does
// not send less than a segment; it would wait for its persist timer, 200
// ms or more, with the connection idle.
func (h *Handler) window(c *conn) uint16 {
	if c.fd <= 0 {
		c.rcvWnd = 0
		return 0
	}
	outq := -1
	if n, err := unix.IoctlGetInt(c.fd, unix.TIOCOUTQ); err == nil {
		outq = n
	}
	space, size, queued := sendMemory(c.fd)
	c.spaceHint = lowSpaceMargin(space, size)
	free := windowFor(space, queued, outq)
	low := 3*space < size
	if low && !c.wantOut {
		// Whatever we advertise now, the buffer is low: a window
		// update must follow when it drains.
		h.needOut(c)
	}
	if !low {
		free = atLeastASegment(free, space, h.segMSS(c))
	}
	if c.wsOK {
		free >>= ourWScale
	}
	free = min(free, 65535)
	c.rcvWnd = uint32(free)
	if c.wsOK {
		c.rcvWnd <<= ourWScale
	}
	return uint16(free)
}

// windowFor is the payload a send buffer with space bytes free, queued
// taken, outq of them payload (TIOCOUTQ; negative: not known) can still
// take. The payload-to-memory ratio of the queue is only a measure when the
// queue holds payload: memory still charged after everything was
// acknowledged (outq 0 and 130 KiB queued is common on loopback) would
// make it zero, a zero window with the socket empty, and no EPOLLOUT to
// follow it (the socket is writable): the guest would sit on it until its
// persist timer probes, 200 ms or more. A ratio under one half is no
// measure either (segments of 64 KiB come at 98%, of 1448 bytes at about
// 60%): the window then takes half the space.
func windowFor(space, queued, outq int) int {
	if queued < 65536 || outq < 65536 || outq > queued {
		return space - space/4
	}
	free := int(int64(space) * int64(max(outq, queued/2)) / int64(queued))
	return free - free/16
}

// atLeastASegment raises a window to one segment of mss bytes, or to the
// space the buffer has if that is less.
func atLeastASegment(free, space, mss int) int {
	return max(free, min(space, mss))
}

// lowSpaceMargin is how much more memory the send buffer can take before
// it runs low: before its free space falls under a third of its size, when
// the socket stops reporting EPOLLOUT.
func lowSpaceMargin(space, size int) int { return (3*space - size) / 3 }

// writeCharge is the send buffer memory a write of n bytes may take at
// most, with the kernel's per-buffer overhead: for the estimate that spares
// watchSpace a getsockopt(SO_MEMINFO) per write.
func writeCharge(n int) int { return 2*n + 4096 }

// watchSpace asks for EPOLLOUT when the send buffer is low, so that a
// window update follows as soon as it drains: the guest may otherwise sit
// on a small or zero window until its next probe. It asks the kernel only
// once the writes since the last look (window() or here) may have used up
// the margin then left: the buffer's free space only grows otherwise.
func (h *Handler) watchSpace(idx int, c *conn, written int) {
	if c.spaceHint -= writeCharge(written); c.spaceHint > 0 || c.wantOut {
		return
	}
	space, size := sendSpace(c.fd)
	c.spaceHint = lowSpaceMargin(space, size)
	if 3*space < size {
		c.wantOut = true
		h.updateEvents(idx, c)
	}
}

// needOut asks for EPOLLOUT on a flow's socket, through epoll_ctl(2) even
// if EPOLLOUT is among its events already: the kernel signals only a
// socket that was found short of space (SOCK_NOSPACE, set when epoll_ctl
// polls it, cleared by the last EPOLLOUT), so without the call a buffer
// that filled again after an EPOLLOUT would drain without a word.
func (h *Handler) needOut(c *conn) {
	if c.slot == 0 {
		return // not a flow of the table
	}
	idx := int(c.slot - 1)
	c.wantOut = true
	c.events = 0 // differs from any events: updateEvents calls epoll_ctl
	h.updateEvents(idx, c)
}

// ackLater owes the guest an ACK, sent at the end of the batch (EndBatch)
// unless a segment to it carries the acknowledgement first: one ACK for a
// batch of segments instead of one each.
func (h *Handler) ackLater(idx int, c *conn) {
	if !c.ackDue {
		c.ackDue = true
		h.ackList = append(h.ackList, idx)
	}
}

// BeginBatch starts a batch of frames from the guest, read at one time:
// their segments share one reading of the clock, instead of one each
// (reading it is a few percent of the CPU time of a bulk transfer at MTU
// 1500). EndBatch ends the batch.
func (h *Handler) BeginBatch() {
	h.now = time.Now()
	h.batchClock = true
}

// EndBatch sends the ACKs owed after a batch of frames from the guest and
// writes every queued frame.
func (h *Handler) EndBatch() {
	h.batchClock = false
	h.flushGather()
	h.flushDiscards()
	h.flushSends()
	h.flushLateAcks() // owed since an earlier batch
	for _, idx := range h.ackList {
		c := &h.flows[idx]
		switch {
		case !c.ackDue || c.state == stateFree:
		case h.mayAckLate(c):
			h.lateAcks = append(h.lateAcks, idx)
		default:
			h.ack(c)
		}
	}
	h.ackList = h.ackList[:0]
	h.flush()
}

// lateAckBytes: an ACK owed for less new data than this (a request, a
// keystroke: not a bulk transfer) waits for a reply to carry it.
const lateAckBytes = 2048

// mayAckLate says whether the ACK owed to c may wait (lateAcks): for a
// little new in-order data on an established connection, the host's reply
// usually comes within microseconds and carries the acknowledgement, which
// spares the guest a frame and us a write per request. It waits until a
// segment to the guest carries it, or at most until the loop is about to
// sleep or has handled one more event (flushLateAcks).
func (h *Handler) mayAckLate(c *conn) bool {
	n := c.rcvNxt - c.ackSent
	return c.state == stateEstablished && !c.finFromGuest && n > 0 && n < lateAckBytes
}

// flushLateAcks sends the ACKs left waiting (mayAckLate) that no segment
// carried meanwhile.
func (h *Handler) flushLateAcks() {
	if len(h.lateAcks) == 0 {
		return
	}
	for _, idx := range h.lateAcks {
		if c := &h.flows[idx]; c.ackDue && c.state != stateFree {
			h.ack(c)
		}
	}
	h.lateAcks = h.lateAcks[:0]
	h.flush()
}

// ack sends a bare ACK.
func (h *Handler) ack(c *conn) {
	b := h.buf()
	h.segment(c, b, pkt.TCPFlagACK, c.sndNxt, 0, nil)
}

// windowUpdate sends the guest an ACK with the window it has now, once the
// socket drained (EPOLLOUT), if that is news: a larger window, or data not
// acknowledged yet. An ACK that repeats the last one's number and window
// is, to a guest with data in flight, a duplicate, and the third in a row
// makes a Linux guest retransmit and halve its congestion window although
// nothing was lost (a socket that drains a little at a time raises
// EPOLLOUT several times while the window stays the same to its 256-byte
// unit).
func (h *Handler) windowUpdate(c *conn) {
	last := c.rcvWnd
	h.wndHold, h.wndValid = c, false // as sendData: the ACK takes this window
	h.heldWindow(c)                  // c.rcvWnd is the window now
	if c.ackSent != c.rcvNxt || c.rcvWnd > last {
		h.ack(c)
	} else {
		c.rcvWnd = last // what the guest was told stands
	}
	h.wndHold = nil
}

// resetGuest answers a segment with a RST (no flow needed).
func (h *Handler) resetGuest(c *conn, seq uint32) {
	b := h.buf()
	h.segment(c, b, pkt.TCPFlagRST|pkt.TCPFlagACK, seq, 0, nil)
}

// FromGuest handles one TCP segment from the guest (the whole frame, with
// its decoding).
func (h *Handler) FromGuest(f []byte, d *pkt.Decoded) {
	if d.L4HdrLen == 0 || d.Fragment {
		return
	}
	if !h.batchClock {
		h.now = time.Now()
	}
	t := pkt.TCP(f[d.L4Off : d.L4Off+d.L4Len])
	payload := t.Payload()
	key := flowKey{
		guest: netip.AddrPortFrom(d.Src, t.SrcPort()),
		peer:  netip.AddrPortFrom(d.Dst, t.DstPort()),
	}
	flags := t.Flags()
	idx, ok := h.table.Lookup(flow.MakeKey(pkt.ProtoTCP, key.guest, key.peer))
	if !ok {
		if flags&pkt.TCPFlagRST != 0 {
			return
		}
		if flags&(pkt.TCPFlagSYN|pkt.TCPFlagACK) != pkt.TCPFlagSYN {
			// Unknown connection: reset it, as a closed port would.
			tmp := conn{v6: d.IPVersion == 6, guest: key.guest, peer: key.peer, rcvNxt: t.Seq() + uint32(len(payload))}
			if flags&pkt.TCPFlagFIN != 0 {
				tmp.rcvNxt++
			}
			h.resetGuest(&tmp, t.Ack())
			h.flush()
			return
		}
		h.connect(key, d, t)
		return
	}
	c := &h.flows[idx]
	c.lastActive = h.now
	if flags&pkt.TCPFlagRST != 0 {
		h.resetFromGuest(idx, c, t)
		return
	}
	// Reading the socket is up to its EPOLLIN edges (updateEvents), unless
	// the guest's window held us back: then its ACK may let us send on at
	// the end of the batch, without a round through epoll (sendLater).
	windowBound := c.inOff
	switch c.state {
	case stateConnecting:
		return // the guest retransmits its SYN: still connecting
	case stateSynSent:
		h.synAckFromGuest(idx, c, t)
		return
	case stateSynAckSent:
		if flags&pkt.TCPFlagSYN != 0 {
			if flags&pkt.TCPFlagACK == 0 && t.Seq()+1 == c.rcvNxt {
				// Our SYN-ACK was lost: send it again.
				c.sndNxt = c.sndUna
				h.synAck(idx, c)
			}
			return
		}
		if flags&pkt.TCPFlagACK == 0 || t.Ack() != c.sndNxt {
			return
		}
		c.state = stateEstablished
		c.sndUna = t.Ack()
		c.guestWnd = uint32(t.Window()) << c.guestWS
		h.enableIn(idx, c)
	default:
		if flags&pkt.TCPFlagSYN != 0 {
			// A SYN on a synchronised connection gets a challenge
			// ACK (RFC 5961 §4); a restarted guest then resets.
			h.ackLater(idx, c)
			return
		}
	}
	fin := flags&pkt.TCPFlagFIN != 0
	if len(payload) == 0 && !fin && t.Seq() != c.rcvNxt {
		// An unacceptable segment (RFC 9293 §3.10.7.4), such as a
		// zero-window probe: answer with an ACK, carrying our
		// current window, and drop it.
		h.ackLater(idx, c)
		return
	}
	if flags&pkt.TCPFlagACK != 0 {
		h.acked(idx, c, t.Ack(), uint32(t.Window())<<c.guestWS, len(payload) == 0 && !fin)
		if c.state == stateFree {
			return
		}
	}
	if len(payload) > 0 || fin {
		h.data(idx, c, t.Seq(), payload, fin)
	}
	if c.state != stateFree && windowBound {
		h.sendLater(idx, c)
	}
}

// resetFromGuest handles a RST from the guest (RFC 5961 §3.2): one with
// exactly the next expected sequence number ends the flow, one elsewhere
// in the window gets a challenge ACK, any other is dropped. During our own
// handshake (host-initiated), a RST acknowledging our SYN is a refusal.
func (h *Handler) resetFromGuest(idx int, c *conn, t pkt.TCP) {
	seq := t.Seq()
	switch {
	case c.state == stateSynSent:
		if t.Flags()&pkt.TCPFlagACK != 0 && t.Ack() == c.sndNxt {
			h.close(idx, true)
		}
	case seq == c.rcvNxt:
		h.close(idx, true)
	case c.state != stateConnecting && seq-c.rcvNxt < max(c.rcvWnd, 1):
		h.ackLater(idx, c)
	}
}

// connect starts a flow for a guest SYN.
func (h *Handler) connect(key flowKey, d *pkt.Decoded, t pkt.TCP) {
	if h.table.Len() >= h.table.Cap() || h.overBudget(1) {
		// Full: refuse new connections, leave existing ones alone.
		h.refuseSyn(key, d, t)
		return
	}
	target, ok := h.translate(key.peer)
	if !ok {
		return
	}
	v6 := d.IPVersion == 6
	family := unix.AF_INET
	if target.Addr().Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		log.Debugf("TCP: socket(): %v", err)
		h.refuseSyn(key, d, t) // out of descriptors (capacity.go)
		return
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	// -o: the source address is fixed; IP_BIND_ADDRESS_NO_PORT leaves
	// the port to connect(), which may then reuse a port towards other
	// destinations, rather than reserving one per socket at bind() (the
	// ephemeral range, about 28 000 ports, would bound our connections).
	if out := h.addrOut4; family == unix.AF_INET && out.IsValid() {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		_ = unix.Bind(fd, &unix.SockaddrInet4{Addr: out.As4()})
	}
	if out := h.addrOut6; family == unix.AF_INET6 && out.IsValid() {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		_ = unix.Bind(fd, &unix.SockaddrInet6{Addr: out.As16()})
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Addr: target.Addr().As4(), Port: int(target.Port())}
	} else {
		sa = &unix.SockaddrInet6{Addr: target.Addr().As16(), Port: int(target.Port())}
	}
	idx, ok := h.table.Insert(flow.MakeKey(pkt.ProtoTCP, key.guest, key.peer))
	if !ok {
		unix.Close(fd)
		return
	}
	var opts pkt.TCPOptions
	_ = pkt.ParseTCPOptions(t.Options(), &opts)
	c := &h.flows[idx]
	*c = conn{
		state: stateConnecting, v6: v6, fd: fd, slot: int32(idx) + 1, guest: key.guest, peer: key.peer,
		rcvNxt: t.Seq() + 1, guestMSS: opts.MSS, started: h.now, lastActive: h.now,
	}
	if c.guestMSS == 0 {
		c.guestMSS = defaultGuestMSS
	}
	if opts.HasWScale {
		c.wsOK, c.guestWS = true, opts.WScale
	}
	c.sndUna = h.isns.isn(h.now, key.peer, key.guest)
	c.sndNxt = c.sndUna
	h.listActive(idx)
	h.armTimer()

	err = unix.Connect(fd, sa)
	if err != nil && !errors.Is(err, unix.EINPROGRESS) {
		h.refused(idx, c)
		return
	}
	h.localCC.applyIfLocal(fd, target.Addr())
	if err := h.loop.Add(fd, unix.EPOLLOUT|unix.EPOLLET, loop.MakeRef(h.kind, uint64(idx))); err != nil {
		h.refused(idx, c)
		return
	}
	c.registered, c.events = true, unix.EPOLLOUT|unix.EPOLLET
}

// refused reports a failed connection to the guest with a reset.
func (h *Handler) refused(idx int, c *conn) {
	b := h.buf()
	h.segment(c, b, pkt.TCPFlagRST|pkt.TCPFlagACK, 0, 0, nil)
	h.flush()
	h.close(idx, false)
}

// synAck answers the guest's SYN now that the host side is connected.
func (h *Handler) synAck(idx int, c *conn) {
	opts := pkt.TCPOptions{MSS: h.ourMSS(c)}
	if c.wsOK {
		opts.HasWScale, opts.WScale = true, ourWScale
	}
	b := h.buf()
	h.segment(c, b, pkt.TCPFlagSYN|pkt.TCPFlagACK, c.sndUna, 0, &opts)
	c.sndNxt = c.sndUna + 1
	c.state = stateSynAckSent
	h.flush()
}

func (h *Handler) ourMSS(c *conn) uint16 {
	m := h.mtu - 40
	if c.v6 {
		m = h.mtu - 60
	}
	if m > 65535 {
		m = 65535
	}
	return uint16(m)
}

// segMSS is the payload size of our segments to the guest.
func (h *Handler) segMSS(c *conn) int {
	m := int(h.ourMSS(c))
	if int(c.guestMSS) < m {
		m = int(c.guestMSS)
	}
	return m
}

// acked processes an acknowledgement and window from the guest; bare says
// the segment carries no data and no FIN (only those count as duplicate
// ACKs).
func (h *Handler) acked(idx int, c *conn, ack, wnd uint32, bare bool) {
	sameWnd := wnd == c.guestWnd
	c.guestWnd = wnd
	n := ack - c.sndUna
	if int32(ack-c.sndNxt) > 0 {
		h.ackLater(idx, c) // acknowledges what we never sent
		return
	}
	if int32(n) <= 0 {
		// An old ACK, or a duplicate: the guest got a segment
		// beyond one that was lost. At the third in a row, send
		// again from the first byte it lacks (fast retransmit, RFC
		// 5681 §3.2) rather than wait for the timer: frames to the
		// guest are lost when its queue overflows or when passt
		// drops them for a guest that stopped reading.
		if n == 0 && bare && sameWnd && c.sndNxt != c.sndUna && c.state >= stateEstablished {
			if c.dupAcks++; c.dupAcks == dupAckThreshold {
				h.rewind(idx, c)
			}
		}
		return
	}
	c.dupAcks = 0
	data := n
	if c.finSent && ack == c.sndNxt {
		data-- // our FIN takes a sequence number, not a byte
	}
	if data > 0 {
		if c.toDiscard == 0 {
			h.discardList = append(h.discardList, idx)
		}
		c.toDiscard += data
	}
	c.sndUna = ack
	c.retries = 0
	if c.finSent && ack == c.sndNxt && c.finFromGuest {
		h.close(idx, false)
		return
	}
}

// sendLater sends on, at the end of the batch, on a flow the guest's window
// held back (EPOLLIN off, inOff): its ACKs in a batch (one every segment
// or two at MTU 1500) open the window a little each, and sending on at
// each would peek a segment or two per recvmsg(2) and turn EPOLLIN on and
// off per ACK, two epoll_ctl(2) each. Once per batch, the peek takes what
// the whole batch opened, and EPOLLIN comes back only if the socket is
// drained (sendSegments).
func (h *Handler) sendLater(idx int, c *conn) {
	if !c.sendDue {
		c.sendDue = true
		h.sendList = append(h.sendList, idx)
	}
}

// flushSends sends on the flows of sendList.
func (h *Handler) flushSends() {
	for _, idx := range h.sendList {
		if c := &h.flows[idx]; c.sendDue && c.state != stateFree {
			c.sendDue = false
			h.sendData(idx, c)
		}
	}
	h.sendList = h.sendList[:0]
}

// flushDiscards drops the bytes the guest acknowledged in this batch from
// the receive queues. A guest acknowledges every other segment or so, and
// at MTU 1500 a discard per ACK was one recv(2) per 3 KiB, as many system
// calls as segments sent; the acknowledged bytes wait in the queue until
// the end of the batch instead. They are still behind the peek offset, so
// reading on (sendData) is unaffected; a rewind of the peek offset and a
// close discard first (discardNow). Waiting longer than the batch, to
// gather the few bytes each request-response transaction acknowledges,
// would stall flows: discarding is what consumes the queue, and only
// consumption makes the kernel send the host's sender a window update.
// A queue left holding a few KiB of acknowledged data could sit behind a
// closed window for good (tried: TestHostDataPerBatch stalls).
func (h *Handler) flushDiscards() {
	for _, idx := range h.discardList {
		h.discardNow(&h.flows[idx])
	}
	h.discardList = h.discardList[:0]
}

// discardNow drops the flow's acknowledged bytes from the receive queue.
func (h *Handler) discardNow(c *conn) {
	if c.toDiscard > 0 && c.fd > 0 {
		h.discards++
		h.discard(c, int(c.toDiscard))
	}
	c.toDiscard = 0
}

// discard drops n acknowledged bytes from the socket's receive queue:
// recv(2) with MSG_TRUNC and no buffer, which TCP sockets support.
func (h *Handler) discard(c *conn, n int) {
	for n > 0 {
		r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(c.fd), 0, uintptr(n),
			unix.MSG_TRUNC|unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 || r == 0 {
			return
		}
		n -= int(r)
	}
}

// data takes the guest's payload for the socket. An in-order payload is
// not written at once but added to the gather (see Handler), so that the
// segments of one flow in a batch of frames (1448 bytes each at MTU 1500,
// from a guest without TSO) reach the socket with one sendmsg(2), not one
// each. The gather is written when a payload of another flow comes, when
// it is full, with a FIN, before anything is sent to the guest on its flow
// (segment), at the end of the batch (EndBatch), and before the socket's
// events are handled (Event); its payloads point into the batch's frames,
// valid until the next batch is read, after EndBatch.
func (h *Handler) data(idx int, c *conn, seq uint32, payload []byte, fin bool) {
	if c.state != stateEstablished && c.state != stateClosing {
		return
	}
	// Trim what we already have (rcvNxt counts the gather).
	if d := c.rcvNxt - seq; int32(d) > 0 {
		if int(d) >= len(payload) {
			if !(fin && int(d) == len(payload)) {
				h.ackLater(idx, c)
				return
			}
			payload = nil
		} else {
			payload = payload[d:]
		}
		seq = c.rcvNxt
	}
	if seq != c.rcvNxt || c.finFromGuest {
		h.ackLater(idx, c) // out of order: duplicate ACK
		return
	}
	if len(payload) > 0 {
		if h.gatherIdx != idx {
			h.flushGather() // another flow's
		}
		h.gatherIdx = idx
		iov := &h.gatherIov[h.gatherN]
		iov.Base = unsafe.SliceData(payload)
		iov.SetLen(len(payload))
		h.gatherN++
		h.gatherLen += len(payload)
		c.rcvNxt += uint32(len(payload))
	}
	if h.gatherIdx == idx && (fin || h.gatherN == gatherIovs || h.gatherLen >= gatherBytes) {
		// Full, or the data must be written before the FIN.
		if !h.flushGather() {
			return // a short write (ACK owed) or the flow reset
		}
	}
	if fin {
		c.rcvNxt++
		c.finFromGuest = true
		_ = unix.Shutdown(c.fd, unix.SHUT_WR)
		c.state = stateClosing
		if c.finSent && c.sndUna == c.sndNxt {
			h.ack(c)
			h.close(idx, false)
			return
		}
	}
	if c.rcvNxt != c.ackSent {
		// Owed, unless a full gather was just acknowledged early:
		// the same ACK again would count as a duplicate, and three
		// make the guest retransmit.
		h.ackLater(idx, c)
	}
}

// flushGather writes the gather to its flow's socket and reports whether
// the socket took all of it. After a short write the guest is owed an ACK
// of what was taken (it retransmits the rest); after an error the flow is
// reset. Deep in a large batch it acknowledges what was written at once,
// so that the guest sends on while we write the rest.
func (h *Handler) flushGather() bool {
	idx := h.gatherIdx
	if idx < 0 {
		return true
	}
	c := &h.flows[idx]
	written, all, err := h.writeGather(true)
	if err != nil {
		h.resetFlow(idx, c)
		return false
	}
	if !all {
		// The socket is full (we advertised more than it took): the
		// guest retransmits the rest; we send a window update once
		// the socket drains.
		c.wantOut = true
		h.updateEvents(idx, c)
		h.ackLater(idx, c)
		return false
	}
	h.watchSpace(idx, c, written)
	if c.rcvNxt-c.ackSent >= ackEvery {
		h.ack(c)
		h.flush()
	}
	return true
}

// dropGather forgets the gather without writing it.
func (h *Handler) dropGather() {
	h.gatherIdx, h.gatherN, h.gatherLen = -1, 0, 0
}

// writeGather writes the gather with sendmsg(2), as much as the socket
// takes, and empties it; the flow's rcvNxt goes back by what was not
// written. It returns the bytes written, whether that was all, and an
// error other than a full socket (with reportErr; without, an error is
// left for the socket's next write or event to show).
func (h *Handler) writeGather(reportErr bool) (written int, all bool, err error) {
	c := &h.flows[h.gatherIdx]
	iov := h.gatherIov[:h.gatherN]
	total := h.gatherLen
	h.dropGather()
	for len(iov) > 0 {
		h.gatherMsg.Iov = &iov[0]
		h.gatherMsg.SetIovlen(len(iov))
		r, _, e := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(c.fd), uintptr(unsafe.Pointer(&h.gatherMsg)),
			unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			if e != unix.EAGAIN && e != unix.EWOULDBLOCK && reportErr {
				err = e
			}
			break
		}
		h.gatherWrites++
		n := int(r)
		written += n
		// Skip what was written, for another try at the rest.
		for len(iov) > 0 && n >= int(iov[0].Len) {
			n -= int(iov[0].Len)
			iov = iov[1:]
		}
		if n > 0 {
			iov[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(iov[0].Base), n))
			iov[0].SetLen(int(iov[0].Len) - n)
		}
	}
	h.gatherMsg.Iov = nil
	c.rcvNxt -= uint32(total - written)
	return written, written == total, err
}

// sendData sends what the socket has and the guest's window allows.
func (h *Handler) sendData(idx int, c *conn) {
	if c.state != stateEstablished && c.state != stateClosing {
		return
	}
	if c.finSent {
		return
	}
	h.wndHold, h.wndValid = c, false
	h.sendSegments(idx, c)
	h.wndHold = nil
}

// sendSegments is sendData's loop. Without offloads, segments are at most
// the guest's MSS (1460 bytes at MTU 1500), and one recvmsg(2) peeks the
// payloads of up to peekSegs of them, each into its own frame buffer; with
// offloads, one super-frame per read.
func (h *Handler) sendSegments(idx int, c *conn) {
	mss := h.segMSS(c)
	if h.offOut != nil {
		// One super-frame carries what fits in an IP packet.
		mss = 65535 - 20 - 20
		if c.v6 {
			mss = 65535 - 20
		}
	}
	hl := hdrLen(c.v6)
	for {
		inFlight := c.sndNxt - c.sndUna
		if inFlight >= c.guestWnd {
			if !c.inOff {
				c.inOff = true
				h.updateEvents(idx, c)
			}
			return
		}
		room := int(c.guestWnd - inFlight)
		segs := 1
		if h.offOut == nil && room > mss {
			segs = min((room+mss-1)/mss, peekSegs, h.nbufs)
		}
		if h.nbuf+segs > h.nbufs {
			h.flush() // the segments take buffers in a row
		}
		want := 0
		for i := range segs {
			n := min(mss, room-want)
			b := h.bufs[h.nbuf+i]
			h.peekIov[i].Base = &b[hl]
			h.peekIov[i].SetLen(n)
			want += n
		}
		r, err := h.peekv(c.fd, segs)
		if err != nil {
			if err == unix.EINTR {
				continue // the EPOLLIN edge is spent: read on
			}
			if err == unix.EAGAIN {
				h.drained(idx, c)
				return
			}
			h.resetFlow(idx, c)
			return
		}
		if r == 0 {
			c.hostEOF = true
			fb := h.buf()
			h.segment(c, fb, pkt.TCPFlagFIN|pkt.TCPFlagACK, c.sndNxt, 0, nil)
			c.sndNxt++
			c.finSent = true
			h.updateEvents(idx, c)
			return
		}
		// The payloads fill the buffers in order, mss bytes each but the
		// last; h.buf hands out the same buffers. Only the last segment
		// of a read carries PSH, as a Linux sender marks the end of a
		// write: a guest's GRO (virtio-net) ends a merged packet at a PSH
		// segment, so PSH on every segment would leave a VM's stack one
		// 1460-byte packet at a time.
		for off := 0; off < r; {
			n := min(mss, r-off)
			flags := pkt.TCPFlagACK
			if off+n == r {
				flags |= pkt.TCPFlagPSH
			}
			h.segment(c, h.buf(), flags, c.sndNxt, n, nil)
			c.sndNxt += uint32(n)
			off += n
		}
		if r < want && !c.peerShut {
			// Drained for now: more data is a new EPOLLIN edge.
			// Not so the end of stream if it came with this data
			// (EPOLLRDHUP): then read on until it shows.
			h.drained(idx, c)
			return
		}
	}
}

// drained turns EPOLLIN back on for a flow the guest's window held back,
// now that its socket is read to the end: new data is a new edge. While
// the window holds it back, EPOLLIN stays off (sendLater).
func (h *Handler) drained(idx int, c *conn) {
	if c.inOff {
		h.enableIn(idx, c)
	}
}

// peekv peeks into the first segs iovecs of peekIov with one recvmsg(2).
//
// The socket calls of the data path (peeks, discards, the gather's
// sendmsg) are raw system calls, without the Go scheduler's bookkeeping:
// all of them pass MSG_DONTWAIT, so they never sleep, and a sendmsg to a
// loopback peer runs the peer's receive path in our context. Through the
// scheduler, sysmon woke up to hand off the loop's P from every call
// longer than 20 us (see tap.Device).
func (h *Handler) peekv(fd, segs int) (int, error) {
	if segs == 1 {
		h.peeks++
		return peek(fd, unsafe.Slice(h.peekIov[0].Base, h.peekIov[0].Len))
	}
	h.peeks++
	h.peekMsg.Iov = &h.peekIov[0]
	h.peekMsg.SetIovlen(segs)
	r, _, e := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&h.peekMsg)),
		unix.MSG_PEEK|unix.MSG_DONTWAIT)
	h.peekMsg.Iov = nil
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// peek reads from a socket's receive queue without taking the data (the
// peek offset moves past it); unix.Recvfrom would allocate a sockaddr.
func peek(fd int, b []byte) (int, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)),
		unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// enableIn re-enables reading from the socket.
func (h *Handler) enableIn(idx int, c *conn) {
	c.inOff = false
	h.updateEvents(idx, c)
}

// updateEvents sets the socket's epoll events from the flow's state. Once
// the socket has nothing more to tell (end of stream read, nothing to
// write), it leaves epoll altogether: a hung-up socket would otherwise be
// reported again and again.
//
// Sockets are edge-triggered (EPOLLET): data we peeked and sent the guest
// stays in the receive queue until the guest acknowledges it, and a
// level-triggered socket would be reported readable all that time, waking
// the loop for nothing. So sendData reads until EAGAIN or the guest's
// window stops it, and a change of the events (EPOLL_CTL_MOD, which also
// polls the socket) reports what is already there; when they do not
// change, no epoll_ctl(2) is made.
func (h *Handler) updateEvents(idx int, c *conn) {
	ev := uint32(unix.EPOLLET)
	if c.state >= stateEstablished && !c.inOff && !c.hostEOF {
		ev |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if c.wantOut {
		ev |= unix.EPOLLOUT
	}
	ref := loop.MakeRef(h.kind, uint64(idx))
	switch {
	case ev == unix.EPOLLET && c.hostEOF:
		if c.registered {
			h.loop.Del(c.fd)
			c.registered = false
		}
	case c.registered:
		if ev != c.events && h.loop.Mod(c.fd, ev, ref) == nil {
			c.events = ev
		}
	default:
		if h.loop.Add(c.fd, ev, ref) == nil {
			c.registered, c.events = true, ev
		}
	}
}

// Event handles a ready socket (or the timer).
func (h *Handler) Event(ref loop.Ref, events uint32) {
	h.event(ref, events)
	h.flushLateAcks() // a reply carried them, or they go now
}

func (h *Handler) event(ref loop.Ref, events uint32) {
	h.now = time.Now()
	h.flushGather() // none is pending outside a batch of guest frames
	h.flushDiscards()
	h.flushSends()
	idx := int(ref.Index())
	if idx == MaxFlows {
		h.timer.Ack()
		h.tick()
		h.flush()
		return
	}
	c := &h.flows[idx]
	c.lastActive = h.now
	switch c.state {
	case stateFree:
		return
	case stateConnecting:
		soerr, _ := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if soerr != 0 || events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			h.refused(idx, c)
			return
		}
		_ = unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF, 0)
		h.synAck(idx, c)
		c.wantOut = false
		c.inOff = true // until the guest completes the handshake
		h.updateEvents(idx, c)
		return
	}
	if events&unix.EPOLLERR != 0 {
		h.resetFlow(idx, c)
		h.flush()
		return
	}
	if events&unix.EPOLLOUT != 0 && c.wantOut {
		// A window update; if the buffer is still low (the guest's
		// frames of this round filled it again), window() asks for
		// EPOLLOUT anew, else EPOLLOUT is dropped.
		c.wantOut = false
		h.windowUpdate(c)
		h.updateEvents(idx, c)
	}
	if events&(unix.EPOLLRDHUP|unix.EPOLLHUP) != 0 {
		c.peerShut = true
	}
	if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP) != 0 {
		h.sendData(idx, c)
		if events&unix.EPOLLHUP != 0 && !c.hostEOF && c.state != stateFree {
			// Hung up with nothing left to read yet: end of stream.
			c.hostEOF = true
		}
		if c.state != stateFree {
			h.updateEvents(idx, c)
		}
	}
	h.flush()
}

// resetFlow resets both sides.
func (h *Handler) resetFlow(idx int, c *conn) {
	b := h.buf()
	h.segment(c, b, pkt.TCPFlagRST|pkt.TCPFlagACK, c.sndNxt, 0, nil)
	h.close(idx, true)
}

// close frees a flow; with reset, the host peer gets a RST.
func (h *Handler) close(idx int, reset bool) {
	c := &h.flows[idx]
	if c.state == stateFree {
		return
	}
	if h.gatherIdx == idx {
		h.dropGather() // the flow ends: what was not written is lost
	}
	if c.fd > 0 {
		if c.registered {
			h.loop.Del(c.fd)
		}
		if reset {
			_ = unix.SetsockoptLinger(c.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		} else {
			h.discardNow(c) // unread data would make close(2) reset the peer
		}
		unix.Close(c.fd)
	}
	h.table.Remove(idx)
	*c = conn{}
}

func (h *Handler) armTimer() {
	_ = h.timer.Set(tickInterval, tickInterval)
}

// tick retransmits what the guest has not acknowledged in time and gives
// up on stuck handshakes.
func (h *Handler) tick() {
	sweep := h.now.Sub(h.swept) >= min(idleTimeout/4, 5*time.Second)
	if sweep {
		h.swept = h.now
	}
	live := h.active[:0]
	for _, idx := range h.active {
		c := &h.flows[idx]
		if c.state == stateFree {
			h.listed[idx] = false
			continue
		}
		live = append(live, idx)
		if sweep && c.state >= stateEstablished && h.now.Sub(c.lastActive) > idleTimeout {
			h.resetFlow(idx, c)
			continue
		}
		switch {
		case c.state == stateConnecting:
			if h.now.Sub(c.started) > synAckTimeout {
				h.refused(idx, c)
			}
		case c.state == stateSynSent:
			if h.now.Sub(c.lastSend) > rto<<min(c.retries, 6) {
				if c.retries++; c.retries > maxRetries {
					h.close(idx, true)
					continue
				}
				h.syn(c)
			}
		case c.state == stateSynAckSent:
			if h.now.Sub(c.lastSend) > rto {
				if c.retries++; c.retries > maxRetries {
					h.resetFlow(idx, c)
					continue
				}
				c.sndNxt = c.sndUna
				h.synAck(idx, c)
			}
		case c.sndNxt != c.sndUna && h.now.Sub(c.lastSend) > rto<<min(c.retries, 6):
			if c.retries++; c.retries > maxRetries {
				h.resetFlow(idx, c)
				continue
			}
			h.rewind(idx, c)
		}
	}
	h.active = live
	if len(h.active) == 0 {
		_ = unix.TimerfdSettime(h.timer.Fd(), 0, &unix.ItimerSpec{}, nil)
	}
}

// rewind sends again everything from the first byte the guest has not
// acknowledged (go-back-N: nothing is kept beyond the socket's queue, so
// what follows a lost segment is read again from the socket too).
func (h *Handler) rewind(idx int, c *conn) {
	if h.gatherIdx == idx && !h.flushGather() && c.state == stateFree {
		return // a fast retransmit within a batch: write first
	}
	h.discardNow(c) // the peek offset goes back to the first unacknowledged byte
	_ = unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF, 0)
	// A FIN in flight is sent again after the data.
	c.finSent = false
	c.sndNxt = c.sndUna
	h.sendData(idx, c)
}

// InboundTranslator gives the addresses the guest sees for a connection
// from src arriving for a rule (target: the rule's target address, or
// invalid) on guest port port.
type InboundTranslator func(src netip.AddrPort, target netip.Addr, port uint16) (gsrc, gdst netip.AddrPort, ok bool)

// listener is one listening socket of a forwarding rule.
type listener struct {
	fd     int
	target netip.Addr
	toPort uint16
}

// SetInbound sets how host-initiated connections are translated.
func (h *Handler) SetInbound(kind loop.Kind, tr InboundTranslator) {
	h.listenKind, h.inbound = kind, tr
}

// Listen adds a listening socket on addr (invalid: the dual-stack
// wildcard) and port, bound to ifname if set, whose connections go to the
// guest's port toPort (on target, if valid). It returns the error to
// report; the caller decides whether it is fatal.
func (h *Handler) Listen(addr netip.Addr, ifname string, port, toPort uint16, target netip.Addr, freebind bool) error {
	_, err := h.ListenIndex(addr, ifname, port, toPort, target, freebind)
	return err
}

// CloseListener closes the listening socket number idx (from ListenIndex).
func (h *Handler) CloseListener(idx int) {
	l := &h.listeners[idx]
	if l.fd >= 0 {
		h.loop.Del(l.fd)
		unix.Close(l.fd)
		l.fd = -1
	}
}

// ListenIndex is Listen, also returning the listener's number.
func (h *Handler) ListenIndex(addr netip.Addr, ifname string, port, toPort uint16, target netip.Addr, freebind bool) (int, error) {
	family := unix.AF_INET6
	if addr.IsValid() && addr.Is4() {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Addr: addr.As4(), Port: int(port)}
		if freebind {
			_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_FREEBIND, 1)
		}
	} else {
		v6only := 0
		a := netip.IPv6Unspecified()
		if addr.IsValid() {
			a, v6only = addr, 1
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only)
		if freebind {
			_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_FREEBIND, 1)
		}
		sa = &unix.SockaddrInet6{Addr: a.As16(), Port: int(port)}
	}
	if ifname != "" {
		if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifname); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Listen(fd, 128); err != nil {
		unix.Close(fd)
		return -1, err
	}
	idx := len(h.listeners)
	if err := h.loop.Add(fd, unix.EPOLLIN, loop.MakeRef(h.listenKind, uint64(idx))); err != nil {
		unix.Close(fd)
		return -1, err
	}
	h.listeners = append(h.listeners, listener{fd: fd, target: target, toPort: toPort})
	return idx, nil
}

// Accept takes a connection on a listening socket and opens the matching
// connection to the guest: we send the SYN, the guest's SYN-ACK completes
// the handshake.
func (h *Handler) Accept(ref loop.Ref, _ uint32) {
	h.now = time.Now()
	l := &h.listeners[ref.Index()]
	for l.fd >= 0 {
		fd, sa, err := unix.Accept4(l.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			if h.reserve.refuse(l.fd, err) { // out of descriptors (capacity.go)
				continue
			}
			return
		}
		src := sockaddrAddrPort(sa)
		if h.splicer != nil && !l.target.IsValid() {
			if lsa, err := unix.Getsockname(fd); err == nil {
				if local := sockaddrAddrPort(lsa); local.Addr().IsLoopback() {
					if !h.splicer.FromHost(fd, local, l.toPort) {
						_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
						unix.Close(fd)
					}
					continue
				}
			}
		}
		gsrc, gdst, ok := h.inbound(src, l.target, l.toPort)
		var idx int
		if ok && !h.overBudget(1) {
			idx, ok = h.insertInbound(flow.MakeKey(pkt.ProtoTCP, gdst, gsrc))
		} else {
			ok = false
		}
		if !ok {
			// No translation, the table is full, or the same
			// addresses are in use: refuse.
			_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
			unix.Close(fd)
			continue
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF, 0)
		c := &h.flows[idx]
		*c = conn{
			state: stateSynSent, v6: gdst.Addr().Is6(), fd: fd, slot: int32(idx) + 1, guest: gdst, peer: gsrc,
			guestMSS: defaultGuestMSS, started: h.now, lastActive: h.now,
		}
		c.sndUna = h.isns.isn(h.now, gsrc, gdst)
		h.listActive(idx)
		h.armTimer()
		if err := h.loop.Add(fd, unix.EPOLLET, loop.MakeRef(h.kind, uint64(idx))); err != nil {
			h.close(idx, true)
			continue
		}
		c.registered, c.events = true, unix.EPOLLET
		h.syn(c)
	}
}

// insertInbound adds the flow for a host-initiated connection. The flow of
// an earlier connection with the same addresses and ports may still be
// there, if it only waits for the guest to acknowledge our FIN: the host
// side of it has ended both ways (the host's kernel let the client reuse
// its port), and the guest has everything but that acknowledgement. That
// flow is dropped for the new one; the guest's late ACK, if any, then
// meets our new SYN's flow as the ACK of something else.
func (h *Handler) insertInbound(key flow.Key) (int, bool) {
	idx, ok := h.table.Insert(key)
	if ok {
		return idx, true
	}
	old, found := h.table.Lookup(key)
	if !found || !h.flows[old].onlyFinUnacked() {
		return 0, false
	}
	h.close(old, false)
	return h.table.Insert(key)
}

// onlyFinUnacked reports whether a flow has ended both ways and waits only
// for the guest to acknowledge our FIN.
func (c *conn) onlyFinUnacked() bool {
	return c.state == stateClosing && c.finFromGuest && c.finSent && c.sndNxt-c.sndUna == 1
}

// syn sends our SYN to the guest for a host-initiated connection.
func (h *Handler) syn(c *conn) {
	opts := pkt.TCPOptions{MSS: h.ourMSS(c), HasWScale: true, WScale: ourWScale}
	b := h.buf()
	h.segment(c, b, pkt.TCPFlagSYN, c.sndUna, 0, &opts)
	c.sndNxt = c.sndUna + 1
	h.flush()
}

// synAckFromGuest completes a host-initiated handshake.
func (h *Handler) synAckFromGuest(idx int, c *conn, t pkt.TCP) {
	if t.Flags()&pkt.TCPFlagACK != 0 && t.Ack() != c.sndNxt {
		// An acknowledgement of something else: typically the guest's
		// TIME_WAIT socket for the same addresses and ports answering
		// our SYN (its sequence number was below the old connection's).
		// Reset it as RFC 9293 says for SYN-SENT (seq = SEG.ACK, no
		// ACK), which ends the stale state; the timer sends the SYN
		// again.
		b := h.buf()
		h.segment(c, b, pkt.TCPFlagRST, t.Ack(), 0, nil)
		return
	}
	if t.Flags()&(pkt.TCPFlagSYN|pkt.TCPFlagACK) != pkt.TCPFlagSYN|pkt.TCPFlagACK {
		return
	}
	var opts pkt.TCPOptions
	_ = pkt.ParseTCPOptions(t.Options(), &opts)
	if opts.MSS != 0 {
		c.guestMSS = opts.MSS
	}
	if opts.HasWScale {
		c.wsOK, c.guestWS = true, opts.WScale
	}
	c.rcvNxt = t.Seq() + 1
	c.sndUna = t.Ack()
	c.guestWnd = uint32(t.Window()) << c.guestWS
	c.state = stateEstablished
	c.retries = 0
	h.ack(c)
	h.enableIn(idx, c)
	h.sendData(idx, c)
}

func sockaddrAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}
