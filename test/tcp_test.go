// SPDX-License-Identifier: GPL-2.0-or-later

package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hostServer listens on a host loopback address (the gateway address maps
// there) and serves one connection with serve.
func hostServer(t *testing.T, network, addr string, serve func(c net.Conn)) int {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// hashReply reads until the client shuts down its side and answers with
// the SHA-256 of what it got, in hexadecimal: the client then knows its
// whole upload arrived.
func hashReply(c net.Conn) {
	h := sha256.New()
	io.Copy(h, c)
	fmt.Fprintf(c, "%x", h.Sum(nil))
}

func randomData(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTCPGuestToHost: connections from a pasta namespace to the host
// through the gateway address (mapped to the host's loopback), IPv4 and
// IPv6, at MTU 65520 and 1500: 10 MiB and 2 KiB each way compared byte for
// byte, a half-closed client still gets the whole reply, and a refused
// connection is reported at once.
func TestTCPGuestToHost(t *testing.T) {
	requireCommands(t, "socat")
	testUser(t) // /dev/net/tun usable
	for _, size := range []int{10 << 20, 2048} {
		data := randomData(t, size)
		want := sha256.Sum256(data)
		for _, fam := range []struct{ network, listen, gwFlag, gw string }{
			{"tcp4", "127.0.0.1:0", "-4", "10.0.2.2"},
			{"tcp6", "[::1]:0", "-6", "fd00:abcd::1"},
		} {
			for _, mtu := range []string{"65520", "1500"} {
				name := fmt.Sprintf("%s/%d/mtu%s", fam.network, size, mtu)
				// Host receives (guest -> host), and answers with the
				// hash of what it got, so that the guest waits for the
				// whole upload before exiting (pasta exits with it).
				port := hostServer(t, fam.network, fam.listen, hashReply)
				addrArgs := []string{"-a", "10.0.2.15", "-g", "10.0.2.2"}
				if fam.network == "tcp6" {
					addrArgs = []string{"-a", "fd00:abcd::2", "-g", "fd00:abcd::1"}
				}
				args := append([]string{"--config-net", "-m", mtu, fam.gwFlag}, addrArgs...)
				target := fmt.Sprintf("TCP:%s:%d", fam.gw, port)
				if fam.network == "tcp6" {
					target = fmt.Sprintf("TCP6:[%s]:%d", fam.gw, port)
				}
				cmd := exec.Command(pastaBin(t), append(args, "--", "socat", "-t", "30", "-", target)...)
				cmd.Stdin = bytes.NewReader(data)
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("%s: upload: %v", name, err)
				}
				if string(out) != fmt.Sprintf("%x", want) {
					t.Errorf("%s: upload corrupted or short (host's hash %q)", name, out)
				}

				// Guest receives (host -> guest).
				port = hostServer(t, fam.network, fam.listen, func(c net.Conn) { c.Write(data) })
				if fam.network == "tcp6" {
					target = fmt.Sprintf("TCP6:[%s]:%d", fam.gw, port)
				} else {
					target = fmt.Sprintf("TCP:%s:%d", fam.gw, port)
				}
				cmd = exec.Command(pastaBin(t), append(args, "--", "socat", "-u", target, "-")...)
				out, err = cmd.Output()
				if err != nil {
					t.Fatalf("%s: download: %v", name, err)
				}
				if sha256.Sum256(out) != want {
					t.Errorf("%s: download of %d bytes, corrupted or short", name, len(out))
				}
			}
		}
	}

	// Half-close: the client shuts down its side, the reply still comes.
	echo := hostServer(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
		b, _ := io.ReadAll(c)
		c.Write(b)
	})
	msg := randomData(t, 4096)
	cmd := exec.Command(pastaBin(t), "--config-net", "-4", "-a", "10.0.2.15", "-g", "10.0.2.2", "--",
		"socat", "-", fmt.Sprintf("TCP:10.0.2.2:%d,shut-down", echo))
	cmd.Stdin = bytes.NewReader(msg)
	out, err := cmd.Output()
	if err != nil || !bytes.Equal(out, msg) {
		t.Errorf("half-close: %v, %d of %d bytes back", err, len(out), len(msg))
	}

	// Refused: a closed port on the host is a reset for the guest, at once.
	ln, _ := net.Listen("tcp4", "127.0.0.1:0")
	closed := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	start := time.Now()
	cmd = exec.Command(pastaBin(t), "--config-net", "-4", "-a", "10.0.2.15", "-g", "10.0.2.2", "--",
		"socat", "-u", fmt.Sprintf("TCP:10.0.2.2:%d", closed), "-")
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Connection refused") {
		t.Errorf("refused connection: %v: %s", err, out)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("refusal took %v", d)
	}
}

