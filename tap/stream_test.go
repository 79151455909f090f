// SPDX-License-Identifier: GPL-2.0-or-later

package tap

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

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
