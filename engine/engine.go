// SPDX-License-Identifier: GPL-2.0-or-later

// Package engine is the heart of the engine process: the event loop, the
// guest link (pasta's tap device or passt's stream socket), and the layer-2
// dispatch of every frame the guest sends.
//
// Theory of operation. The engine runs one loop.Loop on the goroutine that
// calls Run, locked to its OS thread. The guest link is a descriptor in that
// loop; when it is readable the engine reads every frame available in one
// batch (Link.Receive), captures the batch (--pcap), and dispatches each
// frame by EtherType and protocol:
//
//   - ARP requests are answered by package arp (our MAC for every address
//     but the guest's own);
//   - ICMPv6 neighbour and router solicitations by package ndp;
//   - DHCP (UDP to port 67) by package dhcp, DHCPv6 (UDP to port 547) by
//     package dhcpv6;
//   - TCP, UDP and ICMP echo towards the outside world go to packages tcp,
//     udp and icmp; other protocols are counted and dropped.
//
// Replies are queued and written to the link in one batch after the read
// batch. The source MAC of the guest's frames is learnt (the guest MAC is
// needed to address frames to it); until it is known, frames go to the
// broadcast address, as upstream does, and once it is, TCP sends the SYNs
// of host-initiated connections again (a guest's TCP drops segments sent
// to the broadcast address). When a guest appears (a client
// connects to passt, or the tap is up) the engine probes it with an ARP
// request and, unless disabled, sends a router advertisement; router
// advertisements then repeat on a timer.
//
// The control plane here favours clarity over avoiding allocations; the data
// path (protocol handlers) is allocation-free.
package engine

import (
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"passt/arp"
	"passt/conf"
	"passt/dhcp"
	"passt/dhcpv6"
	"passt/fdbudget"
	"passt/flow"
	"passt/fwd"
	"passt/icmp"
	"passt/log"
	"passt/loop"
	"passt/ndp"
	"passt/ns"
	"passt/pcap"
	"passt/pkt"
	"passt/tap"
	"passt/tcp"
	"passt/udp"
)

// Kinds of descriptors in the engine's loop.
const (
	KindLink         loop.Kind = iota + 1 // the guest link
	KindListen                            // passt's listening socket
	KindRA                                // router advertisement timer
	KindTCP                               // TCP sockets and timer
	KindTCPListen                         // TCP listening sockets (-t)
	KindSplice                            // spliced TCP connections (pasta)
	KindSpliceListen                      // namespace-side listeners (-T)
	KindAutoScan                          // "auto" forwarding scan timer
	KindICMP                              // ICMP echo (ping) sockets and timer
	KindUDP                               // UDP flow sockets and timer
	KindUDPListen                         // UDP listening sockets (-u, -U)
	KindUser                              // first kind free for the modes
)

// Link is the guest side of the wire.
type Link interface {
	Fd() int
	// Receive returns frames available now (0 when none), valid until
	// the next call.
	Receive(out [][]byte) (int, error)
	// Send writes frames.
	Send(frames [][]byte) error
}

// batchSize is how many frames are read per wake-up at most.
const batchSize = 256

// Stats counts what the engine saw.
type Stats struct {
	Frames, Dropped, Replies uint64
	// Batches counts the batches of frames from the guest: reads whose
	// frames are handled together, their ACKs and socket writes sent
	// once at the end.
	Batches uint64
}

// Engine is the event loop with the guest link and layer-2 services.
type Engine struct {
	c     *conf.Config
	Loop  *loop.Loop
	pcap  *pcap.Writer
	link  Link
	Stats Stats

	guestMAC   [6]byte
	guestKnown bool

	arp    arp.Config
	ndp    ndp.Config
	dhcp   dhcp.Config
	dhcpv6 dhcpv6.Config

	raTimer *loop.Timer
	tcp     *tcp.Handler
	icmp    *icmp.Handler
	splicer *tcp.Splicer
	udp     *udp.Handler
	auto    *autoScan
	own     ownPorts
	nat     flow.NAT
	frames  [][]byte
	replies [][]byte
	offl    []tap.OffloadAt // offloads of some of the replies
	linkOut bool            // waiting for the link to take a kept frame
	// droppedAtStall: the link's DroppedFrames before the write that
	// set linkOut.
	droppedAtStall uint64
	// linkSleeps: the link gathers more frames per read when the loop
	// sleeps between reads under bulk traffic (see bulkLinkBytes).
	linkSleeps bool
	// linkDrains: the link tells when a read found it empty (drainer).
	linkDrains drainer
	dec        pkt.Decoded

	status int
	nofile int // the descriptor limit, read before the sandbox (fdbudget.go)
	// Handlers of the modes' own descriptors, by kind.
	handlers map[loop.Kind]loop.Handler
	// OnLinkError is called when the link fails; the default ends the
	// engine with status 1.
	OnLinkError func(err error)
}

