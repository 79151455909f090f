// SPDX-License-Identifier: GPL-2.0-or-later

package tcp

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"passt/loop"
	"passt/pkt"
)

// These tests drive a Handler as the engine does, with a scripted guest
// on one side and real TCP sockets on the host's loopback on the other.

// seg is a segment the handler sent to the guest.
type seg struct {
	flags    uint8
	seq, ack uint32
	wnd      uint16
	opts     pkt.TCPOptions
	payload  []byte
}

// recorder is an Output keeping decoded copies of the segments sent.
type recorder struct {
	t    *testing.T
	segs []seg
	keep bool
}

func (r *recorder) Queue(f []byte) {
	var d pkt.Decoded
	if err := pkt.Decode(f, &d); err != nil || d.L4Proto != pkt.ProtoTCP || d.L4HdrLen == 0 {
		r.t.Fatalf("handler sent a malformed frame (%v): %x", err, f)
	}
	if !r.keep {
		return
	}
	t := pkt.TCP(f[d.L4Off : d.L4Off+d.L4Len])
	s := seg{flags: t.Flags(), seq: t.Seq(), ack: t.Ack(), wnd: t.Window(), payload: append([]byte(nil), t.Payload()...)}
	_ = pkt.ParseTCPOptions(t.Options(), &s.opts)
	r.segs = append(r.segs, s)
}
func (r *recorder) Flush()                      {}
func (r *recorder) MACs() (ours, guest [6]byte) { return [6]byte{2}, [6]byte{4} }

// take returns and forgets the segments sent so far.
func (r *recorder) take() []seg {
	s := r.segs
	r.segs = nil
	return s
}

type harness struct {
	t        *testing.T
	l        *loop.Loop
	h        *Handler
	out      *recorder
	lfd      int // the host's listening socket
	host     int // the accepted host-side socket
	sport    uint16
	seq      uint32 // the guest's next sequence number
	ack      uint32 // what the guest acknowledges
	guestWnd uint16
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	l, err := loop.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(lfd) })
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(lfd, 16); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(lfd)
	port := sa.(*unix.SockaddrInet4).Port
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	out := &recorder{t: t, keep: true}
	h, err := New(l, 1, out, func(netip.AddrPort) (netip.AddrPort, bool) { return to, true }, 65520, netip.Addr{}, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, l: l, h: h, out: out, lfd: lfd, host: -1, sport: 40000, seq: 1000, guestWnd: 65535}
}

// send feeds the handler one segment from the guest, then ends the batch.
func (x *harness) send(flags uint8, seq, ack uint32, opts []byte, payload []byte) {
	x.t.Helper()
	f := segment(false, x.sport, 80, seq, ack, flags, x.guestWnd, opts, payload)
	var d pkt.Decoded
	if err := pkt.Decode(f, &d); err != nil {
		x.t.Fatal(err)
	}
	x.h.FromGuest(f, &d)
	x.h.EndBatch()
}

// pump runs the loop for d.
func (x *harness) pump(d time.Duration) {
	x.t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if _, err := x.l.Poll(10*time.Millisecond, func(r loop.Ref, ev uint32) { x.h.Event(r, ev) }); err != nil {
			x.t.Fatal(err)
		}
	}
}

// await pumps the loop until a segment matching ok arrives.
func (x *harness) await(what string, ok func(seg) bool) seg {
	x.t.Helper()
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		for i, s := range x.out.segs {
			if ok(s) {
				x.out.segs = x.out.segs[i+1:]
				return s
			}
		}
		x.pump(10 * time.Millisecond)
	}
	x.t.Fatalf("no %s from the handler; it sent %+v", what, x.out.segs)
	return seg{}
}

