// SPDX-License-Identifier: GPL-2.0-or-later

package test

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// echoOK serves "ok" on port in ns, for every connection.
func echoOK(t *testing.T, ns string, port int) {
	t.Helper()
	srv := exec.Command("ip", "netns", "exec", ns, "socat",
		fmt.Sprintf("TCP-LISTEN:%d,reuseaddr,fork", port), "SYSTEM:echo ok")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	waitListening(t, ns, port)
}

// askOK connects to addr:port (from namespace ns, or the host if ns is
// empty) and reports whether "ok" came back.
func askOK(ns, addr string, port int) bool {
	args := []string{"socat", "-T", "3", "-", fmt.Sprintf("TCP:%s:%d,connect-timeout=3", addr, port)}
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	out, _ := exec.Command(args[0], args[1:]...).Output()
	return strings.TrimSpace(string(out)) == "ok"
}

// TestTCPForwardFreebind: a -t rule for an address the host does not have
// fails without --freebind, and with it listens at once and forwards as
// soon as the address appears.
func TestTCPForwardFreebind(t *testing.T) {
	requireCommands(t, "socat", "ip")
	const addr = "198.51.100.99"
	ns := netns(t)
	port := lowPort(t)
	spec := fmt.Sprintf("%s/%d", addr, port)

	out, err := exec.Command(pastaBin(t), "-q", "--config-net", "--netns", ns, "-t", spec,
		"-u", "none", "-T", "none", "-U", "none").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Couldn't listen on requested ports") {
		t.Fatalf("-t %s without --freebind: %v: %s", spec, err, out)
	}

	attachPasta(t, ns, "--freebind", "-t", spec, "-u", "none", "-T", "none", "-U", "none")
	echoOK(t, ns, port)
	if err := exec.Command("ip", "addr", "add", addr+"/32", "dev", "lo").Run(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("ip", "addr", "del", addr+"/32", "dev", "lo").Run() })
	if !askOK("", addr, port) {
		t.Fatalf("no answer through the freebind listener on %s", spec)
	}
	if askOK("", "127.0.0.1", port) {
		t.Fatalf("a listener bound to %s answered on 127.0.0.1", addr)
	}
}

// TestTCPForwardInterface: "%IFNAME" binds a rule's listeners to an
// interface: connections arriving on it are forwarded, others (here, the
// host's loopback) are not.
func TestTCPForwardInterface(t *testing.T) {
	requireCommands(t, "socat", "ip")
	peer := netns(t)
	const hostIf, hostAddr, peerAddr = "pgt-veth0", "203.0.113.1", "203.0.113.2"
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	run("ip", "link", "add", hostIf, "type", "veth", "peer", "name", "eth0", "netns", peer)
	t.Cleanup(func() { exec.Command("ip", "link", "del", hostIf).Run() })
	run("ip", "addr", "add", hostAddr+"/24", "dev", hostIf)
	run("ip", "link", "set", hostIf, "up")
	run("ip", "netns", "exec", peer, "ip", "addr", "add", peerAddr+"/24", "dev", "eth0")
	run("ip", "netns", "exec", peer, "ip", "link", "set", "eth0", "up")
	run("ip", "netns", "exec", peer, "ip", "link", "set", "lo", "up")

	for _, spec := range []string{"%" + hostIf, hostAddr + "%" + hostIf} {
		t.Run(spec, func(t *testing.T) {
			ns := netns(t)
			port := lowPort(t)
			attachPasta(t, ns, "-t", fmt.Sprintf("%s/%d", spec, port), "-u", "none", "-T", "none", "-U", "none")
			echoOK(t, ns, port)
			deadline := time.Now().Add(3 * time.Second)
			for !askOK(peer, hostAddr, port) {
				if time.Now().After(deadline) {
					t.Fatalf("no answer from %s:%d through the rule %s/%d", hostAddr, port, spec, port)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if askOK("", "127.0.0.1", port) {
				t.Fatalf("the rule %s/%d answered on the host's loopback", spec, port)
			}
		})
	}
}

// TestTCPAutoSkipsExplicitListeners: the host-side listener of an explicit
// -t rule is pasta's own, so -T auto does not mirror it back into the
// namespace (and the namespace's -T listener is not mirrored out by -t
// auto).
func TestTCPAutoSkipsExplicitListeners(t *testing.T) {
	requireCommands(t, "ss")
	testUser(t)
	in, out := lowPort(t), lowPort(t)
	script := "sleep 2.5; ss -Hltn"
	ns, err := exec.Command(pastaBin(t), "--config-net", "-t", fmt.Sprint(in), "--", "sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("pasta: %v: %s", err, ns)
	}
	if strings.Contains(string(ns), fmt.Sprintf(":%d ", in)) {
		t.Errorf("-t %d was mirrored into the namespace by -T auto:\n%s", in, ns)
	}
	cmd := exec.Command(pastaBin(t), "--config-net", "-t", "auto", "-T", fmt.Sprint(out), "--", "sleep", "3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	host, _ := exec.Command("ss", "-Hltn", fmt.Sprintf("sport = :%d", out)).Output()
	cmd.Wait()
	if strings.Contains(string(host), "LISTEN") {
		t.Errorf("-T %d was mirrored onto the host by -t auto:\n%s", out, host)
	}
}

// TestTCPOutboundAddress: with -o, connections from the guest leave from
// that host address: a server on the host's loopback sees it as their
// source. (-o takes no loopback address, as upstream: the test adds a
// documentation address to the host's lo.)
func TestTCPOutboundAddress(t *testing.T) {
	requireCommands(t, "socat", "ip")
	const addr = "198.51.100.7"
	if out, err := exec.Command("ip", "addr", "add", addr+"/32", "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "addr", "del", addr+"/32", "dev", "lo").Run() })
	ns := netns(t)
	attachPasta(t, ns, "-4", "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2", "-o", addr,
		"-t", "none", "-u", "none", "-T", "none", "-U", "none")
	for range 3 {
		port := hostServer(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
			fmt.Fprintln(c, c.RemoteAddr().(*net.TCPAddr).IP)
		})
		out, err := exec.Command("ip", "netns", "exec", ns, "socat", "-T", "3", "-",
			fmt.Sprintf("TCP:10.0.2.2:%d,connect-timeout=3", port)).Output()
		if err != nil {
			t.Fatalf("connection to the host's port %d: %v", port, err)
		}
		if got := strings.TrimSpace(string(out)); got != addr {
			t.Fatalf("the host saw the connection from %q, want %s (-o)", got, addr)
		}
	}
}
