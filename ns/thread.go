// SPDX-License-Identifier: GPL-2.0-or-later

package ns

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Thread runs functions on an OS thread inside another network namespace.
type Thread struct {
	reqs chan func()
}

// NewThread starts a goroutine locked to a new OS thread and moves that
// thread into the network namespace open at netnsFD.
func NewThread(netnsFD int) (*Thread, error) {
	t := &Thread{reqs: make(chan func())}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread stays in the namespace, and is
		// destroyed if this goroutine ever returns.
		runtime.LockOSThread()
		if err := unix.Setns(netnsFD, unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- nil
		for f := range t.reqs {
			f()
		}
	}()
	if err := <-errc; err != nil {
		return nil, fmt.Errorf("setns: %w", err)
	}
	return t, nil
}

// Do runs f on the namespace thread and waits for it.
func (t *Thread) Do(f func()) {
	done := make(chan struct{})
	t.reqs <- func() {
		defer close(done)
		f()
	}
	<-done
}