// TestTCPPasstGuest: the same through passt and the shim.
func TestTCPPasstGuest(t *testing.T) {
	requireCommands(t, "socat")
	ns := netns(t)
	requireCommands(t, "iperf3")
	fwdPort := lowPort(t)
	sock, _, passt := startPasst(t, "-4", "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2", "-t", fmt.Sprint(fwdPort))
	shim := startShim(t, ns, sock)
	guestAddress(t, ns)
	data := randomData(t, 10<<20)
	port := hostServer(t, "tcp4", "127.0.0.1:0", func(c net.Conn) { c.Write(data) })
	out, err := exec.Command("ip", "netns", "exec", ns, "socat", "-u", fmt.Sprintf("TCP:10.0.2.2:%d", port), "-").Output()
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	if !bytes.Equal(out, data) {
		t.Errorf("download through passt: %d of %d bytes, or corrupted", len(out), len(data))
	}

	// A guest that stops reading for a while fills passt's socket: the
	// engine waits for it to drain (under its seccomp filter) and the
	// transfer goes on.
	srv := exec.Command("ip", "netns", "exec", ns, "iperf3", "-s", "-1", "-p", fmt.Sprint(fwdPort))
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill()
	waitListening(t, ns, fwdPort)
	cl := exec.Command("iperf3", "-c", "127.0.0.1", "-p", fmt.Sprint(fwdPort), "-t", "3")
	var clOut bytes.Buffer
	cl.Stdout, cl.Stderr = &clOut, &clOut
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	shim.Process.Signal(syscall.SIGSTOP)
	time.Sleep(time.Second)
	shim.Process.Signal(syscall.SIGCONT)
	if err := cl.Wait(); err != nil {
		t.Errorf("iperf3 into a guest that paused: %v: %s", err, clOut.String())
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", passt.Process.Pid)); err != nil || strings.Contains(string(st), ") Z ") {
		t.Fatalf("passt is gone (%v): %s", err, st)
	}
}

