// SPDX-License-Identifier: GPL-2.0-or-later

package loop

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// refPtr points at the 64-bit data of an epoll event (x/sys splits it into
// Fd and Pad fields).
func refPtr(ev *unix.EpollEvent) unsafe.Pointer {
	return unsafe.Pointer(&ev.Fd)
}