// New builds an engine for c; capture may be nil.
func New(c *conf.Config, capture *pcap.Writer) (*Engine, error) {
	l, err := loop.New()
	if err != nil {
		return nil, err
	}
	e := &Engine{
		c:        c,
		Loop:     l,
		pcap:     capture,
		frames:   make([][]byte, batchSize),
		guestMAC: broadcast,
		handlers: map[loop.Kind]loop.Handler{},
		nofile:   fdbudget.Limit(),
	}
	e.configure()
	if !c.NoNDP && !c.NoRA && c.IP6.Enabled {
		t, err := l.NewTimer(loop.MakeRef(KindRA, 0))
		if err != nil {
			return nil, err
		}
		e.raTimer = t
	}
	e.nat = flow.NATFromConf(c)
	if !c.NoTCP {
		h, err := tcp.New(l, KindTCP, tcpOutput{e}, e.translate, c.MTU, c.IP4.AddrOut, c.IP6.AddrOut)
		if err != nil {
			return nil, err
		}
		h.SetInbound(KindTCPListen, e.translateInbound)
		e.tcp = h
	}
	if !c.NoICMP {
		h, err := icmp.New(l, KindICMP, tcpOutput{e}, icmp.Config{
			NAT: &e.nat, IfnameOut4: c.IP4.IfnameOut, IfnameOut6: c.IP6.IfnameOut,
		})
		if err != nil {
			return nil, err
		}
		e.icmp = h
	}
	if !c.NoUDP {
		h, err := udp.New(l, KindUDP, KindUDPListen, tcpOutput{e}, udp.Config{
			NAT: &e.nat, SpliceOnly: c.SpliceOnly, IfnameOut4: c.IP4.IfnameOut, IfnameOut6: c.IP6.IfnameOut,
		})
		if err != nil {
			return nil, err
		}
		e.udp = h
	}
	e.OnLinkError = func(err error) {
		log.Errorf("%s", err)
		e.Exit(1)
	}
	return e, nil
}

var broadcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// configure fills the services' configurations from c.
func (e *Engine) configure() {
	c := e.c
	dns4, dns6, search := c.IP4.DNS, c.IP6.DNS, c.Search
	if c.NoDHCPDNS {
		dns4, dns6 = nil, nil
	}
	if c.NoDHCPSearch {
		search = nil
	}
	e.arp = arp.Config{OurMAC: c.OurMAC, OurAddr: c.IP4.OurAddr, GuestAddr: c.IP4.Addr}
	e.ndp = ndp.Config{
		OurMAC:       c.OurMAC,
		OurLinkLocal: c.IP6.OurAddr,
		GuestAddr:    c.IP6.Addr,
		MTU:          c.MTU,
		DNS:          dns6,
		Search:       search,
		NoRA:         c.NoRA,
		ManagedFlag:  true, // as upstream, even with --no-dhcpv6
	}
	e.dhcp = dhcp.Config{
		OurMAC:     c.OurMAC,
		ServerAddr: c.IP4.OurAddr,
		GuestAddr:  c.IP4.Addr,
		PrefixLen:  c.IP4.PrefixLen,
		Router:     c.IP4.Gateway,
		DNS:        dns4,
		Search:     search,
		MTU:        c.MTU,
		Hostname:   c.Hostname,
		FQDN:       c.FQDN,
	}
	e.dhcpv6 = dhcpv6.Config{
		DUIDTime:     dhcpv6.DUIDTimeFrom(time.Now()),
		OurMAC:       c.OurMAC,
		OurLinkLocal: c.IP6.OurAddr,
		GuestAddr:    c.IP6.Addr,
		DNS:          dns6,
		Search:       search,
		FQDN:         c.FQDN,
	}
}

// Handle registers the handler of a mode's own kind of descriptor.
func (e *Engine) Handle(k loop.Kind, h loop.Handler) { e.handlers[k] = h }

// Exit ends Run with status.
func (e *Engine) Exit(status int) {
	e.status = status
	e.Loop.Stop()
}

