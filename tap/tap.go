// SPDX-License-Identifier: GPL-2.0-or-later

// Package tap is the guest side of pasta: a tap device in the target network
// namespace, whose file descriptor carries the namespace's Ethernet frames.
//
// # Opening
//
// [Open] opens /dev/net/tun and issues TUNSETIFF with IFF_TAP|IFF_NO_PI|
// IFF_VNET_HDR. The device is created in the network namespace of the
// calling thread (not of the process), so the caller runs Open on the
// goroutine that is locked to a thread which has setns'd into the target
// namespace. Once open, the file descriptor can be used from any thread:
// reads and writes go to that device whatever namespace the reader is in.
// The descriptor is non-blocking and close-on-exec.
//
// # The virtio-net header
//
// With IFF_VNET_HDR every frame read from or written to the descriptor is
// preceded by a virtio-net header describing checksum and segmentation
// offloads. This package sets its size to 12 bytes ([VnetHdrLen], ioctl
// TUNSETVNETHDRSZ) rather than keeping the legacy 10: 12 bytes is the
// virtio 1.0 layout (struct virtio_net_hdr_v1, the same as
// virtio_net_hdr_mrg_rxbuf: flags, gso_type, hdr_len, gso_size, csum_start,
// csum_offset, num_buffers), which is also what vhost-user guests use, so one
// header layout serves every backend. The fields are little-endian
// (TUNSETVNETLE is requested; on little-endian hosts this is the native
// order anyway). The kernel fills only the first 10 bytes on read and
// skips the last two (num_buffers) on both read and write, so num_buffers is
// meaningless here and must be ignored.
//
// Until offloads are enabled (TUNSETOFFLOAD, a later addition) the kernel
// hands over only complete, checksummed frames no larger than the MTU, with
// gso_type NONE, and every header written here is all zeroes ("no
// offload"): the frame is taken as is. Writes gather a shared zero header
// and the caller's frame with writev(2), so frames are never copied and
// need no headroom. Reads land header and frame in one caller buffer with a
// single read(2); the frame is returned as a sub-slice starting at
// [VnetHdrLen], the header stays readable in front of it.
//
// A tap descriptor moves exactly one frame per read or write, so the batch
// calls ([Device.ReadBatch], [Device.WriteBatch]) loop over frames; what
// they save is the per-batch work of the caller (one poll, one pcap writev,
// one dispatch), not system calls. None of them allocates.
//
// # When the device or the namespace goes away
//
// Verified on Linux 6.18 with an open, non-persistent tap descriptor:
//
//   - Interface deleted (ip link del, or RTM_DELLINK via netlink): poll(2)
//     and epoll report POLLERR alone (no POLLHUP, no POLLIN); read and write
//     fail with EBADFD ("File descriptor in bad state"), and keep failing.
//     Upstream pasta sees EPOLLERR first and exits with "Disconnect event on
//     /dev/net/tun device, exiting"; [Device.Serve] returns [ErrDisconnect]
//     with that text, wrapping the EBADFD obtained from a read. A read error
//     seen without an error event (any errno but EAGAIN and EINTR) gives
//     [ErrTap], "Error on tap device, exiting"; a zero-length read (which
//     the tun driver does not produce for a non-empty buffer) gives [ErrEOF],
//     "EOF on tap device, exiting".
//   - Interface set down: no event, reads return EAGAIN, writes fail with
//     EIO. Not an error for Serve; WriteBatch reports the EIO to its caller.
//   - Namespace left by every process (the spawned command exits, the
//     namespace file is unmounted): nothing happens. The tun descriptor holds
//     a reference on the network namespace, so the namespace and the device
//     live on as long as the descriptor is open: the device stays up, the
//     kernel keeps answering frames written to it (a ping written into a tap
//     whose namespace has no task left is answered) and keeps emitting its
//     own frames (IPv6 router solicitations, MLD). The tap therefore never
//     signals the namespace's end; pasta must watch the namespace itself
//     (inotify on the netns directory or a periodic re-open of
//     /proc/PID/ns/net, "Namespace ... is gone, exiting") and then close the
//     descriptor, which finally releases the namespace.
//
// # Reader loop
//
// [Device.Serve] is a simple reader loop for the engine until the epoll
// loop exists: poll(2) on the tap and on an eventfd that a helper goroutine
// signals when the stop channel is closed, then a read batch handed to the
// pcap writer and to the handler. Its buffers are allocated once per call.
package tap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/sys/unix"

	"passt/pcap"
)

