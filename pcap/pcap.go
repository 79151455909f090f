// SPDX-License-Identifier: GPL-2.0-or-later

// Package pcap writes the frames seen on the guest side of the wire to a
// file in the classic libpcap format (what `--pcap FILE` asks for).
//
// # Format
//
// The file starts with a 24-byte global header: magic 0xa1b2c3d4 written in
// host byte order (readers detect the byte order from it), version 2.4,
// thiszone 0, sigfigs 0, snaplen 65535 and link type 1 (Ethernet). Every
// frame is one record: a 16-byte header (seconds, microseconds, captured
// length, original length, all host byte order) followed by the first
// captured-length bytes of the frame. Frames longer than the snap length
// (possible with GSO super-frames) are cut to 65535 bytes; the record keeps
// the original length, as tcpdump does.
//
// # Theory of operation
//
// A [Writer] owns the file and preallocated scratch space: one 16-byte
// header slot per frame of a batch and an array of iovecs. A record is
// written with a single writev(2) that gathers the header slot and the
// caller's frame bytes in place: the frame is never copied and nothing is
// allocated per frame, so the data path can call [Writer.WriteFrame] or
// [Writer.WriteFrames] for every frame it reads or writes. Batches are
// split so that one writev never has more than IOV_MAX entries; a short
// write (disk full, signal) is resumed where it stopped so records are
// never torn silently.
//
// All methods are serialised by a mutex, so frames from several goroutines
// do not interleave inside a record. A nil *Writer is a valid, disabled
// writer: every method is a no-op, which lets callers write
// `w.WriteFrame(...)` without checking whether capture is enabled.
//
// [Open] creates the file itself; [New] writes the header to a file the
// launcher opened earlier with the user's credentials, before privileges
// were dropped and the sandbox hid the filesystem.
package pcap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"passt/internal/errno"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// Magic is the classic pcap magic number (microsecond timestamps).
	Magic = 0xa1b2c3d4
	// VersionMajor and VersionMinor give the file format version, 2.4.
	VersionMajor = 2
	VersionMinor = 4
	// SnapLen is the largest number of bytes recorded per frame.
	SnapLen = 65535
	// LinkTypeEthernet is the link-layer header type of every record.
	LinkTypeEthernet = 1

	// FileHeaderLen and RecordHeaderLen are the sizes of the global and
	// per-record headers.
	FileHeaderLen   = 24
	RecordHeaderLen = 16

	// maxBatch bounds the frames gathered in one writev: two iovecs per
	// frame, and Linux's IOV_MAX is 1024.
	maxBatch = 512
)

// Writer appends frames to a pcap file. The zero value is not usable; a nil
// *Writer is, and does nothing.
type Writer struct {
	mu   sync.Mutex
	f    *os.File
	fd   int
	hdrs []byte       // RecordHeaderLen bytes per frame of the current batch
	iov  []unix.Iovec // two per frame: header slot, frame bytes
}

// Open creates (or truncates) path with mode 0600 and writes the global
// header. The error text is upstream's: "Failed to open pcap file PATH:
// <reason>".
func Open(path string) (*Writer, error) {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("Failed to open pcap file %s: %s", path, errno.Text(err))
	}
	w, err := New(os.NewFile(uintptr(fd), path))
	if err != nil {
		return nil, fmt.Errorf("Failed to open pcap file %s: %s", path, errno.Text(err))
	}
	return w, nil
}

// New writes the global header to f, an open, writable file, and returns a
// Writer that owns f from then on (Close closes it).
func New(f *os.File) (*Writer, error) {
	if f == nil {
		return nil, errors.New("pcap: nil file")
	}
	w := &Writer{
		f:    f,
		fd:   int(f.Fd()),
		hdrs: make([]byte, RecordHeaderLen*maxBatch),
		iov:  make([]unix.Iovec, 2*maxBatch),
	}
	var h [FileHeaderLen]byte
	ne := binary.NativeEndian
	ne.PutUint32(h[0:], Magic)
	ne.PutUint16(h[4:], VersionMajor)
	ne.PutUint16(h[6:], VersionMinor)
	ne.PutUint32(h[8:], 0)  // thiszone
	ne.PutUint32(h[12:], 0) // sigfigs
	ne.PutUint32(h[16:], SnapLen)
	ne.PutUint32(h[20:], LinkTypeEthernet)
	if err := writeAll(w.fd, h[:]); err != nil {
		return nil, err
	}
	return w, nil
}

// File returns the underlying file (nil for a nil Writer).
func (w *Writer) File() *os.File {
	if w == nil {
		return nil
	}
	return w.f
}

// WriteFrame appends one record for frame, stamped with t. It does not
// allocate.
func (w *Writer) WriteFrame(frame []byte, t time.Time) error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return os.ErrClosed
	}
	sec, usec := stamp(t)
	w.put(0, frame, sec, usec)
	return w.flush(1)
}

// WriteFrames appends one record per frame, all stamped with t, gathering
// up to 512 records in each writev. It does not allocate.
func (w *Writer) WriteFrames(frames [][]byte, t time.Time) error {
	if w == nil || len(frames) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return os.ErrClosed
	}
	sec, usec := stamp(t)
	for len(frames) > 0 {
		n := min(len(frames), maxBatch)
		for i := 0; i < n; i++ {
			w.put(i, frames[i], sec, usec)
		}
		if err := w.flush(n); err != nil {
			return err
		}
		frames = frames[n:]
	}
	return nil
}

// Close flushes the file to stable storage (fsync) and closes it. Further
// writes return os.ErrClosed.
func (w *Writer) Close() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	return err
}

func stamp(t time.Time) (sec, usec uint32) {
	ns := t.UnixNano()
	return uint32(ns / 1e9), uint32(ns % 1e9 / 1e3)
}

// put fills header slot i and iovecs 2i, 2i+1 for frame.
func (w *Writer) put(i int, frame []byte, sec, usec uint32) {
	caplen := min(len(frame), SnapLen)
	h := w.hdrs[i*RecordHeaderLen : (i+1)*RecordHeaderLen]
	ne := binary.NativeEndian
	ne.PutUint32(h[0:], sec)
	ne.PutUint32(h[4:], usec)
	ne.PutUint32(h[8:], uint32(caplen))
	ne.PutUint32(h[12:], uint32(len(frame)))
	w.iov[2*i].Base = &h[0]
	w.iov[2*i].SetLen(RecordHeaderLen)
	if caplen > 0 {
		w.iov[2*i+1].Base = &frame[0]
	} else {
		w.iov[2*i+1].Base = nil
	}
	w.iov[2*i+1].SetLen(caplen)
}

// flush writes the first 2n iovecs completely, resuming after short writes,
// then drops the references to the callers' frames.
func (w *Writer) flush(n int) error {
	iov := w.iov[:2*n]
	defer clear(iov)
	for len(iov) > 0 {
		r, _, e := unix.Syscall(unix.SYS_WRITEV, uintptr(w.fd),
			uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		if r == 0 {
			return syscall.EIO
		}
		// Skip what was written; adjust a partially written iovec.
		done := uint64(r)
		for len(iov) > 0 && done >= uint64(iov[0].Len) {
			done -= uint64(iov[0].Len)
			iov = iov[1:]
		}
		if done > 0 {
			iov[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(iov[0].Base), done))
			iov[0].SetLen(int(uint64(iov[0].Len) - done))
		}
	}
	return nil
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return syscall.EIO
		}
		b = b[n:]
	}
	return nil
}
