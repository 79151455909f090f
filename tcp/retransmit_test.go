// SPDX-License-Identifier: GPL-2.0-or-later

package tcp

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"passt/pkt"
)

// TestFastRetransmit: host data to the guest, one segment lost on the way.
// The guest acknowledges up to the hole once per later segment; at the
// third duplicate ACK the data goes again from the hole, at once, not
// after the retransmission timeout (200 ms). Two duplicates are not
// enough, nor are ACKs that carry data or change the window.
func TestFastRetransmit(t *testing.T) {
	x := newHarness(t)
	x.establish()
	data := bytes.Repeat([]byte("0123456789abcdef"), 4*1460/16) // four segments at MSS 1460
	if _, err := unix.Write(x.host, data); err != nil {
		t.Fatal(err)
	}
	var got []seg
	for len(got) < 4 {
		got = append(got, x.await("data", func(s seg) bool { return len(s.payload) > 0 }))
	}
	if got[0].seq != x.ack || len(got[0].payload) != 1460 {
		t.Fatalf("first segment %d+%d, want %d+1460", got[0].seq, len(got[0].payload), x.ack)
	}
	// Segment 0 lost; segments 1 to 3 arrive, each answered with an ACK
	// of the hole.
	start := time.Now()
	x.send(pkt.TCPFlagACK, x.seq, x.ack, nil, nil)
	x.send(pkt.TCPFlagACK, x.seq, x.ack, nil, nil)
	x.send(pkt.TCPFlagACK|pkt.TCPFlagPSH, x.seq, x.ack, nil, []byte("x")) // carries data: not a duplicate
	x.seq++
	x.out.take()
	if n, err := unix.Read(x.host, make([]byte, 16)); err != nil || n != 1 {
		t.Fatalf("guest data on the host: %d, %v", n, err)
	}
	for _, s := range x.out.take() {
		if len(s.payload) > 0 {
			t.Fatalf("retransmitted after two duplicate ACKs: %+v", s)
		}
	}
	x.send(pkt.TCPFlagACK, x.seq, x.ack, nil, nil)
	var re []seg
	for _, s := range x.out.take() {
		if len(s.payload) > 0 {
			re = append(re, s)
		}
	}
	if len(re) == 0 || re[0].seq != x.ack || !bytes.Equal(re[0].payload, data[:1460]) {
		t.Fatalf("third duplicate ACK: sent %+v, want the lost segment again at once", re)
	}
	if d := time.Since(start); d >= rto {
		t.Fatalf("retransmission after %v: the timer's, not fast", d)
	}
	// The rest follows and, acknowledged, nothing more is sent.
	end := x.ack + uint32(len(data))
	last := re[len(re)-1]
	for last.seq+uint32(len(last.payload)) != end {
		last = x.await("data", func(s seg) bool { return len(s.payload) > 0 })
	}
	x.send(pkt.TCPFlagACK, x.seq, end, nil, nil)
	x.pump(3 * rto / 2)
	for _, s := range x.out.take() {
		if len(s.payload) > 0 {
			t.Fatalf("data sent after everything was acknowledged: %+v", s)
		}
	}
}