const (
	// VnetHdrLen is the size of the virtio-net header in front of every
	// frame on the descriptor (struct virtio_net_hdr_v1).
	VnetHdrLen = 12
	// MaxFrame is the largest Ethernet frame the device can carry.
	MaxFrame = 65535
	// BufSize is the smallest buffer ReadBatch needs per frame: the
	// header and the largest frame, rounded up.
	BufSize = 65536 + VnetHdrLen
	// ServeBatch is the number of frames Serve reads per batch.
	ServeBatch = 32

	ethHdrLen = 14
)

// Errors returned by Serve (and Wait) when the tap goes away. Their texts are
// upstream's exit messages; the errors Serve returns match them with
// errors.Is and also wrap the underlying errno, if any.
var (
	ErrEOF        = errors.New("EOF on tap device, exiting")
	ErrDisconnect = errors.New("Disconnect event on /dev/net/tun device, exiting")
	ErrTap        = errors.New("Error on tap device, exiting")
)

// exitError carries one of the sentinel errors above (its text) and the
// system error that caused it.
type exitError struct {
	kind  error
	cause error
}

func (e *exitError) Error() string { return e.kind.Error() }

func (e *exitError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// zeroHdr is the virtio-net header written in front of every frame: no
// checksum offload, no segmentation.
var zeroHdr [VnetHdrLen]byte

// Device is an open tap device. Its methods may be called from any
// goroutine; Write and WriteBatch are safe concurrently, ReadBatch,
// Wait and Serve are meant for a single reader.
//
// Reads and writes are raw system calls, without the Go scheduler's
// bookkeeping: the descriptor is non-blocking, so they never sleep, but a
// write of a 64 KiB frame runs the namespace's whole receive path in our
// context and takes tens of microseconds. Through the scheduler, the
// runtime's sysmon thread saw the loop's P held in a system call for
// longer than 20 us and woke up to hand it off, about 2 500 times a
// second during a transfer; those wake-ups land on the CPUs that the
// transfer's two ends need (docs/profiling.md, "The runtime's sysmon").
type Device struct {
	fd    int
	name  string
	index int
	uso   bool // UDP segmentation offload on (EnableOffload)
}

// Open creates the tap device name (or attaches to an existing tap of that
// name; a template such as "tap%d" is filled in by the kernel) in the
// network namespace of the calling thread, with IFF_TAP|IFF_NO_PI|
// IFF_VNET_HDR, a 12-byte virtio-net header and a non-blocking,
// close-on-exec descriptor. Run it on the locked goroutine that has
// entered the target namespace. Errors carry upstream's texts.
func Open(name string) (*Device, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("Failed to open() /dev/net/tun: %w", errText{err})
	}
	d := &Device{fd: fd}
	if err := d.setup(name); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return d, nil
}

func (d *Device) setup(name string) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil { // name does not fit IFNAMSIZ
		return fmt.Errorf("TUNSETIFF ioctl on /dev/net/tun failed: %w", errText{unix.EINVAL})
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(d.fd, unix.TUNSETIFF, ifr); err != nil {
		return fmt.Errorf("TUNSETIFF ioctl on /dev/net/tun failed: %w", errText{err})
	}
	d.name = ifr.Name()

	if err := unix.IoctlSetPointerInt(d.fd, unix.TUNSETVNETHDRSZ, VnetHdrLen); err != nil {
		return fmt.Errorf("TUNSETVNETHDRSZ ioctl on /dev/net/tun failed: %w", errText{err})
	}
	if err := unix.IoctlSetPointerInt(d.fd, unix.TUNSETVNETLE, 1); err != nil &&
		binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		return fmt.Errorf("TUNSETVNETLE ioctl on /dev/net/tun failed: %w", errText{err})
	}

	// Like upstream's if_nametoindex() check: the interface must be
	// visible in this namespace. Any socket works for SIOCGIFINDEX; it
	// is created in (and queries) the calling thread's namespace.
	s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("Tap device opened but no network interface found: %w", errText{err})
	}
	defer unix.Close(s)
	ifr, _ = unix.NewIfreq(d.name)
	if err := unix.IoctlIfreq(s, unix.SIOCGIFINDEX, ifr); err != nil {
		return fmt.Errorf("Tap device opened but no network interface found: %w", errText{err})
	}
	d.index = int(ifr.Uint32())
	return nil
}

