// SPDX-License-Identifier: GPL-2.0-or-later

package seccomp

import "sort"

// Mode selects an allow-list: one bit per engine mode.
type Mode uint8

// The modes with a list of their own. vhost-user, once supported, gets its
// own bit.
const (
	Passt Mode = 1 << iota
	Pasta

	both = Passt | Pasta
)

// String names the mode as the profile is called.
func (m Mode) String() string {
	switch m {
	case Passt:
		return "passt"
	case Pasta:
		return "pasta"
	}
	return "unknown"
}

// Syscall is one entry of an allow-list.
type Syscall struct {
	// Name is the kernel's name for the call on x86_64 and arm64
	// (newfstatat, not fstatat).
	Name string
	// Modes are the lists the call is in.
	Modes Mode
	// Why the engine needs the call after setup, in one line.
	Why string
	// ThreadsOnly allows the call only with CLONE_THREAD in its first
	// argument (clone: new threads, never new processes).
	ThreadsOnly bool
	// SelfOnly allows the call only with 0 in its first argument: the
	// calling thread (sched_setattr on ourselves, never on others).
	SelfOnly bool
	// Alt replaces Name on architectures that lack it: arm64 has no
	// poll or epoll_wait, and Go implements them with ppoll and
	// epoll_pwait there.
	Alt string
}

