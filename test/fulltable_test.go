// SPDX-License-Identifier: GPL-2.0-or-later

package test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"passt/fdbudget"
	"passt/icmp"
	"passt/tcp"
	"passt/udp"
)

// The full TCP flow table (issues 5 and 8): with descriptor limits high
// enough that the table, not RLIMIT_NOFILE, is what runs out, pasta holds
// exactly tcp.MaxFlows connections; the ones beyond are refused at once
// with a reset, a connection opened before the flood still carries data
// both ways, closed connections make room for new ones, and once
// everything is closed the engine holds no more descriptors than before.
// Both directions with pasta: host connections forwarded with -t (through
// the tap: --no-splice), and guest connections to the host through the
// gateway; and host connections forwarded by passt to the shim's guest.
// Spliced connections have a table of their own (tcp/splice.go), not
// filled here.
//
// Descriptors: pasta holds one socket per flow, the host peer one, the
// guest peer one, about 200 000 sockets in all. The test raises its own
// RLIMIT_NOFILE (root with CAP_SYS_RESOURCE), which the echo servers and
// passt inherit, and starts pasta with the same limit through prlimit(1);
// with it the descriptor share TCP gets (package fdbudget) is above the
// table.
//
// Ports: the ephemeral range (32768-60999 here) gives about 28 000 source
// ports per destination, so the connections are spread over
// fullTablePorts forwarded ports. Several source addresses (127.0.0.x)
// would not do for host connections: pasta maps every loopback source to
// the same gateway address, so two clients on the same source port would
// be the same flow to the guest.

const (
	fullTablePorts = 3
	fullTableLimit = 1 << 18 // RLIMIT_NOFILE for pasta and for the test
	// fullTableBeyond is how many connections the test attempts beyond
	// the table's capacity.
	fullTableBeyond = 256
	// fullTableRefuseLimit is the longest a refusal may take: a reset, not
	// a retransmitted SYN (1 s) nor a connection left hanging. Generous
	// for a loaded machine.
	fullTableRefuseLimit = 2 * time.Second
	// fullTableRecycle is how many connections are closed and opened again.
	fullTableRecycle = 1000
)

// raiseNofile raises the test process's descriptor limit (soft and hard)
// to n if it can, and restores it when the test ends; it returns the hard
// limit in force. Raising the hard limit takes CAP_SYS_RESOURCE, which
// root in a container may lack.
func raiseNofile(t *testing.T, n uint64) (uint64, error) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	if old.Cur >= n && old.Max >= n {
		return old.Max, nil
	}
	// syscall.Setrlimit, not unix: it also tells the runtime not to
	// restore the old soft limit in the children we start.
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: max(old.Cur, n), Max: max(old.Max, n)}); err != nil {
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: old.Max, Max: old.Max})
		return old.Max, fmt.Errorf("raising RLIMIT_NOFILE to %d: %w", n, err)
	}
	t.Cleanup(func() {
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: old.Cur, Max: old.Max})
	})
	return max(old.Max, n), nil
}

// distinctLowPorts returns n different free ports below the ephemeral range.
func distinctLowPorts(t *testing.T, n int) []int {
	t.Helper()
	seen := map[int]bool{}
	var ports []int
	for len(ports) < n {
		if p := lowPort(t); !seen[p] {
			seen[p] = true
			ports = append(ports, p)
		}
	}
	return ports
}

// echoByte sends b on c and waits for it back.
func echoByte(c net.Conn, b byte, limit time.Duration) error {
	c.SetDeadline(time.Now().Add(limit))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte{b}); err != nil {
		return err
	}
	var r [1]byte
	if _, err := io.ReadFull(c, r[:]); err != nil {
		return err
	}
	if r[0] != b {
		return fmt.Errorf("echo %d, sent %d", r[0], b)
	}
	return nil
}

// isRefusal tells whether err is how a refused connection shows: a reset
// (after the kernel completed the handshake for pasta's listener) or a
// refused connect (a guest's SYN answered with a reset).
func isRefusal(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE)
}

