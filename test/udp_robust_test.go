// SPDX-License-Identifier: GPL-2.0-or-later

package test

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"passt/fdbudget"
	"passt/icmp"
	"passt/test/churn"
	"passt/udp"
)

// The UDP side of the robustness tests (issue 8): churn of short flows,
// the engine full of UDP flows, and the descriptor shares (package
// fdbudget) that keep a flood of one protocol from starving the others.
//
// UDP flows end by expiring, 30 s or more after their last datagram with
// the host's conntrack defaults; the engines here run with the test hook
// udp.TimeoutEnv set to a second or two, so that a round of churn or a
// full table clears in seconds.

// udpEchoServers serves UDP echo on n ports of the host's loopback.
func udpEchoServers(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for i := 0; i < n; i++ {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		go churn.UDPEchoServe(c)
		ports = append(ports, c.LocalAddr().(*net.UDPAddr).Port)
	}
	return ports
}

// udpFreePorts returns n UDP ports free on the host.
func udpFreePorts(t *testing.T, n int) []int {
	t.Helper()
	var conns []net.PacketConn
	var ports []int
	for i := 0; i < n; i++ {
		c, err := net.ListenPacket("udp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		ports = append(ports, c.LocalAddr().(*net.UDPAddr).Port)
	}
	for _, c := range conns {
		c.Close()
	}
	return ports
}

// startUDPEcho runs udptool echo on port in ns.
func startUDPEcho(t *testing.T, ns string, port int) {
	t.Helper()
	cmd := execInNS(ns, udptoolBin, "echo", fmt.Sprintf("0.0.0.0:%d", port))
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	readUntil(t, stdout, "ready")
}

// guestUDPChurn runs n exchanges from the namespace (udptool churn).
func guestUDPChurn(t *testing.T, ns string, addrs []string, n, par int) error {
	out, err := inNS(t, ns, udptoolBin, "churn", strings.Join(addrs, ","), fmt.Sprint(n), fmt.Sprint(par))
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(out))
	}
	t.Logf("guest: %s", strings.TrimSpace(out))
	return nil
}

// hostUDPChurn runs n exchanges from the host.
func hostUDPChurn(t *testing.T, addrs []string, n, par int) error {
	resent, err := churn.UDP(addrs, n, par)
	t.Logf("host: %d exchanges, %d datagrams sent again", n, resent)
	return err
}

// TestChurnUDP: short UDP flows (a new source port, one datagram, its
// echo), 5 000 per direction and path (100 000 under make soak), from the
// host (-u) and from the guest (through the gateway, or -U on the splice
// path), through pasta's tap and splice paths and through passt: once the
// flows have expired, the engine's descriptors, sockets (flows) and RSS
// are back within 5% of where they were after a warm-up.
func TestChurnUDP(t *testing.T) {
	t.Setenv("GOGC", "1")
	t.Setenv(udp.TimeoutEnv, "1")
	n := soakOr(5000, 100000)
	const par = 4
	for _, mode := range []string{"tap", "splice"} {
		t.Run("pasta/"+mode, func(t *testing.T) {
			ns := netns(t)
			in := udpFreePorts(t, 2)
			out := udpEchoServers(t, 2)
			args := []string{"-4", "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2",
				"-u", portList(in), "-U", portList(out), "-t", "none", "-T", "none"}
			if mode == "tap" {
				args = append(args, "--no-splice")
			}
			pid := attachPasta(t, ns, args...)
			for _, p := range in {
				startUDPEcho(t, ns, p)
			}
			t.Run("host-sends", func(t *testing.T) {
				churnCheck(t, pid, n, func(n int) error { return hostUDPChurn(t, joinPorts("127.0.0.1", in), n, par) })
			})
			t.Run("guest-sends", func(t *testing.T) {
				dst := "10.0.2.2"
				if mode == "splice" {
					dst = "127.0.0.1"
				}
				churnCheck(t, pid, n, func(n int) error { return guestUDPChurn(t, ns, joinPorts(dst, out), n, par) })
			})
		})
	}
	t.Run("passt", func(t *testing.T) {
		ns := netns(t)
		in := udpFreePorts(t, 2)
		out := udpEchoServers(t, 2)
		sock, _, cmd := startPasst(t, "-4", "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2", "-u", portList(in), "-t", "none")
		startShim(t, ns, sock)
		guestAddress(t, ns)
		for _, p := range in {
			startUDPEcho(t, ns, p)
		}
		pid := cmd.Process.Pid
		t.Run("host-sends", func(t *testing.T) {
			churnCheck(t, pid, n, func(n int) error { return hostUDPChurn(t, joinPorts("127.0.0.1", in), n, par) })
		})
		t.Run("guest-sends", func(t *testing.T) {
			churnCheck(t, pid, n, func(n int) error { return guestUDPChurn(t, ns, joinPorts("10.0.2.2", out), n, par) })
		})
	})
}