// establish opens a connection from the guest (MSS 1460, window scale 7)
// and accepts it on the host.
func (x *harness) establish() {
	x.t.Helper()
	x.send(pkt.TCPFlagSYN, x.seq, 0, []byte{2, 4, 5, 180, 1, 3, 3, 7}, nil)
	sa := x.await("SYN-ACK", func(s seg) bool { return s.flags == pkt.TCPFlagSYN|pkt.TCPFlagACK })
	if sa.ack != x.seq+1 || sa.opts.MSS == 0 || !sa.opts.HasWScale {
		x.t.Fatalf("SYN-ACK %+v for SYN %d", sa, x.seq)
	}
	x.seq++
	x.ack = sa.seq + 1
	x.send(pkt.TCPFlagACK, x.seq, x.ack, nil, nil)
	fd, _, err := unix.Accept4(x.lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		x.t.Fatal(err)
	}
	x.host = fd
	x.t.Cleanup(func() { unix.Close(fd) })
	x.out.take()
}

func TestGuestDataAcknowledgedOncePerBatch(t *testing.T) {
	x := newHarness(t)
	x.establish()
	// Four segments in one batch: one ACK for all of them.
	f := make([][]byte, 4)
	for i := range f {
		f[i] = segment(false, x.sport, 80, x.seq+uint32(i*1000), x.ack, pkt.TCPFlagACK, 65535, nil, make([]byte, 1000))
	}
	for _, fr := range f {
		var d pkt.Decoded
		_ = pkt.Decode(fr, &d)
		x.h.FromGuest(fr, &d)
	}
	x.h.EndBatch()
	segs := x.out.take()
	if len(segs) != 1 || segs[0].ack != x.seq+4000 || segs[0].wnd == 0 {
		t.Fatalf("sent %+v, want one ACK of %d with an open window", segs, x.seq+4000)
	}
	buf := make([]byte, 8000)
	n, _ := unix.Read(x.host, buf)
	if n != 4000 {
		t.Fatalf("host read %d bytes, want 4000", n)
	}
}

// TestWindowIsWhatTheSocketTakes: a guest that sends exactly what it is
// allowed to, to a host peer that does not read, never has data dropped;
// once the window closes and the peer reads, a window update follows
// without the guest probing.
func TestWindowIsWhatTheSocketTakes(t *testing.T) {
	x := newHarness(t)
	_ = unix.SetsockoptInt(x.lfd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) // inherited: small receive buffer
	x.establish()
	wnd := uint32(65535) << ourWScale // as announced in the SYN-ACK's ACK, until the first real one
	x.send(pkt.TCPFlagACK, x.seq, x.ack, nil, nil)
	x.send(pkt.TCPFlagACK|pkt.TCPFlagPSH, x.seq, x.ack, nil, []byte{1})
	a := x.await("ACK", func(s seg) bool { return s.flags&pkt.TCPFlagACK != 0 })
	x.seq++
	wnd = uint32(a.wnd) << ourWScale
	sent, rounds := 1, 0
	for ; wnd > 0; rounds++ {
		if rounds > 10000 {
			t.Fatal("the window never closed")
		}
		n := min(int(wnd), 32768)
		x.send(pkt.TCPFlagACK|pkt.TCPFlagPSH, x.seq, x.ack, nil, make([]byte, n))
		a := x.await("ACK", func(s seg) bool { return s.flags&pkt.TCPFlagACK != 0 })
		if a.ack != x.seq+uint32(n) {
			t.Fatalf("after %d bytes, %d advertised: ACK %d, want %d (data dropped)", sent, wnd, a.ack-x.seq, n)
		}
		x.seq += uint32(n)
		sent += n
		wnd = uint32(a.wnd) << ourWScale
	}
	// The host reads everything: a window update arrives by itself.
	buf := make([]byte, 1<<20)
	got := 0
	for got < sent {
		n, err := unix.Read(x.host, buf)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	t.Logf("%d bytes in %d rounds until the window closed", sent, rounds)
	u := x.await("window update", func(s seg) bool { return s.flags == pkt.TCPFlagACK && s.wnd > 0 })
	if u.ack != x.seq {
		t.Fatalf("window update acknowledges %d, want %d", u.ack, x.seq)
	}
}

func TestZeroWindowProbeAnswered(t *testing.T) {
	x := newHarness(t)
	x.establish()
	x.send(pkt.TCPFlagACK, x.seq-1, x.ack, nil, nil)
	segs := x.out.take()
	if len(segs) != 1 || segs[0].flags != pkt.TCPFlagACK || segs[0].ack != x.seq {
		t.Fatalf("probe answered with %+v, want an ACK of %d", segs, x.seq)
	}
	// An acceptable pure ACK is not answered.
	x.send(pkt.TCPFlagACK, x.seq, x.ack, nil, nil)
	if segs := x.out.take(); len(segs) != 0 {
		t.Fatalf("pure ACK answered with %+v", segs)
	}
}

// hostAlive checks the host socket is still connected (no reset, no EOF).
func hostAlive(t *testing.T, fd int) {
	t.Helper()
	var b [1]byte
	_, err := unix.Read(fd, b[:])
	if err == nil {
		t.Fatal("host socket reached end of stream")
	}
	if !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("host socket: %v", err)
	}
}

