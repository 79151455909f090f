// SPDX-License-Identifier: GPL-2.0-or-later

package test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The UDP tests move 5 KiB datagrams (udptool ping: each echoed back and
// compared) and a 1 MiB stream (udptool source and sink: every datagram
// checked and acknowledged, SHA-256 of the whole compared on both ends)
// through every path: namespace or guest to host through the gateway
// address, host to namespace through -u (tap, or the loopback bypass), and
// namespace loopback to host loopback through -U.

const (
	pingSize   = 5 * 1024
	pingCount  = 20
	streamSize = 1 << 20
)

// tool starts a udptool server (echo, sink, dnsd) with cmd, waits for it to
// be ready and returns its port and a reader of the rest of its output;
// it is killed at the end of the test.
func tool(t *testing.T, cmd *exec.Cmd) (int, *bufio.Reader) {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	r := bufio.NewReader(stdout)
	line, err := readLine(r, 10*time.Second)
	if err != nil || !strings.HasPrefix(line, "ready ") {
		t.Fatalf("%v: %q, %v: %s", cmd.Args, line, err, stderr.String())
	}
	port, _ := strconv.Atoi(strings.TrimPrefix(line, "ready "))
	return port, r
}

// readLine reads one line within timeout.
func readLine(r *bufio.Reader, timeout time.Duration) (string, error) {
	type res struct {
		s   string
		err error
	}
	c := make(chan res, 1)
	go func() {
		s, err := r.ReadString('\n')
		c <- res{strings.TrimSpace(s), err}
	}()
	select {
	case x := <-c:
		return x.s, x.err
	case <-time.After(timeout):
		return "", fmt.Errorf("timeout after %v", timeout)
	}
}

// hostTool starts a udptool server on the host.
func hostTool(t *testing.T, args ...string) (int, *bufio.Reader) {
	return tool(t, exec.Command(udptoolBin, args...))
}

// nsTool starts a udptool server in namespace ns.
func nsTool(t *testing.T, ns string, args ...string) (int, *bufio.Reader) {
	return tool(t, exec.Command("ip", append([]string{"netns", "exec", ns, udptoolBin}, args...)...))
}

// streamResult reads the sink's "ok BYTES HASH" line.
func streamResult(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := readLine(r, 60*time.Second)
	if err != nil {
		t.Fatalf("sink: %v", err)
	}
	return line
}

// hostPort joins an address and a port.
func hostPort(addr string, port int) string { return net.JoinHostPort(addr, strconv.Itoa(port)) }

// checkStream compares what the source printed with what the sink got.
func checkStream(t *testing.T, what, sourceOut string, sink *bufio.Reader) {
	t.Helper()
	got := streamResult(t, sink)
	want := ""
	for _, l := range strings.Split(sourceOut, "\n") {
		if strings.HasPrefix(l, fmt.Sprintf("ok %d ", streamSize)) {
			want = strings.TrimSpace(l)
		}
	}
	if want == "" || got != want {
		t.Errorf("%s: stream of %d bytes: source %q, sink %q", what, streamSize, sourceOut, got)
	}
}

type udpFamily struct {
	name, flag, loopback string
	addrArgs             []string
	gw                   string
}

var udpFamilies = []udpFamily{
	{"ipv4", "-4", "127.0.0.1", []string{"-a", "10.0.2.15", "-g", "10.0.2.2"}, "10.0.2.2"},
	{"ipv6", "-6", "::1", []string{"-a", "fd00:abcd::2", "-g", "fd00:abcd::1"}, "fd00:abcd::1"},
}

// TestUDPGuestToHost: from a pasta namespace to the host's loopback
// through the gateway address, IPv4 and IPv6: 5 KiB datagrams echoed and
// a 1 MiB stream at MTU 65520, 1400-byte datagrams at MTU 1500 (larger
// ones would be IP fragments, which pasta does not reassemble).
func TestUDPGuestToHost(t *testing.T) {
	testUser(t)
	for _, fam := range udpFamilies {
		for _, mtu := range []struct {
			mtu         string
			ping, dgram int
		}{{"65520", pingSize, 8192}, {"1500", 1400, 1400}} {
			name := fam.name + "/mtu" + mtu.mtu
			echo, _ := hostTool(t, "echo", hostPort(fam.loopback, 0))
			sinkPort, sink := hostTool(t, "sink", hostPort(fam.loopback, 0))
			script := fmt.Sprintf("%s ping %s %d %d && %s source %s %d %d",
				udptoolBin, hostPort(fam.gw, echo), mtu.ping, pingCount,
				udptoolBin, hostPort(fam.gw, sinkPort), streamSize, mtu.dgram)
			args := append([]string{"--config-net", "-m", mtu.mtu, fam.flag}, fam.addrArgs...)
			out, err := exec.Command(pastaBin(t), append(args, "--", "sh", "-c", script)...).CombinedOutput()
			if err != nil || !strings.Contains(string(out), fmt.Sprintf("ok %d\n", pingCount)) {
				t.Fatalf("%s: %v: %s", name, err, out)
			}
			checkStream(t, name, string(out), sink)
		}
	}
}

// TestUDPPortUnreachable: a datagram from the namespace to a closed port
// of the host comes back as an ICMP port unreachable: the sender's
// connected socket sees ECONNREFUSED.
func TestUDPPortUnreachable(t *testing.T) {
	testUser(t)
	for _, fam := range udpFamilies {
		c, err := net.ListenPacket("udp", hostPort(fam.loopback, 0))
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		args := append([]string{"--config-net", fam.flag}, fam.addrArgs...)
		out, err := exec.Command(pastaBin(t), append(args, "--", udptoolBin, "refused", hostPort(fam.gw, port))...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "refused") {
			t.Errorf("%s: %v: %s", fam.name, err, out)
		}
	}
}

var (
	givenMu    sync.Mutex
	givenPorts = map[int]bool{}
)

// udpPort returns a port below the ephemeral range free for UDP on the
// host (both families) and for TCP, a different one each call.
func udpPort(t *testing.T) int {
	t.Helper()
	givenMu.Lock()
	defer givenMu.Unlock()
	for i := 0; i < 100; i++ {
		p := lowPort(t)
		if givenPorts[p] {
			continue
		}
		c4, err := net.ListenPacket("udp4", fmt.Sprintf(":%d", p))
		if err != nil {
			continue
		}
		c6, err := net.ListenPacket("udp6", fmt.Sprintf("[::]:%d", p))
		c4.Close()
		if err != nil {
			continue
		}
		c6.Close()
		givenPorts[p] = true
		return p
	}
	t.Fatal("no free UDP port")
	return 0
}

// TestUDPForward: -u forwards datagrams from the host into a pasta
// namespace: from loopback through the bypass (to the namespace's address,
// or to its loopback with --host-lo-to-ns-lo) or, with --no-splice,
// through the tap; from the host's own address through the tap. IPv4 and
// IPv6, 5 KiB datagrams echoed and a 1 MiB stream, replies back from the
// address and port the host sent to.
func TestUDPForward(t *testing.T) {
	for _, mode := range []string{"--no-splice", "--host-lo-to-ns-lo", ""} {
		t.Run(strings.TrimPrefix(mode+"-splice", "--"), func(t *testing.T) { testUDPForward(t, mode) })
	}
}

func testUDPForward(t *testing.T, mode string) {
	ns := netns(t)
	echo, sinks := udpPort(t), []int{udpPort(t), udpPort(t), udpPort(t)}
	args := []string{"-u", fmt.Sprintf("%d,%d,%d,%d", echo, sinks[0], sinks[1], sinks[2]), "-t", "none", "-T", "none", "-U", "none"}
	if mode != "" {
		args = append(args, mode)
	}
	attachPasta(t, ns, args...)
	nsTool(t, ns, "echo", hostPort("::", echo))

	sources := []string{"127.0.0.1", "::1"}
	if ht := discoverHostTemplate(t); len(ht.addrs) > 0 {
		sources = append(sources, strings.Split(ht.addrs[0], "/")[0])
	}
	for i, src := range sources {
		sink := sinks[i]
		out, err := exec.Command(udptoolBin, "ping", hostPort(src, echo), strconv.Itoa(pingSize), strconv.Itoa(pingCount)).CombinedOutput()
		if err != nil {
			t.Errorf("%s -> namespace: %v: %s", src, err, out)
		}
		_, r := nsTool(t, ns, "sink", hostPort("::", sink))
		out, err = exec.Command(udptoolBin, "source", hostPort(src, sink), strconv.Itoa(streamSize), "8192").CombinedOutput()
		if err != nil {
			t.Fatalf("%s -> namespace: stream: %v: %s", src, err, out)
		}
		checkStream(t, src+" -> namespace", string(out), r)
	}
}

// TestUDPSpliceOutbound: -U forwards datagrams to the namespace's loopback
// to the same loopback address on the host, IPv4 and IPv6, with port
// translation too.
func TestUDPSpliceOutbound(t *testing.T) {
	ns := netns(t)
	echo, sink, from, to := udpPort(t), udpPort(t), udpPort(t), udpPort(t)
	attachPasta(t, ns, "-U", fmt.Sprintf("%d,%d,%d:%d", echo, sink, from, to), "-t", "none", "-u", "none", "-T", "none")
	hostTool(t, "echo", hostPort("127.0.0.1", to))
	if out, err := inNS(t, ns, udptoolBin, "ping", hostPort("127.0.0.1", from), "100", "3"); err != nil {
		t.Errorf("namespace port %d -> host port %d: %v: %s", from, to, err, out)
	}
	for _, lo := range []string{"127.0.0.1", "::1"} {
		hostTool(t, "echo", hostPort(lo, echo))
		out, err := inNS(t, ns, udptoolBin, "ping", hostPort(lo, echo), strconv.Itoa(pingSize), strconv.Itoa(pingCount))
		if err != nil {
			t.Errorf("namespace -> %s: %v: %s", lo, err, out)
		}
		_, r := hostTool(t, "sink", hostPort(lo, sink))
		out, err = inNS(t, ns, udptoolBin, "source", hostPort(lo, sink), strconv.Itoa(streamSize), "8192")
		if err != nil {
			t.Fatalf("namespace -> %s: stream: %v: %s", lo, err, out)
		}
		checkStream(t, "namespace -> "+lo, out, r)
	}
}

// TestUDPPasstGuest: the same through passt and the shim (a namespace
// behind a tap relayed to passt's socket, MTU 65520): to the host through
// the gateway, and from the host through -u, IPv4 and IPv6.
func TestUDPPasstGuest(t *testing.T) {
	ns := netns(t)
	fwd := udpPort(t)
	sock, _, _ := startPasst(t, "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2",
		"-a", "fd00:abcd::2", "-g", "fd00:abcd::1", "-u", strconv.Itoa(fwd))
	startShimMTU(t, ns, sock, "65520")
	guestAddress(t, ns)
	guestAddress6(t, ns)
	nsTool(t, ns, "echo", hostPort("::", fwd))
	for _, fam := range udpFamilies {
		echo, _ := hostTool(t, "echo", hostPort(fam.loopback, 0))
		out, err := inNS(t, ns, udptoolBin, "ping", hostPort(fam.gw, echo), strconv.Itoa(pingSize), strconv.Itoa(pingCount))
		if err != nil {
			t.Errorf("%s: guest -> host: %v: %s", fam.name, err, out)
		}
		sinkPort, r := hostTool(t, "sink", hostPort(fam.loopback, 0))
		out, err = inNS(t, ns, udptoolBin, "source", hostPort(fam.gw, sinkPort), strconv.Itoa(streamSize), "8192")
		if err != nil {
			t.Fatalf("%s: guest -> host: stream: %v: %s", fam.name, err, out)
		}
		checkStream(t, fam.name+": guest -> host", out, r)

		b, err := exec.Command(udptoolBin, "ping", hostPort(fam.loopback, fwd), strconv.Itoa(pingSize), strconv.Itoa(pingCount)).CombinedOutput()
		if err != nil {
			t.Errorf("%s: host -> guest through -u: %v: %s", fam.name, err, b)
		}
		// Datagrams of 65000 bytes: one frame each way (the guest's
		// MTU is 65520).
		b, err = exec.Command(udptoolBin, "ping", hostPort(fam.loopback, fwd), "65000", "3").CombinedOutput()
		if err != nil {
			t.Errorf("%s: host -> guest through -u, 65000 bytes: %v: %s", fam.name, err, b)
		}
	}
}

// TestUDPAuto: pasta's default "auto" forwarding of UDP: a port bound in
// the namespace is forwarded from the host within 2 s, a port only
// listened on with TCP in the namespace gets a UDP socket on the host too
// (as upstream), and a host port bound before pasta starts is reachable
// from the namespace's loopback.
func TestUDPAuto(t *testing.T) {
	requireCommands(t, "socat", "ss")
	testUser(t)
	in, tcpOnly, out := udpPort(t), udpPort(t), udpPort(t)
	hostTool(t, "echo", hostPort("127.0.0.1", out))
	script := fmt.Sprintf(`%s echo [::]:%d >/dev/null &
socat -u TCP-LISTEN:%d,reuseaddr - >/dev/null &
%s ping 127.0.0.1:%d %d 5 || exit 1
echo started
read x`, udptoolBin, in, tcpOnly, udptoolBin, out, pingSize)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pastaBin(t), "--config-net", "--", "sh", "-c", script)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	r := bufio.NewReader(stdout)
	for {
		line, err := readLine(r, 20*time.Second)
		if err != nil {
			t.Fatalf("namespace -> host via -U auto: %v: %s", err, stderr.String())
		}
		if line == "started" {
			break
		}
	}
	start := time.Now()
	c, err := net.Dial("udp4", hostPort("127.0.0.1", in))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 100)
	for {
		c.Write([]byte("probe"))
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := c.Read(buf); err == nil && string(buf[:n]) == "probe" {
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("UDP port %d bound in the namespace not forwarded within 2 s", in)
		}
	}
	for {
		o, _ := exec.Command("ss", "-Hlun", fmt.Sprintf("sport = :%d", tcpOnly)).Output()
		if strings.Contains(string(o), strconv.Itoa(tcpOnly)) {
			break
		}
		if time.Since(start) > 3*time.Second {
			t.Fatalf("no UDP socket on the host for port %d, listened on by TCP in the namespace", tcpOnly)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, err := exec.Command(udptoolBin, "ping", hostPort("127.0.0.1", in), strconv.Itoa(pingSize), "5").CombinedOutput(); err != nil {
		t.Errorf("host -> namespace via -u auto: %v: %s", err, out)
	}
}

// startShimMTU is startShim with the tap's MTU set, and the shim's
// messages discarded.
func startShimMTU(t *testing.T, ns, sock, mtu string) *exec.Cmd {
	t.Helper()
	return runShim(t, ns, io.Discard, sock, "tap0", mtu)
}

// TestUDPListenFailure: a -u port that cannot be bound is fatal, with
// upstream's messages, in both modes.
func TestUDPListenFailure(t *testing.T) {
	testUser(t)
	c, err := net.ListenPacket("udp4", "0.0.0.0:0") // no SO_REUSEADDR: nobody else can bind it
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := c.LocalAddr().(*net.UDPAddr).Port
	for _, argv := range [][]string{
		{passtBin, "-q", "-f", "-4", "-u", strconv.Itoa(port)},
		{pastaBin(t), "-q", "-4", "-u", strconv.Itoa(port), "--", "true"},
	} {
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		want := fmt.Sprintf("Listen failed for HOST UDP port 0.0.0.0/%d: Address already in use\nCouldn't listen on requested ports", port)
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("%v: %v: %s", argv[1:], err, out)
		}
	}
}

