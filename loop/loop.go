// SPDX-License-Identifier: GPL-2.0-or-later

// Package loop is the engine's event loop: one goroutine locked to its OS
// thread, waiting in epoll_wait(2) on raw non-blocking descriptors, and
// dispatching each ready descriptor by the reference stored with it.
//
// Theory of operation. Every descriptor is registered with a Ref, a 64-bit
// value kept in the epoll event's data: the kind of descriptor (guest link,
// listening socket, timer, flow socket, ...) in the top byte and, below it,
// an index chosen by the owner (a flow number, a rule number). When epoll
// reports descriptors ready, the loop calls the single handler with the Ref
// and the event mask, so dispatch is a switch on the kind and an index into a
// table, never a map lookup or an allocation. Timers are timerfds registered
// like any descriptor. The loop does not use the Go netpoller: it is
// deterministic, needs no locks (everything runs on the loop's goroutine),
// and batches whatever is ready.
//
// Before it sleeps in epoll_wait, the loop polls for up to Spin when the
// previous wait was that short (see Spin): waking a sleeping thread costs
// more than a whole transaction through pasta. Between polls it yields its
// CPU (sched_yield(2)) to any other thread waiting for it there, such as
// the very client or server whose next message it waits for. The polls are
// raw system calls (they never block); the sleep goes through the Go
// scheduler, so the rest of the runtime (GC included) carries on
// meanwhile.
//
// Work from other goroutines (signals, the namespace watch) reaches the loop
// through Post, which queues a function and wakes the loop with an eventfd.
package loop

import (
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Kind is the kind of a registered descriptor.
type Kind uint8

// Ref identifies a registered descriptor: its Kind and an index.
type Ref uint64

// MakeRef builds a Ref from a kind and an index.
func MakeRef(k Kind, index uint64) Ref { return Ref(uint64(k)<<56 | index&(1<<56-1)) }

// Kind returns the kind of r.
func (r Ref) Kind() Kind { return Kind(r >> 56) }

// Index returns the index of r.
func (r Ref) Index() uint64 { return uint64(r) & (1<<56 - 1) }

// KindWake is reserved for the loop's own wake-up eventfd.
const KindWake Kind = 255

// Handler handles one ready descriptor.
type Handler func(ref Ref, events uint32)

// Spin is how long Run polls epoll (with a zero timeout) before it sleeps,
// when events came that quickly the last time.
//
// Sleeping costs latency: the thread that wakes us (the peer of a socket,
// the guest writing to the tap) has to wake this one, and in a VM waking
// an idle CPU takes tens of microseconds, more than the whole work of a
// request-response transaction in pasta. While traffic comes in quick
// succession, the loop polls instead: a request after a response, a
// response after a request. When the last wait took longer than Spin the
// next one sleeps at once, so a loop idle or with sparse traffic spends no
// CPU polling.
const Spin = 100 * time.Microsecond

// MaxEvents is how many events one epoll_wait returns at most.
const MaxEvents = 256

// Loop is an epoll loop.
type Loop struct {
	epfd   int
	wakefd int
	events [MaxEvents]unix.EpollEvent

	// spin is how long Run polls for events before it sleeps in
	// epoll_wait (0: never); spinNext says whether the next wait polls.
	spin     time.Duration
	spinNext bool
	// polls counts the polls (for tests).
	polls uint64

	// beforeSleep: work that may wait while events come, but must
	// be done before the loop sleeps (BeforeSleep).
	beforeSleep []func()

	// sched: the thread's scheduling policy (sched.go).
	sched schedState

	mu      sync.Mutex
	posted  []func()
	running []func()
	stop    bool
}

// New creates a loop.
func New() (*Loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1(): %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd(): %w", err)
	}
	l := &Loop{epfd: epfd, wakefd: wakefd, spin: Spin}
	if err := l.Add(wakefd, unix.EPOLLIN, MakeRef(KindWake, 0)); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Close releases the loop's descriptors.
func (l *Loop) Close() {
	unix.Close(l.epfd)
	unix.Close(l.wakefd)
}

func (l *Loop) ctl(op, fd int, events uint32, ref Ref) error {
	ev := unix.EpollEvent{Events: events}
	*(*uint64)(refPtr(&ev)) = uint64(ref)
	if err := unix.EpollCtl(l.epfd, op, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl(): %w", err)
	}
	return nil
}

// Add registers fd for events with ref.
func (l *Loop) Add(fd int, events uint32, ref Ref) error {
	return l.ctl(unix.EPOLL_CTL_ADD, fd, events, ref)
}

// Mod changes the events or ref of a registered fd.
func (l *Loop) Mod(fd int, events uint32, ref Ref) error {
	return l.ctl(unix.EPOLL_CTL_MOD, fd, events, ref)
}

// Del unregisters fd.
func (l *Loop) Del(fd int) {
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
}

// Post queues f to run on the loop's goroutine, from any goroutine.
func (l *Loop) Post(f func()) {
	l.mu.Lock()
	l.posted = append(l.posted, f)
	l.mu.Unlock()
	var one = [8]byte{1}
	_, _ = unix.Write(l.wakefd, one[:])
}

// SleepNext makes the next wait sleep in epoll_wait at once, without
// polling first; call it on the loop, from a handler. A handler that has
// just moved bulk data calls it: polling pays for request-response
// traffic, where waking up would cost more than the transaction, but a
// stream that keeps the loop's events a few tens of microseconds apart
// would keep it polling all the time, one CPU spent on epoll_pwait(2)
// that the stream's sender and receiver need more (on a machine with few
// CPUs), against a wake-up per event that costs a few microseconds.
func (l *Loop) SleepNext() { l.spinNext = false }

// PollsNext reports whether the next wait polls before it sleeps (for
// tests and diagnostics).
func (l *Loop) PollsNext() bool { return l.spinNext }

// BeforeSleep registers f to run each time the loop is about to sleep in
// epoll_wait(2) (after its polls found nothing): for work a handler holds
// back while events keep coming, such as an ACK that a reply may carry.
// Call it before Run.
func (l *Loop) BeforeSleep(f func()) { l.beforeSleep = append(l.beforeSleep, f) }

func (l *Loop) runBeforeSleep() {
	for _, f := range l.beforeSleep {
		f()
	}
}

// Stop makes Run return after the current batch; call it on the loop.
func (l *Loop) Stop() { l.stop = true }

// Run waits for events and dispatches them to h until Stop is called or
// epoll fails. timeout bounds each wait (negative: none).
func (l *Loop) Run(h Handler) error {
	l.stop = false
	for !l.stop {
		n, err := l.wait()
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("epoll_wait(): %w", err)
		}
		for i := 0; i < n && !l.stop; i++ {
			ev := &l.events[i]
			ref := Ref(*(*uint64)(refPtr(ev)))
			if ref.Kind() == KindWake {
				l.runPosted()
				continue
			}
			h(ref, ev.Events)
		}
	}
	return nil
}

