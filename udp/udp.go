// SPDX-License-Identifier: GPL-2.0-or-later

// Package udp translates between the guest's UDP datagrams and ordinary
// UDP sockets on the host, and relays datagrams between the host and
// pasta's namespace through sockets on both sides (the "splice" bypass,
// although no splice(2) is involved: datagrams are moved with recvmmsg(2)
// and sendmmsg(2)).
//
// Theory of operation. UDP has no connections, but most protocols use it
// like they would: a client sends from a port of its choosing to a server,
// which answers from the address and port it was sent to. Such an exchange
// is a flow, identified by both ends' addresses and ports, and each flow
// is given host sockets of its own:
//
//   - Guest to host ("tap" flows started by the guest): the first datagram
//     from a guest address and port to a destination opens a socket bound to
//     the guest's source port (preserved on the host, as upstream does; an
//     ephemeral port if that one is taken) and connected to the destination
//     after translation (package flow: DNS redirection, the
//     map-host-loopback and map-guest-addr rules). Datagrams from the guest
//     are sent on it; whatever the socket receives, which thanks to
//     connect(2) is only the peer's replies, becomes frames to the guest
//     carrying the address the guest originally used.
//   - Host to guest (-u): a listening socket per forwarded port receives
//     datagrams from anyone, with the local address they were sent to
//     (IP_PKTINFO). The first one from a source opens a reply socket bound
//     to the same local address and port and connected to that source, so
//     the kernel delivers the source's later datagrams there, and the
//     guest's replies leave from the address the source talked to. The
//     guest sees the source translated by the rules of package flow.
//   - pasta's bypass: a datagram on a -u socket that arrived at a host
//     loopback address (and whose rule has no target address) is relayed to
//     a socket opened in the namespace, connected to the namespace's address
//     (or to the same loopback address with --host-lo-to-ns-lo); replies
//     return through a reply socket as above. -U is the mirror image: the
//     listening socket is in the namespace, bound to its loopback device,
//     and datagrams go to the same loopback address on the host, from the
//     sender's loopback address and port. Sockets in the namespace are
//     opened on the namespace thread (package ns); once open they are used
//     from the event loop like any other.
//
// Every flow is an entry of a fixed-size flow table (package flow), so
// lookups and inserts allocate nothing and the per-flow state is a slice of
// pointer-free structs. Guest flows are keyed by the guest-side 5-tuple;
// spliced flows by the listening socket's local address and port and the
// sender's, under a protocol number of their own so the two kinds never
// collide. Each flow socket is registered in the event loop with the flow
// number and the socket's side in its reference, so an event never needs a
// lookup; only datagrams on listening sockets do.
//
// Batching: receiving is one recvmmsg(2) of up to 32 datagrams, each into
// its own buffer at an offset that leaves room for the frame headers, which
// are then written in place in front of the payload (one copy from the
// kernel, none in between); on pasta's tap with offloads the UDP checksum
// is left for the namespace's kernel, which does not need it for a local
// socket (SetOffload), and a flow's datagrams of one size in a row go as
// one UDP super-frame where the tap takes them (SetSegmentation: the
// namespace's kernel cuts it at its UDP layer). Consecutive datagrams from
// the guest to the same socket, and relayed datagrams, are sent with one
// sendmmsg(2), rows of one size as one segmented message each (UDP_SEGMENT,
// see txBatch). A
// datagram larger than the guest's MTU is sent as one oversized frame, as
// upstream does: there is no IP fragmentation in either direction, and
// IP fragments from the guest are dropped. Under bulk traffic from the
// sockets (bulkBytes) the handler tells the event loop to sleep after each
// event instead of polling for the next one (loop.SleepNext): a stream
// would keep it polling, on a CPU that its sender and receiver need.
//
// Errors: sockets have IP_RECVERR set, so ICMP errors from the network
// (port unreachable, fragmentation needed, ...) are queued on them; on
// EPOLLERR the queue is read and, for guest flows, each error is reflected
// to the guest as an ICMP or ICMPv6 message quoting the datagram the guest
// sent, from the address that reported it (translated like a source, the
// flow's peer if it is the peer itself).
//
// Flows expire after a period without traffic, taken like upstream from
// the host's conntrack settings: nf_conntrack_udp_timeout (30 s by
// default) for flows that saw one datagram each way at most, and
// nf_conntrack_udp_timeout_stream (120 s) once more went either way. A
// one-second timer, armed only while flows exist, closes expired flows,
// except those with a datagram waiting to be read (it would be lost); a
// new flow that finds the table or the descriptor share full closes the
// expired ones at once rather than at the next tick.
// For tests only, the environment variable PASST_GO_UDP_TIMEOUT (seconds)
// replaces both (TimeoutEnv).
//
// Bad input is counted and dropped: fragments, datagrams whose length field
// disagrees with the IP header (rejected by pkt.Decode), port 0,
// destinations that cannot be a flow's peer, IPv4-mapped addresses in IPv6
// headers, and new flows once the table is full or their sockets would
// exceed UDP's share of the process's descriptors (SetFDLimit, package
// fdbudget); existing flows carry on, and new ones open again as old ones
// expire.
package udp

