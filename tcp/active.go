// SPDX-License-Identifier: GPL-2.0-or-later

package tcp

// listActive puts flow idx on the timer's list, once.
func (h *Handler) listActive(idx int) {
	if h.listed == nil {
		h.listed = make([]bool, len(h.flows))
	}
	if !h.listed[idx] {
		h.listed[idx] = true
		h.active = append(h.active, idx)
	}
}
