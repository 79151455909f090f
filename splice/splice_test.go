// SPDX-License-Identifier: GPL-2.0-or-later

package splice

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// rawPair returns a connected pair of TCP sockets over 127.0.0.1: the
// connecting end (blocking) and the accepted end (non-blocking).
func rawPair(t testing.TB) (end, middle int) {
	t.Helper()
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ln)
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(ln, 1); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(ln)
	if err != nil {
		t.Fatal(err)
	}
	end, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(end, sa); err != nil {
		t.Fatal(err)
	}
	middle, _, err = unix.Accept4(ln, unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	return end, middle
}

// tcpConn wraps a raw socket into a *net.TCPConn (the fd is taken over).
func tcpConn(t testing.TB, fd int) *net.TCPConn {
	t.Helper()
	f := os.NewFile(uintptr(fd), "end")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	return c.(*net.TCPConn)
}

// setup returns the two outer ends, as net connections, of a Conn joining
// the two middle sockets: c1 talks to A, c2 to B.
func setup(t testing.TB, pool *Pool) (c1, c2 *net.TCPConn, sc *Conn) {
	t.Helper()
	e1, a := rawPair(t)
	e2, b := rawPair(t)
	sc = new(Conn)
	if err := sc.Init(pool, a, b); err != nil {
		t.Fatal(err)
	}
	return tcpConn(t, e1), tcpConn(t, e2), sc
}

type result struct {
	state State
	err   error
}

// pumps counts Pump calls made by drive loops (for the spin test).
var pumps atomic.Int64

// driveWithPump makes drive loops call Pump rather than PumpEvents (the
// engine calls PumpEvents; Pump must work the same).
var driveWithPump atomic.Bool

// drive runs a small epoll loop pumping conns until all have finished, on
// the calling goroutine, as the engine's loop would.
func drive(conns []*Conn, timeout time.Duration) ([]result, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	defer unix.Close(epfd)
	res := make([]result, len(conns))
	masks := make([][2]uint32, len(conns))
	left := len(conns)
	finish := func(i int, st State, err error) {
		unix.EpollCtl(epfd, unix.EPOLL_CTL_DEL, conns[i].A(), nil)
		unix.EpollCtl(epfd, unix.EPOLL_CTL_DEL, conns[i].B(), nil)
		conns[i].Close()
		res[i] = result{st, err}
		left--
	}
	for i, c := range conns {
		for side, fd := range [2]int{c.A(), c.B()} {
			ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i), Pad: int32(side)}
			if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
				return nil, err
			}
			masks[i][side] = unix.EPOLLIN
		}
	}
	events := make([]unix.EpollEvent, 64)
	deadline := time.Now().Add(timeout)
	for left > 0 {
		if time.Now().After(deadline) {
			return res, fmt.Errorf("timeout with %d connections left", left)
		}
		n, err := unix.EpollWait(epfd, events, 100)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return nil, err
		}
		for _, ev := range events[:max(n, 0)] {
			i := int(ev.Fd)
			c := conns[i]
			if c.A() < 0 {
				continue // finished earlier in this batch
			}
			pumps.Add(1)
			var wa, wb uint32
			var st State
			var err error
			if driveWithPump.Load() {
				wa, wb, st, err = c.Pump()
			} else {
				wa, wb, st, err = c.PumpEvents(int(ev.Pad), ev.Events)
			}
			if st != Open {
				finish(i, st, err)
				continue
			}
			for side, w := range [2]uint32{wa, wb} {
				if masks[i][side] == w {
					continue
				}
				masks[i][side] = w
				fd := c.A()
				if side == 1 {
					fd = c.B()
				}
				e := unix.EpollEvent{Events: w, Fd: int32(i), Pad: int32(side)}
				if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, fd, &e); err != nil {
					return nil, err
				}
			}
		}
	}
	return res, nil
}

func driveAsync(t testing.TB, conns []*Conn, timeout time.Duration) func() []result {
	ch := make(chan []result, 1)
	errc := make(chan error, 1)
	go func() {
		r, err := drive(conns, timeout)
		errc <- err
		ch <- r
	}()
	return func() []result {
		t.Helper()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		return <-ch
	}
}

// send writes data to c then shuts c down for writing.
func send(c *net.TCPConn, data []byte) error {
	if _, err := c.Write(data); err != nil {
		return err
	}
	return c.CloseWrite()
}

// recvHash reads c to end of file and returns the hash and length of what
// arrived.
func recvHash(c *net.TCPConn) ([32]byte, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, c)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, n, err
}

func randBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// exchange sends d1 from c1 and d2 from c2 at the same time, each side
// closing for writing after its data, and checks both arrive intact.
func exchange(t *testing.T, c1, c2 *net.TCPConn, d1, d2 []byte) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	check := func(c *net.TCPConn, want []byte) {
		defer wg.Done()
		sum, n, err := recvHash(c)
		if err != nil {
			errs <- err
			return
		}
		if n != int64(len(want)) || sum != sha256.Sum256(want) {
			errs <- fmt.Errorf("received %d bytes, hash mismatch or short (want %d)", n, len(want))
		}
	}
	wg.Add(4)
	go func() { defer wg.Done(); errs <- send(c1, d1) }()
	go func() { defer wg.Done(); errs <- send(c2, d2) }()
	go check(c2, d1)
	go check(c1, d2)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestBulkBothWays(t *testing.T) { bulkBothWays(t) }

// TestBulkBothWaysPump: the same, pumping both directions on every event.
func TestBulkBothWaysPump(t *testing.T) {
	driveWithPump.Store(true)
	defer driveWithPump.Store(false)
	bulkBothWays(t)
}

func bulkBothWays(t *testing.T) {
	c1, c2, sc := setup(t, nil)
	defer c1.Close()
	defer c2.Close()
	wait := driveAsync(t, []*Conn{sc}, 60*time.Second)
	d1, d2 := randBytes(t, 10<<20), randBytes(t, 10<<20)
	exchange(t, c1, c2, d1, d2)
	r := wait()
	if r[0].state != Closed || r[0].err != nil {
		t.Fatalf("final state %v, %v; want closed", r[0].state, r[0].err)
	}
	ab, ba := sc.Bytes()
	if ab != int64(len(d1)) || ba != int64(len(d2)) {
		t.Fatalf("counted %d/%d bytes", ab, ba)
	}
}

// halfClose: the client sends a request and shuts down writing, the server
// reads all of it, then sends a long reply and closes; the client still
// receives the whole reply through the half-closed connection.
func halfClose(t *testing.T, client, server *net.TCPConn, sc *Conn) {
	wait := driveAsync(t, []*Conn{sc}, 60*time.Second)
	req, reply := randBytes(t, 100<<10), randBytes(t, 5<<20)
	if err := send(client, req); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(server)
	if err != nil || !bytes.Equal(got, req) {
		t.Fatalf("server got %d bytes (%v), want %d", len(got), err, len(req))
	}
	// The server's side of the connection is still open for writing:
	// give the loop time to show it does not end the Conn early.
	time.Sleep(50 * time.Millisecond)
	if err := send(server, reply); err != nil {
		t.Fatal(err)
	}
	sum, n, err := recvHash(client)
	if err != nil || n != int64(len(reply)) || sum != sha256.Sum256(reply) {
		t.Fatalf("client got %d bytes (%v), want %d intact", n, err, len(reply))
	}
	server.Close()
	client.Close()
	if r := wait(); r[0].state != Closed {
		t.Fatalf("final state %v, %v; want closed", r[0].state, r[0].err)
	}
}

func TestHalfCloseAtoB(t *testing.T) {
	c1, c2, sc := setup(t, nil)
	halfClose(t, c1, c2, sc)
}

func TestHalfCloseBtoA(t *testing.T) {
	c1, c2, sc := setup(t, nil)
	halfClose(t, c2, c1, sc)
}

// reset: one outer end aborts (SO_LINGER 0, close); the other outer end
// must see ECONNRESET.
func reset(t *testing.T, aborting, other *net.TCPConn, sc *Conn) {
	wait := driveAsync(t, []*Conn{sc}, 30*time.Second)
	// Some traffic first, so the Conn is established both ways.
	if _, err := other.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(aborting, buf); err != nil {
		t.Fatal(err)
	}
	if err := aborting.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	aborting.Close()
	other.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := other.Read(buf)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after peer reset: %v, want ECONNRESET", err)
	}
	other.Close()
	if r := wait(); r[0].state != Reset || !errors.Is(r[0].err, syscall.ECONNRESET) {
		t.Fatalf("final state %v, %v; want reset by ECONNRESET", r[0].state, r[0].err)
	}
}

func TestResetFromA(t *testing.T) {
	c1, c2, sc := setup(t, nil)
	reset(t, c1, c2, sc)
}

func TestResetFromB(t *testing.T) {
	c1, c2, sc := setup(t, nil)
	reset(t, c2, c1, sc)
}

