// SPDX-License-Identifier: GPL-2.0-or-later

package test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"passt/engine"
	"passt/loop"
	"passt/tcp"
	"passt/test/churn"
	"passt/test/pattern"
)

// The robustness tests (issue 8): integrity of long transfers, churn,
// capacity, faults and hostile input. `make soak` runs them with
// PASST_SOAK=1, at full length; `make check` runs short versions.

// soak reports whether the long versions run.
func soak() bool { return os.Getenv("PASST_SOAK") != "" }

// soakOr returns long under `make soak`, short otherwise.
func soakOr[T any](short, long T) T {
	if soak() {
		return long
	}
	return short
}

// stallLimit is the longest a transfer may go without progress.
const stallLimit = time.Second

// streamerProc is a streamer (test/streamer) running in a namespace.
type streamerProc struct {
	cmd    *exec.Cmd
	stdout *bufio.Reader
	stderr bytes.Buffer
	done   chan struct{}
	result string
}

// startStreamer runs streamer with args in ns; a server ("serve-*",
// "echo-serve") is waited for until it listens.
func startStreamer(t *testing.T, ns string, args ...string) *streamerProc {
	t.Helper()
	p := &streamerProc{done: make(chan struct{})}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns, streamerBin, "-stall", stallLimit.String()}, args...)...)
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	p.stdout = bufio.NewReader(out)
	if strings.Contains(args[0], "serve") {
		line, err := p.stdout.ReadString('\n')
		if strings.TrimSpace(line) != "ready" {
			p.cmd.Process.Kill()
			p.cmd.Wait()
			t.Fatalf("streamer %v: not ready: %q %v: %s", args, line, err, p.stderr.String())
		}
	}
	go func() {
		b, _ := io.ReadAll(p.stdout)
		p.cmd.Wait()
		p.result = strings.TrimSpace(string(b))
		close(p.done)
	}()
	return p
}

// wait waits up to limit for the streamer to end and returns its last
// line, or an error with what it said on stderr.
func (p *streamerProc) wait(limit time.Duration) (string, error) {
	select {
	case <-p.done:
	case <-time.After(limit):
		p.cmd.Process.Kill()
		<-p.done
		return "", fmt.Errorf("still running after %v", limit)
	}
	if !p.cmd.ProcessState.Success() {
		return p.result, fmt.Errorf("%v: %s", p.cmd.ProcessState, strings.TrimSpace(p.stderr.String()))
	}
	return p.result, nil
}

// acceptOne listens on a host loopback address and hands over the first
// connection.
func acceptOne(t *testing.T, network, addr string) (int, <-chan *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan *net.TCPConn, 1)
	go func() {
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			close(ch)
			return
		}
		ch <- c.(*net.TCPConn)
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().(*net.TCPAddr).Port, ch
}

// accepted waits for the connection from acceptOne.
func accepted(t *testing.T, ch <-chan *net.TCPConn) *net.TCPConn {
	t.Helper()
	select {
	case c := <-ch:
		if c == nil {
			t.Fatal("accept failed")
		}
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no connection arrived within 10 s")
	}
	return nil
}

