// SPDX-License-Identifier: GPL-2.0-or-later

package tap

import (
	"encoding/binary"
	"errors"
	"io"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Stream framing (passt, QEMU's -netdev stream, --fd socketpairs): each
// Ethernet frame is preceded by its length as a 4-byte big-endian number.
//
// Reading: one read(2) fills as much of a large buffer as the socket has,
// and every complete frame in it is returned in one batch, as sub-slices of
// the buffer (valid until the next read that begins a batch). A frame cut
// by the end of a read stays at the end of the buffer and is moved to its
// start before the next batch's read, so frames are reassembled whatever
// the peer's write boundaries; only that partial tail is ever copied. A
// batch may span reads (ReadMoreFrames), which append after it while the
// buffer has room. A length outside 14..65535 means the
// stream is out of step: ErrBadFrameLength, and the connection must be
// reset.
//
// Writing: frames shorter than 60 bytes are padded to 60 (the Ethernet
// minimum, as upstream does); length prefixes and frames are gathered into
// one writev(2) per batch. When the socket is full, the writer waits up to
// streamStallWait for it to drain (QEMU is usually just behind), never
// longer: a guest that stops reading (a paused VM) must not stall the
// engine's loop. If the socket is still full, the stream is stalled: the
// frames not yet started are dropped, as a full link drops them (TCP
// retransmits, UDP is lossy anyway), and the rest of a frame already begun
// is kept in a tail buffer, since a stream cannot lose half a frame.
// Pending reports the stall; FlushPending writes the tail and ends the
// stall once the socket is writable again (the engine asks for EPOLLOUT).
// Until then new frames are dropped at once, without waiting again.

// StreamMinFrame and StreamMaxFrame bound the frame lengths a peer may
// announce.
const (
	StreamMinFrame = ethHdrLen
	StreamMaxFrame = 65535
	// streamPad is the length short frames are padded to.
	streamPad = 60
	// streamBufSize is the receive buffer: many frames per read.
	streamBufSize = 4 << 20
	// streamMaxIov bounds the iovecs of one writev (the kernel allows 1024).
	streamMaxIov = 1024
)

// ErrBadFrameLength reports a length prefix outside 14..65535.
var ErrBadFrameLength = errors.New("Bad frame size from guest, resetting connection")

// Stream is a connected stream socket carrying length-prefixed frames.
type Stream struct {
	fd         int
	buf        []byte
	start, end int // unparsed bytes are buf[start:end]
	// drained: the last read found the socket empty (EAGAIN).
	drained bool

	lens [streamMaxIov / 2][4]byte
	iov  [streamMaxIov]unix.Iovec
	pad  [streamPad]byte

	// tail holds the unwritten rest of a frame cut by a full socket,
	// tail[tailOff:tailEnd].
	tail             []byte
	tailOff, tailEnd int
	// stalled: the socket stayed full for streamStallWait; frames are
	// dropped without waiting until it is writable again.
	stalled bool
	// Dropped counts frames dropped because the socket stayed full.
	Dropped uint64
}

// NewStream wraps a connected stream socket (made non-blocking here), with
// large socket buffers where the system allows them.
func NewStream(fd int) (*Stream, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, err
	}
	for _, opt := range []int{unix.SO_SNDBUF, unix.SO_RCVBUF} {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, 16<<20)
	}
	return &Stream{fd: fd, buf: make([]byte, streamBufSize), tail: make([]byte, 4+StreamMaxFrame)}, nil
}

// Fd returns the socket.
func (s *Stream) Fd() int { return s.fd }

// Close closes the socket.
func (s *Stream) Close() error { return unix.Close(s.fd) }