import (
	"errors"
	"math"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"passt/flow"
	"passt/log"
	"passt/loop"
	"passt/ns"
	"passt/pkt"
)

// Output is where frames to the guest go: the engine queues them.
type Output interface {
	// Queue queues a frame; it stays owned by the caller until Flush.
	Queue(frame []byte)
	// Flush writes the queued frames to the guest.
	Flush()
	// MACs returns our MAC and the guest's, for frames to the guest.
	MACs() (ours, guest [6]byte)
}

// OffloadOutput is an Output whose link also takes frames with a partial
// checksum, completed (or, for a local socket, not even that) by the
// kernel on the other side: pasta's tap with offloads on.
type OffloadOutput interface {
	// QueueOffload queues a frame like Output.Queue; partial says its
	// checksum field holds only the pseudo-header sum. UDP frames never
	// use gsoSize here (see SegmentOutput).
	QueueOffload(frame []byte, gsoSize uint16, partial bool)
}

// SegmentOutput is an OffloadOutput whose link also takes UDP super-frames
// (pasta's tap with UDP segmentation offload): consecutive datagrams of one
// flow in one frame, cut into datagrams by the kernel on the other side.
type SegmentOutput interface {
	// QueueSegments queues a super-frame: frame holds the headers, whose
	// lengths count every datagram, with the first payload; tail holds
	// the other payloads. Every payload but the last is gsoSize bytes,
	// the last at most that; the checksum is partial. frame and tail
	// stay owned by the caller until Flush.
	QueueSegments(frame []byte, tail [][]byte, gsoSize uint16)
}

// Translator applies the address translation rules (package flow);
// *flow.NAT is the one the engine uses.
type Translator interface {
	// FromGuest translates the destination of a flow from the guest.
	FromGuest(proto uint8, dst netip.AddrPort) (netip.AddrPort, flow.Rule, bool)
	// HostBind returns the address host sockets towards target bind to.
	HostBind(target netip.Addr) netip.Addr
	// FromHost translates the source of a datagram from the host.
	FromHost(src netip.AddrPort, target netip.Addr, port uint16) (netip.AddrPort, netip.AddrPort, bool)
	// FromHostTo is FromHost knowing the local address it arrived at.
	FromHostTo(src netip.AddrPort, hostDst, target netip.Addr, port uint16) (netip.AddrPort, netip.AddrPort, bool)
}

// MaxFlows is the capacity of the flow table: beyond it new flows are
// refused (their datagrams dropped and counted) and existing ones carry on.
const MaxFlows = 32768

// Key protocols of spliced flows (guest flows use pkt.ProtoUDP).
const (
	keySpliceHost uint8 = 0xf0 // from a -u socket on host loopback
	keySpliceNS   uint8 = 0xf1 // from a -U socket in the namespace
)

// Default timeouts, when the host's conntrack settings are not readable.
const (
	defaultTimeout       = 30 * time.Second
	defaultStreamTimeout = 120 * time.Second
	tickInterval         = time.Second
)

