// SPDX-License-Identifier: GPL-2.0-or-later

package engine

import (
	"errors"

	"passt/fwd"
	"passt/internal/errno"
	"passt/log"
	"passt/procnet"
)

// ownPorts are the ports of explicit (not "auto") rules we listen on, per
// protocol, on the host (-t, -u) and in the namespace (-T, -U): automatic
// forwarding of the opposite direction leaves them out, so that it never
// loops back onto our own sockets.
type ownPorts struct {
	host, ns [2]procnet.Ports // [0] TCP, [1] UDP
}

func protoIndex(p fwd.Proto) int {
	if p == fwd.UDP {
		return 1
	}
	return 0
}

// ListenUDP opens the sockets of the inbound (-u) UDP rules: failing to
// bind an explicit port is fatal, a best-effort rule fails only if none of
// its ports could be bound.
func (e *Engine) ListenUDP(rules []fwd.Rule) error {
	if e.udp == nil {
		return nil
	}
	for _, r := range rules {
		if r.Proto != fwd.UDP || r.Scan {
			continue // "auto" rules follow the other side's sockets
		}
		bound := 0
		var firstErr error
		for p := int(r.First); p <= int(r.Last); p++ {
			port := uint16(p)
			_, err := e.udp.Listen(r.Addr, r.Ifname, port, r.MapPort(port), r.Target, e.c.Freebind)
			if err == nil {
				bound++
				e.own.host[1].Set(port)
				continue
			}
			if !r.BestEffort {
				log.Errorf("Listen failed for HOST UDP port %s/%d: %s", listenAddr(r), port, errno.Text(err))
				return errors.New("Couldn't listen on requested ports")
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		if bound == 0 && firstErr != nil {
			log.Errorf("All listens failed for HOST UDP %s/%d-%d: %s", listenAddr(r), r.First, r.Last, errno.Text(firstErr))
			return errors.New("Couldn't listen on requested ports")
		}
	}
	return nil
}

// ListenSpliceUDP opens the namespace-side sockets of the outbound (-U)
// UDP rules (pasta, with the bypass enabled).
func (e *Engine) ListenSpliceUDP(rules []fwd.Rule) error {
	if e.udp == nil || e.c.NoSplice {
		return nil
	}
	for _, r := range rules {
		if r.Proto != fwd.UDP || r.Scan {
			continue
		}
		for p := int(r.First); p <= int(r.Last); p++ {
			port := uint16(p)
			for _, v6 := range []bool{false, true} {
				if (v6 && !e.c.IP6.Enabled) || (!v6 && !e.c.IP4.Enabled) {
					continue
				}
				_, err := e.udp.ListenNamespace(v6, port, r.MapPort(port))
				if err == nil {
					e.own.ns[1].Set(port)
					continue
				}
				if !r.BestEffort {
					log.Errorf("Listen failed for SPLICE UDP port %s/%d: %s", listenAddr(r), port, errno.Text(err))
					return errors.New("Couldn't listen on requested ports")
				}
			}
		}
	}
	return nil
}
