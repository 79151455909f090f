// SPDX-License-Identifier: GPL-2.0-or-later

// Package pattern produces and checks the byte streams of the robustness
// tests: a keyed pseudo-random stream that a receiver can verify on the fly,
// without keeping a copy of what was sent, and without a hash that only says
// "wrong" at the very end.
//
// Theory of operation. Both ends seed a ChaCha8 generator with the same key
// (a 64-bit number expanded to 32 bytes). The sender writes the generator's
// output; the receiver generates the same bytes in step with what it reads
// and compares them, so a lost, duplicated, reordered or corrupted byte is
// reported with its exact offset as soon as it arrives. Stall detection is
// the caller's: every read or write runs under a deadline, and a deadline
// that passes without progress is a stall.
package pattern

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"time"
)

// Source is the stream for one key.
type Source struct {
	gen *rand.ChaCha8
	off int64
}

// New returns the stream for key.
func New(key uint64) *Source {
	var seed [32]byte
	for i := 0; i < 4; i++ {
		binary.LittleEndian.PutUint64(seed[i*8:], key^uint64(i)*0x9e3779b97f4a7c15)
	}
	return &Source{gen: rand.NewChaCha8(seed)}
}

// Fill writes the next len(b) bytes of the stream into b.
func (s *Source) Fill(b []byte) {
	_, _ = s.gen.Read(b)
	s.off += int64(len(b))
}

// Offset is how many bytes of the stream were produced so far.
func (s *Source) Offset() int64 { return s.off }

// ErrStall is returned when a transfer makes no progress for longer than
// the allowed stall time.
var ErrStall = errors.New("stalled")

// MismatchError reports the first byte that differs from the stream.
type MismatchError struct {
	Offset    int64
	Got, Want byte
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("byte %d is %#02x, want %#02x", e.Offset, e.Got, e.Want)
}

// Checker verifies received data against the stream for a key.
type Checker struct {
	src  *Source
	want []byte
}

// NewChecker returns a checker for key.
func NewChecker(key uint64) *Checker {
	return &Checker{src: New(key), want: make([]byte, 256<<10)}
}

// Check verifies b, the next bytes received.
func (c *Checker) Check(b []byte) error {
	for len(b) > 0 {
		n := min(len(b), len(c.want))
		start := c.src.Offset()
		c.src.Fill(c.want[:n])
		if !bytes.Equal(b[:n], c.want[:n]) {
			for i := 0; i < n; i++ {
				if b[i] != c.want[i] {
					return &MismatchError{Offset: start + int64(i), Got: b[i], Want: c.want[i]}
				}
			}
		}
		b = b[n:]
	}
	return nil
}

// Offset is how many bytes were verified.
func (c *Checker) Offset() int64 { return c.src.Offset() }

// deadliner is a connection with deadlines (net.Conn).
type deadliner interface {
	io.ReadWriter
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// Send writes size bytes of the stream for key to c; a write that makes no
// progress within stall fails with ErrStall.
func Send(c deadliner, key uint64, size int64, stall time.Duration) error {
	src := New(key)
	buf := make([]byte, 64<<10)
	for src.Offset() < size {
		n := int(min(int64(len(buf)), size-src.Offset()))
		src.Fill(buf[:n])
		b := buf[:n]
		for len(b) > 0 {
			_ = c.SetWriteDeadline(time.Now().Add(stall))
			w, err := c.Write(b)
			b = b[w:]
			if err != nil {
				if w > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
					continue // progress was made
				}
				if errors.Is(err, os.ErrDeadlineExceeded) {
					return fmt.Errorf("at byte %d of %d: %w", src.Offset()-int64(len(b)), size, ErrStall)
				}
				return fmt.Errorf("at byte %d of %d: %w", src.Offset()-int64(len(b)), size, err)
			}
		}
	}
	_ = c.SetWriteDeadline(time.Time{})
	return nil
}

// Receive reads the stream for key from c until end of stream and checks
// it on the fly; it returns the number of bytes verified. A read that gets
// nothing within stall fails with ErrStall. pauseAt, when positive, stops
// reading for pause once that many bytes have arrived (the receive window
// fills up meanwhile).
func Receive(c deadliner, key uint64, stall time.Duration, pauseAt int64, pause time.Duration) (int64, error) {
	chk := NewChecker(key)
	buf := make([]byte, 256<<10)
	for {
		if pauseAt > 0 && chk.Offset() >= pauseAt {
			time.Sleep(pause)
			pauseAt = 0
		}
		_ = c.SetReadDeadline(time.Now().Add(stall))
		n, err := c.Read(buf)
		if n > 0 {
			if cerr := chk.Check(buf[:n]); cerr != nil {
				return chk.Offset(), cerr
			}
		}
		if err == io.EOF {
			return chk.Offset(), nil
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return chk.Offset(), fmt.Errorf("at byte %d: %w", chk.Offset(), ErrStall)
			}
			return chk.Offset(), fmt.Errorf("at byte %d: %w", chk.Offset(), err)
		}
	}
}

// CloseWrite half-closes c when it can, so that the receiver sees the end
// of the stream while c stays open for a reply.
func CloseWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}