// Bulk traffic: once datagrams received from sockets add up to bulkBytes
// within bulkWindow (32 KiB per millisecond, about 260 Mbit/s), the
// handler tells the loop to sleep after each event rather than poll for
// the next one (loop.SleepNext). A stream's datagrams come a few tens of
// microseconds apart, so polling would keep a CPU busy all along, which
// on a small machine is taken from the stream's own sender and receiver:
// host to namespace with 65000-byte datagrams, polling kept pasta at one
// full CPU and the namespace's receiver dropped 80-95% of what pasta
// delivered. Request-response traffic (one small datagram per
// transaction) stays far below the threshold and keeps the poll, which
// saves it a wake-up per transaction.
const (
	bulkWindow = int64(time.Millisecond)
	bulkBytes  = 32 << 10
)

// Flow kinds.
const (
	kindFree   = iota
	kindGuest  // the guest on one side, host socket fd[0] on the other
	kindSplice // fd[0] faces the initiator, fd[1] the target
)

// udpFlow is one flow. It holds no pointers.
type udpFlow struct {
	kind     uint8
	v6       bool // family of the guest side (guest flows)
	fromHost bool // guest flows: started by a datagram from the host
	ttl      uint8
	// seen counts datagrams (saturating) from the initiator [0] and
	// from the target [1].
	seen [2]uint8
	// fd: the flow's sockets (-1: none).
	fd [2]int32
	// peer[i] is where fd[i] is connected.
	peer [2]addrPort
	last int64 // monotonic time of the last datagram, in nanoseconds
}

// Stats counts datagrams and flows.
type Stats struct {
	FromGuest  uint64 // datagrams from the guest sent on a host socket
	ToGuest    uint64 // datagrams received on a socket and sent to the guest
	Relayed    uint64 // datagrams relayed between the namespaces (bypass)
	Dropped    uint64 // datagrams dropped, for any reason below or a failed send
	BadInput   uint64 // malformed or unsupported frames from the guest
	NoFlow     uint64 // datagrams for which no flow could be opened
	FlowsFull  uint64 // of which: the flow table was full
	OverBudget uint64 // of which: the flow's sockets would exceed UDP's descriptor share
	Stray      uint64 // datagrams on a flow socket not from its peer
	ICMPErrors uint64 // ICMP errors reflected to the guest
	BulkEvents uint64 // socket events after which the loop was told to sleep (bulkBytes)
	Expired    uint64 // flows closed after their timeout
}

// spliceConf is the namespace side of the bypass.
type spliceConf struct {
	thread *ns.Thread
	// addr4, addr6: where datagrams from host loopback go in the
	// namespace; invalid: the same loopback address
	// (--host-lo-to-ns-lo).
	addr4, addr6 netip.Addr
}

// Handler is the UDP side of the engine. It is used from the event loop's
// goroutine only.
type Handler struct {
	loop       *loop.Loop
	kind       loop.Kind
	listenKind loop.Kind
	out        Output
	nat        Translator
	spliceOnly bool
	ifnameOut4 string
	ifnameOut6 string

	table  *flow.Table
	flows  []udpFlow
	active []int32 // flows the timer looks at
	listed []bool  // whether a flow number is in active
	timer  *loop.Timer
	armed  bool
	// nextExpiry is a bound on when the next flow expires: no flow on
	// the active list has been idle for longer than its timeout until
	// the clock passes it (math.MaxInt64: no flows).
	nextExpiry int64

	timeout, streamTimeout int64 // nanoseconds
	now                    int64

	// windowStart and windowBytes measure the rate of datagrams received
	// from sockets (bulk traffic, see bulkBytes).
	windowStart int64
	windowBytes int

	// offOut, when set, takes frames to the guest with their UDP
	// checksum left partial (SetOffload); segOut, when set as well,
	// takes super-frames of consecutive datagrams (SetSegmentation), the
	// payloads after each one's first referenced from tails.
	offOut OffloadOutput
	segOut SegmentOutput
	tails  [batchMax][]byte

	rx      *rxBatch
	tx      *txBatch
	icmpBuf []byte
	errBuf  *errqueue

	listeners []listener
	splice    *spliceConf

	// fds counts the sockets flows hold (not listeners); fdLimit, if
	// not 0, is UDP's share of the process's descriptors (package
	// fdbudget), beyond which new flows are refused.
	fds, fdLimit int

	Stats Stats
}

