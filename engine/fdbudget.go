// SPDX-License-Identifier: GPL-2.0-or-later

package engine

import (
	"passt/fdbudget"
	"passt/icmp"
	"passt/log"
	"passt/udp"
)

// shareDescriptors gives TCP, UDP and ICMP each a share of the descriptors
// the process has left (package fdbudget), once everything opened at start
// (link, listening sockets, timers) is open, so that flows of one protocol
// cannot starve the others.
func (e *Engine) shareDescriptors() {
	limit := e.nofile
	if limit <= 0 {
		return
	}
	inUse, err := fdbudget.InUse(limit)
	if err != nil {
		log.Debugf("descriptor shares: %v", err)
		return
	}
	s := fdbudget.Split(limit, inUse, fdbudget.Need{UDP: 2 * udp.MaxFlows, ICMP: icmp.MaxFlows})
	if e.tcp != nil {
		e.tcp.SetFDLimit(s.TCP)
	}
	if e.udp != nil {
		e.udp.SetFDLimit(s.UDP)
	}
	if e.icmp != nil {
		e.icmp.SetFDLimit(s.ICMP)
	}
	if s == (fdbudget.Shares{}) {
		log.Debugf("%d of %d descriptors in use: too few left to share between protocols", inUse, limit)
		return
	}
	log.Debugf("%d of %d descriptors in use; shares for flows: TCP %d, UDP %d, ICMP %d", inUse, limit, s.TCP, s.UDP, s.ICMP)
}
