// SPDX-License-Identifier: GPL-2.0-or-later

package test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// requireRoot fails in CI and skips elsewhere when not root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root (CI runs as root)")
	}
	t.Skip("needs root")
}

// requireCommands fails in CI and skips elsewhere when a tool is missing.
func requireCommands(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			msg := n + " not found: install it (make check installs test dependencies)"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// summaryIn runs "passt -f" inside new network and mount namespaces that
// setup (a shell script) prepares, with resolv as /etc/resolv.conf, and
// returns what passt prints before it is ready (up to the QEMU hint).
func summaryIn(t *testing.T, setup, resolv string, args ...string) string {
	t.Helper()
	requireRoot(t)
	requireCommands(t, "unshare", "ip", "mount")
	dir := tempDirFor(t, 65534)
	rc := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(rc, []byte(resolv), 0o644); err != nil {
		t.Fatal(err)
	}
	script := "set -e\n" + setup + "\nmount --bind \"$RESOLV\" /etc/resolv.conf\nexec \"$PASST\" -f -s \"$SOCK\" \"$@\"\n"
	cmd := exec.Command("unshare", append([]string{"--net", "--mount", "--", "sh", "-c", script, "passt"}, args...)...)
	cmd.Env = append(os.Environ(), "RESOLV="+rc, "PASST="+passtBin, "SOCK="+filepath.Join(dir, "s"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "./qrap 5 kvm") {
				break
			}
		}
		done <- b.String()
	}()
	var out string
	select {
	case out = <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("passt did not become ready")
	}
	_ = cmd.Process.Signal(os.Interrupt)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return out
}

const vethSetup = `
ip link set lo up
ip link add veth0 type veth peer name veth1
ip link set veth1 up
ip link set veth0 up
ip addr add 192.0.2.2/24 dev veth0
ip addr add 198.51.100.7/28 dev veth0
ip route add default via 192.0.2.1
ip -6 addr add 2001:db8::2/64 dev veth0 nodad
ip -6 addr add fe80::2/64 dev veth0 nodad
ip -6 route add default via fe80::1 dev veth0
`

// TestDiscoverySummary checks host discovery end to end: a template
// interface with two IPv4 addresses (the longest prefix wins), a gateway,
// IPv6 with a link-local gateway (which becomes our link-local address),
// and resolvers from resolv.conf, printed as upstream's summary.
func TestDiscoverySummary(t *testing.T) {
	out := summaryIn(t, vethSetup,
		"# test\nnameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch example.com example.org\n")
	want := []string{
		"Template interface: veth0 (IPv4), veth0 (IPv6)",
		"MAC:\n    host: 9a:55:9a:55:9a:55\n",
		"    NAT to host 127.0.0.1: 192.0.2.1\n",
		"DHCP:\n    assign: 198.51.100.7\n    mask: 255.255.255.240\n    router: 192.0.2.1\n",
		"DNS:\n    192.0.2.53\nDNS search list:\n    example.com\n    example.org\n",
		"    NAT to host ::1: fe80::1\n",
		"NDP/DHCPv6:\n    assign: 2001:db8::2\n    router: fe80::1\n    our link-local: fe80::1\n",
		"DNS:\n    2001:db8::53\n",
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("summary lacks %q:\n%s", w, out)
		}
	}

	// Options override discovery: -a, -n, -g, -D, -S, --no-dhcpv6.
	out = summaryIn(t, vethSetup, "nameserver 192.0.2.53\n",
		"-a", "10.0.2.100", "-n", "24", "-g", "10.0.2.2", "-D", "10.0.2.3", "-S", "lan", "--no-dhcpv6")
	for _, w := range []string{
		"DHCP:\n    assign: 10.0.2.100\n    mask: 255.255.255.0\n    router: 10.0.2.2\n",
		"DNS:\n    10.0.2.3\nDNS search list:\n    lan\n",
		"\nNDP:\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("summary lacks %q:\n%s", w, out)
		}
	}
}

// TestDiscoveryLoopbackResolver: a loopback resolver (systemd-resolved's
// 127.0.0.53) is advertised as the gateway address, which maps to the host.
func TestDiscoveryLoopbackResolver(t *testing.T) {
	out := summaryIn(t, vethSetup, "nameserver 127.0.0.53\n", "-4")
	if !strings.Contains(out, "DNS:\n    192.0.2.1\n") {
		t.Errorf("loopback resolver not mapped to the gateway:\n%s", out)
	}
	if strings.Contains(out, "NDP") {
		t.Errorf("-4 still shows IPv6:\n%s", out)
	}
}

// TestDiscoveryLocalMode: no interface with routes at all.
func TestDiscoveryLocalMode(t *testing.T) {
	out := summaryIn(t, "ip link set lo up", "")
	for _, w := range []string{
		"IPv4: no external interface as template, use local mode",
		"IPv6: no external interface as template, use local mode",
		"Couldn't get any nameserver address",
		"DHCP:\n    assign: 169.254.2.1\n    mask: 255.255.0.0\n    router: 169.254.2.2\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("local mode output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "Template interface") {
		t.Errorf("template interface reported in local mode:\n%s", out)
	}
}
