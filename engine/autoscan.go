// SPDX-License-Identifier: GPL-2.0-or-later

package engine

import (
	"time"

	"golang.org/x/sys/unix"

	"passt/fwd"
	"passt/log"
	"passt/loop"
	"passt/ns"
	"passt/procnet"
)

// Automatic forwarding ("auto", pasta): every second the bound ports of
// each side are listed, over sock_diag (procnet.Diag: a socket opened in
// each side's namespace) or, on kernels without it, from the side's
// /proc/net tables, and a port of an "auto"
// rule is listened on while the matching port is bound on the other side:
// -t and -u rules follow the namespace with host-side sockets, -T and -U
// rules the host with namespace-side ones. TCP counts listening sockets;
// UDP counts bound, unconnected sockets and, as upstream does, TCP
// listeners too (protocols such as iperf3 pair a TCP control connection
// with UDP data on the same port). Ports we listen on ourselves (auto or
// explicit rules) are left out of the scan of their side, so forwarding
// never loops back onto itself; flow sockets are connected, and connected
// sockets do not count. The first scan runs before readiness.

// scanInterval is how often the tables are read.
const scanInterval = time.Second

// Indices of the per-protocol bitmaps.
const (
	pTCP = 0
	pUDP = 1
)

type autoRule struct {
	rule      fwd.Rule
	outbound  bool
	listening map[uint16][]int // port -> listener numbers
}

type autoScan struct {
	e *Engine
	// ns, host: each side's bound ports, over sock_diag or from
	// /proc/thread-self/net of the namespace thread and /proc/self/net
	// in the host's namespace.
	ns, host *procnet.Source
	rules    []autoRule
	timer    *loop.Timer
	udp      bool // some rule is UDP: scan the UDP tables too

	ourHost  [2]procnet.Ports // ports auto rules listen on at the host
	ourNS    [2]procnet.Ports // ports auto rules listen on in the namespace
	seenNS   [2]procnet.Ports
	seenHost [2]procnet.Ports
}

