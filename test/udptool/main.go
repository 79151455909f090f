// SPDX-License-Identifier: GPL-2.0-or-later

// Command udptool is the UDP test helper, run on either side of passt or
// pasta (on the host, in a namespace, as a spawned command):
//
//	udptool echo ADDR                 echo every datagram back to its sender
//	udptool ping ADDR SIZE COUNT      send COUNT datagrams of SIZE bytes, check each echo
//	udptool sink ADDR                 receive a stream (see below), print "ok BYTES SHA256"
//	udptool source ADDR BYTES SIZE    send BYTES in datagrams of SIZE bytes, print "ok BYTES SHA256"
//	udptool dns udp|tcp SERVER NAME   ask SERVER (port 53) for NAME's A or AAAA (NAME ending in "6") records
//	udptool refused ADDR              expect ECONNREFUSED (an ICMP port unreachable) for a datagram to ADDR
//	udptool churn ADDR[,ADDR...] N [P]  N exchanges (P at a time), each from a new socket: a datagram, its
//	                                  echo, close (package churn); prints "ok N resent R"
//	udptool keep ADDR N MS            one socket: N exchanges, one every MS milliseconds, each answered
//	                                  within a second at the first try; prints "ready" after the first
//	                                  and "ok N" at the end
//	udptool flood ADDR N              one datagram from each of N new sockets, closed at once; prints "sent N"
//	udptool dnsd ADDR...              a DNS server on port 53 of each ADDR, UDP and TCP: any name has
//	                                  A 192.0.2.53 and AAAA 2001:db8::53; prints "query PROTO NAME TYPE" for each
//
// Servers (echo, sink) print "ready PORT" once bound. ADDR is host:port.
//
// The stream protocol makes a lossy path reliable, so that a test checks
// that every byte arrives intact rather than how many datagrams the
// kernel queues: every data datagram is [seq, 4 bytes][payload], payload
// bytes derived from seq and position; the sink checks each one, stores it
// and acknowledges it with [seq]; the source keeps up to 32 datagrams
// unacknowledged, resends those not acknowledged within 200 ms, and ends
// with [0xffffffff][datagram count] until the sink acknowledges that with
// [0xffffffff]. Both print the SHA-256 of the payloads in order.
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"passt/test/churn"
)

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "echo":
		err = echo(os.Args[2])
	case "ping":
		need(5)
		err = ping(os.Args[2], atoi(os.Args[3]), atoi(os.Args[4]))
	case "sink":
		err = sink(os.Args[2])
	case "source":
		need(5)
		err = source(os.Args[2], atoi(os.Args[3]), atoi(os.Args[4]))
	case "dns":
		need(5)
		err = dns(os.Args[2], os.Args[3], os.Args[4])
	case "refused":
		err = refused(os.Args[2])
	case "dnsd":
		err = dnsd(os.Args[2:])
	case "churn":
		need(4)
		par := 4
		if len(os.Args) > 4 {
			par = atoi(os.Args[4])
		}
		var resent int64
		resent, err = churn.UDP(strings.Split(os.Args[2], ","), atoi(os.Args[3]), par)
		if err == nil {
			fmt.Printf("ok %s resent %d\n", os.Args[3], resent)
		}
	case "keep":
		need(5)
		err = keep(os.Args[2], atoi(os.Args[3]), atoi(os.Args[4]))
	case "flood":
		need(4)
		err = flood(os.Args[2], atoi(os.Args[3]))
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "udptool:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: udptool echo|ping|sink|source|dns|refused|dnsd|churn|keep|flood ...")
	os.Exit(2)
}

func need(n int) {
	if len(os.Args) < n {
		usage()
	}
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		usage()
	}
	return n
}

func listen(addr string) (*net.UDPConn, error) {
	a, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	c, err := net.ListenUDP("udp", a)
	if err != nil {
		return nil, err
	}
	fmt.Printf("ready %d\n", c.LocalAddr().(*net.UDPAddr).Port)
	return c, nil
}

func dial(addr string) (*net.UDPConn, error) {
	a, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	return net.DialUDP("udp", nil, a)
}

func echo(addr string) error {
	c, err := listen(addr)
	if err != nil {
		return err
	}
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return err
		}
		if _, err := c.WriteToUDPAddrPort(buf[:n], from); err != nil {
			return err
		}
	}
}

