// SPDX-License-Identifier: GPL-2.0-or-later

// Package seccomp holds the engine's system call allow-lists, one per mode
// (passt and pasta), and installs one of them as a seccomp filter on every
// thread of the process.
//
// Theory of operation. Once the engine has set everything up (sockets, tap,
// namespace descriptors, files), the system calls it still makes are few
// and known: those of the data path, of the Go runtime (threads, memory,
// signals, the scheduler's sleeps and wake-ups), and a handful of rare
// paths (log rotation, the namespace-gone check, pasta's automatic port
// scan). List returns them for a mode, each with a one-line reason; the
// lists are in allowlist.go and are the documentation. Everything else is
// denied with the default action, which kills the process, as upstream's
// filter does: a denied call means either a bug in the list or an attacker,
// and in both cases stopping is right.
//
// Load installs the filter with the no_new_privs bit, for all threads at
// once (SECCOMP_FILTER_FLAG_TSYNC): the Go runtime starts threads on its
// own, and a filter installed on one thread only would leave the others
// free. Threads created later inherit the filter from the thread that
// creates them. The TSYNC_ESRCH flag is not optional: without it the
// kernel answers a failed synchronisation with the ID of the thread that
// could not be synchronised, go-seccomp-bpf's wrapper takes that positive
// return for success, and nothing at all is installed. Verify then reads
// the Seccomp and NoNewPrivs fields of every thread's status file, opened
// beforehand (the engine has no file system left by then).
//
// clone is allowed only with CLONE_THREAD in its flags (the runtime's new
// threads); a clone that would make a process is denied, as are clone3,
// fork, execve and setns: the engine never creates processes or changes
// namespaces once running (the namespace thread joined its network
// namespace during setup and stays there).
//
// Debugging a list that is too short: the environment variable DebugEnv
// (PASST_GO_SECCOMP) replaces the default action. "trap" raises SIGSYS on
// a denied call, which the Go runtime reports as "SIGSYS: bad system call"
// with the program counter and the goroutine traceback of the caller (in
// daemon mode the report goes to the log file, see package sandbox);
// "errno" makes the call fail with EPERM and the process carry on; "log"
// lets it through and has the kernel log it (dmesg shows syscall=NR);
// "kill" is the default, spelled out. Upstream has no such switch, so it is
// an environment variable rather than an option that would break
// compatibility.
package seccomp
