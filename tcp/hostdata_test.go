// SPDX-License-Identifier: GPL-2.0-or-later

package tcp

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"passt/loop"
	"passt/pkt"
)

// TestHostDataPerBatch: host data to a guest whose window holds it back
// (1460-byte segments, no offload) is read once per batch of the guest's
// ACKs, however many ACKs the batch has: one recvmsg(2) peeks the payloads
// of the segments the whole batch made room for, and one recv(2) discards
// what it acknowledged; only the last segment of a read carries PSH. Every
// byte reaches the guest in order, the socket's queue ends empty, and once
// drained the flow reads new host data on its own (EPOLLIN is back on).
func TestHostDataPerBatch(t *testing.T) {
	x := newHarness(t)
	x.establish()
	const mss = 1460
	const total = 300 * mss
	x.guestWnd = 8 * mss >> 7 // window scale 7: about 8 segments
	x.send(pkt.TCPFlagACK, x.seq, x.ack, nil, nil)
	want := pattern(0, total)
	if n, err := unix.Write(x.host, want); n != total {
		t.Fatalf("host wrote %d of %d bytes: %v", n, total, err)
	}
	var got []byte
	pushes, lastPushed := 0, false
	// take collects the in-order payloads sent so far.
	take := func() int {
		n := 0
		for _, s := range x.out.take() {
			if len(s.payload) == 0 {
				continue
			}
			if s.seq != x.ack+uint32(len(got)) {
				t.Fatalf("segment at %d, want %d", s.seq-x.ack, len(got))
			}
			if len(s.payload) > mss {
				t.Fatalf("segment of %d bytes, MSS %d", len(s.payload), mss)
			}
			got = append(got, s.payload...)
			lastPushed = s.flags&pkt.TCPFlagPSH != 0
			if lastPushed {
				pushes++
			}
			n++
		}
		return n
	}
	x.pump(50 * time.Millisecond)
	acked := 0 // bytes acknowledged
	batches, maxPeeks, maxDiscards := 0, 0, 0
	for acked < total {
		take()
		if len(got) == acked {
			x.pump(50 * time.Millisecond)
			if take(); len(got) == acked {
				t.Fatalf("stalled at %d of %d bytes", acked, total)
			}
		}
		// One ACK per segment in flight, in one batch.
		var frames [][]byte
		for a := acked + mss; ; a += mss {
			a = min(a, len(got))
			frames = append(frames, segment(false, x.sport, 80, x.seq, x.ack+uint32(a), pkt.TCPFlagACK, x.guestWnd, nil, nil))
			if a == len(got) {
				break
			}
		}
		peeks, discards := x.h.peeks, x.h.discards
		for _, f := range frames {
			var d pkt.Decoded
			if err := pkt.Decode(f, &d); err != nil {
				t.Fatal(err)
			}
			x.h.FromGuest(f, &d)
		}
		x.h.EndBatch()
		acked = len(got)
		batches++
		maxPeeks = max(maxPeeks, x.h.peeks-peeks)
		maxDiscards = max(maxDiscards, x.h.discards-discards)
	}
	take()
	if !bytes.Equal(got, want) {
		t.Fatalf("the guest got %d bytes, not what the host sent", len(got))
	}
	// PSH marks the last segment of a read only, so that a guest's GRO
	// merges the segments before it: at most one per batch, and on the
	// last segment of all.
	if pushes > batches+1 || !lastPushed {
		t.Errorf("%d segments with PSH in %d batches (want at most one per batch), the last with PSH: %v", pushes, batches, lastPushed)
	}
	// A batch of ACKs opens up to a window's worth: one peek fills it
	// (a second only when the socket is drained, to see EAGAIN).
	if maxPeeks > 2 || maxDiscards != 1 {
		t.Errorf("%d batches of ACKs: up to %d peeks and %d discards per batch, want at most 2 and 1", batches, maxPeeks, maxDiscards)
	}
	if inq, err := unix.IoctlGetInt(x.h.flows[0].fd, unix.SIOCINQ); err != nil || inq != 0 {
		t.Errorf("socket queue holds %d bytes after everything was acknowledged (%v)", inq, err)
	}
	// Drained, the flow reads new data on an EPOLLIN edge.
	if _, err := unix.Write(x.host, []byte("more")); err != nil {
		t.Fatal(err)
	}
	s := x.await("new data", func(s seg) bool { return len(s.payload) > 0 })
	if string(s.payload) != "more" || s.seq != x.ack+total {
		t.Fatalf("sent %q at %d, want \"more\" at %d", s.payload, s.seq-x.ack, total)
	}
}

// TestLateAck: the ACK for a small request waits for the host's reply,
// which carries it (one segment to the guest instead of two); without a
// reply it goes as soon as the loop would sleep. A batch of bulk data is
// acknowledged at the end of its batch, as before.
func TestLateAck(t *testing.T) {
	x := newHarness(t)
	x.establish()
	req := []byte("GET / HTTP/1.1\r\n\r\n")
	x.send(pkt.TCPFlagACK|pkt.TCPFlagPSH, x.seq, x.ack, nil, req)
	x.seq += uint32(len(req))
	if segs := x.out.take(); len(segs) != 0 {
		t.Fatalf("sent %+v at the end of the request's batch, want nothing yet", segs)
	}
	buf := make([]byte, 100)
	if n, err := unix.Read(x.host, buf); n != len(req) {
		t.Fatalf("host read %d bytes (%v), want %d", n, err, len(req))
	}
	if _, err := unix.Write(x.host, []byte("200 OK")); err != nil {
		t.Fatal(err)
	}
	r := x.await("reply", func(s seg) bool { return len(s.payload) > 0 })
	if string(r.payload) != "200 OK" || r.ack != x.seq {
		t.Fatalf("reply %q acknowledging %d, want \"200 OK\" acknowledging %d", r.payload, r.ack, x.seq)
	}
	x.ack += uint32(len(r.payload))
	if segs := x.out.take(); len(segs) != 0 {
		t.Fatalf("sent %+v besides the reply", segs)
	}

	// No reply: the ACK goes before the loop sleeps (Poll runs what
	// waits for that).
	x.send(pkt.TCPFlagACK|pkt.TCPFlagPSH, x.seq, x.ack, nil, req)
	x.seq += uint32(len(req))
	if _, err := x.l.Poll(time.Millisecond, func(r loop.Ref, ev uint32) { x.h.Event(r, ev) }); err != nil {
		t.Fatal(err)
	}
	if segs := x.out.take(); len(segs) != 1 || len(segs[0].payload) != 0 || segs[0].ack != x.seq {
		t.Fatalf("sent %+v when the loop was to sleep, want a bare ACK of %d", segs, x.seq)
	}

	// Bulk: acknowledged at the end of the batch.
	x.batch(4, 1000, 0)
	x.seq += 4000
	segs := x.out.take()
	if len(segs) != 1 || segs[0].ack != x.seq {
		t.Fatalf("sent %+v after a bulk batch, want one ACK of %d", segs, x.seq)
	}
}