// fill writes the payload of datagram seq into b.
func fill(b []byte, seq uint32) {
	x := seq*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
}

// ping sends count datagrams of size bytes and checks that each comes
// back unchanged (resending a lost one up to 5 times).
func ping(addr string, size, count int) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	out := make([]byte, size)
	in := make([]byte, 65536)
	for i := 0; i < count; i++ {
		fill(out, uint32(i))
		if size >= 4 {
			binary.BigEndian.PutUint32(out, uint32(i))
		}
		ok := false
		for try := 0; try < 5 && !ok; try++ {
			if _, err := c.Write(out); err != nil {
				return fmt.Errorf("datagram %d: %w", i, err)
			}
			c.SetReadDeadline(time.Now().Add(time.Second))
			for {
				n, err := c.Read(in)
				if err != nil {
					break
				}
				if n == size && string(in[:n]) == string(out) {
					ok = true
					break
				}
				if n != size {
					return fmt.Errorf("datagram %d: echo of %d bytes, want %d", i, n, size)
				}
			}
		}
		if !ok {
			return fmt.Errorf("datagram %d of %d bytes: no echo", i, size)
		}
	}
	fmt.Printf("ok %d\n", count)
	return nil
}

const fin = 0xffffffff

func sink(addr string) error {
	c, err := listen(addr)
	if err != nil {
		return err
	}
	got := map[uint32][]byte{}
	buf := make([]byte, 65536)
	ack := make([]byte, 4)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return err
		}
		if n < 4 {
			return fmt.Errorf("runt datagram of %d bytes", n)
		}
		seq := binary.BigEndian.Uint32(buf)
		if seq == fin {
			if n != 8 {
				return errors.New("bad end of stream")
			}
			count := binary.BigEndian.Uint32(buf[4:])
			if uint32(len(got)) != count {
				continue // the source resends what is missing first
			}
			h := sha256.New()
			total := 0
			for i := uint32(0); i < count; i++ {
				p, ok := got[i]
				if !ok {
					return fmt.Errorf("datagram %d missing", i)
				}
				h.Write(p)
				total += len(p)
			}
			fmt.Printf("ok %d %x\n", total, h.Sum(nil))
			binary.BigEndian.PutUint32(ack, fin)
			// Acknowledge the end (again, if that gets lost) for a while.
			for {
				c.WriteToUDPAddrPort(ack, from)
				c.SetReadDeadline(time.Now().Add(time.Second))
				if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
					return nil
				}
			}
		}
		p := buf[4:n]
		want := make([]byte, len(p))
		fill(want, seq)
		if string(p) != string(want) {
			return fmt.Errorf("datagram %d of %d bytes corrupted", seq, len(p))
		}
		if _, ok := got[seq]; !ok {
			got[seq] = want
		}
		binary.BigEndian.PutUint32(ack, seq)
		if _, err := c.WriteToUDPAddrPort(ack, from); err != nil {
			return err
		}
	}
}