// wait waits for events: polling for up to l.spin if the last wait was
// that short, then sleeping.
func (l *Loop) wait() (int, error) {
	start := time.Now()
	if l.spinNext {
		deadline := start.Add(l.spin)
		for {
			n, err := pollEvents(l.epfd, l.events[:])
			l.polls++
			if n > 0 || (err != nil && err != unix.EINTR) {
				return n, err
			}
			if time.Now().After(deadline) {
				break
			}
			yield()
		}
	}
	l.runBeforeSleep()
	l.settle()
	n, err := unix.EpollWait(l.epfd, l.events[:], -1)
	l.spinNext = l.spin > 0 && time.Since(start) < l.spin
	return n, err
}

// yield gives the CPU to another thread waiting for it, if any: the loop
// polls on a CPU it may share with the peers of its sockets (a request-
// response client and server on two CPUs leave the loop sharing one), and
// without it a peer woken on that CPU waited for the scheduler to preempt
// the loop: TCP request-response through pasta at 50 us per transaction
// with a 99th percentile of 160 us (the Spin), against 43 and 65 with it.
// Without other runnable threads it returns at once.
func yield() { _, _, _ = unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }

// pollEvents is epoll_pwait(2) with a zero timeout and no signal mask. It never blocks, so it
// goes without the Go scheduler's bookkeeping for system calls.
func pollEvents(epfd int, events []unix.EpollEvent) (int, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])),
		uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// Poll waits up to timeout for events once and dispatches them to h; it
// returns how many it dispatched. Tests drive a loop with it.
func (l *Loop) Poll(timeout time.Duration, h Handler) (int, error) {
	if timeout != 0 {
		l.runBeforeSleep()
	}
	n, err := unix.EpollWait(l.epfd, l.events[:], int(timeout.Milliseconds()))
	if err != nil {
		if errors.Is(err, unix.EINTR) {
			return 0, nil
		}
		return 0, fmt.Errorf("epoll_wait(): %w", err)
	}
	for i := 0; i < n; i++ {
		ev := &l.events[i]
		ref := Ref(*(*uint64)(refPtr(ev)))
		if ref.Kind() == KindWake {
			l.runPosted()
			continue
		}
		h(ref, ev.Events)
	}
	return n, nil
}

func (l *Loop) runPosted() {
	var b [8]byte
	_, _ = unix.Read(l.wakefd, b[:])
	l.mu.Lock()
	l.running, l.posted = l.posted, l.running[:0]
	l.mu.Unlock()
	for i, f := range l.running {
		f()
		l.running[i] = nil
	}
}

// Timer is a timerfd registered with the loop.
type Timer struct {
	fd int
}

// NewTimer creates a timer reported with ref.
func (l *Loop) NewTimer(ref Ref) (*Timer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC|unix.TFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("timerfd_create(): %w", err)
	}
	if err := l.Add(fd, unix.EPOLLIN, ref); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &Timer{fd: fd}, nil
}

// Set arms the timer to fire after d, then every interval (0: once).
func (t *Timer) Set(d, interval time.Duration) error {
	spec := unix.ItimerSpec{
		Value:    unix.NsecToTimespec(int64(d)),
		Interval: unix.NsecToTimespec(int64(interval)),
	}
	if d <= 0 {
		spec.Value = unix.Timespec{Nsec: 1}
	}
	return unix.TimerfdSettime(t.fd, 0, &spec, nil)
}

// Ack consumes the expirations, to be called when the timer fires; it
// returns how many there were.
func (t *Timer) Ack() uint64 {
	var b [8]byte
	n, err := unix.Read(t.fd, b[:])
	if err != nil || n != 8 {
		return 0
	}
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// Fd returns the timer's descriptor.
func (t *Timer) Fd() int { return t.fd }
