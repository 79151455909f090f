// SPDX-License-Identifier: GPL-2.0-or-later

package loop

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestRefs(t *testing.T) {
	r := MakeRef(7, 123456789)
	if r.Kind() != 7 || r.Index() != 123456789 {
		t.Fatalf("ref %x: kind %d index %d", uint64(r), r.Kind(), r.Index())
	}
}

// TestDispatch: a readable pipe is reported with its ref, a timer fires,
// Post runs on the loop, Stop ends Run.
func TestDispatch(t *testing.T) {
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	if err := l.Add(p[0], unix.EPOLLIN, MakeRef(1, 42)); err != nil {
		t.Fatal(err)
	}
	tm, err := l.NewTimer(MakeRef(2, 0))
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(p[1], []byte("x"))
	if err := tm.Set(20*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	var gotPipe, gotTimer, gotPost bool
	go l.Post(func() { gotPost = true })
	start := time.Now()
	err = l.Run(func(ref Ref, ev uint32) {
		switch ref.Kind() {
		case 1:
			if ref.Index() != 42 || ev&unix.EPOLLIN == 0 {
				t.Errorf("pipe event %x ref %v", ev, ref)
			}
			var b [8]byte
			unix.Read(p[0], b[:])
			gotPipe = true
		case 2:
			if tm.Ack() != 1 {
				t.Errorf("timer expirations")
			}
			gotTimer = true
		}
		if gotPipe && gotTimer && gotPost {
			l.Stop()
		}
		if time.Since(start) > 5*time.Second {
			t.Error("timeout")
			l.Stop()
		}
	})
	if err != nil || !gotPipe || !gotTimer || !gotPost {
		t.Fatalf("err %v pipe %v timer %v post %v", err, gotPipe, gotTimer, gotPost)
	}
	if time.Since(start) < 15*time.Millisecond {
		t.Errorf("timer fired early")
	}
}

// TestNoAllocs: dispatching ready events allocates nothing.
func TestNoAllocs(t *testing.T) {
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var p [2]int
	unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC)
	l.Add(p[0], unix.EPOLLIN, MakeRef(1, 1))
	var b [1]byte
	h := func(ref Ref, ev uint32) {
		unix.Read(p[0], b[:])
		l.Stop()
	}
	allocs := testing.AllocsPerRun(100, func() {
		unix.Write(p[1], b[:])
		l.Run(h)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per dispatch", allocs)
	}
}

// TestSleepNext: with events back to back the loop polls for them (the
// handler makes the next one ready itself); a handler calling SleepNext
// makes every wait go to sleep in epoll_wait instead, with no poll.
func TestSleepNext(t *testing.T) {
	if n := loopPolls(t, false); n == 0 {
		t.Errorf("no polls for 1000 events back to back, without SleepNext")
	}
	if n := loopPolls(t, true); n != 0 {
		t.Errorf("%d polls for 1000 events with SleepNext, want none", n)
	}
}

// loopPolls runs a loop over 1000 events, each handler call making the next
// one ready, and returns how many times the loop polled.
func loopPolls(t *testing.T, sleepNext bool) uint64 {
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	if err := l.Add(p[0], unix.EPOLLIN, MakeRef(1, 1)); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	unix.Write(p[1], b[:])
	events := 0
	err = l.Run(func(ref Ref, ev uint32) {
		unix.Read(p[0], b[:])
		if events++; events == 1000 {
			l.Stop()
			return
		}
		unix.Write(p[1], b[:])
		if sleepNext {
			l.SleepNext()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return l.polls
}