// udpSink counts the distinct sources of the datagrams it receives on the
// host's loopback.
type udpSink struct {
	port    int
	mu      sync.Mutex
	sources map[string]bool
}

func newUDPSink(t *testing.T) *udpSink {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := &udpSink{port: c.LocalAddr().(*net.UDPAddr).Port, sources: map[string]bool{}}
	go func() {
		buf := make([]byte, 2048)
		for {
			_, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.sources[from.String()] = true
			s.mu.Unlock()
		}
	}()
	return s
}

// count returns the number of distinct sources seen so far, once none has
// arrived for 300 ms.
func (s *udpSink) count() int {
	last := -1
	for {
		time.Sleep(300 * time.Millisecond)
		s.mu.Lock()
		n := len(s.sources)
		s.mu.Unlock()
		if n == last {
			return n
		}
		last = n
	}
}

// limitedPasta is the engine of the capacity tests: IPv4, guest 10.0.2.15
// behind 10.0.2.2, through the tap only, with a limit of 2 000
// descriptors. It returns the engine's PID and the shares it should have
// given the protocols, from the descriptors it holds at start (about 16:
// TCP about 930, UDP 697, ICMP 233).
func limitedPasta(t *testing.T, ns string, args ...string) (int, fdbudget.Shares) {
	t.Helper()
	base := []string{"-4", "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2", "--no-splice", "-u", "none", "-T", "none", "-U", "none"}
	pid := attachPastaLimited(t, ns, 2000, append(base, args...)...)
	u := engineUsage(t, pid)
	s := fdbudget.Split(2000, u.fds, fdbudget.Need{UDP: 2 * udp.MaxFlows, ICMP: icmp.MaxFlows})
	t.Logf("engine at start: %v; shares TCP %d, UDP %d, ICMP %d", u, s.TCP, s.UDP, s.ICMP)
	return pid, s
}

// aboutShare checks that n flows were held of a share: the share, give or
// take the few descriptors the count at start may differ by, less those
// the check's own flows took.
func aboutShare(t *testing.T, what string, n, share int) {
	t.Helper()
	if n < share-5 || n > share+2 {
		t.Errorf("%d %s held, want about their share (%d)", n, what, share)
	}
}