// Run runs the loop until Exit; it returns the status.
func (e *Engine) Run() int {
	e.shareDescriptors()
	err := e.Loop.Run(e.dispatch)
	if err != nil {
		log.Errorf("%s", err)
		return 1
	}
	return e.status
}

// dispatch handles one ready descriptor.
func (e *Engine) dispatch(ref loop.Ref, events uint32) {
	switch ref.Kind() {
	case KindLink:
		e.linkReady(events)
	case KindRA:
		e.raTimer.Ack()
		e.sendRA()
	case KindTCP:
		e.tcp.Event(ref, events)
	case KindTCPListen:
		e.tcp.Accept(ref, events)
	case KindSplice:
		e.splicer.Event(ref, events)
	case KindSpliceListen:
		e.splicer.Accept(ref, events)
	case KindAutoScan:
		e.auto.tick()
	case KindICMP:
		e.icmp.Event(ref, events)
	case KindUDP:
		e.Loop.Urgent()
		e.udp.Event(ref, events)
	case KindUDPListen:
		e.Loop.Urgent()
		e.udp.ListenEvent(ref, events)
	default:
		if h := e.handlers[ref.Kind()]; h != nil {
			h(ref, events)
		}
	}
}

// SetLink attaches the guest link (nil: none) and probes the guest.
func (e *Engine) SetLink(l Link) error {
	if e.link != nil {
		e.Loop.Del(e.link.Fd())
	}
	e.link = l
	e.linkOut = false
	_, e.linkSleeps = l.(bulkSleeper)
	e.linkDrains, _ = l.(drainer)
	e.guestMAC, e.guestKnown = broadcast, false
	if l == nil {
		return nil
	}
	if err := e.Loop.Add(l.Fd(), unix.EPOLLIN|unix.EPOLLRDHUP, loop.MakeRef(KindLink, 0)); err != nil {
		return err
	}
	e.probe()
	return nil
}

// probe sends what upstream sends when a guest appears: an ARP request and
// a neighbour solicitation for the guest's addresses, so that its replies
// teach us its MAC. Router advertisements start on their timer.
func (e *Engine) probe() {
	if e.c.IP4.Enabled && e.c.IP4.Addr.IsValid() && e.arp.OurAddr.IsValid() {
		e.replies = append(e.replies, arp.Request(&e.arp, e.c.IP4.Addr))
	}
	if e.c.IP6.Enabled && !e.c.NoNDP && e.c.IP6.Addr.IsValid() && e.ndp.OurLinkLocal.IsValid() {
		if ns := ndp.NeighborSolicitation(&e.ndp); ns != nil {
			e.replies = append(e.replies, ns)
		}
	}
	e.flush()
	if e.raTimer != nil {
		_ = e.raTimer.Set(ndp.RAInterval(), 0)
	}
}

// sendRA sends an unsolicited router advertisement and re-arms the timer.
func (e *Engine) sendRA() {
	if e.link != nil {
		if ra := ndp.RouterAdvertisement(&e.ndp); ra != nil {
			e.replies = append(e.replies, ra)
			e.flush()
		}
	}
	_ = e.raTimer.Set(ndp.RAInterval(), 0)
}

// linkReady reads and dispatches every frame available from the guest.
func (e *Engine) linkReady(events uint32) {
	if events&unix.EPOLLOUT != 0 {
		e.flushPending()
	}
	received := 0
	for e.link != nil {
		n, err := e.link.Receive(e.frames)
		if err != nil {
			e.flush()
			e.OnLinkError(err)
			return
		}
		if n == 0 {
			break
		}
		e.Stats.Batches++
		if e.tcp != nil {
			e.tcp.BeginBatch()
		}
		batch := e.dispatchFrames(e.frames[:n])
		// A link whose frames stay valid across reads (batchExtender)
		// gives what its peer wrote meanwhile to the same batch, so
		// that its payloads reach the sockets in one write and are
		// acknowledged in one ACK, and the peer, whose writes wait
		// for room in its socket's buffer, is drained first.
		if more, ok := e.link.(batchExtender); ok {
			for batch < maxLinkBatch {
				n, err = more.ReceiveMore(e.frames)
				if err != nil || n == 0 {
					break
				}
				batch += e.dispatchFrames(e.frames[:n])
			}
		}
		received += batch
		if e.tcp != nil {
			e.tcp.EndBatch() // the ACKs owed, and the frames queued
		}
		if e.udp != nil {
			e.udp.Flush() // the datagrams point into the batch
		}
		e.flush()
		if err != nil {
			e.OnLinkError(err)
			return
		}
		if e.linkDrains != nil && e.linkDrains.Drained() {
			break
		}
	}
	if e.linkSleeps && received >= bulkLinkBytes {
		e.Loop.SleepNext()
	}
	if events&(unix.EPOLLHUP|unix.EPOLLRDHUP|unix.EPOLLERR) != 0 && e.link != nil {
		e.OnLinkError(errHangup)
	}
}

