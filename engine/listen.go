// SPDX-License-Identifier: GPL-2.0-or-later

package engine

import (
	"errors"

	"passt/fwd"
	"passt/internal/errno"
	"passt/log"
	"passt/procnet"
)

// errListen is what a failed explicit forwarding rule makes startup fail
// with, after the reason was logged (upstream's wording).
var errListen = errors.New("Couldn't listen on requested ports")

// listenRules opens the sockets of the explicit rules of protocol proto
// (auto rules follow the other side's listeners instead), port by port,
// with listen, and records each port it bound in own, so that automatic
// forwarding the other way leaves it out. side names where the sockets
// are, for messages: "HOST" (-t, -u) or "SPLICE" (the namespace side of
// -T, -U). Failing to bind a port of an exact rule is fatal; a best-effort
// rule (a range with exclusions, "all") fails only if none of its ports
// could be bound, as upstream.
func listenRules(rules []fwd.Rule, proto fwd.Proto, side string, own *procnet.Ports, listen func(r fwd.Rule, port uint16) error) error {
	for _, r := range rules {
		if r.Proto != proto || r.Scan {
			continue
		}
		bound := 0
		var firstErr error
		for p := int(r.First); p <= int(r.Last); p++ {
			port := uint16(p)
			err := listen(r, port)
			if err == nil {
				bound++
				own.Set(port)
				continue
			}
			if !r.BestEffort {
				log.Errorf("Listen failed for %s %s port %s/%d: %s", side, proto, listenAddr(r), port, errno.Text(err))
				return errListen
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		if bound == 0 && firstErr != nil {
			log.Errorf("All listens failed for %s %s %s/%d-%d: %s", side, proto, listenAddr(r), r.First, r.Last, errno.Text(firstErr))
			return errListen
		}
	}
	return nil
}

// eachFamily calls listen for IPv4 and IPv6, those of them enabled, and
// returns the first failure (after trying both).
func (e *Engine) eachFamily(listen func(v6 bool) error) error {
	var first error
	for _, v6 := range [2]bool{false, true} {
		if (v6 && !e.c.IP6.Enabled) || (!v6 && !e.c.IP4.Enabled) {
			continue
		}
		if err := listen(v6); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func listenAddr(r fwd.Rule) string {
	a := "*"
	if r.Addr.IsValid() {
		a = r.Addr.String()
		if r.Addr.Is6() {
			a = "[" + a + "]"
		}
	}
	if r.Ifname != "" {
		a += "%" + r.Ifname
	}
	return a
}
