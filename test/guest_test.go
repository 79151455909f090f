// SPDX-License-Identifier: GPL-2.0-or-later

package test

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var nsCounter atomic.Int32

// netns creates a named network namespace, deleted at the end of the test.
func netns(t *testing.T) string {
	t.Helper()
	requireRoot(t)
	requireCommands(t, "ip")
	name := fmt.Sprintf("pt-%d-%d", os.Getpid(), nsCounter.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	return name
}

// inNS runs a command in a named namespace and returns its output.
func inNS(t *testing.T, ns string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	return string(out), err
}

// summary is what passt or pasta announced at start.
type summary struct {
	text            string
	assign4, router string
	assign6         string
	ourLL           string
	dns4            []string
}

func parseSummary(text string) summary {
	s := summary{text: text}
	section := ""
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimRight(l, " ")
		switch {
		case l == "DHCP:" || strings.HasPrefix(l, "NDP") || strings.HasPrefix(l, "DHCPv6") || l == "DNS:" || l == "DNS search list:":
			section = l
			if l == "DNS:" && s.assign6 != "" {
				section = "DNS6"
			}
		case strings.HasPrefix(l, "    "):
			v := strings.TrimSpace(l)
			switch {
			case section == "DHCP:" && strings.HasPrefix(v, "assign: "):
				s.assign4 = strings.TrimPrefix(v, "assign: ")
			case section == "DHCP:" && strings.HasPrefix(v, "router: "):
				s.router = strings.TrimPrefix(v, "router: ")
			case strings.HasPrefix(section, "NDP") || strings.HasPrefix(section, "DHCPv6"):
				if strings.HasPrefix(v, "assign: ") {
					s.assign6 = strings.TrimPrefix(v, "assign: ")
				}
				if strings.HasPrefix(v, "our link-local: ") {
					s.ourLL = strings.TrimPrefix(v, "our link-local: ")
				}
			case section == "DNS:":
				s.dns4 = append(s.dns4, v)
			}
		default:
			section = ""
		}
	}
	return s
}

// startPasst starts passt -f on a socket in a fresh directory and returns
// the socket path and the summary it printed; passt is killed at the end of
// the test.
func startPasst(t *testing.T, args ...string) (string, summary, *exec.Cmd) {
	t.Helper()
	sock := filepath.Join(tempDirFor(t, 65534), "passt.socket")
	cmd := exec.Command(passtBin, append([]string{"-f", "-s", sock}, args...)...)
	cmd.Args[0] = "passt"
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	text := readUntil(t, stderr, "./qrap 5 kvm")
	go drain(stderr)
	return sock, parseSummary(text), cmd
}

func readUntil(t *testing.T, r interface{ Read([]byte) (int, error) }, marker string) string {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), marker) {
				break
			}
		}
		done <- b.String()
	}()
	select {
	case s := <-done:
		if !strings.Contains(s, marker) {
			t.Fatalf("no %q in output:\n%s", marker, s)
		}
		return s
	case <-time.After(15 * time.Second):
		t.Fatalf("timeout waiting for %q", marker)
	}
	return ""
}

func drain(r interface{ Read([]byte) (int, error) }) {
	b := make([]byte, 4096)
	for {
		if _, err := r.Read(b); err != nil {
			return
		}
	}
}

// startShim runs the guest shim in ns on passt's socket: tap0 in ns is the
// guest's interface.
func startShim(t *testing.T, ns, sock string) *exec.Cmd {
	t.Helper()
	return runShim(t, ns, os.Stderr, sock, "tap0")
}