// ReadFrames reads what the socket has and returns the complete frames in
// out (at most len(out); the rest stay buffered for the next call, which
// returns them before reading again). It begins a batch: the frames of
// earlier calls are no longer valid. io.EOF: the peer closed the stream;
// ErrBadFrameLength: reset the connection.
func (s *Stream) ReadFrames(out [][]byte) (int, error) {
	if s.start == s.end {
		s.start, s.end = 0, 0 // all taken: the next read starts the buffer
	}
	n := s.parse(out)
	if n > 0 {
		return n, nil
	}
	// Nothing complete: move the partial frame to the front and read.
	if s.start > 0 {
		s.end = copy(s.buf, s.buf[s.start:s.end])
		s.start = 0
	}
	return s.readParse(out)
}

// ReadMoreFrames is ReadFrames within the batch the last ReadFrames began:
// no byte of the buffer moves, so every frame returned since then stays
// valid, and a reader can take what the peer wrote meanwhile before it
// acts on any of it (one write to the host, one ACK, for several reads).
// It returns 0 frames, and no error, when the socket has nothing more
// (Drained then says so), when the buffer has no room left for a frame,
// or when a read brought only part of one: the batch ends there, and the
// next ReadFrames makes room.
func (s *Stream) ReadMoreFrames(out [][]byte) (int, error) {
	if n := s.parse(out); n > 0 {
		return n, nil
	}
	if len(s.buf)-s.end < 4+StreamMaxFrame {
		return 0, nil
	}
	return s.readParse(out)
}

// Drained reports whether the last read found the socket empty.
func (s *Stream) Drained() bool { return s.drained }

// readParse reads what the socket has into the buffer after s.end and
// returns the complete frames.
func (s *Stream) readParse(out [][]byte) (int, error) {
	s.drained = false
	for {
		r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(s.fd), uintptr(unsafe.Pointer(&s.buf[s.end])), uintptr(len(s.buf)-s.end))
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN:
			s.drained = true
			return 0, nil
		case e != 0:
			return 0, e
		case r == 0:
			return 0, io.EOF
		}
		s.end += int(r)
		break
	}
	n := s.parse(out)
	if n == 0 && s.badLength() {
		return 0, ErrBadFrameLength
	}
	return n, nil
}

// badLength reports whether the next length prefix is out of range.
func (s *Stream) badLength() bool {
	if s.end-s.start < 4 {
		return false
	}
	l := binary.BigEndian.Uint32(s.buf[s.start:])
	return l < StreamMinFrame || l > StreamMaxFrame
}

// parse returns the complete frames buffered.
func (s *Stream) parse(out [][]byte) int {
	n := 0
	for n < len(out) && s.end-s.start >= 4 {
		l := int(binary.BigEndian.Uint32(s.buf[s.start:]))
		if l < StreamMinFrame || l > StreamMaxFrame {
			break
		}
		if s.end-s.start-4 < l {
			break
		}
		out[n] = s.buf[s.start+4 : s.start+4+l]
		s.start += 4 + l
		n++
	}
	return n
}

// Write writes one frame.
func (s *Stream) Write(frame []byte) error {
	f := [1][]byte{frame}
	_, err := s.WriteBatch(f[:])
	return err
}

// WriteBatch writes frames with their length prefixes, padding short ones,
// in as few writev calls as the iovec limit allows. Frames that a full
// socket does not take in time are dropped (see above); they count as
// handled, and in Dropped.
func (s *Stream) WriteBatch(frames [][]byte) (int, error) {
	if s.Pending() {
		if err := s.FlushPending(); err != nil {
			return 0, err
		}
		if s.Pending() {
			s.Dropped += uint64(len(frames))
			return len(frames), nil
		}
	}
	done := 0
	for done < len(frames) {
		niov, total, k := 0, 0, 0
		for done+k < len(frames) && niov+3 <= streamMaxIov {
			f := frames[done+k]
			l := len(f)
			if l < streamPad {
				l = streamPad
			}
			binary.BigEndian.PutUint32(s.lens[k][:], uint32(l))
			s.iov[niov].Base = &s.lens[k][0]
			s.iov[niov].SetLen(4)
			niov++
			if len(f) > 0 {
				s.iov[niov].Base = &f[0]
				s.iov[niov].SetLen(len(f))
				niov++
			}
			if len(f) < streamPad {
				s.iov[niov].Base = &s.pad[0]
				s.iov[niov].SetLen(streamPad - len(f))
				niov++
			}
			total += 4 + l
			k++
		}
		written, err := s.writev(niov, total)
		if err == errStalled {
			s.stalled = true
			s.keepTail(frames[done:done+k], written)
			s.Dropped += uint64(len(frames) - done - k)
			return len(frames), nil
		}
		if err != nil {
			return done, err
		}
		done += k
	}
	return done, nil
}