// timerIndex is the reference index of the expiry timer.
const timerIndex = 1 << 48

// Config is what the handler needs from the configuration.
type Config struct {
	// NAT translates addresses; the engine keeps its *flow.NAT up to
	// date with the guest's addresses.
	NAT Translator
	// SpliceOnly: datagrams that are not spliced are dropped
	// (--splice-only, no guest link).
	SpliceOnly bool
	// IfnameOut4 and IfnameOut6 are the interfaces sockets towards
	// non-loopback peers are bound to (--outbound-if4/6); empty: none.
	IfnameOut4, IfnameOut6 string
}

// New creates the UDP handler. kind is the loop kind of flow sockets and
// the timer, listenKind that of listening sockets.
func New(l *loop.Loop, kind, listenKind loop.Kind, out Output, cfg Config) (*Handler, error) {
	return newHandler(l, kind, listenKind, out, cfg, MaxFlows)
}

func newHandler(l *loop.Loop, kind, listenKind loop.Kind, out Output, cfg Config, capacity int) (*Handler, error) {
	if cfg.NAT == nil {
		return nil, errors.New("udp: no NAT rules")
	}
	h := &Handler{
		loop: l, kind: kind, listenKind: listenKind, out: out, nat: cfg.NAT, spliceOnly: cfg.SpliceOnly,
		ifnameOut4: cfg.IfnameOut4, ifnameOut6: cfg.IfnameOut6,
		table:   flow.NewTable(capacity),
		flows:   make([]udpFlow, capacity),
		listed:  make([]bool, capacity),
		rx:      newRxBatch(),
		tx:      newTxBatch(),
		icmpBuf: make([]byte, icmpBufSize),
		errBuf:  newErrqueue(),

		nextExpiry: math.MaxInt64,
	}
	h.timeout = int64(conntrackTimeout("nf_conntrack_udp_timeout", defaultTimeout))
	h.streamTimeout = int64(conntrackTimeout("nf_conntrack_udp_timeout_stream", defaultStreamTimeout))
	if d, ok := testTimeout(); ok {
		h.timeout, h.streamTimeout = int64(d), int64(d)
	}
	t, err := l.NewTimer(loop.MakeRef(kind, timerIndex))
	if err != nil {
		return nil, err
	}
	h.timer = t
	return h, nil
}

// conntrackTimeout reads a timeout in seconds from the host's conntrack
// settings, as upstream does.
func conntrackTimeout(name string, def time.Duration) time.Duration {
	b, err := os.ReadFile("/proc/sys/net/netfilter/" + name)
	if err != nil {
		return def
	}
	s, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || s <= 0 {
		return def
	}
	return time.Duration(s) * time.Second
}

// TimeoutEnv names a test hook, not an option (upstream has none): a
// number of seconds that replaces both flow timeouts, so that integration
// tests of expiry (churn, capacity) need not wait 30 s or more per round.
const TimeoutEnv = "PASST_GO_UDP_TIMEOUT"

func testTimeout() (time.Duration, bool) {
	s, err := strconv.Atoi(os.Getenv(TimeoutEnv))
	if err != nil || s <= 0 {
		return 0, false
	}
	return time.Duration(s) * time.Second, true
}

// SetTimeouts overrides the flow timeouts (for tests).
func (h *Handler) SetTimeouts(timeout, stream time.Duration) {
	h.timeout, h.streamTimeout = int64(timeout), int64(stream)
	h.nextExpiry = math.MinInt64 // flows may expire sooner than noted
}

// EnableSplice turns on pasta's bypass: t is the namespace thread, a4 and
// a6 where datagrams from host loopback go in the namespace (invalid: the
// same loopback address).
func (h *Handler) EnableSplice(t *ns.Thread, a4, a6 netip.Addr) {
	h.splice = &spliceConf{thread: t, addr4: a4, addr6: a6}
}

