// SPDX-License-Identifier: GPL-2.0-or-later

package loop

import (
	"runtime"
	"testing"
	"time"

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

// threadPolicy is the calling thread's policy and nice value.
func threadPolicy(t *testing.T) (policy uint32, nice int32) {
	t.Helper()
	attr, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		t.Errorf("sched_getattr: %v", err)
		return ^uint32(0), 0
	}
	return attr.Policy, attr.Nice
}

func newTestLoop(t *testing.T) *Loop {
	t.Helper()
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func TestScheduleAsBatch(t *testing.T) {
	l := newTestLoop(t)
	onFreshThread(t, func() {
		if err := unix.Setpriority(unix.PRIO_PROCESS, 0, 3); err != nil { // this thread only
			t.Errorf("setpriority: %v", err)
			return
		}
		changed, err := l.ScheduleAsBatch()
		if err != nil || !changed {
			t.Errorf("ScheduleAsBatch() = %v, %v; want true, nil", changed, err)
			return
		}
		if p, nice := threadPolicy(t); p != unix.SCHED_BATCH || nice != 3 {
			t.Errorf("policy %d nice %d, want SCHED_BATCH (%d) and the nice value kept (3)", p, nice, unix.SCHED_BATCH)
		}
		if !l.Batch() {
			t.Errorf("Batch() false after the switch")
		}

		// Urgent traffic: the default policy at once, nice kept.
		l.Urgent()
		if p, nice := threadPolicy(t); p != unix.SCHED_NORMAL || nice != 3 || l.Batch() {
			t.Errorf("after Urgent: policy %d nice %d Batch %v, want SCHED_OTHER, 3, false", p, nice, l.Batch())
		}
		// More of it costs no system call.
		switches := l.sched.switches
		l.Urgent()
		l.Urgent()
		if l.sched.switches != switches {
			t.Errorf("Urgent while urgent switched the policy %d times", l.sched.switches-switches)
		}
		// Within the hold, the loop keeps the default policy when it
		// sleeps; after it, SCHED_BATCH again.
		l.settle()
		if p, _ := threadPolicy(t); p != unix.SCHED_NORMAL {
			t.Errorf("policy %d right after Urgent, want SCHED_OTHER until UrgentHold passes", p)
		}
		time.Sleep(UrgentHold + 10*time.Millisecond)
		l.settle()
		if p, nice := threadPolicy(t); p != unix.SCHED_BATCH || nice != 3 || !l.Batch() {
			t.Errorf("after the hold: policy %d nice %d Batch %v, want SCHED_BATCH, 3, true", p, nice, l.Batch())
		}
	})
}

// The loop settles before it sleeps: once the hold has passed, its next
// sleep finds it back at SCHED_BATCH.
func TestRunSettles(t *testing.T) {
	l := newTestLoop(t)
	onFreshThread(t, func() {
		if changed, err := l.ScheduleAsBatch(); err != nil || !changed {
			t.Errorf("ScheduleAsBatch() = %v, %v", changed, err)
			return
		}
		l.Urgent()
		tm, err := l.NewTimer(MakeRef(1, 0))
		if err != nil {
			t.Error(err)
			return
		}
		// First wake-up past the hold (the sleep before it began within
		// it), then one more sleep.
		if err := tm.Set(UrgentHold+20*time.Millisecond, 0); err != nil {
			t.Error(err)
			return
		}
		wakeups := 0
		var during, after uint32
		if err := l.Run(func(ref Ref, _ uint32) {
			tm.Ack()
			wakeups++
			if wakeups == 1 {
				during, _ = threadPolicy(t)
				_ = tm.Set(time.Millisecond, 0)
				return
			}
			after, _ = threadPolicy(t)
			l.Stop()
		}); err != nil {
			t.Error(err)
		}
		if during != unix.SCHED_NORMAL || after != unix.SCHED_BATCH {
			t.Errorf("policy %d after a sleep begun within the hold (want SCHED_OTHER, %d), %d after one begun past it (want SCHED_BATCH, %d)",
				during, unix.SCHED_NORMAL, after, unix.SCHED_BATCH)
		}
	})
}

// A policy chosen by whoever started us (here SCHED_IDLE, as chrt -i
// would set it) is kept, and Urgent leaves it alone too.
func TestScheduleAsBatchKeepsChosenPolicy(t *testing.T) {
	l := newTestLoop(t)
	onFreshThread(t, func() {
		attr := &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}
		if err := unix.SchedSetAttr(0, attr, 0); err != nil {
			t.Errorf("sched_setattr(SCHED_IDLE): %v", err)
			return
		}
		if changed, err := l.ScheduleAsBatch(); changed || err != nil {
			t.Errorf("ScheduleAsBatch() under SCHED_IDLE = %v, %v; want false, nil", changed, err)
		}
		l.Urgent()
		l.settle()
		if p, _ := threadPolicy(t); p != unix.SCHED_IDLE {
			t.Errorf("policy after: %d, want SCHED_IDLE (%d)", p, unix.SCHED_IDLE)
		}
	})
}
