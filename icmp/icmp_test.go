// SPDX-License-Identifier: GPL-2.0-or-later

package icmp

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"passt/flow"
	"passt/internal/netnstest"
	"passt/loop"
	"passt/pkt"
)

const (
	kindICMP loop.Kind = 1
	kindStop loop.Kind = 2
)

var (
	ourMAC   = [6]byte{0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55}
	guestMAC = [6]byte{0x02, 0, 0, 0, 0, 0x15}

	guest4 = netip.MustParseAddr("10.0.2.15")
	gw4    = netip.MustParseAddr("10.0.2.2")
	host4  = netip.MustParseAddr("198.51.100.1") // on the test namespace's lo
	guest6 = netip.MustParseAddr("fd00:abcd::2")
	gw6    = netip.MustParseAddr("fd00:abcd::1")
	host6  = netip.MustParseAddr("2001:db8:77::1")
)

// testNAT maps the gateways to loopback, as the default configuration does.
func testNAT() *flow.NAT {
	return &flow.NAT{
		V4: flow.FamilyAddrs{Guest: guest4, GuestSeen: guest4, Our: gw4, MapHostLoopback: gw4},
		V6: flow.FamilyAddrs{Guest: guest6, GuestSeen: guest6, Our: netip.MustParseAddr("fe80::1"), MapHostLoopback: gw6},
	}
}

// collect is an Output keeping a copy of every frame.
type collect struct {
	frames  [][]byte
	flushes int
}

func (o *collect) Queue(f []byte)              { o.frames = append(o.frames, bytes.Clone(f)) }
func (o *collect) Flush()                      { o.flushes++ }
func (o *collect) MACs() (ours, guest [6]byte) { return ourMAC, guestMAC }

// requireRoot skips, or fails in CI, when not root: the tests need a
// network namespace of their own.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root (a network namespace with ping sockets allowed)")
	}
	t.Skip("needs root")
}