// dialHost connects from the host, retrying briefly while pasta's listener
// comes up.
func dialHost(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// hostSend sends the stream from the host side and waits for the guest to
// close; hostReceive receives and checks it.
func hostSend(t *testing.T, c *net.TCPConn, key uint64, size int64) {
	t.Helper()
	start := time.Now()
	if err := pattern.Send(c, key, size, stallLimit); err != nil {
		t.Errorf("host -> guest: %v", err)
		return
	}
	c.CloseWrite()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	io.Copy(io.Discard, c)
	c.Close()
	logRate(t, size, time.Since(start))
}

func hostReceive(t *testing.T, c *net.TCPConn, key uint64, size int64) {
	t.Helper()
	start := time.Now()
	n, err := pattern.Receive(c, key, stallLimit, 0, 0)
	if err != nil {
		t.Errorf("guest -> host: %v", err)
		return
	}
	if n != size {
		t.Errorf("guest -> host: %d bytes of %d", n, size)
	}
	c.Close()
	logRate(t, size, time.Since(start))
}

func logRate(t *testing.T, size int64, d time.Duration) {
	if size < 32<<20 {
		return
	}
	t.Logf("%d MiB in %v (%.2f Gbit/s)", size>>20, d.Round(time.Millisecond), float64(size)*8/d.Seconds()/1e9)
}

// checkStreamer checks that a streamer ended with "ok N" for the expected N.
func checkStreamer(t *testing.T, p *streamerProc, what string, size int64, limit time.Duration) {
	t.Helper()
	res, err := p.wait(limit)
	if err != nil {
		t.Errorf("%s: guest side: %v", what, err)
		return
	}
	if res != fmt.Sprintf("ok %d", size) {
		t.Errorf("%s: guest side ended with %q, want ok %d", what, res, size)
	}
}

// TestIntegrity: a keyed pseudo-random stream, checked byte for byte as it
// arrives, in each direction, on connections opened by either side, through
// the tap (MTU 65520 and 1500) and through the splice bypass, with no stall
// longer than a second. 64 MiB each (1 GiB under make soak).
func TestIntegrity(t *testing.T) {
	size := soakOr[int64](64<<20, 1<<30)
	limit := soakOr(2*time.Minute, 20*time.Minute)
	tapPath := func(t *testing.T, mtu string) {
		ns := netns(t)
		port := freePort(t)
		attachPasta(t, ns, "-4", "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2", "-m", mtu,
			"-t", fmt.Sprint(port), "-u", "none", "-T", "none", "-U", "none", "--no-splice")
		t.Run("guest-connects/guest-to-host", func(t *testing.T) {
			hp, ch := acceptOne(t, "tcp4", "127.0.0.1:0")
			p := startStreamer(t, ns, "send", fmt.Sprintf("10.0.2.2:%d", hp), "1", fmt.Sprint(size))
			hostReceive(t, accepted(t, ch), 1, size)
			checkStreamer(t, p, "guest -> host", size, limit)
		})
		t.Run("guest-connects/host-to-guest", func(t *testing.T) {
			hp, ch := acceptOne(t, "tcp4", "127.0.0.1:0")
			p := startStreamer(t, ns, "recv", fmt.Sprintf("10.0.2.2:%d", hp), "2")
			hostSend(t, accepted(t, ch), 2, size)
			checkStreamer(t, p, "host -> guest", size, limit)
		})
		t.Run("host-connects/host-to-guest", func(t *testing.T) {
			p := startStreamer(t, ns, "serve-recv", fmt.Sprint(port), "3")
			hostSend(t, dialHost(t, fmt.Sprintf("127.0.0.1:%d", port)), 3, size)
			checkStreamer(t, p, "host -> guest", size, limit)
		})
		t.Run("host-connects/guest-to-host", func(t *testing.T) {
			p := startStreamer(t, ns, "serve-send", fmt.Sprint(port), "4", fmt.Sprint(size))
			hostReceive(t, dialHost(t, fmt.Sprintf("127.0.0.1:%d", port)), 4, size)
			checkStreamer(t, p, "guest -> host", size, limit)
		})
	}
	t.Run("tap/mtu65520", func(t *testing.T) { tapPath(t, "65520") })
	t.Run("tap/mtu1500", func(t *testing.T) { tapPath(t, "1500") })
	// The splice bypass does not see the MTU: one run covers it.
	t.Run("splice", func(t *testing.T) {
		ns := netns(t)
		in, out := freePort(t), freePort(t)
		attachPasta(t, ns, "-t", fmt.Sprint(in), "-T", fmt.Sprint(out), "-u", "none", "-U", "none")
		t.Run("guest-connects/guest-to-host", func(t *testing.T) {
			_, ch := acceptOne(t, "tcp4", fmt.Sprintf("127.0.0.1:%d", out))
			p := startStreamer(t, ns, "send", fmt.Sprintf("127.0.0.1:%d", out), "5", fmt.Sprint(size))
			hostReceive(t, accepted(t, ch), 5, size)
			checkStreamer(t, p, "guest -> host", size, limit)
		})
		t.Run("guest-connects/host-to-guest", func(t *testing.T) {
			_, ch := acceptOne(t, "tcp4", fmt.Sprintf("127.0.0.1:%d", out))
			p := startStreamer(t, ns, "recv", fmt.Sprintf("127.0.0.1:%d", out), "6")
			hostSend(t, accepted(t, ch), 6, size)
			checkStreamer(t, p, "host -> guest", size, limit)
		})
		t.Run("host-connects/host-to-guest", func(t *testing.T) {
			p := startStreamer(t, ns, "serve-recv", fmt.Sprint(in), "7")
			hostSend(t, dialHost(t, fmt.Sprintf("127.0.0.1:%d", in)), 7, size)
			checkStreamer(t, p, "host -> guest", size, limit)
		})
		t.Run("host-connects/guest-to-host", func(t *testing.T) {
			p := startStreamer(t, ns, "serve-send", fmt.Sprint(in), "8", fmt.Sprint(size))
			hostReceive(t, dialHost(t, fmt.Sprintf("127.0.0.1:%d", in)), 8, size)
			checkStreamer(t, p, "guest -> host", size, limit)
		})
	})
}

var _ = sync.Mutex{}
var _ = syscall.Kill
var _ = strconv.Itoa

// usage is what the engine holds: descriptors (all, and sockets, one or
// two per flow), resident memory and threads.
type usage struct {
	fds, sockets int
	rssKiB       int
	threads      int
}

func (u usage) String() string {
	return fmt.Sprintf("%d fds (%d sockets), RSS %d KiB, %d threads", u.fds, u.sockets, u.rssKiB, u.threads)
}

func engineUsage(t *testing.T, pid int) usage {
	t.Helper()
	var u usage
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("engine %d: %v", pid, err)
	}
	u.fds = len(ents)
	u.sockets = fdCount(t, pid)
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("engine %d: %v", pid, err)
	}
	for _, l := range strings.Split(string(st), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "VmRSS:" {
			u.rssKiB, _ = strconv.Atoi(f[1])
		}
		if len(f) >= 2 && f[0] == "Threads:" {
			u.threads, _ = strconv.Atoi(f[1])
		}
	}
	return u
}