// SetOffload, with partial set and an Output that implements
// OffloadOutput, makes frames to the guest carry only the pseudo-header sum
// in their UDP checksum: the guest's kernel takes them as checked, and
// nobody sums the payload (pasta's tap with offloads, no capture).
func (h *Handler) SetOffload(partial bool) {
	oo, ok := h.out.(OffloadOutput)
	if !partial || !ok {
		h.offOut = nil
		return
	}
	h.offOut = oo
}

// SetSegmentation, with on set, offloads (SetOffload) on and an Output
// that implements SegmentOutput, makes the datagrams of one flow that one
// read brings in a row go to the guest as super-frames.
func (h *Handler) SetSegmentation(on bool) {
	so, ok := h.out.(SegmentOutput)
	if !on || !ok || h.offOut == nil {
		h.segOut = nil
		return
	}
	h.segOut = so
}

// Flows returns the number of flows.
func (h *Handler) Flows() int { return h.table.Len() }

// SetFDLimit sets how many sockets flows may hold at once (0: no limit
// but the flow table's and the process's): UDP's share of the process's
// descriptors (package fdbudget). Flows beyond it are refused like flows
// beyond the table's capacity.
func (h *Handler) SetFDLimit(n int) { h.fdLimit = n }

// FDs returns the number of sockets flows hold.
func (h *Handler) FDs() int { return h.fds }

// admit tells whether a new flow holding sockets sockets may open; if not,
// it counts why. Flows past their timeout close at the timer's next tick,
// up to a second later; when the table or the descriptor share is full,
// those close at once to make room: otherwise, under churn, the flows
// that had expired since the last tick would refuse new ones until the
// next, and a peer retrying once a second (in step with the timer) could
// be refused every time.
func (h *Handler) admit(sockets int) bool {
	if h.now > h.nextExpiry && (h.table.Len() >= h.table.Cap() || (h.fdLimit > 0 && h.fds+sockets > h.fdLimit)) {
		h.expire(h.now)
	}
	if h.table.Len() >= h.table.Cap() {
		h.Stats.FlowsFull++
		return false
	}
	if h.fdLimit > 0 && h.fds+sockets > h.fdLimit {
		h.Stats.OverBudget++
		return false
	}
	return true
}

func (h *Handler) ref(idx, side int) loop.Ref {
	return loop.MakeRef(h.kind, uint64(idx)<<1|uint64(side))
}

func (h *Handler) clock() int64 { h.now = monotonic(); return h.now }

var start = time.Now()

func monotonic() int64 { return int64(time.Since(start)) }

// received accounts for the datagrams of a batch just received from a
// socket, and tells the loop to sleep after this event if they make bulk
// traffic (see bulkBytes). It relies on h.now being current.
func (h *Handler) received(n int) {
	if n == 0 {
		return
	}
	if h.now-h.windowStart >= bulkWindow {
		h.windowStart, h.windowBytes = h.now, 0
	}
	h.windowBytes += h.rx.bytes(n)
	if h.windowBytes >= bulkBytes {
		h.loop.SleepNext()
		h.Stats.BulkEvents++
	}
}

// dropped counts a dropped datagram.
func (h *Handler) dropped() { h.Stats.Dropped++ }

