// SPDX-License-Identifier: GPL-2.0-or-later

// Package splice forwards data between two connected TCP sockets without
// copying it through user space, for pasta's local bypass: a connection
// accepted on a loopback address on one side is joined to a socket connected
// on the other side, and bytes move between them with splice(2).
//
// Theory of operation. A Conn joins sockets A and B with two pipes, one per
// direction (A→B and B→A). Moving data is two splice(2) calls per round:
// socket → pipe (the kernel takes the pages of the socket's receive queue)
// and pipe → socket (the pages are handed to the destination's send queue).
// Both calls use SPLICE_F_MOVE|SPLICE_F_NONBLOCK on non-blocking sockets and
// non-blocking pipes, so Pump never blocks. The package has no goroutines:
// the engine's epoll loop owns the sockets and calls Pump whenever one of
// them is ready, and Pump says what each socket must wait for next.
//
// For each direction Pump alternates reads into the pipe and writes out of
// it until neither moves a byte, a read returns less than the pipe could
// take with everything written out (the socket is then most likely empty,
// and a read to hear EAGAIN would be wasted: the level-triggered EPOLLIN
// reports any byte that came meanwhile), or a per-call budget is spent, for
// fairness between connections. PumpEvents, what the engine calls, does
// this only for the directions the reported event concerns. It counts the bytes held in the pipe, which tells the
// two meanings of EAGAIN apart: with an empty pipe, EAGAIN from the source
// means the socket has nothing to read, and the source waits for EPOLLIN;
// with bytes in the pipe, the pipe may simply be full, so the source is left
// alone and the destination, which refused bytes, waits for EPOLLOUT (once it
// takes them, Pump reads the source again whatever woke it). A source is
// therefore never polled for input while its pipe is stuck, so a fast sender
// cannot make the loop spin, and the sender is slowed by TCP's own window
// once the source's receive buffer fills: no buffering beyond the pipe.
//
// The masks are level-triggered. A socket that needs nothing (its input has
// ended or waits behind a full pipe, and nothing is to be written to it) gets
// EPOLLET alone: epoll always reports EPOLLHUP and EPOLLERR, and a socket that
// has seen FIN both ways reports EPOLLHUP for good, so level-triggered it
// would wake the loop in a tight circle while the other socket drains;
// edge-triggered it reports each change once. A Pump call that moves nothing
// checks SO_ERROR on both sockets, so an error reported on an idle socket is
// not lost.
//
// Half-close: when a source reaches end of file and its pipe has been drained
// into the destination, Pump shuts the destination down for writing, passing
// the FIN on; the other direction keeps flowing. When both directions have
// ended, Pump reports Closed and the caller closes the Conn (a plain close,
// both FINs already exchanged). Any other error on either socket (typically
// ECONNRESET or EPIPE after the peer reset its connection) resets the whole
// Conn: Pump sets SO_LINGER with a zero timeout on both sockets and reports
// Reset, and the caller's Close then sends an RST to the peer that is still
// there, as upstream passt does.
//
// Pipes come from a Pool and go back to it on Close when they are empty (a
// pipe still holding bytes is closed instead: draining it could block). New
// pipes are grown with F_SETPIPE_SZ to the largest size the system allows,
// starting at 1 MiB and halving on refusal (unprivileged users are limited
// by fs.pipe-max-size and fs.pipe-user-pages-soft).
//
// A Conn is a plain struct holding descriptors and counters, no buffers, so
// a flow table can embed one per spliced connection and reuse it; it is used
// from one goroutine only (the loop's), and Pump does not allocate.
package splice

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// State is the state of a Conn as reported by Pump.
type State uint8

const (
	// Open: data may still flow in at least one direction.
	Open State = iota
	// Closed: both directions have ended cleanly (FIN passed on both
	// ways); the caller should Close the Conn.
	Closed
	// Reset: one socket failed or was reset; both sockets are set to
	// send an RST when closed, and the caller should Close the Conn.
	Reset
)

