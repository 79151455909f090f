// SPDX-License-Identifier: GPL-2.0-or-later

// Package nlretry repeats netlink dumps that the kernel interrupted: since
// vishvananda/netlink v1.2.1 a dump that raced with a change returns
// partial results and netlink.ErrDumpInterrupted, and the caller must ask
// again.
package nlretry

import (
	"errors"

	"github.com/vishvananda/netlink"
)

// MaxTries bounds the attempts.
const MaxTries = 10

// Do calls fn until it returns anything but an interrupted dump, at most
// MaxTries times.
func Do[T any](fn func() (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	for range MaxTries {
		v, err = fn()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
	}
	var zero T
	return zero, err
}