// FromGuest handles one UDP datagram from the guest: the whole frame and
// its decoding (pkt.Decode succeeded, L4Proto is UDP). The datagram is
// queued for sending; Flush sends what is queued, and must be called
// before the frame's buffer is reused.
func (h *Handler) FromGuest(f []byte, d *pkt.Decoded) {
	if d.Fragment || d.L4HdrLen != pkt.UDPHeaderLen || d.L4Off+d.L4Len > len(f) ||
		(d.IPVersion == 6 && (d.Src.Is4In6() || d.Dst.Is4In6())) {
		h.Stats.BadInput++
		h.dropped()
		return
	}
	u := pkt.UDP(f[d.L4Off : d.L4Off+d.L4Len])
	sport, dport := u.SrcPort(), u.DstPort()
	if sport == 0 || dport == 0 || !d.Src.IsValid() || d.Src.IsUnspecified() || d.Src.IsMulticast() {
		h.Stats.BadInput++
		h.dropped()
		return
	}
	h.clock()
	guest := netip.AddrPortFrom(d.Src, sport)
	peer := netip.AddrPortFrom(d.Dst, dport)
	key := flow.MakeKey(pkt.ProtoUDP, guest, peer)
	idx, ok := h.table.Lookup(key)
	if !ok {
		if idx, ok = h.newGuestFlow(key, peer, d.IPVersion == 6); !ok {
			h.Stats.NoFlow++
			h.dropped()
			return
		}
	}
	fl := &h.flows[idx]
	h.activity(fl, h.guestSide(fl))
	if d.TTL != 0 && d.TTL != fl.ttl {
		fl.ttl = d.TTL
		if fl.v6 {
			_ = unix.SetsockoptInt(int(fl.fd[0]), unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, int(d.TTL))
		} else {
			_ = unix.SetsockoptInt(int(fl.fd[0]), unix.IPPROTO_IP, unix.IP_TTL, int(d.TTL))
		}
	}
	h.queueSend(int(fl.fd[0]), u.Payload())
	h.Stats.FromGuest++
}

// Flush sends the datagrams queued by FromGuest.
func (h *Handler) Flush() { h.flushSends() }

func (h *Handler) queueSend(fd int, payload []byte) {
	if h.tx.full(fd) {
		h.flushSends()
	}
	h.tx.add(fd, payload)
}

func (h *Handler) flushSends() {
	if h.tx.n == 0 {
		return
	}
	if n := h.tx.flush(); n > 0 {
		h.Stats.Dropped += uint64(n)
	}
}

// guestSide is the index in seen of the guest's side of a guest flow.
func (h *Handler) guestSide(fl *udpFlow) int {
	if fl.fromHost {
		return 1
	}
	return 0
}

func (h *Handler) activity(fl *udpFlow, side int) {
	fl.last = h.now
	if fl.seen[side] < 255 {
		fl.seen[side]++
	}
}

// newGuestFlow opens the host socket of a flow the guest starts towards
// peer (as the guest addressed it).
func (h *Handler) newGuestFlow(key flow.Key, peer netip.AddrPort, v6 bool) (int, bool) {
	if !h.admit(1) {
		return -1, false
	}
	target, _, ok := h.nat.FromGuest(flow.ProtoUDP, peer)
	if !ok || target.Addr().Is6() != v6 {
		return -1, false
	}
	local := netip.AddrPortFrom(h.nat.HostBind(target.Addr()), key.GuestPort)
	o := sockOpts{v6: v6, anyPort: true}
	if !target.Addr().IsLoopback() {
		o.ifname = h.ifnameOut4
		if v6 {
			o.ifname = h.ifnameOut6
		}
	}
	fd, err := openSocket(o, local, target)
	if err != nil {
		if log.Enabled(log.Debug) {
			log.Debugf("UDP: flow from %s to %s (%s): %v", key.Guest(), peer, target, err)
		}
		return -1, false
	}
	idx, ok := h.table.Insert(key)
	if !ok {
		unix.Close(fd)
		return -1, false
	}
	h.flows[idx] = udpFlow{kind: kindGuest, v6: v6, fd: [2]int32{int32(fd), -1}, peer: [2]addrPort{toAddrPort(target)}}
	h.fds++
	if !h.register(idx, 0, fd) {
		return -1, false
	}
	return idx, true
}

// register adds a flow socket to the loop and the flow to the timer's
// list; on failure the flow is closed.
func (h *Handler) register(idx, side, fd int) bool {
	if err := h.loop.Add(fd, unix.EPOLLIN, h.ref(idx, side)); err != nil {
		h.close(idx)
		return false
	}
	if !h.listed[idx] {
		h.active = append(h.active, int32(idx))
		h.listed[idx] = true
	}
	if side == 0 {
		h.flows[idx].last = h.now
		h.nextExpiry = min(h.nextExpiry, h.now+h.timeout)
		if !h.armed {
			_ = h.timer.Set(tickInterval, tickInterval)
			h.armed = true
		}
	}
	return true
}