// inNetns runs f on a goroutine locked to a thread in a new network
// namespace, with lo up and carrying host4 and host6, and pingRange as its
// net.ipv4.ping_group_range (the sysctl is per namespace, so the host's is
// left alone). The thread is never unlocked: it ends with the goroutine,
// and the namespace with it. f must not call t.Fatal.
func inNetns(t *testing.T, pingRange string, f func()) {
	t.Helper()
	requireRoot(t)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := setupNetns(pingRange); err != nil {
			errc <- err
			return
		}
		defer func() { errc <- nil }()
		f()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// setupNetns moves the calling thread into the namespace inNetns describes.
func setupNetns(pingRange string) error {
	return netnstest.Enter(map[string]string{"ipv4/ping_group_range": pingRange},
		netip.PrefixFrom(host4, 32), netip.PrefixFrom(host6, 128))
}

// echoFrame builds a guest frame carrying an ICMP message of type typ and
// code with a correct checksum (unless badSum).
func echoFrame(src, dst netip.Addr, typ, code uint8, id, seq uint16, payload []byte) []byte {
	v6 := src.Is6()
	et, proto, ipl := pkt.EtherTypeIPv4, uint8(pkt.ProtoICMP), pkt.IPv4MinHeaderLen
	if v6 {
		et, proto, ipl = pkt.EtherTypeIPv6, pkt.ProtoICMPv6, pkt.IPv6HeaderLen
	}
	mlen := pkt.ICMPHeaderLen + len(payload)
	b := make([]byte, pkt.EthernetHeaderLen+ipl+mlen)
	n := pkt.BuildEthernet(b, ourMAC, guestMAC, et)
	if v6 {
		n += pkt.BuildIPv6(b[n:], src, dst, proto, mlen, 64, 0)
	} else {
		n += pkt.BuildIPv4(b[n:], src, dst, proto, mlen, 64, 0)
	}
	pkt.BuildICMP(b[n:], typ, code, id, seq)
	copy(b[n+pkt.ICMPHeaderLen:], payload)
	m := pkt.ICMP(b[n:])
	if v6 {
		pkt.FinishICMPv6(m, src, dst)
	} else {
		pkt.FinishICMPv4(m)
	}
	return b
}

func request(src, dst netip.Addr, id, seq uint16, payload []byte) []byte {
	typ := pkt.ICMPv4EchoRequest
	if src.Is6() {
		typ = pkt.ICMPv6EchoRequest
	}
	return echoFrame(src, dst, typ, 0, id, seq, payload)
}

// send decodes f and hands it to h.
func send(h *Handler, f []byte) error {
	var d pkt.Decoded
	if err := pkt.Decode(f, &d); err != nil {
		return err
	}
	h.FromGuest(f, &d)
	return nil
}

// newHandler returns a handler on a new loop, with the collecting output.
func newHandler(t *testing.T) (*Handler, *loop.Loop, *collect, error) {
	l, err := loop.New()
	if err != nil {
		return nil, nil, nil, err
	}
	out := &collect{}
	h, err := New(l, kindICMP, out, Config{NAT: testNAT()})
	if err != nil {
		l.Close()
		return nil, nil, nil, err
	}
	return h, l, out, nil
}

// pump runs the loop until out holds want frames or timeout passes.
func pump(h *Handler, l *loop.Loop, out *collect, want int, timeout time.Duration) {
	if len(out.frames) >= want {
		return
	}
	stop, err := l.NewTimer(loop.MakeRef(kindStop, 0))
	if err != nil {
		return
	}
	defer func() { l.Del(stop.Fd()); unix.Close(stop.Fd()) }()
	_ = stop.Set(timeout, 0)
	_ = l.Run(func(ref loop.Ref, ev uint32) {
		switch ref.Kind() {
		case kindICMP:
			h.Event(ref, ev)
			if len(out.frames) >= want {
				l.Stop()
			}
		case kindStop:
			l.Stop()
		}
	})
}

// checkReply verifies that f is the echo reply to a request with id, seq
// and payload from guest to peer (the address the guest pinged).
func checkReply(f []byte, guest, peer netip.Addr, id, seq uint16, payload []byte) error {
	var d pkt.Decoded
	if err := pkt.Decode(f, &d); err != nil {
		return fmt.Errorf("reply does not decode: %v", err)
	}
	e := pkt.Ethernet(f)
	if e.Dst() != guestMAC || e.Src() != ourMAC {
		return fmt.Errorf("reply MACs %x -> %x", e.Src(), e.Dst())
	}
	if d.Src != peer || d.Dst != guest {
		return fmt.Errorf("reply from %v to %v, want from %v to %v", d.Src, d.Dst, peer, guest)
	}
	if d.TTL != replyHopLimit {
		return fmt.Errorf("reply TTL %d", d.TTL)
	}
	m := pkt.ICMP(f[d.L4Off : d.L4Off+d.L4Len])
	var sum uint64
	want := pkt.ICMPv4EchoReply
	if guest.Is6() {
		sum = pkt.PseudoHeaderSum6(d.Src, d.Dst, pkt.ProtoICMPv6, uint32(len(m)))
		want = pkt.ICMPv6EchoReply
	} else if !pkt.IPv4(f[d.L3Off : d.L3Off+d.L3Len]).ChecksumValid() {
		return fmt.Errorf("bad IPv4 header checksum")
	}
	if pkt.Finish(pkt.Checksum(m, sum)) != 0 {
		return fmt.Errorf("bad ICMP checksum %#04x", m.Checksum())
	}
	if m.Type() != want || m.Code() != 0 {
		return fmt.Errorf("reply type %d code %d", m.Type(), m.Code())
	}
	if m.ID() != id || m.Seq() != seq {
		return fmt.Errorf("reply id %#x seq %d, want id %#x seq %d", m.ID(), m.Seq(), id, seq)
	}
	if !bytes.Equal(m.Payload(), payload) {
		return fmt.Errorf("reply payload differs: %d bytes, want %d", len(m.Payload()), len(payload))
	}
	return nil
}

// TestEcho: echo requests to the gateway (mapped to loopback) and to an
// address of the host, IPv4 and IPv6, come back as replies with the
// guest's id, the sequence numbers and payload, from the address pinged,
// with valid checksums; one flow per id, reused.
func TestEcho(t *testing.T) {
	inNetns(t, "0 2147483647", func() {
		h, l, out, err := newHandler(t)
		if err != nil {
			t.Error(err)
			return
		}
		defer l.Close()
		defer h.Close()
		payload := []byte("0123456789abcdef0123456789abcdef0123456789abcdefXYZ") // odd length
		big := bytes.Repeat([]byte{0xa5, 0x5a, 0x01}, 20000)
		cases := []struct {
			name        string
			guest, peer netip.Addr
			payload     []byte
		}{
			{"v4 gateway", guest4, gw4, payload},
			{"v4 host address", guest4, host4, payload},
			{"v6 gateway", guest6, gw6, payload},
			{"v6 host address", guest6, host6, payload},
			{"v4 60000 bytes", guest4, gw4, big},
			{"v6 60000 bytes", guest6, host6, big},
		}
		for i, c := range cases {
			out.frames = nil
			id := uint16(0x1200 + i)
			flows := h.Flows()
			for seq := uint16(1); seq <= 3; seq++ {
				if err := send(h, request(c.guest, c.peer, id, seq, c.payload)); err != nil {
					t.Errorf("%s: %v", c.name, err)
					return
				}
				pump(h, l, out, int(seq), 2*time.Second)
			}
			if len(out.frames) != 3 {
				t.Errorf("%s: %d replies, want 3 (stats %+v)", c.name, len(out.frames), h.Stats)
				continue
			}
			for seq, f := range out.frames {
				if err := checkReply(f, c.guest, c.peer, id, uint16(seq+1), c.payload); err != nil {
					t.Errorf("%s: seq %d: %v", c.name, seq+1, err)
				}
			}
			if h.Flows() != flows+1 {
				t.Errorf("%s: %d flows, want %d", c.name, h.Flows(), flows+1)
			}
		}
		if h.Stats.Requests != 18 || h.Stats.Replies != 18 {
			t.Errorf("stats %+v", h.Stats)
		}
	})
}

// TestIDs: two guest ids (and two guest addresses with the same id) to
// the same destination are separate flows, and each reply carries the id
// and sequence number of its own request.
func TestIDs(t *testing.T) {
	inNetns(t, "0 2147483647", func() {
		h, l, out, err := newHandler(t)
		if err != nil {
			t.Error(err)
			return
		}
		defer l.Close()
		defer h.Close()
		other := netip.MustParseAddr("10.0.2.16")
		reqs := []struct {
			src     netip.Addr
			id, seq uint16
		}{{guest4, 7, 100}, {guest4, 8, 200}, {other, 7, 300}, {guest4, 7, 101}, {guest4, 8, 201}, {other, 7, 301}}
		for i, r := range reqs {
			if err := send(h, request(r.src, host4, r.id, r.seq, []byte("ids"))); err != nil {
				t.Error(err)
				return
			}
			pump(h, l, out, i+1, 2*time.Second)
		}
		if len(out.frames) != len(reqs) || h.Flows() != 3 {
			t.Errorf("%d replies, %d flows; want %d, 3", len(out.frames), h.Flows(), len(reqs))
			return
		}
		for i, r := range reqs {
			if err := checkReply(out.frames[i], r.src, host4, r.id, r.seq, []byte("ids")); err != nil {
				t.Errorf("request %d: %v", i, err)
			}
		}
	})
}

// TestDrops: malformed packets, bad checksums, other ICMP types and
// destinations without translation are dropped and counted, and create no
// flow.
func TestDrops(t *testing.T) {
	inNetns(t, "0 2147483647", func() {
		h, l, _, err := newHandler(t)
		if err != nil {
			t.Error(err)
			return
		}
		defer l.Close()
		defer h.Close()

		badSum := request(guest4, gw4, 1, 1, []byte("payload"))
		badSum[len(badSum)-1] ^= 0x40
		badSum6 := request(guest6, gw6, 1, 1, []byte("payload"))
		badSum6[len(badSum6)-2] ^= 0x01
		// The right ICMPv6 checksum but computed for other addresses.
		wrongPseudo := request(guest6, gw6, 1, 1, []byte("p"))
		copy(wrongPseudo[14+8:14+24], guest6.Next().AsSlice())
		fragment := request(guest4, gw4, 1, 1, []byte("payload"))
		fragment[14+6] = 0x20 // MF
		pkt.IPv4(fragment[14:]).UpdateChecksum()
		icmpInV6 := request(guest6, gw6, 1, 1, nil)
		icmpInV6[14+6] = pkt.ProtoICMP

		cases := []struct {
			name    string
			frame   []byte
			counter *uint64
		}{
			{"bad checksum v4", badSum, &h.Stats.BadChecksum},
			{"bad checksum v6", badSum6, &h.Stats.BadChecksum},
			{"v6 pseudo-header", wrongPseudo, &h.Stats.BadChecksum},
			{"timestamp request", echoFrame(guest4, gw4, 13, 0, 1, 1, make([]byte, 12)), &h.Stats.NotEcho},
			{"echo code 1", echoFrame(guest4, gw4, 8, 1, 1, 1, nil), &h.Stats.NotEcho},
			{"echo reply from guest", echoFrame(guest4, gw4, 0, 0, 1, 1, nil), &h.Stats.NotEcho},
			{"ICMPv4 echo type in v6", echoFrame(guest6, gw6, 8, 0, 1, 1, nil), &h.Stats.NotEcho},
			{"v6 destination unreachable", echoFrame(guest6, gw6, 1, 0, 0, 0, make([]byte, 48)), &h.Stats.NotEcho},
			{"MLD report", echoFrame(guest6, netip.MustParseAddr("ff02::16"), 143, 0, 0, 1, make([]byte, 20)), &h.Stats.NotEcho},
			{"fragment", fragment, &h.Stats.Malformed},
			{"ICMP over IPv6", icmpInV6, &h.Stats.Malformed},
			{"unspecified source", request(netip.IPv4Unspecified(), gw4, 1, 1, nil), &h.Stats.Malformed},
			{"multicast source", request(netip.MustParseAddr("224.0.0.1"), gw4, 1, 1, nil), &h.Stats.Malformed},
			{"v4-mapped v6", request(netip.MustParseAddr("::ffff:10.0.2.15"), gw6, 1, 1, nil), &h.Stats.Malformed},
			{"to multicast", request(guest4, netip.MustParseAddr("224.0.0.1"), 1, 1, nil), &h.Stats.Refused},
			{"to broadcast", request(guest4, netip.MustParseAddr("255.255.255.255"), 1, 1, nil), &h.Stats.Refused},
			{"to loopback", request(guest6, netip.IPv6Loopback(), 1, 1, nil), &h.Stats.Refused},
		}
		for _, c := range cases {
			before := *c.counter
			if err := send(h, c.frame); err != nil {
				t.Errorf("%s: test frame does not decode: %v", c.name, err)
				continue
			}
			if *c.counter != before+1 {
				t.Errorf("%s: not counted (stats %+v)", c.name, h.Stats)
			}
		}
		if h.Flows() != 0 || h.Stats.Requests != 0 {
			t.Errorf("bad input made %d flows, %d requests", h.Flows(), h.Stats.Requests)
		}

		// Decodings that do not match the frame never make it panic.
		f := request(guest4, gw4, 1, 1, []byte("x"))
		var d pkt.Decoded
		_ = pkt.Decode(f, &d)
		for _, mut := range []func(d *pkt.Decoded){
			func(d *pkt.Decoded) { d.L4Len = 1 << 20 },
			func(d *pkt.Decoded) { d.L4Off = len(f) },
			func(d *pkt.Decoded) { d.L4Off = -8 },
			func(d *pkt.Decoded) { d.L4Len = 4 },
			func(d *pkt.Decoded) { d.L4HdrLen = 0 },
			func(d *pkt.Decoded) { d.IPVersion = 5 },
		} {
			dd := d
			mut(&dd)
			before := h.Stats.Malformed
			h.FromGuest(f, &dd)
			if h.Stats.Malformed != before+1 {
				t.Errorf("inconsistent decoding %+v not counted as malformed", dd)
			}
		}
	})
}

// TestExpiry: a flow stays while requests use it and is closed, with its
// socket, after the idle timeout; the timer stops with the last flow.
func TestExpiry(t *testing.T) {
	inNetns(t, "0 2147483647", func() {
		h, l, out, err := newHandler(t)
		if err != nil {
			t.Error(err)
			return
		}
		defer l.Close()
		defer h.Close()
		if err := send(h, request(guest4, gw4, 5, 1, nil)); err != nil {
			t.Error(err)
			return
		}
		pump(h, l, out, 1, 2*time.Second)
		idx, ok := h.table.Lookup(flow.MakeKey(pkt.ProtoICMP, netip.AddrPortFrom(guest4, 5), netip.AddrPortFrom(gw4, 5)))
		if !ok || !h.timerOn {
			t.Errorf("no flow (%v) or timer not armed (%v)", ok, h.timerOn)
			return
		}
		fd := h.flows[idx].fd
		last := h.flows[idx].lastUsed
		h.expire(last + IdleTimeout)
		if h.Flows() != 1 {
			t.Error("flow expired before the idle timeout")
		}
		h.expire(last + IdleTimeout + time.Millisecond)
		if h.Flows() != 0 || h.Stats.Expired != 1 || h.timerOn {
			t.Errorf("after the timeout: %d flows, %d expired, timer on %v", h.Flows(), h.Stats.Expired, h.timerOn)
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
			t.Errorf("socket %d of the expired flow still open (%v)", fd, err)
		}
		// The same id again opens a new flow that works.
		out.frames = nil
		if err := send(h, request(guest4, gw4, 5, 2, nil)); err != nil {
			t.Error(err)
			return
		}
		pump(h, l, out, 1, 2*time.Second)
		if len(out.frames) != 1 || h.Flows() != 1 {
			t.Errorf("after expiry: %d replies, %d flows", len(out.frames), h.Flows())
		}
	})
}

// TestFDLimit: beyond ICMP's descriptor share, requests with new
// identifiers are dropped while existing flows keep working, and new ones
// open again once old ones expire.
func TestFDLimit(t *testing.T) {
	inNetns(t, "0 2147483647", func() {
		h, l, out, err := newHandler(t)
		if err != nil {
			t.Error(err)
			return
		}
		defer l.Close()
		defer h.Close()
		h.SetFDLimit(2)
		for id := uint16(1); id <= 4; id++ {
			if err := send(h, request(guest4, gw4, id, 1, nil)); err != nil {
				t.Error(err)
				return
			}
		}
		pump(h, l, out, 2, 2*time.Second)
		if h.Flows() != 2 || h.Stats.OverBudget != 2 || h.Stats.Refused != 2 || len(out.frames) != 2 {
			t.Errorf("%d flows, %d replies, stats %+v", h.Flows(), len(out.frames), h.Stats)
			return
		}
		out.frames = nil
		if err := send(h, request(guest4, gw4, 1, 2, nil)); err != nil {
			t.Error(err)
			return
		}
		pump(h, l, out, 1, 2*time.Second)
		if len(out.frames) != 1 {
			t.Errorf("an existing flow got %d replies beyond the share", len(out.frames))
		}
		h.expire(h.clock() + IdleTimeout + time.Second)
		out.frames = nil
		if err := send(h, request(guest4, gw4, 3, 2, nil)); err != nil {
			t.Error(err)
			return
		}
		pump(h, l, out, 1, 2*time.Second)
		if len(out.frames) != 1 || h.Flows() != 1 {
			t.Errorf("after expiry: %d replies, %d flows", len(out.frames), h.Flows())
		}
	})
}

// TestTimerExpiry: the timer really fires and closes idle flows.
func TestTimerExpiry(t *testing.T) {
	inNetns(t, "0 2147483647", func() {
		h, l, out, err := newHandler(t)
		if err != nil {
			t.Error(err)
			return
		}
		defer l.Close()
		defer h.Close()
		h.Timeout = time.Millisecond
		if err := send(h, request(guest6, gw6, 9, 1, nil)); err != nil {
			t.Error(err)
			return
		}
		pump(h, l, out, 1, 2*time.Second)
		deadline := time.Now().Add(3 * tickInterval)
		for h.Flows() > 0 && time.Now().Before(deadline) {
			pump(h, l, out, 2, 100*time.Millisecond)
		}
		if h.Flows() != 0 || h.timerOn {
			t.Errorf("flow not expired by the timer: %d flows, timer on %v", h.Flows(), h.timerOn)
		}
	})
}

// TestPingForbidden: when ping_group_range excludes us, upstream's warning
// is logged once, whatever the number of requests, and they are counted
// as refused.
func TestPingForbidden(t *testing.T) {
	var logged []string
	saved := warnf
	warnf = func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }
	defer func() { warnf = saved }()
	inNetns(t, "1 0", func() {
		h, l, _, err := newHandler(t)
		if err != nil {
			t.Error(err)
			return
		}
		defer l.Close()
		for i := range 5 {
			_ = send(h, request(guest4, gw4, uint16(i), 1, nil))
			_ = send(h, request(guest6, host6, uint16(i), 1, nil))
		}
		if h.Stats.Refused != 10 || h.Flows() != 0 {
			t.Errorf("stats %+v, %d flows", h.Stats, h.Flows())
		}
	})
	want := "Cannot open \"ping\" socket. You might need to:\n" +
		"  sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"\n" +
		"...echo requests/replies will fail."
	if got := strings.Join(logged, "\n"); got != want {
		t.Errorf("warnings:\n%s\nwant:\n%s", got, want)
	}
}