// startShimAfterProbe is startShim after canConnect probed passt's
// socket: the probe was passt's guest for a moment, and a shim that
// connects before passt saw the probe leave is discarded as one client too
// many, exits, and takes tap0 with it. So the shim is started again until
// its tap0 stays.
func startShimAfterProbe(t *testing.T, ns, sock string) *exec.Cmd {
	t.Helper()
	for try := 1; ; try++ {
		cmd := startShim(t, ns, sock)
		time.Sleep(300 * time.Millisecond)
		if _, err := inNS(t, ns, "ip", "link", "show", "tap0"); err == nil {
			return cmd
		}
		if try == 10 {
			t.Fatal("the shim's connection was discarded 10 times: passt still serves another client")
		}
	}
}

// runShim runs the shim in ns with args (SOCKET IFNAME [MTU]), its
// messages to stderr, until it is ready.
func runShim(t *testing.T, ns string, stderr io.Writer, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, shimBin}, args...)...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	readUntil(t, stdout, "ready")
	return cmd
}

// guestAddress6 gives the shim's guest (tap0, addressed by guestAddress)
// the IPv6 address and default route of the tests that start passt with
// -a fd00:abcd::2 -g fd00:abcd::1.
func guestAddress6(t *testing.T, ns string) {
	t.Helper()
	for _, c := range [][]string{
		{"ip", "-6", "addr", "add", "fd00:abcd::2/64", "dev", "tap0", "nodad"},
		{"ip", "-6", "route", "add", "default", "via", "fd00:abcd::1"},
	} {
		if out, err := inNS(t, ns, c...); err != nil {
			t.Fatalf("%v: %v: %s", c, err, out)
		}
	}
}

// udhcpc runs busybox's DHCP client (v4, or v6 with "udhcpc6") on tap0 in
// ns and returns the variables it passes to its script on "bound".
func udhcpc(t *testing.T, ns, applet string, extra ...string) map[string]string {
	t.Helper()
	requireCommands(t, "busybox")
	dir := tempDirFor(t, 0)
	out := filepath.Join(dir, "env")
	script := filepath.Join(dir, "script")
	body := "#!/bin/sh\ncase \"$1\" in bound|renew) env > " + out + ";; esac\nexit 0\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"busybox", applet, "-f", "-q", "-n", "-t", "5", "-T", "1", "-i", "tap0", "-s", script}, extra...)
	if o, err := inNS(t, ns, args...); err != nil {
		t.Fatalf("%s: %v\n%s", applet, err, o)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("%s: no lease: %v", applet, err)
	}
	env := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, "=")
		if ok {
			env[k] = v
		}
	}
	return env
}

