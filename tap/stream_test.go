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