// close frees a flow and its sockets.
func (h *Handler) close(idx int) {
	fl := &h.flows[idx]
	if fl.kind == kindFree {
		return
	}
	if h.tx.n > 0 && (h.tx.fd == int(fl.fd[0]) || h.tx.fd == int(fl.fd[1])) {
		h.flushSends()
	}
	for _, fd := range fl.fd {
		if fd >= 0 {
			h.loop.Del(int(fd))
			unix.Close(int(fd))
			h.fds--
		}
	}
	h.table.Remove(idx)
	*fl = udpFlow{}
}

// Event handles a ready flow socket, or the timer.
func (h *Handler) Event(ref loop.Ref, events uint32) {
	if ref.Index() == timerIndex {
		h.timer.Ack()
		h.tick()
		return
	}
	idx, side := int(ref.Index()>>1), int(ref.Index()&1)
	if idx >= len(h.flows) {
		return
	}
	fl := &h.flows[idx]
	if fl.kind == kindFree {
		return
	}
	h.clock()
	fd := int(fl.fd[side])
	if events&unix.EPOLLERR != 0 {
		h.socketErrors(idx, fd, fl.kind == kindGuest)
	}
	if events&unix.EPOLLIN == 0 {
		return
	}
	switch fl.kind {
	case kindGuest:
		h.toGuest(idx, fl, fd)
	case kindSplice:
		h.relay(fl, side)
	}
}

// toGuest forwards what a guest flow's socket received.
func (h *Handler) toGuest(idx int, fl *udpFlow, fd int) {
	n := h.rx.recv(fd, batchMax, false)
	if n == 0 {
		return
	}
	h.received(n)
	key := h.table.Key(idx)
	guest, peer := key.Guest(), key.Peer()
	want := fl.peer[0].AddrPort()
	hostSide := 1 - h.guestSide(fl)
	for i := 0; i < n; {
		if h.rx.source(i) != want {
			h.Stats.Stray++
			h.dropped()
			i++
			continue
		}
		end, total := i+1, 0
		if h.segOut != nil {
			end, total = h.segmentRun(i, n, want, peer.Addr().Is4())
		}
		for range end - i {
			h.activity(fl, hostSide)
		}
		if end-i > 1 {
			h.queueSegments(i, end, total, peer, guest)
		} else {
			h.queueFrame(h.rx.bufs[i], h.rx.payloadLen(i), peer, guest)
		}
		h.Stats.ToGuest += uint64(end - i)
		i = end
	}
	h.out.Flush()
}

// segmentRun returns the end of the run of datagrams from i on (before n)
// that can go as one super-frame (see rowEnd: from want, within what one IP
// packet holds), and its payload bytes. A read brings batchMax datagrams at
// most, fewer than a tap takes in one super-frame (tap.MaxTail after the
// first; a test checks).
func (h *Handler) segmentRun(i, n int, want netip.AddrPort, v4 bool) (end, total int) {
	limit := 65535 - 8 // IPv6: the payload length counts the UDP header only
	if v4 {
		limit = 65535 - 20 - 8
	}
	return rowEnd(i, n, batchMax, limit, func(k int) int {
		if h.rx.source(k) != want {
			return -1
		}
		return h.rx.payloadLen(k)
	})
}

// queueSegments queues datagrams i to end-1 of the batch, total payload
// bytes, as one super-frame: the headers go in front of the first payload,
// the others follow where they were received.
func (h *Handler) queueSegments(i, end, total int, src, dst netip.AddrPort) {
	for k := i + 1; k < end; k++ {
		h.tails[k] = h.rx.payload(k)
	}
	f, u := h.buildHeaders(h.rx.bufs[i], h.rx.payloadLen(i), total, src, dst)
	u.SetChecksum(pkt.Fold(pkt.PseudoHeaderSum(src.Addr(), dst.Addr(), pkt.ProtoUDP, uint32(pkt.UDPHeaderLen+total))))
	h.segOut.QueueSegments(f, h.tails[i+1:end], uint16(h.rx.payloadLen(i)))
}