// TestAutoSkipsOwnPorts: ports that explicit -t and -u rules listen on at
// the host are not taken for the host's own by -T auto and -U auto: the
// namespace gets no socket on them (which would loop back onto pasta, and
// take the port from the namespace's own server).
func TestAutoSkipsOwnPorts(t *testing.T) {
	requireCommands(t, "ss")
	ns := netns(t)
	tp, up := udpPort(t), udpPort(t)
	attachPasta(t, ns, "-t", strconv.Itoa(tp), "-u", strconv.Itoa(up), "-T", "auto", "-U", "auto")
	time.Sleep(2500 * time.Millisecond) // two scans
	for _, c := range []struct{ flags, port string }{{"-Hltn", strconv.Itoa(tp)}, {"-Hlun", strconv.Itoa(up)}} {
		out, err := inNS(t, ns, "ss", c.flags, "sport = :"+c.port)
		if err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("ss %s in the namespace for our own port %s: %v: %q", c.flags, c.port, err, out)
		}
	}
	// The ports are still the namespace's to bind.
	nsTool(t, ns, "echo", hostPort("::", up))
	if out, err := exec.Command(udptoolBin, "ping", hostPort("127.0.0.1", up), "100", "3").CombinedOutput(); err != nil {
		t.Errorf("-u %d: %v: %s", up, err, out)
	}
}