// fillResult is what fillConnections saw.
type fillResult struct {
	held            []net.Conn
	refused         int
	slow            int           // refusals that took longer than fullTableRefuseLimit
	slowest         time.Duration // slowest refusal
	other           int           // failures that were no refusal
	firstOther      error
	firstRefusedAt  int // attempt number of the first refusal
	lastHeldAttempt int // attempt number of the last connection held
}

// fillConnections attempts n connections with par workers: dial(i) opens
// the i-th, on the worker's own thread (prepare runs first on it, so that
// it can enter a namespace); each is held if a byte goes through and back.
func fillConnections(n, par int, prepare func() error, dial func(i int) (net.Conn, error)) (fillResult, error) {
	var mu sync.Mutex
	var r fillResult
	r.firstRefusedAt = -1
	var wg sync.WaitGroup
	errs := make(chan error, par)
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			if prepare != nil {
				// The thread stays locked: if prepare moved it to
				// another namespace, it ends with the goroutine.
				runtime.LockOSThread()
				if err := prepare(); err != nil {
					errs <- err
					return
				}
			}
			var held []net.Conn
			defer func() {
				mu.Lock()
				r.held = append(r.held, held...)
				mu.Unlock()
			}()
			for i := w; i < n; i += par {
				start := time.Now()
				c, err := dial(i)
				if err == nil {
					if err = echoByte(c, byte(i), 5*time.Second); err == nil {
						held = append(held, c)
						mu.Lock()
						r.lastHeldAttempt = max(r.lastHeldAttempt, i)
						mu.Unlock()
						continue
					}
					c.Close()
				}
				d := time.Since(start)
				mu.Lock()
				if isRefusal(err) {
					r.refused++
					if r.firstRefusedAt < 0 || i < r.firstRefusedAt {
						r.firstRefusedAt = i
					}
					if d > fullTableRefuseLimit {
						r.slow++
					}
					r.slowest = max(r.slowest, d)
				} else {
					r.other++
					if r.firstOther == nil {
						r.firstOther = fmt.Errorf("connection %d after %v: %w", i, d.Round(time.Millisecond), err)
					}
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	return r, <-errs
}

// closeAll closes conns.
func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// echoBulk sends n bytes of a pattern on c while reading them back.
func echoBulk(c net.Conn, n int) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i*7 + i>>8)
	}
	werr := make(chan error, 1)
	go func() { _, err := c.Write(data); werr <- err }()
	got := make([]byte, n)
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("reading the echo: %w", err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	for i := range got {
		if got[i] != data[i] {
			return fmt.Errorf("echo differs at byte %d", i)
		}
	}
	return nil
}

// fullTableCase is one direction of TestCapacityFullTable.
type fullTableCase struct {
	pid     int
	limit   int                           // pasta's RLIMIT_NOFILE
	prepare func() error                  // run on each client thread
	dial    func(i int) (net.Conn, error) // the i-th connection
}