// TestTCPPasstGuestGRO: the shim's -gro and -gso modes, which the
// benchmarks use, deliver what passt and the guest send intact, IPv4 and
// IPv6, each way at MTU 1500, and really merge and cut: the guest's tap
// receives far fewer frames than passt's segments, and sends far fewer
// than the segments passt receives (the kernel's TSO super-frames, cut by
// the shim).
func TestTCPPasstGuestGRO(t *testing.T) {
	requireCommands(t, "socat")
	ns := netns(t)
	sock, _, _ := startPasst(t, "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2", "-a", "fd00:abcd::2", "-g", "fd00:abcd::1", "-m", "1500")
	var shimErr bytes.Buffer
	runShim(t, ns, &shimErr, "-gro", "-gso", sock, "tap0", "1500")
	guestAddress(t, ns)
	guestAddress6(t, ns)
	packets := func(dir string) int {
		out, err := inNS(t, ns, "cat", "/sys/class/net/tap0/statistics/"+dir+"_packets")
		n, convErr := strconv.Atoi(strings.TrimSpace(out))
		if err != nil || convErr != nil {
			t.Fatalf("tap0 %s_packets: %v %v: %s", dir, err, convErr, out)
		}
		return n
	}
	rxPackets := func() int { return packets("rx") }
	data := randomData(t, 16<<20)
	want := fmt.Sprintf("%x", sha256.Sum256(data))
	for _, fam := range []struct{ network, listen, target string }{
		{"tcp4", "127.0.0.1:0", "TCP:10.0.2.2:%d"},
		{"tcp6", "[::1]:0", "TCP6:[fd00:abcd::1]:%d"},
	} {
		before := rxPackets()
		port := hostServer(t, fam.network, fam.listen, func(c net.Conn) { c.Write(data) })
		out, err := exec.Command("ip", "netns", "exec", ns, "socat", "-u", fmt.Sprintf(fam.target, port), "-").Output()
		if err != nil || !bytes.Equal(out, data) {
			t.Fatalf("%s: download: %v, %d of %d bytes, or corrupted", fam.network, err, len(out), len(data))
		}
		// At MTU 1500 passt sends at least len(data)/1460 segments.
		if frames, segs := rxPackets()-before, len(data)/1460; frames*4 > segs {
			t.Errorf("%s: the guest received %d frames for %d segments: not merged", fam.network, frames, segs)
		} else {
			t.Logf("%s: the guest received %d frames for %d segments", fam.network, frames, segs)
		}

		port = hostServer(t, fam.network, fam.listen, hashReply)
		cmd := exec.Command("ip", "netns", "exec", ns, "socat", "-t", "30", "-", fmt.Sprintf(fam.target, port))
		cmd.Stdin = bytes.NewReader(data)
		before = packets("tx")
		if out, err := cmd.Output(); err != nil || string(out) != want {
			t.Errorf("%s: upload: %v, host's hash %q", fam.network, err, out)
		}
		if frames, segs := packets("tx")-before, len(data)/1460; frames*4 > segs {
			t.Errorf("%s: the guest sent %d frames for %d segments: no super-frames to cut", fam.network, frames, segs)
		} else {
			t.Logf("%s: the guest sent %d frames for %d segments", fam.network, frames, segs)
		}
	}
	if s := shimErr.String(); s != "" {
		t.Errorf("shim: %s", s)
	}
}

// TestTCPPasstGuestPaused: a guest that stops reading for longer than any
// write timeout (a paused VM) while data flows to it: passt neither blocks
// nor gives up on it, and the guest is served again once it reads.
func TestTCPPasstGuestPaused(t *testing.T) {
	requireCommands(t, "socat", "iperf3")
	ns := netns(t)
	fwdPort := lowPort(t)
	sock, _, passt := startPasst(t, "-4", "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2", "-t", fmt.Sprint(fwdPort))
	shim := startShim(t, ns, sock)
	guestAddress(t, ns)
	srv := exec.Command("ip", "netns", "exec", ns, "iperf3", "-s", "-1", "-p", fmt.Sprint(fwdPort))
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill()
	waitListening(t, ns, fwdPort)
	cl := exec.Command("iperf3", "-c", "127.0.0.1", "-p", fmt.Sprint(fwdPort), "-t", "20")
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	defer cl.Process.Kill()
	time.Sleep(time.Second)
	shim.Process.Signal(syscall.SIGSTOP)
	time.Sleep(12 * time.Second)
	// The host side goes on meanwhile: a connection to the gateway
	// address is answered by the engine only once the guest reads, but
	// the engine must still be running and accepting.
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", passt.Process.Pid)); err != nil || strings.Contains(string(st), ") Z ") {
		t.Fatalf("passt is gone while its guest was paused (%v): %s", err, st)
	}
	shim.Process.Signal(syscall.SIGCONT)
	cl.Process.Kill()
	cl.Wait()
	data := randomData(t, 1<<20)
	port := hostServer(t, "tcp4", "127.0.0.1:0", func(c net.Conn) { c.Write(data) })
	out, err := exec.Command("ip", "netns", "exec", ns, "socat", "-T", "10", "-u", fmt.Sprintf("TCP:10.0.2.2:%d", port), "-").Output()
	if err != nil || !bytes.Equal(out, data) {
		t.Fatalf("download after the pause: %v, %d of %d bytes", err, len(out), len(data))
	}
}

