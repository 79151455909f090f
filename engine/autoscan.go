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

// Automatic forwarding ("auto", pasta): every second the TCP listeners of
// each side are read from its /proc/net tables, and a port of an "auto"
// rule is listened on while the matching port listens on the other side:
// -t rules follow the namespace's listeners with host-side listening
// sockets, -T rules the host's with namespace-side ones. Our own listeners
// are left out of the scan of their side, so forwarding never loops back
// onto itself. The first scan runs before readiness.

// scanInterval is how often the tables are read.
const scanInterval = time.Second

type autoRule struct {
	rule      fwd.Rule
	outbound  bool
	listening map[uint16][]int // port -> listener numbers
}

type autoScan struct {
	e        *Engine
	nsDir    int // /proc/thread-self/net of the namespace thread
	hostDir  int // /proc/self/net in the host's namespace
	scanner  *procnet.Scanner
	rules    []autoRule
	timer    *loop.Timer
	ourHost  procnet.Ports // ports we listen on at the host
	ourNS    procnet.Ports // ports we listen on in the namespace
	seenNS   procnet.Ports
	seenHost procnet.Ports
}

// EnableAutoScan starts automatic forwarding for the "auto" TCP rules of
// both tables; t is the namespace thread.
func (e *Engine) EnableAutoScan(t *ns.Thread, inbound, outbound []fwd.Rule) error {
	a := &autoScan{e: e, scanner: procnet.NewScanner(), nsDir: -1, hostDir: -1}
	for _, r := range inbound {
		if r.Scan && r.Proto == fwd.TCP && e.tcp != nil {
			a.rules = append(a.rules, autoRule{rule: r, listening: map[uint16][]int{}})
		}
	}
	for _, r := range outbound {
		if r.Scan && r.Proto == fwd.TCP && e.splicer != nil {
			a.rules = append(a.rules, autoRule{rule: r, outbound: true, listening: map[uint16][]int{}})
		}
	}
	if len(a.rules) == 0 {
		return nil
	}
	// Listeners of explicit rules are ours too: a -t port must not be
	// mirrored back into the namespace by -T auto, nor a -T port onto
	// the host by -t auto.
	for _, r := range inbound {
		if !r.Scan && r.Proto == fwd.TCP {
			for p := int(r.First); p <= int(r.Last); p++ {
				a.ourHost.Set(uint16(p))
			}
		}
	}
	for _, r := range outbound {
		if !r.Scan && r.Proto == fwd.TCP {
			for p := int(r.First); p <= int(r.Last); p++ {
				a.ourNS.Set(uint16(p))
			}
		}
	}
	var err error
	t.Do(func() {
		a.nsDir, err = unix.Open("/proc/thread-self/net", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return err
	}
	if a.hostDir, err = unix.Open("/proc/self/net", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		return err
	}
	tm, err := e.Loop.NewTimer(loop.MakeRef(KindAutoScan, 0))
	if err != nil {
		return err
	}
	a.timer = tm
	e.auto = a
	a.scan()
	return tm.Set(scanInterval, scanInterval)
}

// tick runs a scan when the timer fires.
func (a *autoScan) tick() {
	a.timer.Ack()
	a.scan()
}

// scan reads both sides and updates the listeners.
func (a *autoScan) scan() {
	a.seenNS.Zero()
	a.seenHost.Zero()
	if err := a.scanner.ScanAt(a.nsDir, "tcp", &a.seenNS); err != nil {
		log.Debugf("auto forwarding: scanning the namespace: %v", err)
		return
	}
	if err := a.scanner.ScanAt(a.hostDir, "tcp", &a.seenHost); err != nil {
		log.Debugf("auto forwarding: scanning the host: %v", err)
		return
	}
	a.seenNS.AndNot(&a.ourNS)
	a.seenHost.AndNot(&a.ourHost)
	for i := range a.rules {
		a.update(&a.rules[i])
	}
}

// update opens and closes the listeners of one rule to follow the other
// side's listeners.
func (a *autoScan) update(ar *autoRule) {
	r := &ar.rule
	other := &a.seenNS
	if ar.outbound {
		other = &a.seenHost
	}
	// Close what the other side no longer listens on.
	for p, idxs := range ar.listening {
		if other.Has(r.MapPort(p)) {
			continue
		}
		for _, idx := range idxs {
			if ar.outbound {
				a.e.splicer.CloseListener(idx)
			} else {
				a.e.tcp.CloseListener(idx)
			}
		}
		delete(ar.listening, p)
		if ar.outbound {
			a.ourNS.Clear(p)
		} else {
			a.ourHost.Clear(p)
		}
	}
	// Open what it newly listens on.
	for g := other.Next(int(r.ToFirst)); g >= 0 && g <= int(r.ToLast()); g = other.Next(g + 1) {
		p := uint16(g) - r.ToFirst + r.First
		if _, ok := ar.listening[p]; ok {
			continue
		}
		var idxs []int
		if ar.outbound {
			for _, v6 := range []bool{false, true} {
				if (v6 && !a.e.c.IP6.Enabled) || (!v6 && !a.e.c.IP4.Enabled) {
					continue
				}
				if idx, err := a.e.splicer.ListenNamespaceIndex(v6, p, uint16(g)); err == nil {
					idxs = append(idxs, idx)
				}
			}
			a.ourNS.Set(p)
		} else {
			if idx, err := a.e.tcp.ListenIndex(r.Addr, r.Ifname, p, uint16(g), r.Target, a.e.c.Freebind); err == nil {
				idxs = append(idxs, idx)
			}
			a.ourHost.Set(p)
		}
		ar.listening[p] = idxs
	}
}
