// SPDX-License-Identifier: GPL-2.0-or-later

package engine

// GuestGone forgets the flows of a guest that went away (passt's client
// closed its connection); their host peers are reset.
func (e *Engine) GuestGone() {
	if e.tcp != nil {
		e.tcp.GuestGone()
	}
}