// allowList is every call any mode needs once the filter is on. Found by
// running the whole test suite in trap mode and in log mode (no call
// outside the list in the kernel's log), and by tracing which listed calls
// the sandboxed engines of the suite actually make (perf, raw_syscalls
// after each engine's seccomp() call). Calls on paths the suite does not
// reach say so in their reason; the UDP handler (package udp) reads and
// writes batches with recvmmsg and sendmmsg, and its sockets' error queues
// (IP_RECVERR) with recvmsg and MSG_ERRQUEUE. ICMP
// echo (package icmp: SOCK_DGRAM/IPPROTO_ICMP ping sockets, bound,
// connected, read and written) needs nothing beyond TCP's calls.
var allowList = []Syscall{
	// The Go runtime.
	{Name: "futex", Modes: both, Why: "runtime: goroutines park and threads wake each other (locks, notes, scheduler)"},
	{Name: "mmap", Modes: both, Why: "runtime: heap arenas, goroutine stacks and new threads' stacks"},
	{Name: "munmap", Modes: both, Why: "runtime: heap growth trims the excess of its aligned address-space reservations"},
	{Name: "madvise", Modes: both, Why: "runtime: the background scavenger hands unused heap pages back to the kernel"},
	{Name: "clone", Modes: both, ThreadsOnly: true, Why: "runtime: new OS threads when goroutines block in system calls (CLONE_THREAD only)"},
	{Name: "gettid", Modes: both, Why: "runtime: a new thread records its ID, the target of preemption signals"},
	{Name: "getpid", Modes: both, Why: "runtime: with tgkill, preempts a goroutine by signalling its thread"},
	{Name: "tgkill", Modes: both, Why: "runtime: asynchronous preemption (SIGURG to one thread)"},
	{Name: "rt_sigreturn", Modes: both, Why: "runtime: returns from its signal handlers (SIGURG preemption, SIGTERM, SIGCHLD)"},
	{Name: "rt_sigprocmask", Modes: both, Why: "runtime: blocks signals around clone and unblocks them in the new thread"},
	{Name: "sigaltstack", Modes: both, Why: "runtime: every new thread installs its alternate signal stack"},
	{Name: "sched_yield", Modes: both, Why: "runtime: spinning locks and the scheduler yield the CPU"},
	{Name: "nanosleep", Modes: both, Why: "runtime: sysmon and spinning threads sleep for microseconds"},
	{Name: "epoll_pwait", Modes: both, Why: "runtime: the network poller (timers, the namespace watch's inotify descriptor); the event loop's zero-timeout polls before it sleeps"},
	{Name: "sched_setattr", Modes: Pasta, SelfOnly: true, Why: "pasta's loop switches between SCHED_BATCH and SCHED_OTHER while UDP flows (loop.Urgent; its own thread only)"},
	{Name: "sched_getaffinity", Modes: both, Why: "runtime: sysmon re-reads the CPU affinity to update GOMAXPROCS (Go 1.25 and later)"},
	{Name: "restart_syscall", Modes: both, Why: "kernel: resumes a timed sleep interrupted by a signal (rare, not in the suite)"},
	{Name: "clock_gettime", Modes: both, Why: "time: the vDSO falls back to the system call with a clock source it cannot read"},
	{Name: "exit", Modes: both, Why: "runtime: ends a thread whose locked goroutine returned instead of reusing it (not in the suite)"},
	{Name: "exit_group", Modes: both, Why: "the engine exits (command exited, namespace gone, SIGTERM, guest gone)"},

	// The event loop and the guest link.
	{Name: "epoll_wait", Alt: "epoll_pwait", Modes: both, Why: "the event loop waits for ready descriptors"},
	{Name: "epoll_ctl", Modes: both, Why: "the event loop and the runtime's poller add, change and remove descriptors"},
	{Name: "read", Modes: both, Why: "tap frames, passt's stream socket, timerfd and eventfd counters, inotify, /proc tables, sock_diag replies"},
	{Name: "write", Modes: both, Why: "eventfd wake-ups, the log file, pcap header, the status pipe, the release byte to pasta's command, sock_diag requests"},
	{Name: "writev", Modes: both, Why: "frames to the tap (virtio-net header + frame) and the stream socket, pcap records"},
	{Name: "close", Modes: both, Why: "sockets of ended connections, listeners auto forwarding drops, the status pipe"},
	{Name: "dup3", Modes: both, Why: "a daemon points its stderr at /dev/null once it has reported readiness"},
	{Name: "ppoll", Modes: both, Why: "waits for passt's stream socket to become writable when its queue is full (x/sys/unix.Poll is ppoll)"},
	{Name: "timerfd_settime", Modes: both, Why: "arms the loop's timers (TCP, router advertisements, auto scan)"},

	// Sockets: TCP, UDP, ICMP echo (ping sockets).
	{Name: "socket", Modes: both, Why: "host sockets for the guest's new flows (TCP, UDP, ICMP ping sockets)"},
	{Name: "bind", Modes: both, Why: "binds flow sockets (source address/port) and auto-forwarded listeners"},
	{Name: "listen", Modes: both, Why: "listeners that auto forwarding opens while the other side listens"},
	{Name: "accept4", Modes: both, Why: "connections to forwarded ports; passt's next guest on its UNIX socket"},
	{Name: "connect", Modes: both, Why: "the guest's TCP connections and connected UDP/ping flows on host sockets"},
	{Name: "shutdown", Modes: both, Why: "half-close: the guest's FIN onto the host socket"},
	{Name: "getsockopt", Modes: both, Why: "SO_ERROR after a non-blocking connect, TCP_INFO (window, acknowledged bytes), TCP_CONGESTION, SO_PEERCRED"},
	{Name: "setsockopt", Modes: both, Why: "SO_LINGER, SO_PEEK_OFF, TCP_NODELAY, TCP_CONGESTION (tcp/localcc.go), IP_RECVERR, buffer sizes on new sockets"},
	{Name: "getsockname", Modes: both, Why: "the local address and port a socket was bound to (flow table, UDP replies)"},
	{Name: "recvfrom", Modes: both, Why: "TCP data from host sockets (MSG_PEEK; MSG_TRUNC discards acknowledged data), UDP/ICMP replies"},
	{Name: "sendto", Modes: both, Why: "syslog messages (no log file); UDP/ICMP datagrams to a given address"},
	{Name: "recvmsg", Modes: both, Why: "UDP/ICMP: datagrams with their source address; MSG_ERRQUEUE reads (IP_RECVERR)"},
	{Name: "sendmsg", Modes: both, Why: "TCP data from the guest to host sockets; datagrams with ancillary data"},
	{Name: "recvmmsg", Modes: both, Why: "UDP: reads a batch of datagrams per wake-up"},
	{Name: "sendmmsg", Modes: both, Why: "UDP: sends a batch of datagrams in one call"},
	{Name: "ioctl", Modes: both, Why: "SIOCOUTQ: bytes a host TCP socket still holds unacknowledged (the guest's window)"},
	{Name: "fcntl", Modes: both, Why: "O_NONBLOCK on new sockets and pipes; O_APPEND toggled by log rotation"},

	// Log file rotation (--log-file) and the capture file (--pcap).
	{Name: "pread64", Modes: both, Why: "runtime: sysmon re-reads cgroup CPU limits; log rotation; pasta's auto scan of /proc tables"},
	{Name: "fstat", Modes: both, Why: "log rotation reads the file's new size after collapsing its start"},
	{Name: "pwrite64", Modes: both, Why: "log rotation rewrites the kept lines at the start of the file"},
	{Name: "fallocate", Modes: both, Why: "log rotation cuts the oldest lines (FALLOC_FL_COLLAPSE_RANGE)"},
	{Name: "ftruncate", Modes: both, Why: "log rotation shortens the file after moving lines"},
	{Name: "fsync", Modes: both, Why: "log and pcap files are flushed on exit"},

	// pasta only.
	{Name: "openat", Modes: Pasta, Why: "auto scan opens /proc/net tables, the namespace-gone check its entry, relative to directory descriptors"},
	{Name: "splice", Modes: Pasta, Why: "spliced loopback connections move data between sockets through pipes"},
	{Name: "pipe2", Modes: Pasta, Why: "pipes for new spliced connections"},
	{Name: "waitid", Modes: Pasta, Why: "waits for the spawned command's exit (its pidfd)"},
}

// List returns the allow-list of mode m, sorted by name.
func List(m Mode) []Syscall {
	var out []Syscall
	for _, s := range allowList {
		if s.Modes&m != 0 {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