// TestResetAfterHalfClose: the reset comes from an end whose direction has
// already finished, while the Conn only waits on the other socket.
func TestResetAfterHalfClose(t *testing.T) {
	c1, c2, sc := setup(t, nil)
	wait := driveAsync(t, []*Conn{sc}, 30*time.Second)
	if err := c1.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, err := c2.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("got %d, %v; want EOF", n, err)
	}
	c1.SetLinger(0)
	c1.Close()
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	// Writing may need a round trip to notice the reset.
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = c2.Write([]byte("x"))
		if err == nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("write after peer reset: %v, want ECONNRESET/EPIPE", err)
	}
	c2.Close()
	if r := wait(); r[0].state != Reset {
		t.Fatalf("final state %v, %v; want reset", r[0].state, r[0].err)
	}
}

// TestNoSpin: a socket that has seen FIN both ways reports EPOLLHUP for
// good; while its data waits for a slow reader on the other side, the loop
// must not be woken over and over.
func TestNoSpin(t *testing.T) {
	c1, c2, sc := setup(t, nil)
	defer c1.Close()
	defer c2.Close()
	// Little room downstream of A (B's send buffer, c2's receive buffer,
	// the pipe), plenty in A's receive buffer: all of c1's data and its FIN
	// reach A while the pipe is stuck.
	unix.SetsockoptInt(sc.B(), unix.SOL_SOCKET, unix.SO_SNDBUF, 32<<10)
	c2.SetReadBuffer(32 << 10)
	unix.SetsockoptInt(sc.A(), unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	fdA := sc.A() // the Conn belongs to the loop goroutine from now on
	wait := driveAsync(t, []*Conn{sc}, 30*time.Second)
	// B→A ends first: A is shut down for writing.
	if err := c2.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, err := c1.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("got %d, %v; want EOF", n, err)
	}
	data := randBytes(t, 3<<20)
	if err := send(c1, data); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	pfd := []unix.PollFd{{Fd: int32(fdA), Events: unix.POLLIN}}
	if _, err := unix.Poll(pfd, 0); err != nil || pfd[0].Revents&unix.POLLHUP == 0 {
		t.Logf("A not hung up (revents %#x, %v): test inconclusive", pfd[0].Revents, err)
	}
	before := pumps.Load()
	time.Sleep(300 * time.Millisecond)
	if d := pumps.Load() - before; d > 10 {
		t.Errorf("%d Pump calls in 300 ms with a stalled reader", d)
	}
	sum, n, err := recvHash(c2)
	if err != nil || n != int64(len(data)) || sum != sha256.Sum256(data) {
		t.Fatalf("got %d bytes (%v), want %d intact", n, err, len(data))
	}
	if r := wait(); r[0].state != Closed {
		t.Fatalf("final state %v, %v", r[0].state, r[0].err)
	}
}

func TestSetReset(t *testing.T) {
	c1, c2, sc := setup(t, nil)
	defer c1.Close()
	defer c2.Close()
	sc.SetReset()
	if _, _, st, err := sc.Pump(); st != Reset || err != ErrAborted {
		t.Fatalf("Pump after SetReset: %v, %v", st, err)
	}
	sc.Close()
	for _, c := range []*net.TCPConn{c1, c2} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("read: %v, want ECONNRESET", err)
		}
	}
}

func TestManyConns(t *testing.T) {
	const n = 200
	const size = 256 << 10
	pool := NewPool(64, 0)
	defer pool.Drain()
	conns := make([]*Conn, n)
	ends := make([][2]*net.TCPConn, n)
	for i := range conns {
		ends[i][0], ends[i][1], conns[i] = setup(t, pool)
	}
	wait := driveAsync(t, conns, 120*time.Second)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c1, c2 := ends[i][0], ends[i][1]
			defer c1.Close()
			defer c2.Close()
			d1, d2 := randBytes(t, size), randBytes(t, size/2+i)
			exchange(t, c1, c2, d1, d2)
		}()
	}
	wg.Wait()
	for i, r := range wait() {
		if r.state != Closed {
			t.Errorf("conn %d: %v, %v", i, r.state, r.err)
		}
	}
	if pool.Len() == 0 {
		t.Error("no pipes went back to the pool")
	}
}