func source(addr string, total, size int) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	count := (total + size - 1) / size
	sizeOf := func(i int) int { return min(size, total-i*size) }
	acked := make([]bool, count)
	sent := make([]time.Time, count)
	h := sha256.New()
	for i := 0; i < count; i++ {
		p := make([]byte, sizeOf(i))
		fill(p, uint32(i))
		h.Write(p)
	}
	acks := make(chan uint32, 1024)
	go func() {
		b := make([]byte, 16)
		for {
			n, err := c.Read(b)
			if err != nil {
				var errno syscall.Errno
				if errors.As(err, &errno) && errno == syscall.ECONNREFUSED {
					continue // the sink is not there yet: keep trying
				}
				close(acks)
				return
			}
			if n == 4 {
				acks <- binary.BigEndian.Uint32(b)
			}
		}
	}()
	buf := make([]byte, 4+size)
	send := func(i int) error {
		binary.BigEndian.PutUint32(buf, uint32(i))
		fill(buf[4:4+sizeOf(i)], uint32(i))
		sent[i] = time.Now()
		_, err := c.Write(buf[:4+sizeOf(i)])
		if err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
			return err
		}
		return nil
	}
	deadline := time.Now().Add(60 * time.Second)
	base, next, done := 0, 0, 0
	for done < count {
		if time.Now().After(deadline) {
			return fmt.Errorf("stream stalled: %d of %d datagrams acknowledged", done, count)
		}
		for next < count && next < base+32 {
			if err := send(next); err != nil {
				return err
			}
			next++
		}
		select {
		case a, ok := <-acks:
			if !ok {
				return errors.New("socket closed")
			}
			if int(a) < count && !acked[a] {
				acked[a] = true
				done++
			}
		case <-time.After(50 * time.Millisecond):
		}
		for base < count && acked[base] {
			base++
		}
		for i := base; i < next; i++ {
			if !acked[i] && time.Since(sent[i]) > 200*time.Millisecond {
				if err := send(i); err != nil {
					return err
				}
			}
		}
	}
	end := make([]byte, 8)
	binary.BigEndian.PutUint32(end, fin)
	binary.BigEndian.PutUint32(end[4:], uint32(count))
	for {
		if time.Now().After(deadline) {
			return errors.New("end of stream not acknowledged")
		}
		c.Write(end)
		select {
		case a, ok := <-acks:
			if !ok {
				return errors.New("socket closed")
			}
			if a == fin {
				fmt.Printf("ok %d %x\n", total, h.Sum(nil))
				return nil
			}
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// dns asks server for name's A records (AAAA if name ends in "6") over
// UDP or TCP and prints them, one "A addr" line each.
func dns(proto, server, name string) error {
	qtype := uint16(1)
	if strings.HasSuffix(name, "6") {
		qtype = 28
	}
	q := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		q = append(q, byte(len(l)))
		q = append(q, l...)
	}
	q = append(q, 0, byte(qtype>>8), byte(qtype), 0, 1)
	addr := net.JoinHostPort(server, "53")
	var resp []byte
	switch proto {
	case "udp":
		c, err := net.Dial("udp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 4096)
		for try := 0; try < 3 && resp == nil; try++ {
			c.Write(q)
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := c.Read(buf)
			if err == nil {
				resp = buf[:n]
			}
		}
		if resp == nil {
			return errors.New("no answer over UDP")
		}
	case "tcp":
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		msg := append([]byte{byte(len(q) >> 8), byte(len(q))}, q...)
		if _, err := c.Write(msg); err != nil {
			return err
		}
		var l [2]byte
		if _, err := readFull(c, l[:]); err != nil {
			return err
		}
		resp = make([]byte, int(l[0])<<8|int(l[1]))
		if _, err := readFull(c, resp); err != nil {
			return err
		}
	default:
		usage()
	}
	if len(resp) < 12 || resp[0] != 0x12 || resp[1] != 0x34 || resp[2]&0x80 == 0 {
		return fmt.Errorf("bad answer %x", resp)
	}
	an := int(resp[6])<<8 | int(resp[7])
	off := len(q) // the question is echoed back
	if off > len(resp) {
		return fmt.Errorf("short answer %x", resp)
	}
	for i := 0; i < an; i++ {
		// Name (a pointer or labels), type, class, TTL, length, data.
		for off < len(resp) {
			if resp[off]&0xc0 == 0xc0 {
				off += 2
				break
			}
			if resp[off] == 0 {
				off++
				break
			}
			off += 1 + int(resp[off])
		}
		if off+10 > len(resp) {
			return fmt.Errorf("truncated answer %x", resp)
		}
		typ := int(resp[off])<<8 | int(resp[off+1])
		rdlen := int(resp[off+8])<<8 | int(resp[off+9])
		off += 10
		if off+rdlen > len(resp) {
			return fmt.Errorf("truncated answer %x", resp)
		}
		data := resp[off : off+rdlen]
		off += rdlen
		switch {
		case typ == 1 && rdlen == 4:
			fmt.Printf("A %s\n", net.IP(data))
		case typ == 28 && rdlen == 16:
			fmt.Printf("AAAA %s\n", net.IP(data))
		}
	}
	return nil
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// refused sends to addr from a connected socket and expects the kernel to
// report ECONNREFUSED, which it does when an ICMP port unreachable comes
// back.
func refused(addr string) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	b := make([]byte, 16)
	for try := 0; try < 5; try++ {
		c.Write([]byte("anyone?"))
		c.SetReadDeadline(time.Now().Add(time.Second))
		_, err := c.Read(b)
		if errors.Is(err, syscall.ECONNREFUSED) {
			fmt.Println("refused")
			return nil
		}
	}
	return errors.New("no ECONNREFUSED")
}

// dnsd answers every query for A or AAAA records on port 53 of addrs, over
// UDP and TCP.
func dnsd(addrs []string) error {
	errc := make(chan error, 2*len(addrs))
	var mu sync.Mutex
	logq := func(proto string, q []byte) {
		name, typ, _ := question(q)
		mu.Lock()
		fmt.Printf("query %s %s %d\n", proto, name, typ)
		mu.Unlock()
	}
	for _, a := range addrs {
		addr := net.JoinHostPort(a, "53")
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		go func() {
			buf := make([]byte, 4096)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					errc <- err
					return
				}
				logq("udp", buf[:n])
				if r := answer(buf[:n]); r != nil {
					pc.WriteTo(r, from)
				}
			}
		}()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					errc <- err
					return
				}
				go func() {
					defer c.Close()
					c.SetDeadline(time.Now().Add(10 * time.Second))
					for {
						var l [2]byte
						if _, err := readFull(c, l[:]); err != nil {
							return
						}
						q := make([]byte, int(l[0])<<8|int(l[1]))
						if _, err := readFull(c, q); err != nil {
							return
						}
						logq("tcp", q)
						r := answer(q)
						if r == nil {
							return
						}
						c.Write(append([]byte{byte(len(r) >> 8), byte(len(r))}, r...))
					}
				}()
			}
		}()
	}
	fmt.Println("ready 53")
	return <-errc
}

