// SPDX-License-Identifier: GPL-2.0-or-later

package loop

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// ScheduleAsBatch moves the calling thread, the one that is to run the
// loop, from the default scheduling policy (SCHED_OTHER) to SCHED_BATCH,
// keeping its nice value. A thread under any other policy (set by whoever
// started us: chrt, systemd's CPUSchedulingPolicy=) is left alone; changed
// reports whether the policy was changed. Call it once setup is done: the
// policy passes to whatever the thread starts from then on (the kernel's
// SCHED_RESET_ON_FORK resets only real-time policies and negative nice
// values), which is only threads of the Go runtime, never the command
// pasta runs (started before).
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
// latency held. passt's peer is QEMU, and its paths lost 5-8% in the same
// comparison, so passt keeps the default policy. See docs/profiling.md,
// "Scheduling groups".
func ScheduleAsBatch() (changed bool, err error) {
	attr, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return false, fmt.Errorf("sched_getattr(): %w", err)
	}
	if attr.Policy != unix.SCHED_NORMAL {
		return false, nil
	}
	attr.Size = unix.SizeofSchedAttr
	attr.Policy = unix.SCHED_BATCH
	if err := unix.SchedSetAttr(0, attr, 0); err != nil {
		return false, fmt.Errorf("sched_setattr(SCHED_BATCH): %w", err)
	}
	return true, nil
}