func (s State) String() string {
	switch s {
	case Open:
		return "open"
	case Closed:
		return "closed"
	case Reset:
		return "reset"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// MaxPipeSize is the pipe size a Pool asks for first.
const MaxPipeSize = 1 << 20

// minPipeSize is the size below which a Pool stops asking (the default size
// of a pipe on Linux).
const minPipeSize = 64 << 10

// burst bounds the bytes one Pump call moves per direction, so one busy
// connection cannot starve the others sharing the loop. Stopping early is
// safe because the masks are level-triggered: the socket that still has work
// is reported ready again at once.
const burst = 4 << 20

// spliceFlags is used on every splice(2) call.
const spliceFlags = unix.SPLICE_F_MOVE | unix.SPLICE_F_NONBLOCK

// Pipe is one pipe: read end R, write end W, capacity Size in bytes.
type Pipe struct {
	R, W int
	Size int
}

// Pool keeps empty pipes for reuse. It is safe for concurrent use.
type Pool struct {
	mu    sync.Mutex
	pipes []Pipe
	max   int // pipes kept at most
	size  int // size to ask for first
}

// NewPool returns a pool that keeps up to max idle pipes, each grown up to
// size bytes (MaxPipeSize if size is 0).
func NewPool(max, size int) *Pool {
	if size <= 0 {
		size = MaxPipeSize
	}
	return &Pool{max: max, size: size, pipes: make([]Pipe, 0, max)}
}

// DefaultPool is the pool used by New and Init.
var DefaultPool = NewPool(32, MaxPipeSize)

// Get returns an empty non-blocking pipe, from the pool or new.
func (p *Pool) Get() (Pipe, error) {
	p.mu.Lock()
	if n := len(p.pipes); n > 0 {
		pp := p.pipes[n-1]
		p.pipes = p.pipes[:n-1]
		p.mu.Unlock()
		return pp, nil
	}
	want := p.size
	p.mu.Unlock()
	return newPipe(want)
}

// Put returns an empty pipe to the pool, or closes it if the pool is full.
func (p *Pool) Put(pp Pipe) {
	if pp.R < 0 {
		return
	}
	p.mu.Lock()
	if len(p.pipes) < p.max {
		p.pipes = append(p.pipes, pp)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	closePipe(pp)
}

// Fill creates pipes until the pool holds n (at most its maximum), so that
// connections can start without creating pipes.
func (p *Pool) Fill(n int) error {
	if n > p.max {
		n = p.max
	}
	for {
		p.mu.Lock()
		have := len(p.pipes)
		p.mu.Unlock()
		if have >= n {
			return nil
		}
		pp, err := newPipe(p.size)
		if err != nil {
			return err
		}
		p.Put(pp)
	}
}

// Drain closes all pooled pipes.
func (p *Pool) Drain() {
	p.mu.Lock()
	pipes := p.pipes
	p.pipes = p.pipes[:0]
	p.mu.Unlock()
	for _, pp := range pipes {
		closePipe(pp)
	}
}

// Len returns the number of idle pipes in the pool.
func (p *Pool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pipes)
}

func newPipe(want int) (Pipe, error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return Pipe{R: -1, W: -1}, fmt.Errorf("pipe2(): %w", err)
	}
	pp := Pipe{R: fds[0], W: fds[1]}
	for size := want; size >= minPipeSize; size /= 2 {
		if got, err := unix.FcntlInt(uintptr(pp.R), unix.F_SETPIPE_SZ, size); err == nil {
			pp.Size = got
			return pp, nil
		}
	}
	if got, err := unix.FcntlInt(uintptr(pp.R), unix.F_GETPIPE_SZ, 0); err == nil {
		pp.Size = got
	} else {
		pp.Size = minPipeSize
	}
	return pp, nil
}

func closePipe(pp Pipe) {
	if pp.R >= 0 {
		unix.Close(pp.R)
	}
	if pp.W >= 0 {
		unix.Close(pp.W)
	}
}

// dir is one direction of a Conn: from socket src through pipe to dst.
type dir struct {
	src, dst int
	pipe     Pipe
	pending  int   // bytes in the pipe
	total    int64 // bytes delivered to dst
	eof      bool  // src returned end of file
	shut     bool  // dst shut down for writing
}

// Conn joins two connected, non-blocking TCP sockets A and B with one pipe
// per direction. The zero value is not usable: call Init (or New). After
// Close a Conn can be initialised again.
type Conn struct {
	ab, ba dir
	pool   *Pool
	state  State
	err    error
}

// New returns a Conn joining sockets a and b, with pipes from DefaultPool.
func New(a, b int) (*Conn, error) {
	c := new(Conn)
	if err := c.Init(DefaultPool, a, b); err != nil {
		return nil, err
	}
	return c, nil
}

// Init prepares c to join sockets a and b with pipes from pool (DefaultPool
// if nil). It makes both sockets non-blocking and sets TCP_NODELAY on them
// (the data was already delayed once by its sender). On failure the sockets
// are left open and c holds no pipes.
func (c *Conn) Init(pool *Pool, a, b int) error {
	if pool == nil {
		pool = DefaultPool
	}
	*c = Conn{pool: pool}
	c.ab = dir{src: a, dst: b, pipe: Pipe{R: -1, W: -1}}
	c.ba = dir{src: b, dst: a, pipe: Pipe{R: -1, W: -1}}
	for _, fd := range [2]int{a, b} {
		if err := unix.SetNonblock(fd, true); err != nil {
			return fmt.Errorf("splice: O_NONBLOCK on socket %d: %w", fd, err)
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	var err error
	if c.ab.pipe, err = pool.Get(); err != nil {
		return err
	}
	if c.ba.pipe, err = pool.Get(); err != nil {
		pool.Put(c.ab.pipe)
		c.ab.pipe = Pipe{R: -1, W: -1}
		return err
	}
	return nil
}

// A returns socket A.
func (c *Conn) A() int { return c.ab.src }

// B returns socket B.
func (c *Conn) B() int { return c.ba.src }

// State returns the state last reported by Pump (or set by SetReset).
func (c *Conn) State() State { return c.state }

// Err returns the error that reset the Conn, if any.
func (c *Conn) Err() error { return c.err }

// Bytes returns the bytes delivered from A to B and from B to A.
func (c *Conn) Bytes() (ab, ba int64) { return c.ab.total, c.ba.total }

// Pending returns the bytes waiting in the pipes, from A to B and B to A.
func (c *Conn) Pending() (ab, ba int) { return c.ab.pending, c.ba.pending }

// PipeSizes returns the capacity of the A→B and B→A pipes.
func (c *Conn) PipeSizes() (ab, ba int) { return c.ab.pipe.Size, c.ba.pipe.Size }

// splice calls splice(2) between two descriptors without offsets.
//
// It is a raw system call, without the Go scheduler's bookkeeping: both
// descriptors are non-blocking and SPLICE_F_NONBLOCK is set, so the call
// never sleeps. A splice to a loopback socket can still take a few hundred
// microseconds (the peer's receive path runs in our context); through the
// scheduler, the runtime's sysmon thread would see the loop's P held in a
// system call for longer than 20 us, hand it off and wake another thread
// for it, hundreds of times a second: futex wake-ups and context switches
// taken from the CPUs the two endpoints need (see docs/profiling.md).
func splice(in, out, n int) (int, unix.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_SPLICE, uintptr(in), 0, uintptr(out), 0, uintptr(n), spliceFlags)
	return int(r), e
}

// pump moves data in direction d until nothing moves or the budget is spent.
// It reports whether any byte (or the end of file) moved.
func (d *dir) pump() (progress bool, errno unix.Errno) {
	moved := 0
	for moved < burst {
		step, short := false, false
		if !d.eof {
			n, e := splice(d.src, d.pipe.W, d.pipe.Size)
			switch {
			case e == unix.EINTR:
				continue
			case e == unix.EAGAIN:
			case e != 0:
				return progress, e
			case n == 0:
				d.eof = true
				step = true
			default:
				d.pending += n
				step = true
				short = n < d.pipe.Size
			}
		}
		if d.pending > 0 {
			n, e := splice(d.pipe.R, d.dst, d.pending)
			switch {
			case e == unix.EINTR:
				continue
			case e == unix.EAGAIN:
			case e != 0:
				return progress, e
			default:
				d.pending -= n
				d.total += int64(n)
				moved += n
				if n > 0 {
					step = true
				}
			}
		}
		if !step {
			break
		}
		progress = true
		if short && d.pending == 0 {
			// The source gave less than the pipe could take, so its
			// queue is most likely empty: skip the read that would
			// only say EAGAIN. If more came meanwhile, the
			// level-triggered EPOLLIN reports it at once.
			break
		}
	}
	if d.eof && d.pending == 0 && !d.shut {
		if err := unix.Shutdown(d.dst, unix.SHUT_WR); err != nil {
			if en, ok := err.(unix.Errno); ok {
				return progress, en
			}
			return progress, unix.EIO
		}
		d.shut = true
		progress = true
	}
	return progress, 0
}

// done reports whether direction d has ended: end of file passed on.
func (d *dir) done() bool { return d.shut }

// waits returns what d's source and destination must wait for.
func (d *dir) waits() (src, dst uint32) {
	if d.shut {
		return 0, 0
	}
	if d.pending > 0 {
		return 0, unix.EPOLLOUT
	}
	if !d.eof {
		return unix.EPOLLIN, 0
	}
	return 0, 0
}

// Pump moves as much data as it can in both directions and returns the epoll
// events sockets A and B must be registered for next, and the state. Call it
// whenever either socket is reported ready, whatever the events.
//
// The masks are to be passed as they are to epoll_ctl (they may include
// EPOLLET), and only when they differ from the ones registered: a
// modification makes epoll evaluate the socket again, and would report once
// more an EPOLLHUP that edge-triggering is meant to report only once. Before
// the first Pump, register both sockets for EPOLLIN (or call Pump first and
// register what it returns).
//
// With state Closed or Reset the masks are zero and the caller should
// deregister the sockets and Close the Conn; err tells why it was reset.
func (c *Conn) Pump() (waitA, waitB uint32, state State, err error) {
	return c.pump(true, true)
}

// PumpEvents is Pump for a known event: events were reported on socket A
// (side 0) or B (side 1). It moves data only in the directions the event
// concerns (input on a socket: from it; room on a socket: towards it; an
// error or hang-up: both), saving the calls that would only say EAGAIN on
// the other direction. Its results mean what Pump's do.
func (c *Conn) PumpEvents(side int, events uint32) (waitA, waitB uint32, state State, err error) {
	const in = unix.EPOLLIN | unix.EPOLLRDHUP
	const out = unix.EPOLLOUT
	if events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 || events&(in|out) == 0 {
		return c.pump(true, true)
	}
	fromA := events&in != 0
	toA := events&out != 0
	if side != 0 {
		fromA, toA = toA, fromA
	}
	return c.pump(fromA, toA)
}

// pump moves data from A to B if ab, from B to A if ba, and works out the
// masks and the state.
func (c *Conn) pump(ab, ba bool) (waitA, waitB uint32, state State, err error) {
	if c.state != Open {
		return 0, 0, c.state, c.err
	}
	var p1, p2 bool
	var e unix.Errno
	if ab {
		if p1, e = c.ab.pump(); e != 0 {
			c.reset(e)
			return 0, 0, Reset, c.err
		}
	}
	if ba {
		if p2, e = c.ba.pump(); e != 0 {
			c.reset(e)
			return 0, 0, Reset, c.err
		}
	}
	if c.ab.done() && c.ba.done() {
		c.state = Closed
		return 0, 0, Closed, nil
	}
	if !p1 && !p2 {
		// Woken for nothing we asked for: an error or a hang-up on a
		// socket we are not reading or writing at the moment.
		for _, fd := range [2]int{c.ab.src, c.ba.src} {
			if v, gerr := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); gerr == nil && v != 0 {
				c.reset(unix.Errno(v))
				return 0, 0, Reset, c.err
			}
		}
	}
	abSrc, abDst := c.ab.waits()
	baSrc, baDst := c.ba.waits()
	waitA, waitB = abSrc|baDst, baSrc|abDst
	if waitA == 0 {
		waitA = unix.EPOLLET
	}
	if waitB == 0 {
		waitB = unix.EPOLLET
	}
	return waitA, waitB, Open, nil
}

func (c *Conn) reset(e unix.Errno) {
	c.err = e
	c.SetReset()
}

// SetReset makes both sockets send an RST when closed (SO_LINGER with a
// zero timeout) and marks the Conn Reset. Use it to abort a Conn, for
// example when the other side could not be connected or on a timeout.
func (c *Conn) SetReset() {
	if c.state == Reset {
		return
	}
	c.state = Reset
	if c.err == nil {
		c.err = ErrAborted
	}
	l := unix.Linger{Onoff: 1, Linger: 0}
	for _, fd := range [2]int{c.ab.src, c.ba.src} {
		if fd >= 0 {
			_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &l)
		}
	}
}

// ErrAborted is the error of a Conn reset with SetReset.
var ErrAborted = errors.New("splice: connection aborted")

// Close closes both sockets and returns empty pipes to the pool (pipes
// still holding data are closed). After Close, c may be initialised again.
func (c *Conn) Close() {
	for _, d := range [2]*dir{&c.ab, &c.ba} {
		if d.src >= 0 {
			unix.Close(d.src)
			d.src = -1
		}
		if d.pipe.R >= 0 {
			if d.pending == 0 && c.pool != nil {
				c.pool.Put(d.pipe)
			} else {
				closePipe(d.pipe)
			}
			d.pipe = Pipe{R: -1, W: -1}
		}
		d.dst = -1
		d.pending = 0
	}
	if c.state == Open {
		c.state = Closed
	}
}
