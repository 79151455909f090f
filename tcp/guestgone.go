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
