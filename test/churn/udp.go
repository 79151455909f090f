// SPDX-License-Identifier: GPL-2.0-or-later

package churn

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// UDP exchange timing: how long a datagram's echo is waited for, and how
// many times the datagram is sent before the exchange fails. A translator
// may drop the first datagrams of new flows while its table or descriptor
// share is full of flows that have not expired yet; retries span that.
const (
	udpWait  = time.Second
	udpTries = 5
)

// UDP makes n UDP exchanges with addrs in turn, par at a time: each from a
// new socket, so a new source port and a new flow for a translator, one
// 2-byte datagram, its echo, close. It returns how many datagrams had to
// be sent again.
func UDP(addrs []string, n, par int) (resent int64, err error) {
	var again atomic.Int64
	err = inParallel(n, par, func(i int) error {
		r, err := UDPExchange(addrs[i%len(addrs)], uint16(i))
		again.Add(int64(r))
		if err != nil {
			return fmt.Errorf("exchange %d with %s: %w", i, addrs[i%len(addrs)], err)
		}
		return nil
	})
	return again.Load(), err
}

// UDPExchange sends the two bytes of v from a new socket to addr and waits
// for them back; it returns how many times it sent them again.
func UDPExchange(addr string, v uint16) (resent int, err error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	req := []byte{byte(v >> 8), byte(v)}
	var buf [16]byte
	for try := 0; try < udpTries; try++ {
		if try > 0 {
			resent++
		}
		if _, err := c.Write(req); err != nil {
			// ECONNREFUSED: an ICMP error for an earlier try.
			time.Sleep(udpWait / 10)
			continue
		}
		deadline := time.Now().Add(udpWait)
		for {
			c.SetReadDeadline(deadline)
			m, err := c.Read(buf[:])
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break
				}
				time.Sleep(udpWait / 10)
				break
			}
			if bytes.Equal(buf[:m], req) {
				return resent, nil
			}
		}
	}
	return resent, fmt.Errorf("from %s: no echo after %d tries", c.LocalAddr(), udpTries)
}

// UDPEchoServe echoes every datagram on c to its sender until c is closed.
func UDPEchoServe(c net.PacketConn) error {
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		c.WriteTo(buf[:n], from)
	}
}
