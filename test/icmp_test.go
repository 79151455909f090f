// SPDX-License-Identifier: GPL-2.0-or-later

package test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// Addresses of the host that are not loopback, put on the host's lo for
// the ICMP tests: the guest pings them as "a host address".
const (
	icmpHost4 = "198.51.100.77"
	icmpHost6 = "2001:db8:77::77"
)

// pingGroupRange sets the host's net.ipv4.ping_group_range for the test
// and puts the old value back afterwards.
func pingGroupRange(t *testing.T, value string) {
	t.Helper()
	requireRoot(t)
	const path = "/proc/sys/net/ipv4/ping_group_range"
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(value), 0); err != nil {
		t.Fatalf("ping_group_range: %v", err)
	}
	t.Cleanup(func() { _ = os.WriteFile(path, bytes.TrimSpace(old), 0) })
}

// icmpHostAddrs puts icmpHost4 and icmpHost6 on the host's lo for the
// test.
func icmpHostAddrs(t *testing.T) {
	t.Helper()
	requireCommands(t, "ip")
	for _, a := range []string{icmpHost4 + "/32", icmpHost6 + "/128"} {
		out, err := exec.Command("ip", "addr", "add", a, "dev", "lo").CombinedOutput()
		if err != nil && !strings.Contains(string(out), "File exists") && !strings.Contains(string(out), "already assigned") {
			t.Fatalf("ip addr add %s dev lo: %v: %s", a, err, out)
		}
		t.Cleanup(func() { _ = exec.Command("ip", "addr", "del", a, "dev", "lo").Run() })
	}
}

// pingCmd is a shell command pinging each address 3 times (with -s size
// if not 0), stopping at the first failure.
func pingCmd(size int, addrs ...string) string {
	var cmds []string
	for _, a := range addrs {
		s := ""
		if size > 0 {
			s = fmt.Sprintf(" -s %d", size)
		}
		cmds = append(cmds, fmt.Sprintf("ping -n -c 3 -i 0.2 -W 2 -w 10%s %s", s, a))
	}
	return strings.Join(cmds, " && ")
}

var pingStats = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// checkPings checks the output of pingCmd: every ping got its 3 replies,
// and ping complained about nothing (duplicates, wrong data or checksums
// would show).
func checkPings(t *testing.T, what string, out string, n int) {
	t.Helper()
	stats := pingStats.FindAllStringSubmatch(out, -1)
	if len(stats) != n {
		t.Errorf("%s: %d ping summaries, want %d:\n%s", what, len(stats), n, out)
		return
	}
	for _, s := range stats {
		if s[1] != "3" || s[2] != "3" {
			t.Errorf("%s: %s sent, %s received:\n%s", what, s[1], s[2], out)
		}
	}
	for _, bad := range []string{"DUP!", "wrong data", "BAD CHECKSUM", "errors", "truncated"} {
		if strings.Contains(out, bad) {
			t.Errorf("%s: ping reports %q:\n%s", what, bad, out)
		}
	}
}

// TestICMPPasta: as an unprivileged user, with ping sockets allowed on the
// host, ping from a pasta namespace reaches the gateway address (host
// loopback) and an address of the host, IPv4 and IPv6, small and large;
// with --no-icmp it fails.
func TestICMPPasta(t *testing.T) {
	requireCommands(t, "ping")
	testUser(t)
	pingGroupRange(t, "0 2147483647")
	icmpHostAddrs(t)
	for _, c := range []struct {
		name string
		args []string
		gw   string
		host string
	}{
		{"IPv4", []string{"-4", "-a", "10.0.2.15", "-g", "10.0.2.2"}, "10.0.2.2", icmpHost4},
		{"IPv6", []string{"-6", "-a", "fd00:abcd::2", "-g", "fd00:abcd::1"}, "fd00:abcd::1", icmpHost6},
	} {
		args := append([]string{"--config-net"}, c.args...)
		script := pingCmd(0, c.gw, c.host) + " && " + pingCmd(20000, c.gw, c.host)
		cmd := asUser(t, pastaBin(t), append(args, "--", "sh", "-c", script)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s: %v:\n%s", c.name, err, out)
		}
		checkPings(t, c.name, string(out), 4)

		cmd = asUser(t, pastaBin(t), append(append(args, "--no-icmp"), "--", "ping", "-n", "-c", "2", "-W", "1", c.gw)...)
		out, err = cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), " 0 received") {
			t.Errorf("%s with --no-icmp: ping did not fail (%v):\n%s", c.name, err, out)
		}
	}
}

// TestICMPForbidden: when the host's ping_group_range does not include
// pasta's group, pings fail and upstream's warning about the sysctl is
// printed, once however many requests there are.
func TestICMPForbidden(t *testing.T) {
	requireCommands(t, "ping")
	testUser(t)
	pingGroupRange(t, "1 0")
	cmd := asUser(t, pastaBin(t), "--config-net", "-4", "-a", "10.0.2.15", "-g", "10.0.2.2", "--",
		"sh", "-c", "ping -n -c 3 -i 0.2 -W 1 10.0.2.2; ping -n -c 2 -i 0.2 -W 1 -p 55 10.0.2.2; true")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pasta: %v\n%s", err, stderr.String())
	}
	if n := strings.Count(string(out), " 0 received"); n != 2 {
		t.Errorf("pings did not fail:\n%s", out)
	}
	warning := "Cannot open \"ping\" socket. You might need to:\n" +
		"  sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"\n" +
		"...echo requests/replies will fail.\n"
	if n := strings.Count(stderr.String(), warning); n != 1 {
		t.Errorf("the warning appears %d times, want once:\n%s", n, stderr.String())
	}
	if n := strings.Count(stderr.String(), "ping"); n != 2 {
		t.Errorf("more about ping than the warning:\n%s", stderr.String())
	}
}

// TestICMPPasst: the same pings through passt, from a namespace relayed to
// it by the shim.
func TestICMPPasst(t *testing.T) {
	requireCommands(t, "ping")
	pingGroupRange(t, "0 2147483647")
	icmpHostAddrs(t)
	ns := netns(t)
	sock, _, _ := startPasst(t, "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2", "-a", "fd00:abcd::2", "-g", "fd00:abcd::1")
	startShim(t, ns, sock)
	guestAddress(t, ns)
	guestAddress6(t, ns)
	script := pingCmd(0, "10.0.2.2", icmpHost4, "fd00:abcd::1", icmpHost6) + " && " + pingCmd(1400, "10.0.2.2", "fd00:abcd::1")
	out, err := inNS(t, ns, "sh", "-c", script)
	if err != nil {
		t.Errorf("%v:\n%s", err, out)
	}
	checkPings(t, "passt", out, 6)
}