// countOutput counts frames without keeping them (no allocation).
type countOutput struct{ frames int }

func (o *countOutput) Queue([]byte)                { o.frames++ }
func (o *countOutput) Flush()                      {}
func (o *countOutput) MACs() (ours, guest [6]byte) { return ourMAC, guestMAC }

// TestAllocs: an echo round trip on an existing flow (request from the
// guest, reply read and built) allocates nothing.
func TestAllocs(t *testing.T) {
	inNetns(t, "0 2147483647", func() {
		l, err := loop.New()
		if err != nil {
			t.Error(err)
			return
		}
		defer l.Close()
		out := &countOutput{}
		h, err := New(l, kindICMP, out, Config{NAT: testNAT()})
		if err != nil {
			t.Error(err)
			return
		}
		defer h.Close()
		for _, c := range []struct{ guest, peer netip.Addr }{{guest4, gw4}, {guest6, host6}} {
			f := request(c.guest, c.peer, 0x4242, 1, bytes.Repeat([]byte{1}, 56))
			var d pkt.Decoded
			if err := pkt.Decode(f, &d); err != nil {
				t.Error(err)
				return
			}
			h.FromGuest(f, &d) // opens the flow
			proto := uint8(pkt.ProtoICMP)
			if c.guest.Is6() {
				proto = pkt.ProtoICMPv6
			}
			idx, ok := h.table.Lookup(flow.MakeKey(proto, netip.AddrPortFrom(c.guest, 0x4242), netip.AddrPortFrom(c.peer, 0x4242)))
			if !ok {
				t.Errorf("%v: no flow", c.peer)
				return
			}
			ref := loop.MakeRef(kindICMP, uint64(idx))
			pfd := []unix.PollFd{{Fd: int32(h.flows[idx].fd), Events: unix.POLLIN}}
			roundTrip := func() {
				h.FromGuest(f, &d)
				_, _ = unix.Poll(pfd, 1000)
				h.Event(ref, unix.EPOLLIN)
			}
			roundTrip()
			before := out.frames
			if a := testing.AllocsPerRun(200, roundTrip); a != 0 {
				t.Errorf("%v: %v allocations per echo", c.peer, a)
			}
			if out.frames-before != 201 {
				t.Errorf("%v: %d replies for 201 requests", c.peer, out.frames-before)
			}
		}
	})
}

// BenchmarkEcho measures an echo round trip through a ping socket on
// loopback.
func BenchmarkEcho(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if err := setupNetns("0 2147483647"); err != nil {
			b.Error(err)
			return
		}
		l, _ := loop.New()
		defer l.Close()
		out := &countOutput{}
		h, _ := New(l, kindICMP, out, Config{NAT: testNAT()})
		defer h.Close()
		f := request(guest4, gw4, 1, 1, make([]byte, 56))
		var d pkt.Decoded
		_ = pkt.Decode(f, &d)
		h.FromGuest(f, &d)
		ref := loop.MakeRef(kindICMP, 0)
		pfd := []unix.PollFd{{Fd: int32(h.flows[0].fd), Events: unix.POLLIN}}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			h.FromGuest(f, &d)
			_, _ = unix.Poll(pfd, 1000)
			h.Event(ref, unix.EPOLLIN)
		}
	}()
	<-done
}