// dhclient6 runs ISC dhclient -6 on tap0 in ns until it is bound, and
// returns the variables it passed to its script.
func dhclient6(t *testing.T, ns string) map[string]string {
	t.Helper()
	requireCommands(t, "dhclient")
	// dhclient needs a usable link-local address: wait for DAD.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := inNS(t, ns, "ip", "-6", "addr", "show", "dev", "tap0", "scope", "link")
		if strings.Contains(out, "inet6") && !strings.Contains(out, "tentative") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no usable link-local address: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	dir := tempDirFor(t, 0)
	out := filepath.Join(dir, "env")
	script := filepath.Join(dir, "script")
	body := "#!/bin/sh\ncase \"$reason\" in BOUND6|REBOOT6) env > " + out + ".tmp; mv " + out + ".tmp " + out + ";; esac\nexit 0\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	cf := filepath.Join(dir, "dhclient.conf")
	os.WriteFile(cf, []byte("request dhcp6.name-servers, dhcp6.domain-search, dhcp6.fqdn;\n"), 0o644)
	cmd := exec.Command("ip", "netns", "exec", ns, "dhclient", "-6", "-d", "-1", "-cf", cf,
		"-lf", filepath.Join(dir, "leases"), "-pf", filepath.Join(dir, "pid"), "-sf", script, "tap0")
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline = time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(out); err == nil {
			env := map[string]string{}
			for _, l := range strings.Split(string(b), "\n") {
				if k, v, ok := strings.Cut(l, "="); ok {
					env[k] = v
				}
			}
			return env
		}
		if time.Now().After(deadline) {
			t.Fatalf("dhclient -6: no lease\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkGuestConfig runs the guest-side checks against what the engine
// announced: DHCPv4, DHCPv6 and SLAAC.
func checkGuestConfig(t *testing.T, ns string, s summary, hostname, fqdn string) {
	t.Helper()
	if out, err := inNS(t, ns, "ip", "link", "set", "tap0", "up"); err != nil {
		t.Fatalf("ip link set tap0 up: %v: %s", err, out)
	}
	if s.assign4 == "" {
		t.Fatalf("no DHCP section in the summary:\n%s", s.text)
	}
	env := udhcpc(t, ns, "udhcpc", "-O", "mtu", "-O", "search", "-O", "staticroutes", "-O", "hostname")
	if env["ip"] != s.assign4 || env["router"] != s.router || env["mtu"] != "65520" {
		t.Errorf("DHCP lease: ip %q router %q mtu %q, want %s %s 65520", env["ip"], env["router"], env["mtu"], s.assign4, s.router)
	}
	if len(s.dns4) > 0 && strings.Fields(env["dns"])[0] != s.dns4[0] {
		t.Errorf("DHCP DNS %q, want %v", env["dns"], s.dns4)
	}
	if hostname != "" && env["hostname"] != hostname {
		t.Errorf("DHCP hostname %q, want %q", env["hostname"], hostname)
	}

	if s.assign6 == "" {
		return
	}
	env6 := dhclient6(t, ns)
	if env6["new_ip6_address"] != s.assign6 {
		t.Errorf("DHCPv6 address %q, want %s (%v)", env6["new_ip6_address"], s.assign6, env6)
	}
	if fqdn != "" && env6["new_fqdn_fqdn"] != fqdn {
		t.Errorf("DHCPv6 FQDN %q, want %q", env6["new_fqdn_fqdn"], fqdn)
	}

	// SLAAC: the kernel configures an address in the announced /64 and a
	// default route via our link-local address.
	want := netip.MustParsePrefix(s.assign6 + "/64").Masked()
	deadline := time.Now().Add(10 * time.Second)
	for {
		addrs, _ := inNS(t, ns, "ip", "-6", "-o", "addr", "show", "dev", "tap0", "scope", "global", "dynamic")
		routes, _ := inNS(t, ns, "ip", "-6", "route", "show", "default")
		okAddr := false
		for _, f := range strings.Fields(addrs) {
			if p, err := netip.ParsePrefix(f); err == nil && p.Bits() == 64 && want.Contains(p.Addr()) {
				okAddr = true
			}
		}
		if okAddr && strings.Contains(routes, "via "+s.ourLL+" ") {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("SLAAC: addresses %q routes %q, want an address in %v and a default route via %s", addrs, routes, want, s.ourLL)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestGuestServicesPasst: a guest behind passt (through the shim)
// configures itself with DHCP, DHCPv6 and SLAAC.
func TestGuestServicesPasst(t *testing.T) {
	ns := netns(t)
	sock, s, _ := startPasst(t, "-H", "guest1", "--fqdn", "guest1.passt.test")
	startShim(t, ns, sock)
	checkGuestConfig(t, ns, s, "guest1", "guest1.passt.test")
}

// TestGuestServicesPasta: a pasta namespace without --config-net configures
// itself the same way.
func TestGuestServicesPasta(t *testing.T) {
	ns := netns(t)
	pidFile := filepath.Join(tempDirFor(t, 65534), "pid")
	cmd := exec.Command(pastaBin(t), "-f", "-P", pidFile, "-I", "tap0", "--dhcp-dns", "--dhcp-search", "-H", "guest2", "--netns", ns)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	text := readUntil(t, stderr, "Outbound forwarding rules")
	go drain(stderr)
	// With -f, a non-empty PID file means ready.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, _ := os.ReadFile(pidFile); len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pasta never became ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkGuestConfig(t, ns, parseSummary(text), "guest2", "")
}
