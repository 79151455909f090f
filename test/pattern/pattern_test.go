// SPDX-License-Identifier: GPL-2.0-or-later

package pattern

import (
	"errors"
	"net"
	"testing"
	"time"
)

// The checker accepts the stream in chunks of any size and finds the exact
// offset of a corrupted byte.
func TestChecker(t *testing.T) {
	src := New(7)
	data := make([]byte, 1<<20)
	src.Fill(data)
	c := NewChecker(7)
	for off, step := 0, 1; off < len(data); step = (step*3 + 1) % 100003 {
		n := min(step%70000+1, len(data)-off)
		if err := c.Check(data[off : off+n]); err != nil {
			t.Fatal(err)
		}
		off += n
	}
	data[777777] ^= 4
	c = NewChecker(7)
	var m *MismatchError
	if err := c.Check(data); !errors.As(err, &m) || m.Offset != 777777 {
		t.Fatalf("corruption not found at 777777: %v", err)
	}
	if err := NewChecker(8).Check(data[:64]); err == nil {
		t.Fatal("another key's stream accepted")
	}
}

// Send and Receive over a real socket pair; a receiver that stops reading
// makes the sender report a stall.
func TestSendReceiveStall(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		Send(c.(*net.TCPConn), 3, 8<<20, time.Second)
		c.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	n, err := Receive(c.(*net.TCPConn), 3, time.Second, 0, 0)
	c.Close()
	if err != nil || n != 8<<20 {
		t.Fatalf("received %d: %v", n, err)
	}

	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		time.Sleep(3 * time.Second) // never reads in time
		c.Close()
	}()
	c, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := Send(c.(*net.TCPConn), 3, 64<<20, 300*time.Millisecond); !errors.Is(err, ErrStall) {
		t.Fatalf("a reader that stopped was not reported as a stall: %v", err)
	}
}
