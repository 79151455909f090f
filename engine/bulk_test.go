// SPDX-License-Identifier: GPL-2.0-or-later

package engine

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"passt/loop"
	"passt/tap"
)

// socketPair returns a connected pair of stream sockets, closed when the
// test ends.
func socketPair(t *testing.T) [2]int {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return [2]int(fds)
}

// unhandledFrame is a frame of size bytes from the guest with an EtherType
// nobody handles: the engine counts and drops it.
func unhandledFrame(size int) []byte {
	f := make([]byte, size)
	copy(f, []byte{0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55, 2, 0, 0, 0, 0, 0x15, 0x88, 0xb5})
	return f
}

// TestStreamLinkBulkSleeps: a wake-up that reads bulk frames from passt's
// stream link tells the loop to sleep before the next event rather than
// poll for it (bulkLinkBytes); one that reads a single small frame leaves
// the loop polling, for the latency of request-response traffic.
func TestStreamLinkBulkSleeps(t *testing.T) {
	e := newFuzzEngine(t)
	defer e.Loop.Close()
	fds := socketPair(t)
	s, err := tap.NewStream(fds[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetLink(StreamLink{S: s}); err != nil {
		t.Fatal(err)
	}
	// frames writes n frames of size bytes (an EtherType nobody handles:
	// counted and dropped) in QEMU's framing.
	frames := func(n, size int) {
		b := make([]byte, 0, n*(4+size))
		for range n {
			b = binary.BigEndian.AppendUint32(b, uint32(size))
			b = append(b, unhandledFrame(size)...)
		}
		if _, err := unix.Write(fds[1], b); err != nil {
			t.Fatal(err)
		}
	}
	// polling puts the loop in its polling state: a wait that returned
	// at once (a posted function that stops it).
	polling := func() {
		for range 100 {
			e.Loop.Post(e.Loop.Stop)
			if err := e.Loop.Run(func(loop.Ref, uint32) {}); err != nil {
				t.Fatal(err)
			}
			if e.Loop.PollsNext() {
				return
			}
		}
		t.Fatal("the loop never polls after a quick wait")
	}

	polling()
	frames(1, 100)
	e.linkReady(unix.EPOLLIN)
	if !e.Loop.PollsNext() {
		t.Error("one small frame made the loop sleep: request-response traffic loses polling")
	}
	polling()
	frames(8, 1514)
	e.linkReady(unix.EPOLLIN)
	if e.Loop.PollsNext() {
		t.Errorf("%d bytes of frames in one wake-up left the loop polling", 8*1514)
	}
	if e.Stats.Frames != 9 {
		t.Errorf("engine saw %d frames, want 9", e.Stats.Frames)
	}
}

// drainLink is a link that has one frame per wake-up and says it is then
// empty, counting the reads.
type drainLink struct {
	fd    int
	reads int
	frame []byte
}

func (l *drainLink) Fd() int { return l.fd }
func (l *drainLink) Receive(out [][]byte) (int, error) {
	l.reads++
	if l.reads > 1 {
		return 0, nil
	}
	out[0] = l.frame
	return 1, nil
}
func (l *drainLink) Send([][]byte) error { return nil }
func (l *drainLink) Drained() bool       { return true }

// TestDrainedLinkReadOnce: a link that reports it was read empty (pasta's
// tap, at EAGAIN) is not read again in the same wake-up only to hear
// EAGAIN once more: one read(2) fewer per request through pasta.
func TestDrainedLinkReadOnce(t *testing.T) {
	e := newFuzzEngine(t)
	defer e.Loop.Close()
	l := &drainLink{fd: socketPair(t)[0], frame: unhandledFrame(60)}
	if err := e.SetLink(l); err != nil {
		t.Fatal(err)
	}
	e.linkReady(unix.EPOLLIN)
	if l.reads != 1 || e.Stats.Frames != 1 {
		t.Errorf("%d reads for %d frames, want 1 and 1", l.reads, e.Stats.Frames)
	}
}