// EnableAutoScan starts automatic forwarding for the "auto" TCP and UDP
// rules of both tables; t is the namespace thread.
func (e *Engine) EnableAutoScan(t *ns.Thread, inbound, outbound []fwd.Rule) error {
	a := &autoScan{e: e}
	for _, r := range inbound {
		if r.Scan && ((r.Proto == fwd.TCP && e.tcp != nil) || (r.Proto == fwd.UDP && e.udp != nil)) {
			a.rules = append(a.rules, autoRule{rule: r, listening: map[uint16][]int{}})
		}
	}
	for _, r := range outbound {
		if r.Scan && ((r.Proto == fwd.TCP && e.splicer != nil) || (r.Proto == fwd.UDP && e.udp != nil && !e.c.NoSplice)) {
			a.rules = append(a.rules, autoRule{rule: r, outbound: true, listening: map[uint16][]int{}})
		}
	}
	if len(a.rules) == 0 {
		return nil
	}
	for _, ar := range a.rules {
		a.udp = a.udp || ar.rule.Proto == fwd.UDP
	}
	var err error
	var nsDir int
	var nsDiag *procnet.Diag
	t.Do(func() {
		nsDir, err = unix.Open("/proc/thread-self/net", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		nsDiag = openDiag("the namespace")
	})
	if err != nil {
		return err
	}
	hostDir, err := unix.Open("/proc/self/net", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	scanner := procnet.NewScanner()
	a.ns = procnet.NewSource(nsDiag, nsDir, scanner)
	a.host = procnet.NewSource(openDiag("the host"), hostDir, scanner)
	tm, err := e.Loop.NewTimer(loop.MakeRef(KindAutoScan, 0))
	if err != nil {
		return err
	}
	a.timer = tm
	e.auto = a
	a.scan()
	return tm.Set(scanInterval, scanInterval)
}

// openDiag opens a sock_diag socket in the calling thread's namespace
// (side names it), or returns nil: the scans then read /proc/net.
func openDiag(side string) *procnet.Diag {
	d, err := procnet.OpenDiag()
	if err != nil {
		log.Debugf("auto forwarding: %s: %v: scanning /proc/net instead", side, err)
		return nil
	}
	return d
}

// tick runs a scan when the timer fires.
func (a *autoScan) tick() {
	a.timer.Ack()
	a.scan()
}

// scan reads both sides and updates the listeners.
func (a *autoScan) scan() {
	for i := range a.seenNS {
		a.seenNS[i].Zero()
		a.seenHost[i].Zero()
	}
	if err := a.ns.Scan("tcp", &a.seenNS[pTCP]); err != nil {
		log.Debugf("auto forwarding: scanning the namespace: %v", err)
		return
	}
	if err := a.host.Scan("tcp", &a.seenHost[pTCP]); err != nil {
		log.Debugf("auto forwarding: scanning the host: %v", err)
		return
	}
	a.exclude(pTCP)
	if a.udp {
		if err := a.ns.Scan("udp", &a.seenNS[pUDP]); err != nil {
			log.Debugf("auto forwarding: scanning the namespace: %v", err)
			return
		}
		if err := a.host.Scan("udp", &a.seenHost[pUDP]); err != nil {
			log.Debugf("auto forwarding: scanning the host: %v", err)
			return
		}
		// UDP follows TCP listeners (ours already left out).
		a.seenNS[pUDP].Or(&a.seenNS[pTCP])
		a.seenHost[pUDP].Or(&a.seenHost[pTCP])
		a.exclude(pUDP)
	}
	for i := range a.rules {
		a.update(&a.rules[i])
	}
}

// exclude removes our own ports of protocol index p from what was seen.
func (a *autoScan) exclude(p int) {
	a.seenNS[p].AndNot(&a.ourNS[p])
	a.seenNS[p].AndNot(&a.e.own.ns[p])
	a.seenHost[p].AndNot(&a.ourHost[p])
	a.seenHost[p].AndNot(&a.e.own.host[p])
}

// update opens and closes the listeners of one rule to follow the other
// side's sockets.
func (a *autoScan) update(ar *autoRule) {
	r := &ar.rule
	pi := protoIndex(r.Proto)
	other, ours := &a.seenNS[pi], &a.ourHost[pi]
	if ar.outbound {
		other, ours = &a.seenHost[pi], &a.ourNS[pi]
	}
	// Close what the other side no longer has.
	for p, idxs := range ar.listening {
		if other.Has(r.MapPort(p)) {
			continue
		}
		for _, idx := range idxs {
			a.closeListener(ar, idx)
		}
		delete(ar.listening, p)
		ours.Clear(p)
	}
	// Open what it newly has.
	for g := other.Next(int(r.ToFirst)); g >= 0 && g <= int(r.ToLast()); g = other.Next(g + 1) {
		p := uint16(g) - r.ToFirst + r.First
		if _, ok := ar.listening[p]; ok {
			continue
		}
		idxs := a.listen(ar, p, uint16(g))
		if len(idxs) > 0 {
			ours.Set(p)
		}
		ar.listening[p] = idxs
	}
}

// listen opens the listener(s) of rule ar for port p, forwarding to g.
func (a *autoScan) listen(ar *autoRule, p, g uint16) []int {
	r, e := &ar.rule, a.e
	var idxs []int
	if !ar.outbound {
		var idx int
		var err error
		if r.Proto == fwd.UDP {
			idx, err = e.udp.Listen(r.Addr, r.Ifname, p, g, r.Target, e.c.Freebind)
		} else {
			idx, err = e.tcp.ListenIndex(r.Addr, r.Ifname, p, g, r.Target, e.c.Freebind)
		}
		if err == nil {
			idxs = append(idxs, idx)
		}
		return idxs
	}
	for _, v6 := range []bool{false, true} {
		if (v6 && !e.c.IP6.Enabled) || (!v6 && !e.c.IP4.Enabled) {
			continue
		}
		var idx int
		var err error
		if r.Proto == fwd.UDP {
			idx, err = e.udp.ListenNamespace(v6, p, g)
		} else {
			idx, err = e.splicer.ListenNamespaceIndex(v6, p, g)
		}
		if err == nil {
			idxs = append(idxs, idx)
		}
	}
	return idxs
}

func (a *autoScan) closeListener(ar *autoRule, idx int) {
	switch {
	case ar.rule.Proto == fwd.UDP:
		a.e.udp.CloseListener(idx)
	case ar.outbound:
		a.e.splicer.CloseListener(idx)
	default:
		a.e.tcp.CloseListener(idx)
	}
}