// TestUDPUrgentPolicy: pasta's loop runs as SCHED_BATCH, takes the default
// policy back as soon as UDP flows (loop.Urgent: a UDP sender does not wait
// for it), and returns to SCHED_BATCH before it sleeps once the hold
// (loop.UrgentHold, 100 ms) has passed, here woken by a TCP connection.
func TestUDPUrgentPolicy(t *testing.T) {
	ns := netns(t)
	echo, tcpPort := udpPort(t), freePort(t)
	pid := attachPasta(t, ns, "-u", strconv.Itoa(echo), "-t", strconv.Itoa(tcpPort), "-T", "none", "-U", "none")
	nsTool(t, ns, "echo", hostPort("::", echo))
	if p := schedPolicy(t, pid); p != unix.SCHED_BATCH {
		t.Errorf("policy %d before any UDP, want SCHED_BATCH (%d)", p, unix.SCHED_BATCH)
	}
	// While datagrams go back and forth, the policy is the default one
	// (sampled: the loop may have settled in a pause of the exchange).
	ping := exec.Command(udptoolBin, "ping", hostPort("127.0.0.1", echo), "1000", "2000")
	var out strings.Builder
	ping.Stdout, ping.Stderr = &out, &out
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ping.Wait() }()
	samples, other := 0, 0
	for waiting := true; waiting; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("ping through -u: %v: %s", err, out.String())
			}
			waiting = false
		default:
			if schedPolicy(t, pid) == unix.SCHED_NORMAL {
				other++
			}
			samples++
			time.Sleep(time.Millisecond)
		}
	}
	if other == 0 {
		t.Errorf("policy never SCHED_OTHER in %d samples while UDP flowed", samples)
	}
	t.Logf("SCHED_OTHER in %d of %d samples while UDP flowed", other, samples)
	time.Sleep(250 * time.Millisecond)
	// Something else to do: a connection spliced to a closed port of the
	// namespace (accepted, then reset).
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp4", hostPort("127.0.0.1", tcpPort), time.Second); err == nil {
			c.SetReadDeadline(time.Now().Add(time.Second))
			_, _ = c.Read(make([]byte, 1))
			c.Close()
		}
		if p := schedPolicy(t, pid); p == unix.SCHED_BATCH {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("policy %d after the hold and a TCP connection, want SCHED_BATCH (%d)", p, unix.SCHED_BATCH)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
