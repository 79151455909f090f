// SPDX-License-Identifier: GPL-2.0-or-later

package loop

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// onFreshThread runs f on an OS thread of its own that is thrown away
// afterwards (the goroutine exits locked), so that a policy set there
// reaches no other test.
func onFreshThread(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		f()
	}()
	<-done
}

func TestScheduleAsBatch(t *testing.T) {
	onFreshThread(t, func() {
		if err := unix.Setpriority(unix.PRIO_PROCESS, 0, 3); err != nil { // this thread only
			t.Errorf("setpriority: %v", err)
			return
		}
		changed, err := ScheduleAsBatch()
		if err != nil || !changed {
			t.Errorf("ScheduleAsBatch() = %v, %v; want true, nil", changed, err)
			return
		}
		attr, err := unix.SchedGetAttr(0, 0)
		if err != nil {
			t.Errorf("sched_getattr: %v", err)
			return
		}
		if attr.Policy != unix.SCHED_BATCH {
			t.Errorf("policy %d, want SCHED_BATCH (%d)", attr.Policy, unix.SCHED_BATCH)
		}
		if attr.Nice != 3 {
			t.Errorf("nice %d after the change, want 3 (kept)", attr.Nice)
		}
		// Called again: already batch, left alone.
		if changed, err := ScheduleAsBatch(); changed || err != nil {
			t.Errorf("second ScheduleAsBatch() = %v, %v; want false, nil", changed, err)
		}
	})
}

// A policy chosen by whoever started us (here SCHED_IDLE, as chrt -i
// would set it) is kept.
func TestScheduleAsBatchKeepsChosenPolicy(t *testing.T) {
	onFreshThread(t, func() {
		attr := &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}
		if err := unix.SchedSetAttr(0, attr, 0); err != nil {
			t.Errorf("sched_setattr(SCHED_IDLE): %v", err)
			return
		}
		if changed, err := ScheduleAsBatch(); changed || err != nil {
			t.Errorf("ScheduleAsBatch() under SCHED_IDLE = %v, %v; want false, nil", changed, err)
		}
		got, err := unix.SchedGetAttr(0, 0)
		if err != nil || got.Policy != unix.SCHED_IDLE {
			t.Errorf("policy after: %+v, %v; want SCHED_IDLE", got, err)
		}
	})
}
