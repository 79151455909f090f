// SPDX-License-Identifier: GPL-2.0-or-later

package tap

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func socketPair(t *testing.T) (*Stream, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewStream(fds[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); unix.Close(fds[1]) })
	return s, fds[1]
}

func framed(frames ...[]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

func frame(n int, fill byte) []byte { return bytes.Repeat([]byte{fill}, n) }

// TestStreamReassembly: frames split at every possible byte boundary are
// reassembled, several frames per read are returned in one batch.
func TestStreamReassembly(t *testing.T) {
	want := [][]byte{frame(14, 1), frame(1500, 2), frame(65535, 3), frame(60, 4)}
	data := framed(want...)
	for _, cut := range []int{1, 3, 4, 5, 17, 1000, 1522, len(data) - 1} {
		s, peer := socketPair(t)
		var got [][]byte
		out := make([][]byte, 8)
		collect := func() {
			for {
				n, err := s.ReadFrames(out)
				if err != nil {
					t.Fatalf("cut %d: %v", cut, err)
				}
				if n == 0 {
					return
				}
				for _, f := range out[:n] {
					got = append(got, append([]byte(nil), f...))
				}
			}
		}
		unix.Write(peer, data[:cut])
		collect()
		writeAll(t, peer, data[cut:])
		collect()
		if len(got) != len(want) {
			t.Fatalf("cut %d: %d frames, want %d", cut, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("cut %d: frame %d differs", cut, i)
			}
		}
	}
}

// TestStreamBatchSpansReads: frames taken with ReadMoreFrames keep every
// frame of the batch valid, including one whose start came in an earlier
// read; the batch ends (0 frames) when the socket is empty, with Drained
// set, and when the buffer has no room for another frame; the next
// ReadFrames begins a new batch and returns what is left, in order.
func TestStreamBatchSpansReads(t *testing.T) {
	s, peer := socketPair(t)
	out := make([][]byte, 64)
	var batch [][]byte // the batch's frames, as returned (not copied)
	var want [][]byte  // copies of what was written
	send := func(b []byte) {
		t.Helper()
		writeAll(t, peer, b)
	}
	// A first read that takes whole frames only: the next one must not
	// start the buffer over them.
	whole := frame(200, 0xaa)
	send(framed(whole))
	if n, err := s.ReadFrames(out); err != nil || n != 1 {
		t.Fatalf("ReadFrames: %d frames, %v", n, err)
	}
	held := out[0]
	send(framed(frame(200, 0xbb)))
	if n, err := s.ReadMoreFrames(out); err != nil || n != 1 || !bytes.Equal(out[0], frame(200, 0xbb)) {
		t.Fatalf("ReadMoreFrames: %d frames, %v", n, err)
	}
	if !bytes.Equal(held, whole) {
		t.Fatal("ReadMoreFrames wrote over the frame of the batch's first read")
	}
	if n, _ := s.ReadMoreFrames(out); n != 0 || !s.Drained() {
		t.Fatalf("ReadMoreFrames on an empty socket: %d frames, drained %v", n, s.Drained())
	}

	// A frame cut by the end of the first read: its rest comes later.
	first, cut := frame(100, 1), frame(3000, 2)
	want = append(want, first, cut)
	data := framed(first, cut)
	send(data[:len(data)-1000])
	n, err := s.ReadFrames(out)
	if err != nil || n != 1 {
		t.Fatalf("ReadFrames: %d frames, %v", n, err)
	}
	batch = append(batch, out[:n]...)
	send(data[len(data)-1000:])
	for i := byte(3); i < 40; i++ {
		f := frame(1514, i)
		want = append(want, f)
		send(framed(f))
	}
	for {
		n, err := s.ReadMoreFrames(out)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		batch = append(batch, out[:n]...)
	}
	if !s.Drained() {
		t.Error("the socket is empty but Drained is false")
	}
	if len(batch) != len(want) {
		t.Fatalf("%d frames in the batch, want %d", len(batch), len(want))
	}
	for i := range want {
		if !bytes.Equal(batch[i], want[i]) {
			t.Fatalf("frame %d of the batch changed or differs", i)
		}
	}

	// A batch that fills the buffer ends for want of room, not data.
	big := frame(StreamMaxFrame, 9)
	go func() {
		for range 2 * streamBufSize / StreamMaxFrame {
			unix.Write(peer, framed(big))
		}
	}()
	got := 0
	batch = batch[:0]
	for got == 0 {
		n, err = s.ReadFrames(out)
		if err != nil {
			t.Fatal(err)
		}
		got += n
		batch = append(batch, out[:n]...)
	}
	for {
		n, err := s.ReadMoreFrames(out)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 && (s.Drained() || len(s.buf)-s.end < 4+StreamMaxFrame) {
			if !s.Drained() {
				break // no room: the expected end
			}
			time.Sleep(time.Millisecond) // the writer is behind
			continue
		}
		got += n
		batch = append(batch, out[:n]...)
	}
	if got >= 2*streamBufSize/StreamMaxFrame || got < streamBufSize/(4+StreamMaxFrame)-1 {
		t.Fatalf("the batch held %d frames of %d bytes; the buffer holds %d bytes", got, StreamMaxFrame, streamBufSize)
	}
	for i, f := range batch {
		if !bytes.Equal(f, big) {
			t.Fatalf("frame %d of the full batch changed", i)
		}
	}
	// The next batch takes the rest.
	for got < 2*streamBufSize/StreamMaxFrame {
		n, err := s.ReadFrames(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range out[:n] {
			if !bytes.Equal(f, big) {
				t.Fatal("a frame of the next batch differs")
			}
		}
		got += n
		if n == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

func writeAll(t *testing.T, fd int, b []byte) {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
}

// TestStreamBadLength: lengths outside 14..65535 reset the connection.
func TestStreamBadLength(t *testing.T) {
	for _, l := range []uint32{0, 13, 65536, 1 << 31} {
		s, peer := socketPair(t)
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], l)
		unix.Write(peer, b[:])
		if _, err := s.ReadFrames(make([][]byte, 4)); err != ErrBadFrameLength {
			t.Errorf("length %d: %v", l, err)
		}
	}
	s, peer := socketPair(t)
	unix.Close(peer)
	if _, err := s.ReadFrames(make([][]byte, 4)); err != io.EOF {
		t.Errorf("closed peer: %v", err)
	}
}

// TestStreamWrite: prefixes, padding to 60, batches larger than the iovec
// limit, and a peer slower than the writer.
func TestStreamWrite(t *testing.T) {
	s, peer := socketPair(t)
	frames := make([][]byte, 1000)
	for i := range frames {
		frames[i] = frame(20+i, byte(i))
	}
	done := make(chan []byte)
	go func() {
		var all []byte
		buf := make([]byte, 1<<16)
		want := 0
		for _, f := range frames {
			want += 4 + max(60, len(f))
		}
		for len(all) < want {
			n, err := unix.Read(peer, buf)
			if err != nil && err != unix.EAGAIN {
				break
			}
			all = append(all, buf[:n]...)
		}
		done <- all
	}()
	if n, err := s.WriteBatch(frames); err != nil || n != len(frames) {
		t.Fatalf("WriteBatch: %d %v", n, err)
	}
	all := <-done
	for i, f := range frames {
		l := int(binary.BigEndian.Uint32(all))
		if l != max(60, len(f)) || !bytes.Equal(all[4:4+len(f)], f) {
			t.Fatalf("frame %d: length %d", i, l)
		}
		if !bytes.Equal(all[4+len(f):4+l], make([]byte, l-len(f))) {
			t.Fatalf("frame %d: padding not zero", i)
		}
		all = all[4+l:]
	}
}

// TestStreamNoAllocs: reading and writing frames allocates nothing.
func TestStreamNoAllocs(t *testing.T) {
	s, peer := socketPair(t)
	f := frame(1500, 7)
	in := framed(f, f, f)
	out := make([][]byte, 8)
	buf := make([]byte, 1<<16)
	frames := [][]byte{f, f}
	allocs := testing.AllocsPerRun(100, func() {
		unix.Write(peer, in)
		for {
			n, _ := s.ReadFrames(out)
			if n == 0 {
				break
			}
		}
		s.WriteBatch(frames)
		unix.Read(peer, buf)
	})
	if allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}

// FuzzStream: any byte stream, cut anywhere, never panics and yields frames
// of valid lengths only.
func FuzzStream(f *testing.F) {
	f.Add(framed(frame(14, 1), frame(100, 2)), uint16(5))
	f.Add([]byte{0, 0, 0, 13}, uint16(1))
	f.Add([]byte{0, 1, 0, 0, 1, 2}, uint16(2))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Skip()
		}
		defer unix.Close(fds[1])
		s, _ := NewStream(fds[0])
		defer s.Close()
		c := int(cut) % (len(data) + 1)
		out := make([][]byte, 16)
		for _, part := range [][]byte{data[:c], data[c:]} {
			if len(part) > 0 {
				unix.Write(fds[1], part)
			}
			for {
				n, err := s.ReadFrames(out)
				if err != nil || n == 0 {
					break
				}
				for _, fr := range out[:n] {
					if len(fr) < StreamMinFrame || len(fr) > StreamMaxFrame {
						t.Fatalf("frame of %d bytes", len(fr))
					}
				}
			}
		}
	})
}

