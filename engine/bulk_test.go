// SPDX-License-Identifier: GPL-2.0-or-later

package engine

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"passt/log"
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

// TestStreamLinkStallLogged: when the guest stops reading and passt's
// frames are dropped, the debug log says so once when it starts, and once
// it reads again, with how many frames were dropped meanwhile.
func TestStreamLinkStallLogged(t *testing.T) {
	e := newFuzzEngine(t)
	defer e.Loop.Close()
	fds := socketPair(t)
	_ = unix.SetsockoptInt(fds[1], unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
	s, err := tap.NewStream(fds[0])
	if err != nil {
		t.Fatal(err)
	}
	_ = unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)
	if err := e.SetLink(StreamLink{S: s}); err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/log"
	if err := log.OpenFile(path, 0, "test"); err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	level := log.GetLevel()
	log.SetLevel(log.Debug)
	defer log.SetLevel(level)
	log.ConfigDone() // from now on messages go to the file

	// The guest reads nothing: the socket fills, and after the stall
	// wait the rest of the batch is dropped.
	frame := unhandledFrame(1514)
	for range 200 {
		e.replies = append(e.replies, frame)
	}
	e.flush()
	if !s.Pending() {
		t.Fatal("a full socket did not stall the stream")
	}
	// The guest reads everything; the kept part of a frame goes out, and
	// the stall ends once the socket has room again.
	buf := make([]byte, 1<<20)
	_ = unix.SetNonblock(fds[1], true)
	for try := 0; s.Pending(); try++ {
		if try == 10 {
			t.Fatal("still stalled after the guest read everything")
		}
		for {
			if _, err := unix.Read(fds[1], buf); err != nil {
				break
			}
		}
		e.flushPending()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	want := fmt.Sprintf("guest reading again: %d frames dropped while its socket was full", s.Dropped)
	if s.Dropped == 0 || !strings.Contains(text, "guest not reading: its socket stayed full") || !strings.Contains(text, want) {
		t.Errorf("%d frames dropped; the log says:\n%s\nwant the stall and %q", s.Dropped, text, want)
	}
}

// moreLink is a link whose batches span reads (batchExtender): Receive
// hands out first frames, then ReceiveMore one entry of more at a time
// (0: the batch ends), and drained says what Drained reports then.
type moreLink struct {
	fd            int
	first         []int // frames per Receive; past the end, 0
	more          []int // frames per ReceiveMore; past the end, 0
	size          int
	drained       bool
	receives, ext int
}

func (l *moreLink) Fd() int { return l.fd }
func (l *moreLink) Receive(out [][]byte) (int, error) {
	l.receives++
	if l.receives > len(l.first) {
		return 0, nil
	}
	return l.fill(out, l.first[l.receives-1]), nil
}
func (l *moreLink) ReceiveMore(out [][]byte) (int, error) {
	l.ext++
	if l.ext > len(l.more) {
		return 0, nil
	}
	return l.fill(out, l.more[l.ext-1]), nil
}
func (l *moreLink) fill(out [][]byte, n int) int {
	for i := range n {
		out[i] = unhandledFrame(l.size)
	}
	return n
}
func (l *moreLink) Send([][]byte) error { return nil }
func (l *moreLink) Drained() bool       { return l.drained }

// TestLinkBatchSpansReads: the frames a batchExtender adds after the first
// read of a wake-up join that read's batch (one batch, so one write to each
// socket and one ACK at its end); the batch ends when the link has nothing
// more, and a drained link is not read again; a batch stops growing at
// maxLinkBatch bytes, and the frames after it make a batch of their own.
func TestLinkBatchSpansReads(t *testing.T) {
	e := newFuzzEngine(t)
	defer e.Loop.Close()
	l := &moreLink{fd: socketPair(t)[0], first: []int{2}, more: []int{3, 4}, size: 1514, drained: true}
	if err := e.SetLink(l); err != nil {
		t.Fatal(err)
	}
	e.linkReady(unix.EPOLLIN)
	if e.Stats.Frames != 9 || e.Stats.Batches != 1 {
		t.Errorf("%d frames in %d batches, want 9 in 1", e.Stats.Frames, e.Stats.Batches)
	}
	if l.receives != 1 || l.ext != 3 {
		t.Errorf("%d reads beginning a batch and %d adding to it, want 1 and 3 (the last empty)", l.receives, l.ext)
	}

	// Without room (0 frames, not drained) the engine begins a new batch.
	e.Stats = Stats{}
	l = &moreLink{fd: socketPair(t)[0], first: []int{1, 1}, more: []int{5}, size: 100}
	if err := e.SetLink(l); err != nil {
		t.Fatal(err)
	}
	e.linkReady(unix.EPOLLIN)
	if e.Stats.Frames != 7 || e.Stats.Batches != 2 || l.receives != 3 {
		t.Errorf("%d frames in %d batches after %d reads, want 7 in 2 after 3", e.Stats.Frames, e.Stats.Batches, l.receives)
	}

	// A link that always has more: the batch ends at maxLinkBatch.
	e.Stats = Stats{}
	always := make([]int, 2*maxLinkBatch/65535)
	for i := range always {
		always[i] = 1
	}
	l = &moreLink{fd: socketPair(t)[0], first: []int{1}, more: always, size: 65535}
	if err := e.SetLink(l); err != nil {
		t.Fatal(err)
	}
	e.linkReady(unix.EPOLLIN)
	perBatch := (maxLinkBatch + 65534) / 65535
	if e.Stats.Batches != 1 || int(e.Stats.Frames) != perBatch {
		t.Errorf("%d frames of 65535 bytes in %d batches, want %d in 1: the batch grew past %d bytes",
			e.Stats.Frames, e.Stats.Batches, perBatch, maxLinkBatch)
	}
}
