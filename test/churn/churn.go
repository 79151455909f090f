// SPDX-License-Identifier: GPL-2.0-or-later

// Package churn makes and serves the short connections of the churn tests:
// connect, a 1-byte request, the same byte as reply, the server closes,
// the client sees the end of the stream and closes too. Many of them in a
// row show whether a translator leaks descriptors, flows or memory per
// connection; parallel clients spread over several addresses keep the
// TIME_WAIT state of the closing side from exhausting ephemeral ports.
package churn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Churn makes n request-reply connections to addrs in turn, par at a time.
func Churn(addrs []string, n, par int) error {
	return inParallel(n, par, func(i int) error {
		if err := RequestReply(addrs[i%len(addrs)], byte(i)); err != nil {
			return fmt.Errorf("connection %d to %s: %w", i, addrs[i%len(addrs)], err)
		}
		return nil
	})
}

// inParallel runs one(i) for i from 0 to n-1 in par workers, each taking
// every par-th i; a worker stops at its first error, and the first error
// of any worker is returned once all have stopped.
func inParallel(n, par int, one func(i int) error) error {
	errs := make(chan error, par)
	for w := 0; w < par; w++ {
		go func(w int) {
			for i := w; i < n; i += par {
				if err := one(i); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(w)
	}
	var first error
	for w := 0; w < par; w++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// RequestReply sends one byte, expects it back, and waits for the server
// to close.
func RequestReply(addr string, b byte) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	return exchange(c, b)
}

// exchange sends b on c, expects it back and the end of stream, and
// closes c.
func exchange(c net.Conn, b byte) error {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte{b}); err != nil {
		return err
	}
	var r [2]byte
	n, err := io.ReadFull(c, r[:])
	if n != 1 || r[0] != b || !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("reply %x (%d bytes), then %v", r[:n], n, err)
	}
	return nil
}

// EchoServe answers each connection's first byte and closes it, until
// the listener is closed.
func EchoServe(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			var b [1]byte
			if _, err := io.ReadFull(c, b[:]); err == nil {
				c.Write(b[:])
			}
		}()
	}
}

// SamePort makes n request-reply connections to addr one after the other,
// all from the local address local (host:port, with SO_REUSEADDR), and
// returns how long the slowest took. Each one reuses the addresses and
// ports of the one before, which the server's side may still hold in
// TIME_WAIT: a connection that takes a retransmission of its SYN to get
// through shows as a slow one.
func SamePort(local, addr string, n int) (time.Duration, error) {
	la, err := net.ResolveTCPAddr("tcp", local)
	if err != nil {
		return 0, err
	}
	d := net.Dialer{
		LocalAddr: la,
		Timeout:   5 * time.Second,
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
	var slowest time.Duration
	for i := range n {
		start := time.Now()
		c, err := d.DialContext(context.Background(), "tcp", addr)
		// Our own side of the connection before may not be closed yet
		// (its last ACK in flight): that is not what is measured.
		for retry := 0; errors.Is(err, unix.EADDRNOTAVAIL) && retry < 100; retry++ {
			time.Sleep(time.Millisecond)
			start = time.Now()
			c, err = d.DialContext(context.Background(), "tcp", addr)
		}
		if err != nil {
			return slowest, fmt.Errorf("connection %d from %s: %w", i, local, err)
		}
		if err := exchange(c, byte(i)); err != nil {
			return slowest, fmt.Errorf("connection %d from %s: %w", i, local, err)
		}
		slowest = max(slowest, time.Since(start))
	}
	return slowest, nil
}