// relay forwards what a spliced flow's socket on side received to the
// other side.
func (h *Handler) relay(fl *udpFlow, side int) {
	n := h.rx.recv(int(fl.fd[side]), batchMax, false)
	h.received(n)
	want := fl.peer[side].AddrPort()
	for i := 0; i < n; i++ {
		if h.rx.source(i) != want {
			h.Stats.Stray++
			h.dropped()
			continue
		}
		h.activity(fl, side)
		h.queueSend(int(fl.fd[1-side]), h.rx.payload(i))
		h.Stats.Relayed++
	}
	h.flushSends()
}

// queueFrame writes the headers of a frame to the guest in front of the
// payload of plen bytes at b[hdrRoom:] and queues the frame.
func (h *Handler) queueFrame(b []byte, plen int, src, dst netip.AddrPort) {
	f, u := h.buildHeaders(b, plen, plen, src, dst)
	if h.offOut != nil {
		u.SetChecksum(pkt.Fold(pkt.PseudoHeaderSum(src.Addr(), dst.Addr(), pkt.ProtoUDP, uint32(len(u)))))
		h.offOut.QueueOffload(f, 0, true)
		return
	}
	pkt.FinishUDP(u, src.Addr(), dst.Addr())
	h.out.Queue(f)
}

// buildHeaders writes the Ethernet, IP and UDP headers in front of the
// payload of plen bytes at b[hdrRoom:], for a datagram (or super-frame) of
// total payload bytes, and returns the frame (up to the end of that
// payload) and its UDP header and payload. The checksum is left to the
// caller.
func (h *Handler) buildHeaders(b []byte, plen, total int, src, dst netip.AddrPort) ([]byte, pkt.UDP) {
	ours, guest := h.out.MACs()
	start, et := 0, pkt.EtherTypeIPv6
	if src.Addr().Is4() {
		start, et = 20, pkt.EtherTypeIPv4
	}
	f := b[start : hdrRoom+plen]
	n := pkt.BuildEthernet(f, guest, ours, et)
	if src.Addr().Is4() {
		n += pkt.BuildIPv4(f[n:], src.Addr(), dst.Addr(), pkt.ProtoUDP, pkt.UDPHeaderLen+total, 255, 0)
	} else {
		n += pkt.BuildIPv6(f[n:], src.Addr(), dst.Addr(), pkt.ProtoUDP, pkt.UDPHeaderLen+total, 255, 0)
	}
	pkt.BuildUDP(f[n:], src.Port(), dst.Port(), total)
	return f, pkt.UDP(f[n:])
}

// tick closes the flows that have been idle for longer than their
// timeout.
func (h *Handler) tick() { h.expire(h.clock()) }

// expire closes the flows that have been idle for longer than their
// timeout at now, notes when the next of the others will be, and stops
// the timer when none is left.
func (h *Handler) expire(now int64) {
	next := int64(math.MaxInt64)
	live := h.active[:0]
	for _, i := range h.active {
		fl := &h.flows[i]
		if fl.kind == kindFree {
			h.listed[i] = false
			continue
		}
		timeout := h.timeout
		if fl.seen[1] > 0 && (fl.seen[0] > 1 || fl.seen[1] > 1) {
			timeout = h.streamTimeout
		}
		if now-fl.last > timeout && queued(fl) {
			// A datagram arrived since the last event (a client
			// that reused the flow's port, say) and waits for the
			// loop: closing now would lose it.
			fl.last = now
		}
		if now-fl.last > timeout {
			h.close(int(i))
			h.Stats.Expired++
			h.listed[i] = false
			continue
		}
		next = min(next, fl.last+timeout)
		live = append(live, i)
	}
	h.active = live
	h.nextExpiry = next
	if len(h.active) == 0 && h.armed {
		_ = unix.TimerfdSettime(h.timer.Fd(), 0, &unix.ItimerSpec{}, nil)
		h.armed = false
	}
}

// queued tells whether a socket of fl has a datagram waiting to be read.
func queued(fl *udpFlow) bool {
	for _, fd := range fl.fd {
		if fd < 0 {
			continue
		}
		_, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), 0, 0, unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
		if e == 0 {
			return true
		}
	}
	return false
}