// question returns the name and type asked by query q, and where the
// question ends.
func question(q []byte) (string, int, int) {
	var labels []string
	off := 12
	for off < len(q) && q[off] != 0 && q[off] < 64 {
		l := int(q[off])
		if off+1+l > len(q) {
			return "", 0, 0
		}
		labels = append(labels, string(q[off+1:off+1+l]))
		off += 1 + l
	}
	if off+5 > len(q) || q[off] != 0 {
		return "", 0, 0
	}
	return strings.Join(labels, "."), int(q[off+1])<<8 | int(q[off+2]), off + 5
}

// answer builds the reply to query q: one A or AAAA record, nothing for
// other types; nil for what is not a query.
func answer(q []byte) []byte {
	name, typ, end := question(q)
	if len(q) < 12 || q[2]&0x80 != 0 || name == "" {
		return nil
	}
	r := append([]byte{}, q[:end]...)
	r[2] = 0x81 // response, recursion desired
	r[3] = 0x80 // recursion available, no error
	r[6], r[7] = 0, 0
	r[8], r[9], r[10], r[11] = 0, 0, 0, 0
	var data []byte
	switch typ {
	case 1:
		data = []byte{192, 0, 2, 53}
	case 28:
		data = net.ParseIP("2001:db8::53").To16()
	default:
		return r
	}
	r[7] = 1
	r = append(r, 0xc0, 12, 0, byte(typ), 0, 1, 0, 0, 0, 60, 0, byte(len(data)))
	return append(r, data...)
}

// flood sends one datagram to addr from each of n new sockets: n new flows
// for a translator, which keeps each until it expires.
func flood(addr string, n int) error {
	for i := 0; i < n; i++ {
		c, err := net.Dial("udp", addr)
		if err != nil {
			return err
		}
		_, err = c.Write([]byte{byte(i)})
		c.Close()
		if err != nil {
			return fmt.Errorf("datagram %d: %w", i, err)
		}
	}
	fmt.Printf("sent %d\n", n)
	return nil
}

// keep exchanges n datagrams with an echo server at addr, one every ms
// milliseconds, on one socket (one flow): each echo must come within a
// second, without sending again.
func keep(addr string, n, ms int) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	in := make([]byte, 64)
	for i := 0; i < n; i++ {
		if i > 0 {
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
		out := []byte(fmt.Sprintf("keep %d", i))
		if _, err := c.Write(out); err != nil {
			return fmt.Errorf("datagram %d: %w", i, err)
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		m, err := c.Read(in)
		if err != nil || string(in[:m]) != string(out) {
			return fmt.Errorf("datagram %d: echo %q, %v", i, in[:m], err)
		}
		if i == 0 {
			fmt.Println("ready")
		}
	}
	fmt.Printf("ok %d\n", n)
	return nil
}