func TestResetSequenceChecks(t *testing.T) {
	x := newHarness(t)
	x.establish()
	_ = unix.SetNonblock(x.host, true)
	// Far outside the window: ignored.
	x.send(pkt.TCPFlagRST, x.seq+1<<31, 0, nil, nil)
	if segs := x.out.take(); len(segs) != 0 {
		t.Fatalf("out-of-window RST answered with %+v", segs)
	}
	hostAlive(t, x.host)
	// Inside the window but not exact: challenge ACK (RFC 5961).
	x.send(pkt.TCPFlagRST, x.seq+100, 0, nil, nil)
	segs := x.out.take()
	if len(segs) != 1 || segs[0].flags != pkt.TCPFlagACK || segs[0].ack != x.seq {
		t.Fatalf("in-window RST answered with %+v, want a challenge ACK", segs)
	}
	hostAlive(t, x.host)
	// SYN on the established connection: challenge ACK too.
	x.send(pkt.TCPFlagSYN, 77, 0, nil, nil)
	segs = x.out.take()
	if len(segs) != 1 || segs[0].flags != pkt.TCPFlagACK || segs[0].ack != x.seq {
		t.Fatalf("SYN answered with %+v, want a challenge ACK", segs)
	}
	hostAlive(t, x.host)
	// Exact: the flow ends and the host peer is reset.
	x.send(pkt.TCPFlagRST, x.seq, 0, nil, nil)
	if x.h.Flows() != 0 {
		t.Fatalf("%d flows after RST", x.h.Flows())
	}
	var b [1]byte
	time.Sleep(10 * time.Millisecond)
	if _, err := unix.Read(x.host, b[:]); !errors.Is(err, unix.ECONNRESET) {
		t.Fatalf("host read after RST: %v, want ECONNRESET", err)
	}
}

func TestAckOfUnsentDataAnswered(t *testing.T) {
	x := newHarness(t)
	x.establish()
	x.send(pkt.TCPFlagACK, x.seq, x.ack+5000, nil, nil)
	segs := x.out.take()
	if len(segs) != 1 || segs[0].flags != pkt.TCPFlagACK || segs[0].seq != x.ack {
		t.Fatalf("impossible ACK answered with %+v", segs)
	}
}

func TestLostSynAckSentAgain(t *testing.T) {
	x := newHarness(t)
	x.send(pkt.TCPFlagSYN, x.seq, 0, []byte{2, 4, 5, 180}, nil)
	first := x.await("SYN-ACK", func(s seg) bool { return s.flags == pkt.TCPFlagSYN|pkt.TCPFlagACK })
	x.send(pkt.TCPFlagSYN, x.seq, 0, []byte{2, 4, 5, 180}, nil)
	again := x.await("SYN-ACK", func(s seg) bool { return s.flags == pkt.TCPFlagSYN|pkt.TCPFlagACK })
	if again.seq != first.seq || again.ack != first.ack {
		t.Fatalf("second SYN-ACK %+v differs from the first %+v", again, first)
	}
}