// within5 reports whether now is back within 5% of base (descriptors and
// sockets exactly back, since each is a flow or a leak).
func within5(base, now usage) bool {
	return now.sockets <= base.sockets && now.fds <= base.fds+base.fds/20 &&
		now.rssKiB <= base.rssKiB+base.rssKiB/20
}

// settle waits up to limit for the engine to get back within 5% of base.
func settle(t *testing.T, pid int, base usage, limit time.Duration) usage {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		now := engineUsage(t, pid)
		if within5(base, now) || time.Now().After(deadline) {
			return now
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cpuTicks is the engine's user and system time, in clock ticks.
func cpuTicks(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := statFields(pid)
	if err != nil {
		t.Fatalf("engine %d: %v", pid, err)
	}
	// utime and stime are fields 14 and 15, i.e. 11 and 12 after the name.
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// clockTick is USER_HZ, fixed at 100 on Linux for /proc.
const clockTick = 100

// freePorts returns n TCP ports free on the host's loopback, below the
// ephemeral range (so that no client of a churn test takes one meanwhile).
func freePorts(t *testing.T, n int) []int {
	ports := make([]int, 0, n)
	for len(ports) < n {
		p := lowPort(t)
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	return ports
}

func joinPorts(host string, ports []int) []string {
	var s []string
	for _, p := range ports {
		s = append(s, net.JoinHostPort(host, fmt.Sprint(p)))
	}
	return s
}

func portList(ports []int) string {
	var s []string
	for _, p := range ports {
		s = append(s, fmt.Sprint(p))
	}
	return strings.Join(s, ",")
}

// echoServers serves churn connections on the host's loopback, on the
// given ports (0: any).
func echoServers(t *testing.T, ports []int) []int {
	t.Helper()
	var got []int
	for _, p := range ports {
		ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go churn.EchoServe(ln)
		got = append(got, ln.Addr().(*net.TCPAddr).Port)
	}
	return got
}

// churnCheck runs warm-up, then n connections with run, and checks that
// the engine's descriptors, sockets (flows) and memory are back within 5%
// of where they were after the warm-up.
func churnCheck(t *testing.T, pid, n int, run func(n int) error) {
	t.Helper()
	start := engineUsage(t, pid)
	// The warm-up touches what the engine allocated at start and uses
	// lazily (frame buffers are touched as bursts need them), so that
	// what follows measures growth, not first use.
	// (passt's RSS grows by about 2.5 MiB over its first 25 000
	// connections, then stays flat.)
	if err := run(soakOr(n, 30000)); err != nil {
		t.Fatalf("warm-up: %v", err)
	}
	settle(t, pid, usage{fds: 1 << 30, sockets: start.sockets, rssKiB: 1 << 30}, 10*time.Second)
	base := engineUsage(t, pid)
	begin := time.Now()
	if err := run(n); err != nil {
		t.Fatalf("churn: %v", err)
	}
	took := time.Since(begin)
	end := settle(t, pid, base, 10*time.Second)
	t.Logf("%d connections in %v; engine at start %v; after warm-up %v; after churn %v", n, took.Round(time.Millisecond), start, base, end)
	if !within5(base, end) {
		t.Errorf("after %d connections the engine holds %v, after warm-up it held %v", n, end, base)
	}
	// The sockets tell the flows that hold one; the TCP handler's timer
	// tells whether any flow is left on its list at all: it stops once
	// the list is empty (within one tick, 50 ms).
	deadline := time.Now().Add(2 * time.Second)
	for {
		armed, err := tcpTimerArmed(pid)
		if err != nil {
			t.Fatal(err)
		}
		if !armed {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("after %d connections the engine's TCP timer still runs 2 s after the last one: TCP flows are left", n)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tcpTimerArmed reports whether the TCP timer of engine pid is armed, which
// it is as long as any TCP flow exists. The timer is the timerfd that the
// engine's epoll set (/proc/PID/fdinfo of its eventpoll descriptors) has
// under the TCP handler's reference; its fdinfo shows it_value (0, 0) when
// disarmed.
func tcpTimerArmed(pid int) (bool, error) {
	ref := fmt.Sprintf("%x", uint64(loop.MakeRef(engine.KindTCP, tcp.MaxFlows)))
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, e := range ents {
		if l, _ := os.Readlink(dir + "/" + e.Name()); l != "anon_inode:[eventpoll]" {
			continue
		}
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, e.Name()))
		if err != nil {
			return false, err
		}
		for _, line := range strings.Split(string(info), "\n") {
			f := strings.Fields(line)
			// tfd: N events: E data: D pos: ...
			if len(f) < 6 || f[0] != "tfd:" || f[4] != "data:" || f[5] != ref {
				continue
			}
			tinfo, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, f[1]))
			if err != nil {
				return false, err
			}
			for _, tl := range strings.Split(string(tinfo), "\n") {
				if v, ok := strings.CutPrefix(tl, "it_value:"); ok {
					return strings.TrimSpace(v) != "(0, 0)", nil
				}
			}
			return false, fmt.Errorf("engine %d: no it_value in the fdinfo of timer %s: %s", pid, f[1], tinfo)
		}
	}
	return false, fmt.Errorf("engine %d: no TCP timer (reference %s) in its epoll sets", pid, ref)
}

// TestChurn: short connections (connect, 1-byte request, reply, close),
// 5 000 per path (100 000 under make soak), opened by the host and by the
// guest, through pasta's tap and splice paths and through passt: the
// engine's descriptors, flows (sockets) and RSS end within 5% of where they
// were after a warm-up, and no TCP flow is left (the TCP timer stops).
//
// The engines run with GOGC=1: the collector then frees garbage before it
// exceeds 1% of the live heap, so RSS growth means memory kept, not
// garbage the collector has not reached yet (with the default GOGC, a
// little garbage per connection, from the socket calls of accept and
// connect, lets RSS climb a few MiB before the first collection).
func TestChurn(t *testing.T) {
	t.Setenv("GOGC", "1")
	n := soakOr(5000, 100000)
	const par = 4
	for _, mode := range []string{"tap", "splice"} {
		t.Run("pasta/"+mode, func(t *testing.T) {
			ns := netns(t)
			in := freePorts(t, 4)
			out := echoServers(t, freePorts(t, 4))
			args := []string{"-4", "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2",
				"-t", portList(in), "-T", portList(out), "-u", "none", "-U", "none"}
			if mode == "tap" {
				args = append(args, "--no-splice")
			}
			pid := attachPasta(t, ns, args...)
			startStreamer(t, ns, "echo-serve", portList(in))
			t.Run("host-connects", func(t *testing.T) {
				churnCheck(t, pid, n, func(n int) error { return churn.Churn(joinPorts("127.0.0.1", in), n, par) })
			})
			t.Run("guest-connects", func(t *testing.T) {
				dst := "10.0.2.2"
				if mode == "splice" {
					dst = "127.0.0.1"
				}
				churnCheck(t, pid, n, func(n int) error {
					p := startStreamer(t, ns, "churn", strings.Join(joinPorts(dst, out), ","), fmt.Sprint(n), fmt.Sprint(par))
					_, err := p.wait(10 * time.Minute)
					return err
				})
			})
		})
	}
	t.Run("passt", func(t *testing.T) {
		ns := netns(t)
		in := freePorts(t, 4)
		out := echoServers(t, []int{0, 0, 0, 0})
		sock, _, cmd := startPasst(t, "-4", "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2", "-t", portList(in))
		startShim(t, ns, sock)
		guestAddress(t, ns)
		startStreamer(t, ns, "echo-serve", portList(in))
		pid := cmd.Process.Pid
		// passt -f announces its socket before its -t listeners exist.
		for _, p := range in {
			waitHostListening(t, p)
		}
		t.Run("host-connects", func(t *testing.T) {
			churnCheck(t, pid, n, func(n int) error { return churn.Churn(joinPorts("127.0.0.1", in), n, par) })
		})
		t.Run("guest-connects", func(t *testing.T) {
			churnCheck(t, pid, n, func(n int) error {
				p := startStreamer(t, ns, "churn", strings.Join(joinPorts("10.0.2.2", out), ","), fmt.Sprint(n), fmt.Sprint(par))
				_, err := p.wait(10 * time.Minute)
				return err
			})
		})
	})
}

// guestAddress configures tap0 in ns, the shim's interface, as the guest
// 10.0.2.15/24 behind the gateway 10.0.2.2.
func guestAddress(t *testing.T, ns string) {
	t.Helper()
	for _, c := range [][]string{
		{"ip", "link", "set", "tap0", "up"},
		{"ip", "addr", "add", "10.0.2.15/24", "dev", "tap0"},
		{"ip", "route", "add", "default", "via", "10.0.2.2"},
	} {
		if out, err := inNS(t, ns, c...); err != nil {
			t.Fatalf("%v: %v: %s", c, err, out)
		}
	}
}

// waitHostListening waits until something listens on port on the host.
func waitHostListening(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		out, _ := exec.Command("ss", "-Hltn", fmt.Sprintf("sport = :%d", port)).Output()
		if strings.Contains(string(out), "LISTEN") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %d on the host", port)
}

// execInNS prepares a command run in the named namespace.
func execInNS(ns string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
}

// TestSamePortReuse: connections that reuse the addresses and ports of the
// one just closed, back to back. The guest closes first, so it holds the
// connection before in TIME_WAIT and takes a new SYN for the same ports
// only if its sequence number is beyond the old connection's (RFC 9293
// §3.6.1, as Linux does without timestamps): our initial sequence numbers
// (RFC 6528: a 4 µs clock plus a keyed hash of the addresses) always are,
// so each connection gets through at once. With random ones, about every
// second connection would wait for a retransmission of the SYN (200 ms).
// The other way, the guest picks its own sequence numbers and the host's
// kernel holds the TIME_WAIT state; that is checked too.
func TestSamePortReuse(t *testing.T) {
	const n = 40
	const limit = 100 * time.Millisecond // under our SYN retransmission time (200 ms)
	check := func(t *testing.T, what string, slowest time.Duration, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		t.Logf("%s: %d connections from one port, slowest %v", what, n, slowest.Round(time.Microsecond))
		if slowest > limit {
			t.Errorf("%s: a connection from the same port as the one before took %v, want under %v", what, slowest, limit)
		}
	}
	hostConnects := func(t *testing.T, port int) {
		local := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		slowest, err := churn.SamePort(local, fmt.Sprintf("127.0.0.1:%d", port), n)
		check(t, "host connects", slowest, err)
	}
	t.Run("pasta-tap", func(t *testing.T) {
		ns := netns(t)
		in := lowPort(t)
		out := echoServers(t, []int{0})[0]
		attachPasta(t, ns, "-4", "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2",
			"-t", fmt.Sprint(in), "-T", "none", "-u", "none", "-U", "none", "--no-splice")
		startStreamer(t, ns, "echo-serve", fmt.Sprint(in))
		t.Run("host-connects", func(t *testing.T) { hostConnects(t, in) })
		t.Run("guest-connects", func(t *testing.T) {
			p := startStreamer(t, ns, "same-port", fmt.Sprintf("10.0.2.15:%d", freePort(t)), fmt.Sprintf("10.0.2.2:%d", out), fmt.Sprint(n))
			res, err := p.wait(time.Minute)
			var slowest time.Duration
			if err == nil {
				slowest, err = time.ParseDuration(strings.TrimPrefix(res, "ok "))
			}
			check(t, "guest connects", slowest, err)
		})
	})
	t.Run("passt", func(t *testing.T) {
		ns := netns(t)
		in := lowPort(t)
		sock, _, _ := startPasst(t, "-4", "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2", "-t", fmt.Sprint(in))
		startShim(t, ns, sock)
		guestAddress(t, ns)
		startStreamer(t, ns, "echo-serve", fmt.Sprint(in))
		waitHostListening(t, in)
		hostConnects(t, in)
	})
}
