// SPDX-License-Identifier: GPL-2.0-or-later

package tcp

// GuestGone drops every flow after the guest went away (passt's client
// closed its connection): the guest's side of each connection is lost with
// it, so each host peer gets a reset at once, instead of waiting for
// retransmissions into the void to give up (about 100 s). Nothing is sent
// to the guest.
func (h *Handler) GuestGone() {
	for _, idx := range h.active {
		h.close(idx, true)
		h.listed[idx] = false
	}
	h.active = h.active[:0]
}

// GuestFound sends the SYNs of host-initiated connections again at once
// when the guest's MAC address becomes known (or changes). Until then
// frames go to the broadcast address, and a guest's TCP drops segments not
// addressed to its own MAC: a SYN sent before the guest answered the ARP
// probe would otherwise wait for its retransmission (200 ms).
func (h *Handler) GuestFound() {
	for _, idx := range h.active {
		if c := &h.flows[idx]; c.state == stateSynSent {
			h.syn(c)
		}
	}
}