func TestIdleConnectionReset(t *testing.T) {
	defer func(d time.Duration) { idleTimeout = d }(idleTimeout)
	idleTimeout = 100 * time.Millisecond
	x := newHarness(t)
	x.establish()
	x.await("RST", func(s seg) bool { return s.flags&pkt.TCPFlagRST != 0 })
	if x.h.Flows() != 0 {
		t.Fatalf("%d flows after the idle timeout", x.h.Flows())
	}
}

// TestSegmentPathAllocatesNothing: guest data gathered from a batch of
// segments, written to the socket and acknowledged, host data peeked into
// frames and acknowledged by the guest.
func TestSegmentPathAllocatesNothing(t *testing.T) {
	x := newHarness(t)
	x.establish()
	x.out.keep = false
	_ = unix.SetNonblock(x.host, true)
	payload := make([]byte, 1000)
	const perBatch = 3
	var frames [perBatch][]byte
	var decoded [perBatch]pkt.Decoded
	for i := range frames {
		frames[i] = segment(false, x.sport, 80, x.seq, x.ack, pkt.TCPFlagACK|pkt.TCPFlagPSH, 65535, nil, payload)
		if err := pkt.Decode(frames[i], &decoded[i]); err != nil {
			t.Fatal(err)
		}
	}
	src, dst := netip.MustParseAddr("10.0.2.15"), netip.MustParseAddr("10.0.2.2")
	ack := segment(false, x.sport, 80, x.seq, x.ack, pkt.TCPFlagACK, 65535, nil, nil)
	var da pkt.Decoded
	_ = pkt.Decode(ack, &da)
	atcp := pkt.TCP(ack[da.L4Off : da.L4Off+da.L4Len])
	sink := make([]byte, 8192)
	ref := loop.MakeRef(1, 0)
	for i := 0; i < x.h.table.Cap(); i++ {
		if x.h.flows[i].state == stateEstablished {
			ref = loop.MakeRef(1, uint64(i))
		}
	}
	round := func() {
		// Guest to host: one batch, one gather.
		for i := range frames {
			d := &decoded[i]
			binary.BigEndian.PutUint32(frames[i][d.L4Off+4:], x.seq)
			pkt.FinishTCP(pkt.TCP(frames[i][d.L4Off:d.L4Off+d.L4Len]), src, dst)
			x.h.FromGuest(frames[i], d)
			x.seq += uint32(len(payload))
		}
		x.h.EndBatch()
		for n := 0; n < perBatch*len(payload); {
			r, err := unix.Read(x.host, sink)
			if err != nil {
				break
			}
			n += r
		}
		// Host to guest, then the guest's ACK.
		_, _ = unix.Write(x.host, payload)
		x.h.Event(ref, unix.EPOLLIN)
		x.ack += uint32(len(payload))
		binary.BigEndian.PutUint32(ack[da.L4Off+4:], x.seq)
		binary.BigEndian.PutUint32(ack[da.L4Off+8:], x.ack)
		pkt.FinishTCP(atcp, src, dst)
		x.h.FromGuest(ack, &da)
		x.h.EndBatch()
	}
	round()
	writes := x.h.gatherWrites
	if n := testing.AllocsPerRun(200, round); n != 0 {
		t.Fatalf("%.1f allocations per round trip, want 0", n)
	}
	if x.h.Flows() != 1 {
		t.Fatalf("flow gone: %d flows", x.h.Flows())
	}
	if n := x.h.gatherWrites - writes; n != 201 {
		t.Fatalf("%d gathered writes in 201 rounds, want one each", n)
	}
}

