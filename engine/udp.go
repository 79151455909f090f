// SPDX-License-Identifier: GPL-2.0-or-later

package engine

import (
	"passt/fwd"
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
	return listenRules(rules, fwd.UDP, "HOST", &e.own.host[1], func(r fwd.Rule, port uint16) error {
		_, err := e.udp.Listen(r.Addr, r.Ifname, port, r.MapPort(port), r.Target, e.c.Freebind)
		return err
	})
}

// ListenSpliceUDP opens the namespace-side sockets of the outbound (-U)
// UDP rules (pasta, with the bypass enabled).
func (e *Engine) ListenSpliceUDP(rules []fwd.Rule) error {
	if e.udp == nil || e.c.NoSplice {
		return nil
	}
	return listenRules(rules, fwd.UDP, "SPLICE", &e.own.ns[1], func(r fwd.Rule, port uint16) error {
		return e.eachFamily(func(v6 bool) error {
			_, err := e.udp.ListenNamespace(v6, port, r.MapPort(port))
			return err
		})
	})
}