// attachPasta runs pasta --config-net attached to ns with args, returns
// its PID once ready, and ends it with the test.
func attachPasta(t *testing.T, ns string, args ...string) int {
	t.Helper()
	testUser(t) // pasta started as root runs as nobody: /dev/net/tun usable
	pidFile := filepath.Join(tempDirFor(t, 65534), "pid")
	args = append([]string{"-q", "--config-net", "-P", pidFile, "--netns", ns}, args...)
	if out, err := exec.Command(pastaBin(t), args...).CombinedOutput(); err != nil {
		t.Fatalf("pasta: %v: %s", err, out)
	}
	pid := readPID(t, pidFile)
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGTERM) })
	return pid
}

// freePort returns a TCP port free on the host's loopback.
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestTCPForward: -t forwards host connections into a pasta namespace
// (from loopback through the splice bypass, or through the tap with the
// gateway mapping with --no-splice; from the host's own address through the
// tap), IPv4 and IPv6, 10 MiB each way compared byte for byte.
func TestTCPForward(t *testing.T) {
	for _, mode := range []string{"--no-splice", "--host-lo-to-ns-lo", ""} {
		t.Run(strings.TrimPrefix(mode+"-splice", "--"), func(t *testing.T) { testTCPForward(t, mode) })
	}
}

// testTCPForward checks -t with pasta's loopback bypass (splice) on, with
// --host-lo-to-ns-lo, or off (everything through the tap).
func testTCPForward(t *testing.T, mode string) {
	requireCommands(t, "socat")
	ns := netns(t)
	port := freePort(t)
	args := []string{"-t", fmt.Sprint(port), "-u", "none", "-T", "none", "-U", "none"}
	if mode != "" {
		args = append(args, mode)
	}
	attachPasta(t, ns, args...)
	data := randomData(t, 10<<20)
	want := sha256.Sum256(data)
	file := filepath.Join(tempDirFor(t, 65534), "data")
	os.WriteFile(file, data, 0o644)

	sources := []string{"127.0.0.1", "::1"}
	if ht := discoverHostTemplate(t); len(ht.addrs) > 0 {
		sources = append(sources, strings.Split(ht.addrs[0], "/")[0])
	}
	for _, src := range sources {
		listen := fmt.Sprintf("TCP-LISTEN:%d,reuseaddr", port)
		if strings.Contains(src, ":") {
			listen = fmt.Sprintf("TCP6-LISTEN:%d,reuseaddr", port)
		}
		// Host -> namespace.
		recv := filepath.Join(tempDirFor(t, 0), "recv")
		srv := exec.Command("ip", "netns", "exec", ns, "socat", "-u", listen, "OPEN:"+recv+",creat,trunc")
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		waitListening(t, ns, port)
		conn, err := net.Dial("tcp", net.JoinHostPort(src, fmt.Sprint(port)))
		if err != nil {
			t.Fatalf("%s: connect: %v", src, err)
		}
		conn.Write(data)
		conn.Close()
		srv.Wait()
		got, _ := os.ReadFile(recv)
		if sha256.Sum256(got) != want {
			t.Errorf("%s -> namespace: %d of %d bytes, or corrupted", src, len(got), len(data))
		}
		// Namespace -> host.
		srv = exec.Command("ip", "netns", "exec", ns, "socat", "-u", "OPEN:"+file, listen)
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		waitListening(t, ns, port)
		conn, err = net.Dial("tcp", net.JoinHostPort(src, fmt.Sprint(port)))
		if err != nil {
			t.Fatalf("%s: connect: %v", src, err)
		}
		got, _ = io.ReadAll(conn)
		conn.Close()
		srv.Wait()
		if sha256.Sum256(got) != want {
			t.Errorf("namespace -> %s: %d of %d bytes, or corrupted", src, len(got), len(data))
		}
	}
}