// TestWindowForStaleMemory: memory still charged to a send buffer whose
// data is all acknowledged (TIOCOUTQ 0) does not close the window: the
// socket is writable, so no EPOLLOUT would ever reopen it.
func TestWindowForStaleMemory(t *testing.T) {
	if w := windowFor(4061680, 132624, 0); w < 4061680/2 {
		t.Fatalf("window %d for an empty socket with 4 MB free", w)
	}
	// A queue of payload: the space scaled by its payload-to-memory
	// ratio, less a sixteenth.
	if w, want := windowFor(1<<20, 2<<20, 1<<20), (1<<19)-(1<<19)/16; w != want {
		t.Fatalf("window %d, want %d", w, want)
	}
	// 64 KiB segments: 98% payload.
	if w, want := windowFor(1<<20, 4000000, 3920000), (1<<20)*98/100; w < want-want/16-1 || w > want {
		t.Fatalf("window %d for a queue at 98%% payload, want about %d", w, want-want/16)
	}
	// Seen on loopback with the reads the other way round: 2.6 MB of
	// memory, 78 KB of payload (an ACK freed the rest between them). A
	// ratio that low is no measure: half the space, not 41 KB.
	if w := windowFor(1528784, 2665520, 77685); w < 1528784/2-1528784/32 {
		t.Fatalf("window %d for 1.5 MB free and a ratio of 3%%", w)
	}
}

// TestAtLeastASegment: a window under one of the guest's segments is
// raised to one, or to the space there is.
func TestAtLeastASegment(t *testing.T) {
	for _, c := range []struct{ free, space, mss, want int }{
		{41771, 1528784, 65480, 65480}, // a sliver: a segment
		{200000, 1528784, 65480, 200000},
		{10000, 30000, 65480, 30000}, // a small buffer: its space
		{1000, 1448 * 10, 1448, 1448},
		{0, 0, 65480, 0},
	} {
		if got := atLeastASegment(c.free, c.space, c.mss); got != c.want {
			t.Errorf("atLeastASegment(%d, %d, %d) = %d, want %d", c.free, c.space, c.mss, got, c.want)
		}
	}
}

// TestLargeBatchAcknowledgedEarly: a batch of guest data larger than
// ackEvery is acknowledged as it goes, not only at the end of the batch,
// so the guest can send on meanwhile.
func TestLargeBatchAcknowledgedEarly(t *testing.T) {
	x := newHarness(t)
	x.establish()
	idx := x.h.active[0]
	_ = unix.SetsockoptInt(x.h.flows[idx].fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	done := make(chan int)
	go func() { // the host reads everything
		buf := make([]byte, 1<<20)
		got := 0
		for got < 8*60000 {
			n, err := unix.Read(x.host, buf)
			if err != nil || n == 0 {
				break
			}
			got += n
		}
		done <- got
	}()
	var early []seg
	for i := range 8 {
		f := segment(false, x.sport, 80, x.seq+uint32(i*60000), x.ack, pkt.TCPFlagACK, 65535, nil, make([]byte, 60000))
		var d pkt.Decoded
		_ = pkt.Decode(f, &d)
		x.h.FromGuest(f, &d)
		early = append(early, x.out.take()...)
	}
	x.h.EndBatch()
	last := x.out.take()
	if len(early) == 0 || early[0].ack-x.seq < ackEvery || early[0].ack-x.seq > ackEvery+60000 {
		t.Fatalf("ACKs within the batch %+v, want one after %d bytes", early, ackEvery)
	}
	if len(last) != 1 || last[0].ack != x.seq+8*60000 {
		t.Fatalf("ACKs at the end of the batch %+v, want one of %d", last, x.seq+8*60000)
	}
	if got := <-done; got != 8*60000 {
		t.Fatalf("host read %d bytes, want %d", got, 8*60000)
	}
}

// pattern returns n bytes of stream content starting at offset off, so
// that what the host reads can be checked for order and integrity.
func pattern(off, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((off + i) % 251)
	}
	return b
}