// TestCapacityFullTable fills pasta's real TCP flow table, in both
// directions. Raising the descriptor limits above the table takes
// CAP_SYS_RESOURCE: without it (root in a container, as on the machines
// this was written on, where no package can provide it) the test runs at
// the limit it has, where TCP's descriptor share (package fdbudget), not
// the table, is what fills, with the same assertions, and says so.
func TestCapacityFullTable(t *testing.T) {
	requireRoot(t)
	requireCommands(t, "prlimit")
	hard, err := raiseNofile(t, fullTableLimit)
	if err != nil {
		t.Logf("%v: without CAP_SYS_RESOURCE the limit stays at %d, and TCP's descriptor share fills instead of the flow table", err, hard)
	}
	limit := int(min(hard, fullTableLimit))
	// With the raised limit, TCP's descriptor share must not be what runs
	// out first (a few dozen descriptors are in use at start).
	if limit == fullTableLimit {
		if s := fdbudget.Split(limit, 100, fullTableNeed); s.TCP < tcp.MaxFlows {
			t.Fatalf("TCP's descriptor share with a limit of %d is %d, under the table's %d flows", limit, s.TCP, tcp.MaxFlows)
		}
	}
	dialer := net.Dialer{Timeout: 5 * time.Second}

	t.Run("host", func(t *testing.T) {
		ns := netns(t)
		ports := distinctLowPorts(t, fullTablePorts)
		list := portList(ports)
		pid := attachPastaLimited(t, ns, limit, "--no-splice", "-t", list, "-u", "none", "-T", "none", "-U", "none")
		startConnholdPorts(t, ns, list)
		testFullTable(t, fullTableCase{
			pid: pid, limit: limit,
			dial: func(i int) (net.Conn, error) {
				return dialer.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", ports[i%len(ports)]))
			},
		})
	})

	t.Run("passt", func(t *testing.T) {
		// passt inherits the test's raised limit; its guest is the
		// shim's tap0 in ns.
		ns := netns(t)
		ports := distinctLowPorts(t, fullTablePorts)
		list := portList(ports)
		sock, _, cmd := startPasst(t, "-4", "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2", "-t", list, "-u", "none")
		startShim(t, ns, sock)
		guestAddress(t, ns)
		startConnholdPorts(t, ns, list)
		for _, p := range ports {
			waitHostListening(t, p)
		}
		testFullTable(t, fullTableCase{
			pid: cmd.Process.Pid, limit: limit,
			dial: func(i int) (net.Conn, error) {
				return dialer.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", ports[i%len(ports)]))
			},
		})
	})

	t.Run("guest", func(t *testing.T) {
		ns := netns(t)
		pid := attachPastaLimited(t, ns, limit, "-4", "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2",
			"-t", "none", "-u", "none", "-T", "none", "-U", "none")
		// The host's echo server: connhold, in a process of its own,
		// so that the test holds only the guest's sockets.
		ports := distinctLowPorts(t, fullTablePorts)
		srv := exec.Command(connholdBin, portList(ports))
		stdout, _ := srv.StdoutPipe()
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
		readUntil(t, stdout, "ready")
		nsFile, err := os.Open("/run/netns/" + ns)
		if err != nil {
			t.Fatal(err)
		}
		defer nsFile.Close()
		testFullTable(t, fullTableCase{
			pid: pid, limit: limit,
			prepare: func() error {
				if err := unix.Setns(int(nsFile.Fd()), unix.CLONE_NEWNET); err != nil {
					return fmt.Errorf("entering %s: %w", ns, err)
				}
				return nil
			},
			dial: func(i int) (net.Conn, error) {
				return dialer.Dial("tcp4", fmt.Sprintf("10.0.2.2:%d", ports[i%len(ports)]))
			},
		})
	})
}

// fullTableNeed is what the engine tells fdbudget.Split (engine/fdbudget.go).
var fullTableNeed = fdbudget.Need{UDP: 2 * udp.MaxFlows, ICMP: icmp.MaxFlows}

// inThread runs f on a thread of its own, prepared by prepare.
func inThread(prepare func() error, f func() error) error {
	done := make(chan error, 1)
	go func() {
		if prepare != nil {
			runtime.LockOSThread() // never unlocked: the thread ends with us
			if err := prepare(); err != nil {
				done <- err
				return
			}
		}
		done <- f()
	}()
	return <-done
}