// dispatchFrames dispatches frames from the guest and returns their bytes.
func (e *Engine) dispatchFrames(batch [][]byte) int {
	if e.pcap != nil {
		_ = e.pcap.WriteFrames(batch, time.Now())
	}
	bytes := 0
	for _, f := range batch {
		bytes += len(f)
		e.frame(f)
	}
	return bytes
}

// maxLinkBatch bounds the bytes of frames one batch takes from a
// batchExtender, so that the host's sockets and timers are served in
// between however fast the guest writes.
const maxLinkBatch = 1 << 20

// batchExtender is a Link that can add frames to the batch of its last
// Receive, keeping that batch's frames valid (tap.Stream.ReadMoreFrames).
// 0 frames: nothing more now, no room, or only part of a frame; the batch
// ends.
type batchExtender interface {
	ReceiveMore(out [][]byte) (int, error)
}

// bulkLinkBytes: once one wake-up reads this much from a link that gathers
// (bulkSleeper), the loop sleeps until the next event instead of polling
// for it (loop.SleepNext). passt's stream socket from QEMU is such a link:
// a guest streaming at MTU 1500 writes a frame every few microseconds,
// and a loop polling for each one reads 5-6 frames per read(2) and spends
// most of its CPU time in epoll_pwait(2), CPU that QEMU and the guest
// need on a machine with few CPUs; sleeping, the frames pile up in the
// socket and come in larger reads. Request-response traffic moves less
// than this per wake-up and keeps the low latency of polling.
const bulkLinkBytes = 8 << 10

// drainer is a Link that tells whether its last Receive found it empty, so
// that the engine does not read it again only to be told so.
type drainer interface {
	Drained() bool
}

// bulkSleeper is a Link that gathers frames while the loop sleeps (see
// bulkLinkBytes); the method only marks it.
type bulkSleeper interface {
	SleepsOnBulk()
}

type linkError string

func (e linkError) Error() string { return string(e) }

const errHangup = linkError("EOF on guest link")

// frame dispatches one frame from the guest.
func (e *Engine) frame(f []byte) {
	e.Stats.Frames++
	if len(f) < 14 {
		e.Stats.Dropped++
		return
	}
	var src [6]byte
	copy(src[:], f[6:12])
	if src[0]&1 == 0 && src != e.guestMAC {
		e.guestMAC, e.guestKnown = src, true
		if e.tcp != nil {
			e.tcp.GuestFound() // SYNs sent to the broadcast address were dropped
		}
	}
	d := &e.dec
	if err := pkt.Decode(f, d); err != nil {
		e.Stats.Dropped++
		log.Debugf("dropping malformed frame from guest: %v", err)
		return
	}
	if d.IPVersion != 0 {
		e.seen(d.Src)
	}
	var reply []byte
	switch d.EtherType {
	case pkt.EtherTypeARP:
		reply = arp.Reply(&e.arp, f)
	case pkt.EtherTypeIPv6:
		switch {
		case d.L4Proto == pkt.ProtoICMPv6 && d.L4HdrLen > 0 && ndp.IsNDP(f[d.L4Off]):
			if !e.c.NoNDP {
				reply = ndp.Handle(&e.ndp, f)
			}
		case d.L4Proto == pkt.ProtoTCP && e.tcp != nil:
			e.tcp.FromGuest(f, d)
		case d.L4Proto == pkt.ProtoUDP && d.L4HdrLen > 0 && udpDstPort(f, d) == 547 && !e.c.NoDHCPv6:
			reply = dhcpv6.Handle(&e.dhcpv6, f)
		case d.L4Proto == pkt.ProtoICMPv6 && e.icmp != nil:
			e.icmp.FromGuest(f, d)
		case d.L4Proto == pkt.ProtoUDP && e.udp != nil:
			e.Loop.Urgent()
			e.udp.FromGuest(f, d)
		default:
			e.other(d)
		}
	case pkt.EtherTypeIPv4:
		if d.L4Proto == pkt.ProtoTCP && e.tcp != nil {
			e.tcp.FromGuest(f, d)
		} else if d.L4Proto == pkt.ProtoUDP && d.L4HdrLen > 0 && udpDstPort(f, d) == 67 && !e.c.NoDHCP {
			reply = dhcp.Handle(&e.dhcp, f)
		} else if d.L4Proto == pkt.ProtoICMP && e.icmp != nil {
			e.icmp.FromGuest(f, d)
		} else if d.L4Proto == pkt.ProtoUDP && e.udp != nil {
			e.udp.FromGuest(f, d)
		} else {
			e.other(d)
		}
	default:
		e.Stats.Dropped++
	}
	if reply != nil {
		e.replies = append(e.replies, reply)
	}
}