// batch feeds the handler in-order segments of size bytes each, from the
// guest's next sequence number, as one batch of frames; the last carries
// the extra flags. The batch ends (EndBatch) unless open is set.
func (x *harness) batch(count, size int, last uint8, open ...bool) {
	x.t.Helper()
	frames := make([][]byte, count)
	for i := range frames {
		flags := uint8(pkt.TCPFlagACK)
		if i == count-1 {
			flags |= last
		}
		frames[i] = segment(false, x.sport, 80, x.seq+uint32(i*size), x.ack, flags, x.guestWnd, nil, pattern(i*size, size))
	}
	for _, f := range frames {
		var d pkt.Decoded
		if err := pkt.Decode(f, &d); err != nil {
			x.t.Fatal(err)
		}
		x.h.FromGuest(f, &d)
	}
	if len(open) == 0 || !open[0] {
		x.h.EndBatch()
	}
}

// readHost reads from the host socket until it has want bytes or nothing
// more comes for a while, and checks them against pattern.
func (x *harness) readHost(want int) int {
	x.t.Helper()
	_ = unix.SetNonblock(x.host, true)
	buf := make([]byte, want+65536)
	got := 0
	for idle := time.Now(); got < want && time.Since(idle) < 300*time.Millisecond; {
		n, err := unix.Read(x.host, buf[got:])
		if n > 0 {
			got += n
			idle = time.Now()
			continue
		}
		if err != nil && !errors.Is(err, unix.EAGAIN) {
			x.t.Fatal(err)
		}
		x.pump(5 * time.Millisecond)
	}
	for i, b := range buf[:got] {
		if b != byte(i%251) {
			x.t.Fatalf("host byte %d is %d, want %d: data out of order or damaged", i, b, i%251)
		}
	}
	return got
}

// TestGatheredSegmentsOneWrite: in-order segments of a batch (MTU 1500
// sized, as from a guest without TSO) reach the host socket intact and in
// order with one sendmsg, and one ACK covers exactly them.
func TestGatheredSegmentsOneWrite(t *testing.T) {
	x := newHarness(t)
	x.establish()
	x.batchWritten(40, 1448, pkt.TCPFlagPSH, 1)
}

// batchWritten feeds a batch of count in-order segments of size bytes
// (batch) and checks that they took wantWrites sendmsg calls, that one ACK
// covers them all, and that the host reads them intact.
func (x *harness) batchWritten(count, size int, last uint8, wantWrites int) {
	x.t.Helper()
	writes := x.h.gatherWrites
	x.batch(count, size, last)
	if n := x.h.gatherWrites - writes; n != wantWrites {
		x.t.Fatalf("%d segments written with %d sendmsg calls, want %d", count, n, wantWrites)
	}
	total := uint32(count * size)
	segs := x.out.take()
	if len(segs) != 1 || segs[0].ack != x.seq+total {
		x.t.Fatalf("sent %+v, want one ACK of %d", segs, x.seq+total)
	}
	if got := x.readHost(count * size); got != count*size {
		x.t.Fatalf("host read %d bytes, want %d", got, count*size)
	}
}