func testFullTable(t *testing.T, c fullTableCase) {
	base := engineUsage(t, c.pid)
	// What TCP can hold: the table, or less if its descriptor share is
	// smaller. The engine computed the share from the descriptors it had
	// open when it started serving: as many as it has now, give or take
	// one it opens for a moment (the count varies by one between runs),
	// which moves the share by one. With the table as the bound the
	// figure is exact.
	share := fdbudget.Split(c.limit, base.fds, fullTableNeed).TCP
	capLo := min(tcp.MaxFlows, fdbudget.Split(c.limit, base.fds+1, fullTableNeed).TCP)
	capHi := min(tcp.MaxFlows, fdbudget.Split(c.limit, base.fds-1, fullTableNeed).TCP)
	t.Logf("engine at start: %v; limit %d, TCP share %d: holds %d to %d flows", base, c.limit, share, capLo, capHi)
	start := time.Now()

	// A connection from before the flood.
	var first net.Conn
	if err := inThread(c.prepare, func() error {
		var err error
		if first, err = c.dial(0); err != nil {
			return err
		}
		return echoByte(first, 1, 5*time.Second)
	}); err != nil {
		t.Fatalf("first connection: %v", err)
	}
	defer first.Close()

	// The flood: the table's capacity (the first connection is one of
	// them) and fullTableBeyond more.
	attempts := capHi - 1 + fullTableBeyond
	r, err := fillConnections(attempts, 16, c.prepare, c.dial)
	defer func() { closeAll(r.held) }()
	if err != nil {
		t.Fatal(err)
	}
	full := engineUsage(t, c.pid)
	t.Logf("%d attempts in %v: %d held (and the first), %d refused (first refusal at attempt %d, last held at %d; slowest refusal %v), %d other failures; engine: %v",
		attempts, time.Since(start).Round(time.Millisecond), len(r.held), r.refused, r.firstRefusedAt, r.lastHeldAttempt,
		r.slowest.Round(time.Millisecond), r.other, full)
	if r.other > 0 {
		t.Errorf("%d connections failed otherwise than by a refusal; first: %v", r.other, r.firstOther)
	}
	held := len(r.held) + 1 // with the first
	if held < capLo || held > capHi || r.refused != attempts-len(r.held) {
		t.Errorf("%d connections held with the first, %d refused of %d: want %d to %d held, the rest refused",
			held, r.refused, attempts, capLo, capHi)
	}
	if r.slow > 0 {
		t.Errorf("%d refusals took longer than %v (slowest %v): not a prompt reset", r.slow, fullTableRefuseLimit, r.slowest)
	}

	// The first connection still carries data both ways.
	if err := echoBulk(first, 256<<10); err != nil {
		t.Errorf("the connection from before the flood, with the table full: %v", err)
	}

	// Closed connections make room: close some, and as many new ones are
	// held (retrying while the closed flows leave the table), and then
	// the table is full again.
	if len(r.held) >= fullTableRecycle {
		closeAll(r.held[:fullTableRecycle])
		r.held = r.held[fullTableRecycle:]
		recycled := 0
		deadline := time.Now().Add(30 * time.Second)
		var lastErr error
		if err := inThread(c.prepare, func() error {
			for i := 0; recycled < fullTableRecycle && time.Now().Before(deadline); i++ {
				conn, err := c.dial(i)
				if err == nil {
					if err = echoByte(conn, byte(i), 5*time.Second); err == nil {
						r.held = append(r.held, conn)
						recycled++
						continue
					}
					conn.Close()
				}
				lastErr = err
				if !isRefusal(err) {
					return fmt.Errorf("new connection after closing some: %w", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if recycled < fullTableRecycle {
				return fmt.Errorf("after closing %d connections, only %d new ones held in 30 s (last: %v)", fullTableRecycle, recycled, lastErr)
			}
			// Full again: the next one is refused.
			conn, err := c.dial(0)
			if err == nil {
				err = echoByte(conn, 2, 5*time.Second)
				conn.Close()
			}
			if !isRefusal(err) {
				return fmt.Errorf("a connection beyond the refilled table: %v, want a refusal", err)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		t.Logf("closed %d connections, %d new ones held; the next refused", fullTableRecycle, recycled)
	}

	// Everything closed: back to the descriptors the engine had at start.
	closeAll(r.held)
	r.held = nil
	first.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		now := engineUsage(t, c.pid)
		if now.fds <= base.fds {
			t.Logf("engine after closing everything: %v (%v in all)", now, time.Since(start).Round(time.Millisecond))
			// One socket per flow when full (against now: the engine
			// may open a socket of its own for a moment at start).
			if got := full.sockets - now.sockets; got != held {
				t.Errorf("engine held %d sockets more when full than at the end, want one per flow (%d)", got, held)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("engine holds %d descriptors 60 s after every connection closed, %d at start", now.fds, base.fds)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
