// SPDX-License-Identifier: GPL-2.0-or-later

// Package churn makes and serves the short connections of the churn tests:
// connect, a 1-byte request, the same byte as reply, the server closes,
// the client sees the end of the stream and closes too. Many of them in a
// row show whether a translator leaks descriptors, flows or memory per
// connection; parallel clients spread over several addresses keep the
// TIME_WAIT state of the closing side from exhausting ephemeral ports.
package churn

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Churn makes n request-reply connections to addrs in turn, par at a time.
func Churn(addrs []string, n, par int) error {
	errs := make(chan error, par)
	for w := 0; w < par; w++ {
		go func(w int) {
			for i := w; i < n; i += par {
				if err := RequestReply(addrs[i%len(addrs)], byte(i)); err != nil {
					errs <- fmt.Errorf("connection %d to %s: %w", i, addrs[i%len(addrs)], err)
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