// TestGatherLimits: a gather is written once it holds gatherIovs
// segments, so a batch of more takes more than one write, still in order.
func TestGatherLimits(t *testing.T) {
	x := newHarness(t)
	x.establish()
	idx := x.h.active[0]
	_ = unix.SetsockoptInt(x.h.flows[idx].fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	x.batchWritten(2*gatherIovs+5, 1000, 0, 3)
}

// TestGatherCutShortNotAcknowledged: a gather the socket takes only part
// of is acknowledged up to what it took, never beyond: the guest
// retransmits the rest.
func TestGatherCutShortNotAcknowledged(t *testing.T) {
	x := newHarness(t)
	_ = unix.SetsockoptInt(x.lfd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) // inherited: small receive buffer
	x.establish()
	idx := x.h.active[0]
	_ = unix.SetsockoptInt(x.h.flows[idx].fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)
	const count, size = 3 * gatherIovs, 1448
	x.batch(count, size, 0)
	segs := x.out.take()
	if len(segs) != 1 || segs[0].flags != pkt.TCPFlagACK {
		t.Fatalf("sent %+v, want one ACK", segs)
	}
	acked := int(segs[0].ack - x.seq)
	if acked <= 0 || acked >= count*size {
		t.Fatalf("ACK of %d bytes of %d: the socket was meant to take part", acked, count*size)
	}
	if got := x.readHost(count * size); got != acked {
		t.Fatalf("host read %d bytes, the guest was acknowledged %d", got, acked)
	}
}

// TestGatherWrittenBeforeFIN: a FIN after gathered segments of the same
// batch shuts the socket down only after the data is written.
func TestGatherWrittenBeforeFIN(t *testing.T) {
	x := newHarness(t)
	x.establish()
	const count, size = 10, 1448
	x.batch(count, size, 0)
	x.seq += count * size
	x.out.take()
	// Data, then a bare FIN, in one batch.
	x.batch(count, size, 0, true)
	f := segment(false, x.sport, 80, x.seq+count*size, x.ack, pkt.TCPFlagFIN|pkt.TCPFlagACK, x.guestWnd, nil, nil)
	var d pkt.Decoded
	_ = pkt.Decode(f, &d)
	x.h.FromGuest(f, &d)
	x.h.EndBatch()
	segs := x.out.take()
	if len(segs) == 0 || segs[len(segs)-1].ack != x.seq+count*size+1 {
		t.Fatalf("sent %+v, want the FIN acknowledged (%d)", segs, x.seq+count*size+1)
	}
	// The same pattern twice: check both halves, then the end of stream.
	_ = unix.SetNonblock(x.host, false)
	buf := make([]byte, 2*count*size+1)
	got := 0
	for {
		n, err := unix.Read(x.host, buf[got:])
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		got += n
	}
	if got != 2*count*size {
		t.Fatalf("host read %d bytes before the end of stream, want %d", got, 2*count*size)
	}
	for i := range got {
		if want := byte((i % (count * size)) % 251); buf[i] != want {
			t.Fatalf("host byte %d is %d, want %d", i, buf[i], want)
		}
	}
}

// TestNoDuplicateAckAfterEarlyAck: a batch that ends just as a full
// gather was written and acknowledged early gets no second ACK of the
// same bytes: the guest counts it as a duplicate, and three make it
// retransmit (Reno fast retransmit, seen as retransmissions from pasta's
// namespace).
func TestNoDuplicateAckAfterEarlyAck(t *testing.T) {
	x := newHarness(t)
	x.establish()
	idx := x.h.active[0]
	_ = unix.SetsockoptInt(x.h.flows[idx].fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	const size = 60000
	count := gatherBytes/size + 1 // the last one fills the gather
	x.batch(count, size, 0)
	segs := x.out.take()
	if len(segs) != 1 || segs[0].ack != x.seq+uint32(count*size) {
		t.Fatalf("sent %+v, want one ACK of %d", segs, x.seq+uint32(count*size))
	}
	if got := x.readHost(count * size); got != count*size {
		t.Fatalf("host read %d bytes, want %d", got, count*size)
	}
}

// offloadRecorder is a recorder that takes super-frames too.
type offloadRecorder struct{ recorder }

func (r *offloadRecorder) QueueOffload(f []byte, _ uint16, _ bool) { r.Queue(f) }

// TestFrameBuffersBounded: the frame buffers a handler fills between two
// flushes hold about 4 MiB at most when frames are large (a 64 KiB MTU, or
// super-frames with offload), since every buffer touched stays in the
// process's memory (it was 16 MiB); at MTU 1500 all frameBufs are used.
func TestFrameBuffersBounded(t *testing.T) {
	const maxBytes = 4<<20 + maxFrame + 60
	l, err := loop.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	none := func(netip.AddrPort) (netip.AddrPort, bool) { return netip.AddrPort{}, false }
	held := func(h *Handler) (n, bytes int) {
		for _, b := range h.bufs {
			if b != nil {
				n++
				bytes += len(b)
			}
		}
		return n, bytes
	}
	for _, tc := range []struct {
		mtu     int
		offload bool
	}{{65520, false}, {1500, true}, {65520, true}} {
		h, err := New(l, 1, &offloadRecorder{recorder{t: t}}, none, tc.mtu, netip.Addr{}, netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		h.SetOffload(tc.offload, tc.offload)
		n, bytes := held(h)
		if n != h.nbufs || n < minBufs || bytes > maxBytes {
			t.Errorf("MTU %d, offload %v: %d buffers (%d in use) of %d bytes in all; want at least %d, within %d",
				tc.mtu, tc.offload, n, h.nbufs, bytes, minBufs, maxBytes)
		}
	}
	h, err := New(l, 1, &recorder{t: t}, none, 1500, netip.Addr{}, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := held(h); n != frameBufs || h.nbufs != frameBufs {
		t.Errorf("MTU 1500: %d buffers (%d in use), want %d", n, h.nbufs, frameBufs)
	}
}

// TestWindowUpdateOnlyWhenNews: EPOLLOUT brings an ACK only with a larger
// window (or something to acknowledge): the same ACK twice is a duplicate
// to a guest with data in flight, and three make it retransmit.
func TestWindowUpdateOnlyWhenNews(t *testing.T) {
	x := newHarness(t)
	x.establish()
	idx := x.h.active[0]
	c := &x.h.flows[idx]
	ref := loop.MakeRef(x.h.kind, uint64(idx))
	drained := func(n int) {
		t.Helper()
		if got := x.readHost(n); got != n {
			t.Fatalf("host read %d bytes, want %d", got, n)
		}
		for end := time.Now().Add(3 * time.Second); ; {
			if q, err := unix.IoctlGetInt(c.fd, unix.TIOCOUTQ); err == nil && q == 0 {
				break
			}
			if time.Now().After(end) {
				t.Fatal("the host never acknowledged")
			}
			time.Sleep(time.Millisecond)
		}
	}
	epollout := func() []seg {
		c.wantOut = true
		x.h.Event(ref, unix.EPOLLOUT)
		return x.out.take()
	}
	x.batch(4, 30000, pkt.TCPFlagPSH)
	x.seq += 4 * 30000
	x.out.take()
	drained(4 * 30000)
	epollout() // the window grew as the host read: an update, or none
	if segs := epollout(); len(segs) != 0 {
		t.Fatalf("EPOLLOUT with the window unchanged sent %+v", segs)
	}
	// Nor a smaller one, and the window the guest was told stands (a
	// later update must be larger than that one, not than this).
	told := c.rcvWnd + 1<<20
	c.rcvWnd = told
	if segs := epollout(); len(segs) != 0 || c.rcvWnd != told {
		t.Fatalf("EPOLLOUT with a smaller window sent %+v, window now %d, want %d", segs, c.rcvWnd, told)
	}
	c.rcvWnd = told - 1<<20
	// Data the host has not read yet shrinks the window the guest saw;
	// once read, EPOLLOUT reopens it with one ACK.
	const n, size = 40, 60000
	x.batch(n, size, pkt.TCPFlagPSH)
	x.seq += n * size
	acks := x.out.take()
	if len(acks) == 0 {
		t.Fatal("no ACK for the data")
	}
	before := acks[len(acks)-1].wnd
	drained(n * size)
	segs := epollout()
	if len(segs) != 1 || segs[0].wnd <= before || segs[0].ack != x.seq {
		t.Fatalf("after the host read: sent %+v, want one ACK of %d with a window over %d", segs, x.seq, before)
	}
}