// keepTail finds the frame of batch cut after written bytes, keeps its
// unwritten rest in the tail buffer and counts the frames after it as
// dropped.
func (s *Stream) keepTail(batch [][]byte, written int) {
	for i, f := range batch {
		l := max(len(f), streamPad)
		if written >= 4+l {
			written -= 4 + l
			continue
		}
		if written > 0 {
			// Rebuild the frame as it goes on the wire, keep the rest.
			var wire [4]byte
			binary.BigEndian.PutUint32(wire[:], uint32(l))
			n := copy(s.tail, wire[:])
			n += copy(s.tail[n:], f)
			for n < 4+l {
				s.tail[n] = 0
				n++
			}
			s.tailOff, s.tailEnd = written, n
			i++
		}
		s.Dropped += uint64(len(batch) - i)
		return
	}
}

// Pending reports whether the socket stalled: part of a frame may wait in
// the tail buffer, and new frames are dropped until FlushPending finds the
// socket writable.
func (s *Stream) Pending() bool { return s.stalled || s.tailOff < s.tailEnd }

// FlushPending writes what it can of the tail buffer without waiting, and
// ends the stall once the socket takes more.
func (s *Stream) FlushPending() error {
	for s.tailOff < s.tailEnd {
		r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(s.fd), uintptr(unsafe.Pointer(&s.tail[s.tailOff])), uintptr(s.tailEnd-s.tailOff))
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN:
			return nil
		case e != 0:
			return e
		}
		s.tailOff += int(r)
	}
	s.tailOff, s.tailEnd = 0, 0
	if s.stalled {
		pfd := [1]unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLOUT}}
		if n, _ := unix.Poll(pfd[:], 0); n > 0 && pfd[0].Revents&unix.POLLOUT != 0 {
			s.stalled = false
		}
	}
	return nil
}

// errStalled: the socket stayed full for streamStallWait.
var errStalled = errors.New("stream socket full")

// writev writes the first niov iovecs (total bytes), completing short
// writes while the socket drains within streamStallWait; it returns the
// bytes written (all of them, unless the error is errStalled).
func (s *Stream) writev(niov, total int) (int, error) {
	iov := s.iov[:niov]
	written := 0
	for written < total {
		r, _, e := unix.RawSyscall(unix.SYS_WRITEV, uintptr(s.fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN:
			if err := s.waitWritable(); err != nil {
				return written, err
			}
			continue
		case e != 0:
			return written, e
		}
		written += int(r)
		// Skip what was written.
		w := int(r)
		for len(iov) > 0 && w >= int(iov[0].Len) {
			w -= int(iov[0].Len)
			iov = iov[1:]
		}
		if w > 0 {
			iov[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(iov[0].Base), w))
			iov[0].SetLen(int(iov[0].Len) - w)
		}
	}
	return written, nil
}

// streamStallWait bounds the wait for a full socket to drain: long enough
// for a guest that reads to catch up (QEMU usually is just behind; with 5
// ms, host-to-guest TCP lost half its throughput to drops and
// retransmissions), short enough not to hold up the loop; it is paid once
// per stall, not per batch.
const streamStallWait = 50 * time.Millisecond

func (s *Stream) waitWritable() error {
	pfd := [1]unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLOUT}}
	for {
		n, err := unix.Poll(pfd[:], int(streamStallWait/time.Millisecond))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return errStalled
		}
		if pfd[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
			return unix.EPIPE
		}
		return nil
	}
}