// TestCapacityUDP: the guest opens more UDP flows than the engine may
// hold (its descriptor share, about 700 sockets with a limit of 2 000
// descriptors; the table's own capacity is tested in package udp): the
// datagrams of flows beyond it are dropped, a flow opened before keeps
// exchanging datagrams meanwhile, every datagram answered at the first
// try, and new flows work again once the others expire.
func TestCapacityUDP(t *testing.T) {
	t.Setenv(udp.TimeoutEnv, "2")
	ns := netns(t)
	pid, shares := limitedPasta(t, ns, "-t", "none")
	start := engineUsage(t, pid)
	echo := udpEchoServers(t, 1)[0]
	sink := newUDPSink(t)

	keep := execInNS(ns, udptoolBin, "keep", fmt.Sprintf("10.0.2.2:%d", echo), "40", "100")
	stdout, _ := keep.StdoutPipe()
	var stderr strings.Builder
	keep.Stderr = &stderr
	if err := keep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keep.Process.Kill(); keep.Wait() })
	readUntil(t, stdout, "ready")

	const flood = 1500
	if out, err := inNS(t, ns, udptoolBin, "flood", fmt.Sprintf("10.0.2.2:%d", sink.port), fmt.Sprint(flood)); err != nil {
		t.Fatalf("flood: %v: %s", err, out)
	}
	got := sink.count()
	full := engineUsage(t, pid)
	t.Logf("%d of %d new flows reached the host; engine %v", got, flood, full)
	// The sockets the engine holds are the flows (the sink may miss a
	// few datagrams of the burst when its receive buffer fills).
	aboutShare(t, "UDP flows", full.sockets-start.sockets, shares.UDP)
	if got < shares.UDP/2 {
		t.Errorf("only %d new flows reached the host", got)
	}
	done := make(chan string, 1)
	go func() {
		b := new(strings.Builder)
		buf := make([]byte, 256)
		for {
			n, err := stdout.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		keep.Wait()
		done <- strings.TrimSpace(b.String())
	}()
	select {
	case out := <-done:
		if out != "ok 40" {
			t.Errorf("the flow opened before the flood: %q %s", out, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the flow opened before the flood did not end")
	}

	// Recovery: once the flood's flows expire, new ones work.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := inNS(t, ns, udptoolBin, "ping", fmt.Sprintf("10.0.2.2:%d", echo), "8", "3")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new flow works after the flood expired: %v: %s", err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	end := settle(t, pid, usage{fds: full.fds, sockets: full.sockets - got + 1, rssKiB: 1 << 30}, 10*time.Second)
	t.Logf("engine after expiry: %v", end)
}

// guestTCPEcho opens a connection from the namespace to the host's echo
// server at 10.0.2.2:port and checks the echo.
func guestTCPEcho(t *testing.T, ns string, port int) error {
	out, err := inNS(t, ns, "timeout", "10", "bash", "-c",
		fmt.Sprintf("exec 3<>/dev/tcp/10.0.2.2/%d && echo x >&3 && head -c 2 <&3", port))
	if err != nil || strings.TrimSpace(out) != "x" {
		return fmt.Errorf("%v: %q", err, out)
	}
	return nil
}

// guestPing pings the gateway from the namespace.
func guestPing(t *testing.T, ns string) error {
	out, err := inNS(t, ns, "ping", "-n", "-c", "2", "-i", "0.2", "-W", "2", "10.0.2.2")
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// TestCapacityShares: each protocol's flows draw on a share of the
// engine's descriptors (package fdbudget). With a limit of 2 000, a flood
// of 4 000 UDP flows from the guest, which without shares would take every
// descriptor left, leaves new TCP connections and pings working; 2 000 TCP
// connections from the host likewise leave UDP exchanges and pings
// working.
func TestCapacityShares(t *testing.T) {
	requireCommands(t, "ping", "bash")
	pingGroupRange(t, "0 2147483647")
	t.Run("udp-flood", func(t *testing.T) {
		ns := netns(t)
		pid, shares := limitedPasta(t, ns, "-t", "none")
		start := engineUsage(t, pid)
		sink := newUDPSink(t)
		tcpEcho := hostServer(t, "tcp4", "127.0.0.1:0", func(c net.Conn) { buf := make([]byte, 64); n, _ := c.Read(buf); c.Write(buf[:n]) })
		if out, err := inNS(t, ns, udptoolBin, "flood", fmt.Sprintf("10.0.2.2:%d", sink.port), "4000"); err != nil {
			t.Fatalf("flood: %v: %s", err, out)
		}
		got := sink.count()
		full := engineUsage(t, pid)
		t.Logf("%d of 4000 UDP flows reached the host; engine %v", got, full)
		aboutShare(t, "UDP flows", full.sockets-start.sockets, shares.UDP)
		if err := guestTCPEcho(t, ns, tcpEcho); err != nil {
			t.Errorf("a TCP connection with UDP's share spent: %v", err)
		}
		if err := guestPing(t, ns); err != nil {
			t.Errorf("ping with UDP's share spent: %v", err)
		}
	})
	t.Run("tcp-flood", func(t *testing.T) {
		t.Setenv(udp.TimeoutEnv, "30")
		ns := netns(t)
		port := lowPort(t)
		pid, shares := limitedPasta(t, ns, "-t", fmt.Sprint(port))
		startConnhold(t, ns, port)
		echo := udpEchoServers(t, 1)[0]
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		refused := 0
		for i := 0; i < 2000; i++ {
			c, err := echoOnce(fmt.Sprintf("127.0.0.1:%d", port), byte(i), 3*time.Second)
			if err != nil {
				refused++
				continue
			}
			held = append(held, c)
		}
		t.Logf("%d TCP connections held, %d refused; engine %v", len(held), refused, engineUsage(t, pid))
		aboutShare(t, "TCP connections", len(held), shares.TCP)
		if out, err := inNS(t, ns, udptoolBin, "ping", fmt.Sprintf("10.0.2.2:%d", echo), "8", "3"); err != nil {
			t.Errorf("a UDP exchange with TCP's share spent: %v: %s", err, out)
		}
		if err := guestPing(t, ns); err != nil {
			t.Errorf("ping with TCP's share spent: %v", err)
		}
	})
}
