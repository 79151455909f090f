// SPDX-License-Identifier: GPL-2.0-or-later

// Package ns handles Linux namespaces for pasta: the thread that lives in
// the target network namespace, the stub process that becomes the user's
// command in new namespaces, and the watch that notices when an attached
// namespace goes away.
//
// Theory of operation. The Go runtime is multi-threaded before main runs,
// so a process cannot change its own user or mount namespace after start;
// those come from re-execution with clone flags (package lifecycle) or from
// the assembly entry stub in package main (joining an existing user
// namespace). What can change later is per-thread: a goroutine locked to its
// OS thread may setns(2) into a network namespace, and every socket, tap
// device or netlink socket it opens belongs to that namespace for ever, even
// when used from other threads. Thread is such a goroutine: it is never
// unlocked, so the runtime never hands its thread to other goroutines, and
// it runs functions on request (Do).
//
// Spawning a command (pasta [COMMAND]): the engine re-executes itself as a
// stub in new network, UTS, mount, PID and IPC namespaces (StartCommand).
// The stub mounts a fresh /proc, opens ping sockets to group 0, sets the
// hostname, and blocks on a pipe until the engine has configured the
// namespace; it then clears its parent-death signal and executes the
// command, which becomes PID 1 of the new PID namespace. If the engine dies
// first the pipe reaches EOF and the stub exits without running anything.
//
// Watching (WatchGone): a namespace bind-mounted on a file (/run/netns/NAME,
// podman's $XDG_RUNTIME_DIR/netns/...) is watched with inotify on its
// directory for the file's deletion; a /proc/PID/ns/net path is polled every
// second, since procfs sends no inotify events, and counts as gone when it
// can no longer be opened (EACCES excepted). Both work in the sandbox, which
// takes the file system away: the inotify watch is set up before, and the
// poll opens the entry relative to a descriptor of its directory, opened
// before too.
package ns