// Name returns the interface name the kernel gave the device.
func (d *Device) Name() string { return d.name }

// Index returns the interface index of the device in its namespace.
func (d *Device) Index() int { return d.index }

// Fd returns the tap file descriptor (non-blocking), for an event loop.
func (d *Device) Fd() int { return d.fd }

// Close closes the descriptor; a non-persistent device disappears with it.
// No other method may be running or called afterwards.
func (d *Device) Close() error {
	if d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}

// ReadBatch reads up to len(bufs) frames without blocking: it stops early
// at EAGAIN (returning a nil error). Each bufs[i] is a caller-owned buffer
// of at least BufSize bytes; frame i is returned in out[i] as the sub-slice
// of bufs[i] after the virtio-net header (bufs[i][:VnetHdrLen]). len(out)
// must be at least len(bufs). Frames shorter than an Ethernet header are
// skipped. On an error the frames read so far are still returned with their
// count; a zero-length read gives io.EOF, other errors are the errno.
// ReadBatch does not allocate.
func (d *Device) ReadBatch(bufs [][]byte, out [][]byte) (int, error) {
	n := 0
	for _, b := range bufs {
		if len(b) == 0 {
			return n, syscall.EINVAL
		}
	again:
		r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(d.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		switch {
		case e == unix.EINTR:
			goto again
		case e == unix.EAGAIN:
			return n, nil
		case e != 0:
			return n, e
		case r == 0:
			return n, io.EOF
		case int(r) < VnetHdrLen+ethHdrLen:
			continue // runt: ignore, as upstream does
		}
		completeChecksum(b[:r]) // with offloads on: see offload.go
		out[n] = b[VnetHdrLen:r]
		n++
	}
	return n, nil
}

// Write writes one Ethernet frame, prefixed with a zeroed virtio-net
// header (gathered by writev, the frame is not copied). It does not
// allocate.
func (d *Device) Write(frame []byte) error {
	if len(frame) == 0 {
		return syscall.EINVAL
	}
	var iov [2]unix.Iovec
	iov[0].Base = &zeroHdr[0]
	iov[0].SetLen(VnetHdrLen)
	iov[1].Base = &frame[0]
	iov[1].SetLen(len(frame))
	for {
		_, _, e := unix.RawSyscall(unix.SYS_WRITEV, uintptr(d.fd), uintptr(unsafe.Pointer(&iov[0])), 2)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}

// WriteBatch writes the frames in order, one write each (a tap takes one
// frame per write), and returns how many were written; it stops at the
// first error. It does not allocate.
func (d *Device) WriteBatch(frames [][]byte) (int, error) {
	for i, f := range frames {
		if err := d.Write(f); err != nil {
			return i, err
		}
	}
	return len(frames), nil
}

// Wait blocks until the device is readable, reports an error condition, or
// timeout passes (a negative timeout waits forever). It returns
// (true, nil) when frames are ready, (false, nil) on timeout or signal, and
// an error wrapping ErrDisconnect when poll reports POLLERR, POLLHUP or
// POLLNVAL (the device was deleted or the descriptor is invalid).
func (d *Device) Wait(timeout time.Duration) (readable bool, err error) {
	ms := -1
	if timeout >= 0 {
		ms = int(min((timeout+time.Millisecond-1)/time.Millisecond, math.MaxInt32))
	}
	pfd := [1]unix.PollFd{{Fd: int32(d.fd), Events: unix.POLLIN | unix.POLLRDHUP}}
	n, err := poll(pfd[:], ms)
	if err == unix.EINTR || n == 0 {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if pfd[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLRDHUP|unix.POLLNVAL) != 0 {
		return false, d.disconnect()
	}
	return pfd[0].Revents&unix.POLLIN != 0, nil
}

// disconnect builds the error for an error event, with the errno a read
// now gives (EBADFD once the interface is gone) as its cause. Frames still
// queued when the interface went away are read first and dropped: the
// first read may return one of them instead of the error. The kernel
// reports the error event as soon as the interface starts to unregister,
// and detaches the descriptor a moment later: until then reads find the
// queue empty (EAGAIN), so EAGAIN is read again for up to
// disconnectSettle before the error goes without a cause.
func (d *Device) disconnect() error {
	var b [VnetHdrLen + ethHdrLen]byte
	var cause error
	deadline := time.Now().Add(disconnectSettle)
	for range 4096 {
		_, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(d.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if e == 0 || e == unix.EINTR {
			continue
		}
		if e == unix.EAGAIN && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
			continue
		}
		if e != unix.EAGAIN {
			cause = e
		}
		break
	}
	return &exitError{kind: ErrDisconnect, cause: cause}
}

// disconnectSettle bounds the wait for an unregistering interface to
// detach its descriptor (see disconnect).
const disconnectSettle = 100 * time.Millisecond

// poll is poll(2) on a slice the caller keeps on its stack.
func poll(fds []unix.PollFd, ms int) (int, error) {
	// ppoll, which every architecture has (arm64 has no poll).
	var ts *unix.Timespec
	var t unix.Timespec
	if ms >= 0 {
		t = unix.NsecToTimespec(int64(ms) * 1e6)
		ts = &t
	}
	r, _, e := unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), uintptr(len(fds)), uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// Serve reads frames until the device fails or stop is closed (then it
// returns nil). Each batch of up to ServeBatch frames is written to w (if
// not nil) and passed to handle; the frames are valid only until handle
// returns. When the tap goes away it returns an error whose text is
// upstream's exit message: ErrDisconnect on an error or hang-up event
// (what deleting the interface produces), ErrTap on a failed read, ErrEOF
// on a zero-length read.
func (d *Device) Serve(stop <-chan struct{}, w *pcap.Writer, handle func(frames [][]byte)) error {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return err
	}
	defer unix.Close(efd)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-stop:
			var one [8]byte
			binary.NativeEndian.PutUint64(one[:], 1)
			unix.Write(efd, one[:])
		case <-done:
		}
	}()

	bufs := make([][]byte, ServeBatch)
	backing := make([]byte, ServeBatch*BufSize)
	for i := range bufs {
		bufs[i] = backing[i*BufSize : (i+1)*BufSize : (i+1)*BufSize]
	}
	out := make([][]byte, ServeBatch)
	pfd := make([]unix.PollFd, 2)
	for {
		pfd[0] = unix.PollFd{Fd: int32(d.fd), Events: unix.POLLIN | unix.POLLRDHUP}
		pfd[1] = unix.PollFd{Fd: int32(efd), Events: unix.POLLIN}
		if _, err := poll(pfd, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			return err
		}
		if pfd[1].Revents != 0 {
			return nil
		}
		ev := pfd[0].Revents
		if ev&(unix.POLLERR|unix.POLLHUP|unix.POLLRDHUP|unix.POLLNVAL) != 0 {
			return d.disconnect()
		}
		if ev&unix.POLLIN == 0 {
			continue
		}
		n, rerr := d.ReadBatch(bufs, out)
		if n > 0 {
			w.WriteFrames(out[:n], time.Now())
			handle(out[:n])
			clear(out[:n])
		}
		switch {
		case rerr == io.EOF:
			return &exitError{kind: ErrEOF}
		case errors.Is(rerr, unix.EBADFD):
			// The interface was deleted, and the read saw it before
			// poll reported the error event.
			return &exitError{kind: ErrDisconnect, cause: rerr}
		case rerr != nil:
			return &exitError{kind: ErrTap, cause: rerr}
		}
	}
}

// errText prints an errno the way the C library does ("No such device"),
// keeping the errno for errors.Is.
type errText struct{ err error }

func (e errText) Error() string {
	var errno syscall.Errno
	if !errors.As(e.err, &errno) {
		return e.err.Error()
	}
	s := errno.Error()
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

func (e errText) Unwrap() error { return e.err }
