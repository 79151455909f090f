// SPDX-License-Identifier: GPL-2.0-or-later

package icmp

import (
	"net/netip"
	"os"
	"runtime"
	"testing"

	"passt/loop"
	"passt/pkt"
)

// checkOutput is an Output that checks every frame is a well-formed echo
// reply with correct checksums.
type checkOutput struct {
	t      *testing.T
	frames int
}

func (o *checkOutput) Queue(f []byte) {
	o.frames++
	var d pkt.Decoded
	if err := pkt.Decode(f, &d); err != nil || d.L4HdrLen != pkt.ICMPHeaderLen {
		o.t.Errorf("handler sent a malformed frame (%v): %x", err, f)
		return
	}
	m := pkt.ICMP(f[d.L4Off : d.L4Off+d.L4Len])
	var sum uint64
	want := pkt.ICMPv4EchoReply
	if d.IPVersion == 6 {
		sum = pkt.PseudoHeaderSum6(d.Src, d.Dst, pkt.ProtoICMPv6, uint32(len(m)))
		want = pkt.ICMPv6EchoReply
	}
	if m.Type() != want || pkt.Finish(pkt.Checksum(m, sum)) != 0 {
		o.t.Errorf("handler sent type %d with checksum %#04x: %x", m.Type(), m.Checksum(), f)
	}
}
func (o *checkOutput) Flush()                      {}
func (o *checkOutput) MACs() (ours, guest [6]byte) { return ourMAC, guestMAC }

// fuzzer runs the handler on a thread in a network namespace of its own,
// where nothing but lo exists: whatever destination a fuzzed frame has,
// no packet leaves the machine.
type fuzzer struct {
	work chan func()
	done chan struct{}
	h    *Handler
	l    *loop.Loop
	out  *checkOutput
	err  error
}

var theFuzzer *fuzzer

func startFuzzer() *fuzzer {
	fz := &fuzzer{work: make(chan func()), done: make(chan struct{}), out: &checkOutput{}}
	go func() {
		runtime.LockOSThread()
		if fz.err = setupNetns("0 2147483647"); fz.err == nil {
			fz.l, fz.err = loop.New()
		}
		if fz.err == nil {
			fz.h, fz.err = New(fz.l, kindICMP, fz.out, Config{NAT: testNAT()})
		}
		fz.done <- struct{}{}
		for f := range fz.work {
			f()
			fz.done <- struct{}{}
		}
	}()
	<-fz.done
	return fz
}

func (fz *fuzzer) run(f func()) {
	fz.work <- f
	<-fz.done
}

// FuzzFromGuest feeds arbitrary frames to the handler, with the ICMP
// checksum fixed up when fix is set (so that fuzzing gets past it) and
// the echo identifier folded to a few values (so that flows are reused
// rather than exhausting descriptors). It must never panic, and whatever
// it sends back must be a well-formed echo reply; replies are read after
// every frame.
func FuzzFromGuest(f *testing.F) {
	seed := func(src, dst netip.Addr, typ, code uint8, payload []byte) []byte {
		return echoFrame(src, dst, typ, code, 1, 1, payload)
	}
	f.Add(request(guest4, gw4, 1, 1, []byte("abcdefgh")), false)
	f.Add(request(guest6, gw6, 2, 7, []byte("abcdefgh")), false)
	f.Add(request(guest4, host4, 3, 1, make([]byte, 1400)), false)
	f.Add(request(guest6, host6, 3, 1, nil), false)
	f.Add(seed(guest4, gw4, 13, 0, make([]byte, 12)), true)
	f.Add(seed(guest6, gw6, 128, 3, nil), true)
	f.Add(seed(guest6, netip.MustParseAddr("ff02::16"), 143, 0, make([]byte, 20)), true)
	f.Add(request(guest4, netip.MustParseAddr("192.0.2.99"), 1, 1, nil), false)
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00, 0x45}, true)
	f.Fuzz(func(t *testing.T, frame []byte, fix bool) {
		if os.Geteuid() != 0 {
			if os.Getenv("CI") == "true" {
				t.Fatal("FuzzFromGuest needs root (a network namespace of its own)")
			}
			t.Skip("needs root")
		}
		if theFuzzer == nil {
			theFuzzer = startFuzzer()
		}
		fz := theFuzzer
		if fz.err != nil {
			t.Fatal(fz.err)
		}
		fz.out.t = t
		var d pkt.Decoded
		if pkt.Decode(frame, &d) != nil {
			return
		}
		if (d.L4Proto == pkt.ProtoICMP || d.L4Proto == pkt.ProtoICMPv6) && d.L4HdrLen == pkt.ICMPHeaderLen {
			m := pkt.ICMP(frame[d.L4Off : d.L4Off+d.L4Len])
			m.SetID(m.ID() % 8)
			if fix && d.IPVersion == 6 {
				pkt.FinishICMPv6(m, d.Src, d.Dst)
			} else if fix {
				pkt.FinishICMPv4(m)
			}
		}
		fz.run(func() {
			fz.h.FromGuest(frame, &d)
			for idx := range fz.h.table.Limit() {
				if fz.h.table.InUse(idx) {
					fz.h.Event(loop.MakeRef(kindICMP, uint64(idx)), 0)
				}
			}
		})
	})
}