// other is traffic no handler takes (another protocol, or one that is
// disabled): it is counted as dropped.
func (e *Engine) other(d *pkt.Decoded) {
	e.Stats.Dropped++
	if log.TraceEnabled() {
		log.Tracef("no handler yet for protocol %d from %v to %v", d.L4Proto, d.Src, d.Dst)
	}
}

func udpDstPort(f []byte, d *pkt.Decoded) uint16 {
	return uint16(f[d.L4Off+2])<<8 | uint16(f[d.L4Off+3])
}

// flush writes the queued replies to the guest.
func (e *Engine) flush() {
	if len(e.replies) == 0 || e.link == nil {
		e.replies = e.replies[:0]
		e.offl = e.offl[:0]
		return
	}
	if e.pcap != nil {
		_ = e.pcap.WriteFrames(e.replies, time.Now())
	}
	pl, pending := e.link.(pendingLink)
	if pending && !e.linkOut {
		e.droppedAtStall = pl.DroppedFrames()
	}
	var err error
	if os, ok := e.link.(offloadSender); ok && len(e.offl) > 0 {
		err = os.SendOffload(e.replies, e.offl)
	} else {
		err = e.link.Send(e.replies)
	}
	e.offl = e.offl[:0]
	if err != nil {
		log.Debugf("writing to guest: %v", err)
	}
	if pending && pl.Pending() && !e.linkOut {
		// Part of a frame waits for the guest to read: wake up when
		// it can go.
		e.linkOut = true
		log.Debugf("guest not reading: its socket stayed full, frames dropped until it drains")
		_ = e.Loop.Mod(e.link.Fd(), unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLOUT, loop.MakeRef(KindLink, 0))
	}
	e.Stats.Replies += uint64(len(e.replies))
	for i := range e.replies {
		e.replies[i] = nil
	}
	e.replies = e.replies[:0]
}

// pendingLink is a link that may keep part of a frame for later (passt's
// stream socket, when the guest stops reading).
type pendingLink interface {
	Pending() bool
	FlushPending() error
	// DroppedFrames counts the frames dropped so far because the guest
	// did not read.
	DroppedFrames() uint64
}

// flushPending writes what the link kept, once it is writable.
func (e *Engine) flushPending() {
	pl, ok := e.link.(pendingLink)
	if !ok {
		return
	}
	if err := pl.FlushPending(); err != nil {
		log.Debugf("writing to guest: %v", err)
	}
	if !pl.Pending() && e.linkOut {
		e.linkOut = false
		log.Debugf("guest reading again: %d frames dropped while its socket was full", pl.DroppedFrames()-e.droppedAtStall)
		_ = e.Loop.Mod(e.link.Fd(), unix.EPOLLIN|unix.EPOLLRDHUP, loop.MakeRef(KindLink, 0))
	}
}

// offloadSender is a link that takes frames with offloads (pasta's tap).
type offloadSender interface {
	SendOffload(frames [][]byte, offl []tap.OffloadAt) error
}

// EnableOffload lets the TCP handler send the guest super-frames of up to
// 64 KiB whatever the MTU, cut by the guest's kernel if ever needed, and,
// unless frames are captured (where complete checksums matter to whoever
// reads the capture), the TCP and UDP handlers send frames with checksums
// left for the kernel; with udpSegmentation too (and no capture, which
// would see only a super-frame's first datagram), the UDP handler sends
// consecutive datagrams of a flow as one super-frame. Only a tap link with
// offloads enabled (tap.Device.EnableOffload, UDPSegmentation) takes them.
func (e *Engine) EnableOffload(udpSegmentation bool) {
	if e.tcp != nil {
		e.tcp.SetOffload(true, e.pcap == nil)
	}
	if e.udp != nil {
		e.udp.SetOffload(e.pcap == nil)
		e.udp.SetSegmentation(udpSegmentation && e.pcap == nil)
	}
}

// GuestMAC returns the guest's MAC address and whether it is known.
func (e *Engine) GuestMAC() ([6]byte, bool) { return e.guestMAC, e.guestKnown }

