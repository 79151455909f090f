// SPDX-License-Identifier: GPL-2.0-or-later

package loop

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// UrgentHold is how long the loop keeps the default policy after the last
// Urgent traffic before it goes back to SCHED_BATCH (see Urgent).
const UrgentHold = 100 * time.Millisecond

// schedState is the loop thread's scheduling policy while the loop manages
// it (ScheduleAsBatch succeeded).
type schedState struct {
	managed bool           // the loop switches the policy itself
	batch   bool           // SCHED_BATCH now (else SCHED_OTHER)
	attr    unix.SchedAttr // the thread's attributes at setup (nice value and all)
	// urgentSeen: Urgent was called since the loop last slept; urgent:
	// when the loop last began a sleep after such a call (settle).
	urgentSeen bool
	urgent     time.Time
	// switches counts policy changes (for tests).
	switches uint64
}

// ScheduleAsBatch moves the calling thread, the one that is to run the
// loop, from the default scheduling policy (SCHED_OTHER) to SCHED_BATCH,
// keeping its nice value, and lets the loop manage its policy from then
// on: back to SCHED_OTHER while Urgent traffic flows (see Urgent). A thread
// under any other policy (set by whoever started us: chrt, systemd's
// CPUSchedulingPolicy=) is left alone, and so is its policy afterwards;
// changed reports whether the policy was changed. Call it once setup is
// done, on the loop's thread: the policy passes to whatever the thread
// starts from then on (the kernel's SCHED_RESET_ON_FORK resets only
// real-time policies and negative nice values), which is only threads of
// the Go runtime, never the command pasta runs (started before).
//
// Why, for pasta: the loop's wake-ups come from the peers of its sockets,
// and as SCHED_OTHER each of them may preempt whatever runs on that CPU,
// typically the very reader the loop feeds or the writer that feeds it.
// When pasta runs in a scheduling group of its own (a daemon calls
// setsid(2), which gives it an autogroup of its own; podman's or a
// service's cgroup does the same), the kernel's fairness between groups
// lets those wake-ups take the CPU from the spliced connection's reader
// thousands of times a second: a loopback transfer through pasta's splice
// path ran at 24-28 Gbit/s where the same processes in one group reached
// 32-40. A SCHED_BATCH thread competes for CPU time exactly as before (same
// weight, same nice value), but its wake-ups do not preempt the running
// task, which finishes its slice or sleeps first: the splice path gained
// 11-15% (make bench, side by side), the tap path and request-response
// latency held. TCP's flow control makes a writer wait for pasta anyway;
// a UDP sender does not wait, and a loop that cannot preempt it finds its
// socket's buffer overflowed: UDP lost 7-19% on most paths as SCHED_BATCH,
// hence Urgent. passt's peer is QEMU, and its paths lost 5-8%, so passt
// keeps the default policy. See docs/profiling.md, "Scheduling groups".
func (l *Loop) ScheduleAsBatch() (changed bool, err error) {
	attr, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return false, fmt.Errorf("sched_getattr(): %w", err)
	}
	if attr.Policy != unix.SCHED_NORMAL {
		return false, nil
	}
	attr.Size = unix.SizeofSchedAttr
	l.sched = schedState{managed: true, attr: *attr}
	if err := l.setPolicy(true); err != nil {
		l.sched.managed = false
		return false, err
	}
	return true, nil
}

// setPolicy switches the loop's thread to SCHED_BATCH or back to
// SCHED_OTHER, with the attributes it had at setup.
func (l *Loop) setPolicy(batch bool) error {
	attr := l.sched.attr
	attr.Policy = unix.SCHED_NORMAL
	if batch {
		attr.Policy = unix.SCHED_BATCH
	}
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		return fmt.Errorf("sched_setattr(policy %d): %w", attr.Policy, err)
	}
	l.sched.batch = batch
	l.sched.switches++
	return nil
}

// Urgent says that the loop just forwarded traffic whose sender does not
// wait for it (UDP): the loop's thread takes the default policy, under
// which its wake-ups preempt that sender, so that it drains its sockets
// before they overflow, and keeps it until UrgentHold has passed since the
// last sleep that followed such traffic. Call it from the loop, as often as
// every frame: it reads no clock (settle does, once per sleep), and makes a
// system call only when the policy changes.
func (l *Loop) Urgent() {
	if !l.sched.managed {
		return
	}
	l.sched.urgentSeen = true
	if l.sched.batch {
		if err := l.setPolicy(false); err != nil {
			l.sched.managed = false // leave it as it is from now on
		}
	}
}

// settle, called before the loop sleeps, notes when urgent traffic was
// last seen (this sleep, if there was some since the last one), and goes
// back to SCHED_BATCH once UrgentHold has passed since then.
func (l *Loop) settle() {
	if !l.sched.managed || l.sched.batch {
		return
	}
	if l.sched.urgentSeen {
		l.sched.urgentSeen = false
		l.sched.urgent = time.Now()
		return
	}
	if time.Since(l.sched.urgent) < UrgentHold {
		return
	}
	if err := l.setPolicy(true); err != nil {
		l.sched.managed = false
	}
}

// Batch reports whether the loop's thread runs as SCHED_BATCH now.
func (l *Loop) Batch() bool { return l.sched.managed && l.sched.batch }