// waitListening waits until something listens on port in ns.
func waitListening(t *testing.T, ns string, port int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		out, _ := inNS(t, ns, "ss", "-Hltn", fmt.Sprintf("sport = :%d", port))
		if strings.Contains(out, "LISTEN") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %d in %s", port, ns)
}

// lowPort returns a port below the ephemeral range that is free on the
// host's loopback, for both TCP families.
func lowPort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 100; i++ {
		p := 20000 + int(time.Now().UnixNano()%10000) + i
		l4, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l6, err := net.Listen("tcp6", fmt.Sprintf("[::1]:%d", p))
		l4.Close()
		if err != nil {
			continue
		}
		l6.Close()
		return p
	}
	t.Fatal("no free port below the ephemeral range")
	return 0
}

// fdCount counts the open sockets of pid (pipes kept in the splice pool
// for reuse do not count).
func fdCount(t *testing.T, pid int) int {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, _ := os.Readlink(filepath.Join(dir, e.Name())); strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

// TestTCPChurn: 1000 connections opened and closed through -t, spliced
// (from 127.0.0.1) and through the tap (from the host's address, when it
// has one), leave no sockets (so no flows) behind in the engine.
func TestTCPChurn(t *testing.T) {
	requireCommands(t, "socat")
	ns := netns(t)
	port := freePort(t)
	pid := attachPasta(t, ns, "-t", fmt.Sprint(port), "-u", "none", "-T", "none", "-U", "none")
	srv := exec.Command("ip", "netns", "exec", ns, "socat", fmt.Sprintf("TCP-LISTEN:%d,reuseaddr,fork", port), "EXEC:cat")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	waitListening(t, ns, port)
	before := fdCount(t, pid)
	hosts := []string{"127.0.0.1"}
	if ht := discoverHostTemplate(t); len(ht.addrs) > 0 {
		hosts = append(hosts, strings.Split(ht.addrs[0], "/")[0])
	}
	for i := 0; i < 1000; i++ {
		c, err := net.Dial("tcp4", net.JoinHostPort(hosts[i%len(hosts)], fmt.Sprint(port)))
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		c.Write([]byte("x"))
		var b [1]byte
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, b[:]); err != nil {
			t.Fatalf("connection %d: no echo: %v", i, err)
		}
		c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := fdCount(t, pid)
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("engine has %d descriptors after 1000 connections, %d before", n, before)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTCPSpliceOutbound: -T forwards connections to the namespace's
// loopback to the host's loopback, IPv4 and IPv6, 10 MiB each way.
func TestTCPSpliceOutbound(t *testing.T) {
	requireCommands(t, "socat")
	ns := netns(t)
	port := freePort(t)
	attachPasta(t, ns, "-T", fmt.Sprint(port), "-t", "none", "-u", "none", "-U", "none")
	data := randomData(t, 10<<20)
	want := fmt.Sprintf("%x", sha256.Sum256(data))
	for _, fam := range []struct{ network, listen, dial string }{
		{"tcp4", "127.0.0.1", "TCP:127.0.0.1"},
		{"tcp6", "::1", "TCP6:[::1]"},
	} {
		hostServer(t, fam.network, net.JoinHostPort(fam.listen, fmt.Sprint(port)), hashReply)
		cmd := exec.Command("ip", "netns", "exec", ns, "socat", "-t", "30", "-", fmt.Sprintf("%s:%d", fam.dial, port))
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		if err != nil || string(out) != want {
			t.Errorf("%s: namespace -> host: %v, host's hash %q", fam.network, err, out)
		}
	}
}

// TestTCPAuto: pasta's default "auto" forwarding: a port that starts
// listening in the namespace becomes reachable on the host's loopback within
// 2 s, and a host port listening at start is reachable from the namespace's
// loopback; 10 MiB each way.
func TestTCPAuto(t *testing.T) {
	requireCommands(t, "socat")
	testUser(t)
	data := randomData(t, 10<<20)
	want := fmt.Sprintf("%x", sha256.Sum256(data))
	// Automatic forwarding leaves the ephemeral range out: use ports
	// below it.
	in, out := lowPort(t), lowPort(t)

	// Host side for -T auto: listening before pasta starts.
	hostServer(t, "tcp4", fmt.Sprintf("127.0.0.1:%d", out), hashReply)

	script := fmt.Sprintf(`socat -u TCP-LISTEN:%d - | sha256sum >&2 &
echo started
upload=$(socat -t 30 - TCP:127.0.0.1:%d)
echo "up $upload"
wait`, in, out)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pastaBin(t), "--config-net", "--", "sh", "-c", script)
	cmd.Stdin = bytes.NewReader(data)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The namespace's listener appears on the host within 2 s.
	var c net.Conn
	var err error
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, err = net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", in))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("port %d listening in the namespace not forwarded within 2 s: %v", in, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.Write(data)
	c.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("pasta: %v: %s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("host -> namespace via auto: namespace got %q, want %s", stderr.String(), want)
	}
	if !strings.Contains(stdout.String(), "up "+want) {
		t.Errorf("namespace -> host via auto: %q", stdout.String())
	}
}

// TestTCPManyIdle: 5000 concurrent idle connections through -t (the tap
// path, from the host's address, or spliced from loopback when the host has
// no address of its own) are held and each still works; closing them frees
// every socket in the engine.
func TestTCPManyIdle(t *testing.T) {
	ns := netns(t)
	port := lowPort(t)
	pid := attachPasta(t, ns, "-t", fmt.Sprint(port), "-u", "none", "-T", "none", "-U", "none")
	srv := exec.Command("ip", "netns", "exec", ns, connholdBin, fmt.Sprint(port))
	stdout, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	readUntil(t, stdout, "ready")
	host := "127.0.0.1"
	if ht := discoverHostTemplate(t); len(ht.addrs) > 0 {
		host = strings.Split(ht.addrs[0], "/")[0]
	}
	before := fdCount(t, pid)
	const n = 5000
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var b [1]byte
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp4", net.JoinHostPort(host, fmt.Sprint(port)), 10*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	// Every connection, held open, still carries data both ways.
	for i, c := range conns {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte{byte(i)}); err != nil {
			t.Fatalf("connection %d: write: %v", i, err)
		}
		if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != byte(i) {
			t.Fatalf("connection %d: echo: %v", i, err)
		}
	}
	if got := fdCount(t, pid) - before; got < n {
		t.Errorf("engine holds %d more sockets, want at least %d", got, n)
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	deadline := time.Now().Add(20 * time.Second)
	for fdCount(t, pid) > before {
		if time.Now().After(deadline) {
			t.Fatalf("engine has %d sockets after closing, %d before", fdCount(t, pid), before)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTCPReplyAndClose: a host server that answers and closes at once, as
// in a connect-request-response-close transaction, so the reply and the
// FIN reach pasta's socket together. The guest must get both without
// waiting: an edge-triggered socket read only up to the short reply would
// leave the FIN unseen until a timeout.
func TestTCPReplyAndClose(t *testing.T) {
	requireCommands(t, "socat")
	testUser(t)
	port := hostServer(t, "tcp4", "127.0.0.1:0", func(c net.Conn) { c.Write([]byte("x")) })
	const n = 100
	// A transaction takes milliseconds; one whose FIN is late would hang.
	script := fmt.Sprintf("for i in $(seq %d); do timeout 3 socat -u TCP:10.0.2.2:%d - || exit 1; done", n, port)
	start := time.Now()
	cmd := exec.Command(pastaBin(t), "--config-net", "-4", "-a", "10.0.2.15", "-g", "10.0.2.2", "--", "sh", "-c", script)
	out, err := cmd.Output()
	if err != nil || string(out) != strings.Repeat("x", n) {
		t.Fatalf("after %v, %d of %d replies and their FIN came in time: %v", time.Since(start), len(out), n, err)
	}
}