// tcpOutput lets the TCP handler queue frames to the guest.
type tcpOutput struct{ e *Engine }

func (o tcpOutput) Queue(f []byte) { o.e.replies = append(o.e.replies, f) }

// QueueOffload queues a TCP frame for a link that takes offloads (see
// EnableOffload).
func (o tcpOutput) QueueOffload(f []byte, gsoSize uint16, partial bool) {
	o.e.offl = append(o.e.offl, tap.OffloadAt{Index: len(o.e.replies), Offload: tap.Offload{GSOSize: gsoSize, Partial: partial}})
	o.e.replies = append(o.e.replies, f)
}

// QueueSegments queues a UDP super-frame (see EnableOffload): frame holds
// the headers and the first datagram's payload, tail the other payloads,
// of gsoSize bytes each but the last.
func (o tcpOutput) QueueSegments(frame []byte, tail [][]byte, gsoSize uint16) {
	o.e.offl = append(o.e.offl, tap.OffloadAt{Index: len(o.e.replies),
		Offload: tap.Offload{GSOSize: gsoSize, Partial: true, Tail: tail}})
	o.e.replies = append(o.e.replies, frame)
}
func (o tcpOutput) Flush() { o.e.flush() }
func (o tcpOutput) MACs() (ours, guest [6]byte) {
	return o.e.c.OurMAC, o.e.guestMAC
}

// translate maps the destination of a guest-initiated flow to the host
// socket's target (contract §6.11, package flow).
func (e *Engine) translate(dst netip.AddrPort) (netip.AddrPort, bool) {
	target, _, ok := e.nat.FromGuest(flow.ProtoTCP, dst)
	return target, ok
}

// translateInbound gives the addresses the guest sees for a connection
// forwarded from the host.
func (e *Engine) translateInbound(src netip.AddrPort, target netip.Addr, port uint16) (netip.AddrPort, netip.AddrPort, bool) {
	return e.nat.FromHost(src, target, port)
}

// seen records the guest's source address, the destination of traffic
// forwarded to it (unless the address was fixed with -a).
func (e *Engine) seen(a netip.Addr) {
	switch {
	case !a.IsValid() || a.IsUnspecified() || a.IsMulticast():
	case a.Is4() && !e.c.IP4.AddrFixed:
		e.nat.V4.GuestSeen = a
	case a.Is6() && a.IsLinkLocalUnicast():
		e.nat.V6.GuestSeenLL = a
	case a.Is6() && !e.c.IP6.AddrFixed:
		e.nat.V6.GuestSeen = a
	}
}

// EnableSplice turns on pasta's loopback bypass with the namespace thread
// t: -t connections from host loopback addresses are spliced to the
// namespace, -T rules listen on the namespace's loopback.
func (e *Engine) EnableSplice(t *ns.Thread) {
	if e.c.NoSplice {
		return
	}
	a4, a6 := e.c.IP4.Addr, e.c.IP6.Addr
	if e.c.HostLoToNsLo {
		a4, a6 = netip.Addr{}, netip.Addr{}
	}
	if e.udp != nil {
		e.udp.EnableSplice(t, a4, a6)
	}
	if e.tcp == nil {
		return
	}
	e.splicer = tcp.NewSplicer(e.Loop, KindSplice, KindSpliceListen, t, a4, a6)
	e.tcp.SetSplicer(e.splicer)
}

// ListenSpliceTCP opens the namespace-side listeners of the outbound (-T)
// TCP rules.
func (e *Engine) ListenSpliceTCP(rules []fwd.Rule) error {
	if e.splicer == nil {
		return nil
	}
	return listenRules(rules, fwd.TCP, "SPLICE", &e.own.ns[0], func(r fwd.Rule, port uint16) error {
		return e.eachFamily(func(v6 bool) error { return e.splicer.ListenNamespace(v6, port, r.MapPort(port)) })
	})
}

// ListenTCP opens the listening sockets of the inbound TCP rules; failing
// to listen on an explicit port is fatal, a best-effort rule fails only if
// none of its ports could be bound.
func (e *Engine) ListenTCP(rules []fwd.Rule) error {
	if e.tcp == nil {
		return nil
	}
	return listenRules(rules, fwd.TCP, "HOST", &e.own.host[0], func(r fwd.Rule, port uint16) error {
		return e.tcp.Listen(r.Addr, r.Ifname, port, r.MapPort(port), r.Target, e.c.Freebind)
	})
}