// TestStreamGuestNotReading: a peer that stops reading never blocks the
// writer for long; frames that do not fit are dropped whole, a frame cut
// by the full socket is finished once the peer reads again, and what the
// peer receives is a clean stream of whole frames, in order.
func TestStreamGuestNotReading(t *testing.T) {
	s, peer := socketPair(t)
	for _, fd := range []int{s.Fd(), peer} {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 64<<10)
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 64<<10)
	}
	const frames = 2048
	seq := 0
	batch := make([][]byte, 64)
	start := time.Now()
	for seq < frames {
		for i := range batch {
			f := make([]byte, 3000+seq%7)
			binary.BigEndian.PutUint32(f, uint32(seq))
			f[len(f)-1] = byte(seq)
			batch[i] = f
			seq++
		}
		t0 := time.Now()
		n, err := s.WriteBatch(batch)
		if err != nil || n != len(batch) {
			t.Fatalf("WriteBatch: %d, %v", n, err)
		}
		if d := time.Since(t0); d > 200*time.Millisecond {
			t.Fatalf("WriteBatch blocked %v on a full socket", d)
		}
	}
	if s.Dropped == 0 {
		t.Fatalf("nothing dropped after %d frames in %v into a socket nobody reads", frames, time.Since(start))
	}
	// The peer reads again: the kept rest of a frame goes first.
	got := []byte{}
	buf := make([]byte, 1<<20)
	_ = unix.SetNonblock(peer, true)
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		if err := s.FlushPending(); err != nil {
			t.Fatal(err)
		}
		n, err := unix.Read(peer, buf)
		if n > 0 {
			got = append(got, buf[:n]...)
			continue
		}
		if err == unix.EAGAIN && !s.Pending() {
			break
		}
		time.Sleep(time.Millisecond)
	}
	last, whole := -1, 0
	for len(got) > 0 {
		if len(got) < 4 {
			t.Fatalf("stream ends with %d stray bytes", len(got))
		}
		l := int(binary.BigEndian.Uint32(got))
		if l < 3000 || l > 3006 || len(got) < 4+l {
			t.Fatalf("frame %d: length %d with %d bytes left: the stream is out of step", whole, l, len(got)-4)
		}
		f := got[4 : 4+l]
		n := int(binary.BigEndian.Uint32(f))
		if n <= last || f[len(f)-1] != byte(n) || l != 3000+n%7 {
			t.Fatalf("frame %d is #%d (after #%d), corrupted or out of order", whole, n, last)
		}
		last, whole = n, whole+1
		got = got[4+l:]
	}
	if whole+int(s.Dropped) != frames {
		t.Fatalf("%d frames received and %d dropped, of %d", whole, s.Dropped, frames)
	}
}