// TestReuse: a Conn is a plain struct that can be initialised again, and
// its pipes come back from the pool.
func TestReuse(t *testing.T) {
	pool := NewPool(4, 0)
	defer pool.Drain()
	var sc Conn
	for i := 0; i < 3; i++ {
		e1, a := rawPair(t)
		e2, b := rawPair(t)
		if err := sc.Init(pool, a, b); err != nil {
			t.Fatal(err)
		}
		if i > 0 && pool.Len() != 0 {
			t.Fatalf("pool holds %d pipes, want 0 (both reused)", pool.Len())
		}
		c1, c2 := tcpConn(t, e1), tcpConn(t, e2)
		wait := driveAsync(t, []*Conn{&sc}, 10*time.Second)
		exchange(t, c1, c2, []byte("hello"), []byte("world"))
		if r := wait(); r[0].state != Closed {
			t.Fatalf("state %v", r[0].state)
		}
		c1.Close()
		c2.Close()
		if pool.Len() != 2 {
			t.Fatalf("pool holds %d pipes after Close, want 2", pool.Len())
		}
	}
}

func TestPipeSize(t *testing.T) {
	pp, err := newPipe(MaxPipeSize)
	if err != nil {
		t.Fatal(err)
	}
	defer closePipe(pp)
	if pp.Size < minPipeSize || pp.Size > MaxPipeSize {
		t.Fatalf("pipe size %d", pp.Size)
	}
	t.Logf("pipe size %d", pp.Size)
}

// TestPumpAllocs: moving data through a Conn allocates nothing.
func TestPumpAllocs(t *testing.T) {
	e1, a := rawPair(t)
	e2, b := rawPair(t)
	defer unix.Close(e1)
	defer unix.Close(e2)
	var sc Conn
	if err := sc.Init(nil, a, b); err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := unix.SetNonblock(e2, true); err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 16<<10)
	in := make([]byte, len(out))
	var fail error
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := unix.Write(e1, out); err != nil {
			fail = err
			return
		}
		for got := 0; got < len(out); {
			if _, _, st, err := sc.PumpEvents(0, unix.EPOLLIN); st != Open {
				fail = fmt.Errorf("state %v: %v", st, err)
				return
			}
			n, err := unix.Read(e2, in)
			if err == unix.EAGAIN {
				continue
			}
			if err != nil {
				fail = err
				return
			}
			got += n
		}
	})
	if fail != nil {
		t.Fatal(fail)
	}
	if allocs != 0 {
		t.Fatalf("%v allocations per run, want 0", allocs)
	}
}

// benchSink reads fd until end of file and reports the byte count.
func benchSink(fd int, done chan<- int64) {
	buf := make([]byte, 1<<20)
	var total int64
	for {
		n, err := unix.Read(fd, buf)
		if n <= 0 || err != nil {
			done <- total
			return
		}
		total += int64(n)
	}
}

func reportRate(b *testing.B, bytes int64, el time.Duration) {
	b.ReportMetric(float64(bytes)*8/el.Seconds()/1e9, "Gbit/s")
}

// BenchmarkConn: one stream, client → A =splice=> B → sink, the Conn pumped
// by an epoll loop on its own goroutine.
func BenchmarkConn(b *testing.B) {
	e1, a := rawPair(b)
	e2, bb := rawPair(b)
	sc := new(Conn)
	if err := sc.Init(nil, a, bb); err != nil {
		b.Fatal(err)
	}
	wait := driveAsync(b, []*Conn{sc}, time.Hour)
	done := make(chan int64, 1)
	go benchSink(e2, done)
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := unix.Write(e1, buf); err != nil {
			b.Fatal(err)
		}
	}
	unix.Shutdown(e1, unix.SHUT_WR)
	got := <-done
	el := time.Since(t0)
	b.StopTimer()
	reportRate(b, got, el)
	unix.Close(e2)
	unix.Close(e1)
	wait()
}

// BenchmarkIOCopy: the same with the standard library's io.Copy between
// two *net.TCPConn (which splices internally through the netpoller).
func BenchmarkIOCopy(b *testing.B) {
	e1, a := rawPair(b)
	e2, bb := rawPair(b)
	ca, cb := tcpConn(b, a), tcpConn(b, bb)
	go func() {
		io.Copy(cb, ca)
		cb.CloseWrite()
	}()
	done := make(chan int64, 1)
	go benchSink(e2, done)
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := unix.Write(e1, buf); err != nil {
			b.Fatal(err)
		}
	}
	unix.Shutdown(e1, unix.SHUT_WR)
	got := <-done
	el := time.Since(t0)
	b.StopTimer()
	reportRate(b, got, el)
	unix.Close(e2)
	unix.Close(e1)
	ca.Close()
	cb.Close()
}
