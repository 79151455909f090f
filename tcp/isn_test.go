// SPDX-License-Identifier: GPL-2.0-or-later

package tcp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"passt/flow"
	"passt/loop"
	"passt/pkt"
)

// TestSipHashVectors checks SipHash-2-4 against the reference vectors
// (key 00 01 .. 0f, message 00 01 .. of each length): the empty message
// (vectors.h) and the 15-byte one of the paper's appendix A.
func TestSipHashVectors(t *testing.T) {
	var key, msg [16]byte
	for i := range key {
		key[i], msg[i] = byte(i), byte(i)
	}
	k0, k1 := uint64(0x0706050403020100), uint64(0x0f0e0d0c0b0a0908)
	for _, v := range []struct {
		n    int
		want uint64
	}{{0, 0x726fdb47dd0e0e31}, {15, 0xa129ca6149be45e5}} {
		if got := sipHash24(k0, k1, msg[:v.n]); got != v.want {
			t.Errorf("SipHash-2-4 of %d bytes = %#x, want %#x", v.n, got, v.want)
		}
	}
}

// TestISNClockAndHash: for the same addresses and ports, the initial
// sequence number moves on by one every 4 µs; other ports or another key
// give unrelated ones.
func TestISNClockAndHash(t *testing.T) {
	g, err := newISNGen()
	if err != nil {
		t.Fatal(err)
	}
	local, remote := netip.MustParseAddrPort("10.0.2.2:40000"), netip.MustParseAddrPort("10.0.2.15:80")
	now := time.Now()
	a := g.isn(now, local, remote)
	if b := g.isn(now.Add(time.Millisecond), local, remote); b-a != 250 {
		t.Errorf("1 ms later the ISN moved by %d, want 250", b-a)
	}
	if b := g.isn(now.Add(time.Second), local, remote); b-a != 250000 {
		t.Errorf("1 s later the ISN moved by %d, want 250000", b-a)
	}
	other := netip.MustParseAddrPort("10.0.2.2:40001")
	same := 0
	for i := range 64 {
		o := netip.AddrPortFrom(other.Addr(), other.Port()+uint16(i))
		if g.isn(now, o, remote) == a {
			same++
		}
	}
	if same > 0 {
		t.Errorf("%d of 64 other source ports got the same ISN", same)
	}
	h, _ := newISNGen()
	if h.epoch = g.epoch; h.isn(now, local, remote) == a {
		t.Error("two keys gave the same ISN")
	}
	if n := testing.AllocsPerRun(100, func() { _ = g.isn(now, local, remote) }); n != 0 {
		t.Errorf("an ISN takes %v allocations, want none", n)
	}
}

// TestPortReuseTakesOverFinishedFlow: a host client closes its connection
// and at once connects again from the same port, before the guest has
// acknowledged our FIN of the connection before. The old flow has ended
// both ways, so it gives way: the new connection gets our SYN, not a reset
// (which the client saw as "connection reset by peer"), and its sequence
// number is beyond the old connection's, so that the guest's TIME_WAIT
// socket takes it.
func TestPortReuseTakesOverFinishedFlow(t *testing.T) {
	rec := &frameRecorder{}
	h, port, ref := inboundHandler(t, rec, 8080)
	la := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	d := net.Dialer{LocalAddr: la, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) })
	}}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	client, err := d.DialContext(context.Background(), "tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	cport := uint16(client.LocalAddr().(*net.TCPAddr).Port)
	la.Port = int(cport)
	key := flow.MakeKey(pkt.ProtoTCP, netip.MustParseAddrPort("10.0.2.15:8080"),
		netip.AddrPortFrom(netip.MustParseAddr("10.0.2.2"), cport))
	h.Accept(ref, unix.EPOLLIN)
	frames := rec.take()
	if len(frames) != 1 || sent(t, frames[0]).Flags() != pkt.TCPFlagSYN {
		t.Fatalf("want one SYN to the guest, got %d frames", len(frames))
	}
	iss := sent(t, frames[0]).Seq()
	const giss = 5000
	feed(t, h, segment(false, 8080, cport, giss, iss+1, pkt.TCPFlagSYN|pkt.TCPFlagACK, 65535, []byte{2, 4, 5, 180}, nil))
	// The guest closes first; the client sees the end of the stream and
	// closes too; we pass its FIN on and wait for the guest's ACK.
	feed(t, h, segment(false, 8080, cport, giss+1, iss+1, pkt.TCPFlagFIN|pkt.TCPFlagACK, 65535, nil, nil))
	client.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := client.Read(make([]byte, 1)); err == nil {
		t.Fatal("the client got data, want the end of the stream")
	}
	client.Close()
	idx, ok := h.table.Lookup(key)
	if !ok {
		t.Fatal("flow gone before our FIN")
	}
	var fin pkt.TCP
	for deadline := time.Now().Add(3 * time.Second); fin == nil && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		h.Event(loop.MakeRef(1, uint64(idx)), unix.EPOLLIN|unix.EPOLLRDHUP)
		for _, f := range rec.take() {
			if s := sent(t, f); s.Flags()&pkt.TCPFlagFIN != 0 {
				fin = s
			}
		}
	}
	if fin == nil {
		t.Fatal("the client's FIN was not passed to the guest")
	}
	// The client again, from the same port; the guest's ACK of our FIN
	// has not come yet.
	client, err = d.DialContext(context.Background(), "tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	h.Accept(ref, unix.EPOLLIN)
	frames = rec.take()
	if len(frames) != 1 || sent(t, frames[0]).Flags() != pkt.TCPFlagSYN {
		t.Fatalf("the connection from the same port got %d frames, want one SYN (flow refused?)", len(frames))
	}
	isn2 := sent(t, frames[0]).Seq()
	if int32(isn2-(fin.Seq()+1)) <= 0 {
		t.Errorf("new ISN %#x not beyond the old connection's end %#x: the guest's TIME_WAIT socket would not take it", isn2, fin.Seq()+1)
	}
	client.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := client.Read(make([]byte, 1)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the new client's connection: %v, want it open", err)
	}
}
