// SPDX-License-Identifier: GPL-2.0-or-later

package conf

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"passt/conf/hostinfo"
)

// testHost is the host the tests discover: eth0 with 192.0.2.2/24 via
// 192.0.2.1 and 2001:db8::2/64 via fe80::1.
func testHost() *hostinfo.Host {
	return &hostinfo.Host{
		V4: hostinfo.Template{
			Ifname: "eth0", Ifindex: 2, Usable: true,
			Addr:    netip.MustParsePrefix("192.0.2.2/24"),
			Gateway: netip.MustParseAddr("192.0.2.1"),
		},
		V6: hostinfo.Template{
			Ifname: "eth0", Ifindex: 2, Usable: true,
			Addr:      netip.MustParsePrefix("2001:db8::2/64"),
			Gateway:   netip.MustParseAddr("fe80::1"),
			LinkLocal: netip.MustParseAddr("fe80::2"),
		},
	}
}

type testEnv struct {
	host     *hostinfo.Host
	resolv   string
	euid     int
	initNS   bool
	requests []hostinfo.Request
}

func (te *testEnv) env(t *testing.T) Env {
	dir := t.TempDir()
	rc := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(rc, []byte(te.resolv), 0o644); err != nil {
		t.Fatal(err)
	}
	eph := filepath.Join(dir, "ip_local_port_range")
	if err := os.WriteFile(eph, []byte("32768\t60999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return Env{
		Discover: func(req hostinfo.Request) (*hostinfo.Host, error) {
			te.requests = append(te.requests, req)
			if te.host == nil {
				return &hostinfo.Host{}, nil
			}
			h := *te.host
			return &h, nil
		},
		InterfaceExists: func(name string) error {
			if name == "eth0" || name == "lo" {
				return nil
			}
			return unix.ENODEV
		},
		ResolvConf:     rc,
		EphemeralRange: eph,
		Geteuid:        func() int { return te.euid },
		Getegid:        func() int { return te.euid },
		InitUserNS:     func() bool { return te.initNS },
		BindToDevice:   true,
	}
}

func parseWith(t *testing.T, te *testEnv, args ...string) (*Config, *Exit) {
	t.Helper()
	prog := args[0]
	mode, err := ModeFromArgs(args)
	if err != nil {
		var ex *Exit
		errors.As(err, &ex)
		return nil, ex
	}
	_ = prog
	c, err := Parse(args, mode, te.env(t))
	if err != nil {
		var ex *Exit
		if !errors.As(err, &ex) {
			t.Fatalf("Parse(%q): error %v is not *Exit", args, err)
		}
		return c, ex
	}
	return c, nil
}

func defaultEnv() *testEnv {
	return &testEnv{host: testHost(), resolv: "nameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch example.com\n", euid: 1000}
}

// TestRejects checks every validation failure: status 1 and the exact text.
func TestRejects(t *testing.T) {
	long := strings.Repeat("a", 254)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"foo"}, `Cannot determine mode, invoke as "passt" or "pasta"`},
		{[]string{"passt", "--foo"}, "passt: unrecognized option '--foo'"},
		{[]string{"pasta", "--map-guest-addr=1.2.3.4.5"}, "Invalid address to remap to host: 1.2.3.4.5"},
		{[]string{"/usr/bin/pasta", "--bogus"}, "/usr/bin/pasta: unrecognized option '--bogus'"},
		{[]string{"passt", "-x"}, "passt: invalid option -- 'x'"},
		{[]string{"passt", "-t"}, "passt: option requires an argument -- 't'"},
		{[]string{"passt", "--tcp-ports"}, "passt: option '--tcp-ports' requires an argument"},
		{[]string{"passt", "--one-off=1"}, "passt: option '--one-off' doesn't allow an argument"},
		{[]string{"passt", "--no"}, "passt: option '--no' is ambiguous; possibilities:"},
		{[]string{"passt", "extra"}, "Extra non-option argument: extra"},
		{[]string{"pasta", "--netns", "x", "cmd"}, "Both --netns and PID or command given"},
		{[]string{"pasta", "99999999999"}, "Invalid PID 99999999999"},
		{[]string{"passt", "-m", "65522"}, "MTU 65522 too large (max 65521)"},
		{[]string{"passt", "-m", "abc"}, "Invalid MTU: abc"},
		{[]string{"passt", "-m", "-1"}, "Invalid MTU: -1"},
		{[]string{"passt", "-a", "foo"}, "Invalid guest address: foo"},
		{[]string{"passt", "-a", "127.0.0.1"}, "Invalid guest address: 127.0.0.1"},
		{[]string{"passt", "-a", "0.0.0.0"}, "Invalid guest address: 0.0.0.0"},
		{[]string{"passt", "-a", "224.0.0.1"}, "Invalid guest address: 224.0.0.1"},
		{[]string{"passt", "-a", "::1"}, "Invalid guest address: ::1"},
		{[]string{"passt", "-a", "::"}, "Invalid guest address: ::"},
		{[]string{"passt", "-a", "ff02::1"}, "Invalid guest address: ff02::1"},
		{[]string{"passt", "-a", "::10.0.0.1"}, "Invalid guest address: ::10.0.0.1"},
		{[]string{"passt", "-a", "10.0.0.1/33"}, "Invalid prefix length: 10.0.0.1/33"},
		{[]string{"passt", "-a", "2001:db8::1/129"}, "Invalid prefix length: 2001:db8::1/129"},
		{[]string{"passt", "-a", "10.0.0.1/24", "-n", "24"}, "Redundant prefix length specification"},
		{[]string{"passt", "-n", "24", "-a", "10.0.0.1/24"}, "Redundant prefix length specification"},
		{[]string{"passt", "-n", "33"}, "Invalid prefix length: 33"},
		{[]string{"passt", "-n", "255.0.255.0"}, "Invalid prefix length: 255.0.255.0"},
		{[]string{"passt", "-n", "abc"}, "Invalid prefix length: abc"},
		{[]string{"passt", "-M", "00:11:22:33:44"}, "Invalid MAC address: 00:11:22:33:44"},
		{[]string{"passt", "-M", "00:11:22:33:44:5g"}, "Invalid MAC address: 00:11:22:33:44:5g"},
		{[]string{"passt", "-M", "00-11-22-33-44-55"}, "Invalid MAC address: 00-11-22-33-44-55"},
		{[]string{"passt", "-g", "0.0.0.0"}, "Invalid gateway address: 0.0.0.0"},
		{[]string{"passt", "-g", "255.255.255.255"}, "Invalid gateway address: 255.255.255.255"},
		{[]string{"passt", "-g", "127.0.0.1"}, "Invalid gateway address: 127.0.0.1"},
		{[]string{"passt", "-g", "::1"}, "Invalid gateway address: ::1"},
		{[]string{"passt", "-g", "gw"}, "Invalid gateway address: gw"},
		{[]string{"passt", "-i", "nonexistent0"}, "Invalid interface name nonexistent0: No such device"},
		{[]string{"passt", "-o", "0.0.0.0"}, "Invalid or redundant outbound address: 0.0.0.0"},
		{[]string{"passt", "-o", "224.1.1.1"}, "Invalid or redundant outbound address: 224.1.1.1"},
		{[]string{"passt", "-o", "::ffff:1.2.3.4"}, "Invalid or redundant outbound address: ::ffff:1.2.3.4"},
		{[]string{"passt", "-o", "::1"}, "Invalid or redundant outbound address: ::1"},
		{[]string{"passt", "--outbound-if4", "0123456789abcdef"}, "Invalid interface name: 0123456789abcdef"},
		{[]string{"passt", "-D", "resolver"}, "Cannot use DNS address resolver"},
		{[]string{"passt", "-S", "a", "-S", "b", "-S", "c", "-S", "d", "-S", "e", "-S", "f", "-S", "g"}, "Cannot use DNS search domain g"},
		{[]string{"passt", "--dns-forward", "127.0.0.1"}, "Invalid DNS forwarding address: 127.0.0.1"},
		{[]string{"passt", "--dns-forward", "::"}, "Invalid DNS forwarding address: ::"},
		{[]string{"passt", "--dns-host", "0.0.0.0"}, "Invalid host nameserver address: 0.0.0.0"},
		{[]string{"passt", "--map-host-loopback", "127.0.0.1"}, "Invalid address to remap to host: 127.0.0.1"},
		{[]string{"passt", "--map-guest-addr", "ff02::1"}, "Invalid address to remap to host: ff02::1"},
		{[]string{"passt", "-H", long}, "Invalid hostname: " + long},
		{[]string{"passt", "--fqdn", long}, "Invalid FQDN: " + long},
		{[]string{"passt", "--log-size", "1000"}, "Invalid --log-size: 1000"},
		{[]string{"passt", "--log-size", "big"}, "Invalid --log-size: big"},
		{[]string{"passt", "-F", "2"}, "Invalid --fd: 2"},
		{[]string{"passt", "-F", "x"}, "Invalid --fd: x"},
		{[]string{"passt", "-F", "4294967296"}, "Invalid --fd: 4294967296"},
		{[]string{"passt", "--stats", "1"}, "Can't display statistics if not running in foreground"},
		{[]string{"passt", "--runas", "no-such-user-here"}, "Invalid --runas option: no-such-user-here"},
		{[]string{"pasta", "-s", "/tmp/s"}, "-s is for passt / vhost-user mode only"},
		{[]string{"pasta", "-1"}, "-1 is for passt mode only"},
		{[]string{"pasta", "--one-off"}, "--one-off is for passt mode only"},
		{[]string{"pasta", "--no-dhcp-dns"}, "--no-dhcp-dns is for passt mode only"},
		{[]string{"pasta", "--no-dhcp-search"}, "--no-dhcp-search is for passt mode only"},
		{[]string{"passt", "--dhcp-dns"}, "--dhcp-dns is for pasta mode only"},
		{[]string{"passt", "--dhcp-search"}, "--dhcp-search is for pasta mode only"},
		{[]string{"passt", "-T", "80"}, "-T is for pasta mode only"},
		{[]string{"passt", "-U", "80"}, "-U is for pasta mode only"},
		{[]string{"passt", "-I", "tap0"}, "-I is for pasta mode only"},
		{[]string{"passt", "--userns", "/proc/1/ns/user"}, "--userns is for pasta mode only"},
		{[]string{"passt", "--netns", "x"}, "--netns is for pasta mode only"},
		{[]string{"passt", "--netns-only"}, "--netns-only is for pasta mode only"},
		{[]string{"passt", "--ns-mac-addr", "02:00:00:00:00:01"}, "--ns-mac-addr is for pasta mode only"},
		{[]string{"passt", "--no-netns-quit"}, "--no-netns-quit is for pasta mode only"},
		{[]string{"passt", "--config-net"}, "--config-net is for pasta mode only"},
		{[]string{"passt", "--no-copy-routes"}, "--no-copy-routes is for pasta mode only"},
		{[]string{"passt", "--no-copy-addrs"}, "--no-copy-addrs is for pasta mode only"},
		{[]string{"passt", "--host-lo-to-ns-lo"}, "--host-lo-to-ns-lo is for pasta mode only"},
		{[]string{"passt", "--splice-only"}, "--splice-only is for pasta mode only"},
		{[]string{"passt", "--repair-path", "/tmp/r"}, "--repair-path is for vhost-user mode only"},
		{[]string{"passt", "--migrate-exit"}, "--migrate-exit is for vhost-user mode only"},
		{[]string{"passt", "--migrate-no-linger"}, "--migrate-no-linger is for vhost-user mode only"},
		{[]string{"pasta", "-I", "0123456789abcdef"}, "Invalid interface name: 0123456789abcdef"},
		{[]string{"pasta", "--ns-mac-addr", "zz"}, "Invalid MAC address: zz"},
		{[]string{"pasta", "--no-copy-routes"}, "--no-copy-routes needs --config-net"},
		{[]string{"pasta", "--no-copy-addrs"}, "--no-copy-addrs needs --config-net"},
		{[]string{"pasta", "--splice-only", "--no-splice"}, "--splice-only is incompatible with --no-splice"},
		{[]string{"pasta", "--host-lo-to-ns-lo", "--no-splice"}, "--host-lo-to-ns-lo is incompatible with --no-splice"},
		{[]string{"passt", "-t", "auto"}, "'auto' port forwarding is only allowed for pasta"},
		{[]string{"passt", "-t", "80x"}, "Invalid port specifier '80x'"},
		{[]string{"passt", "-t", "80", "-t", "none"}, "-t none conflicts with previous options"},
		{[]string{"pasta", "-T", "127.0.0.1/80"}, "Listening address not allowed for -T 127.0.0.1/80"},
		{[]string{"passt", "-t", "80", "-t", "80"}, "Unable to add rule TCP [*]:80  =>  80"},
		{[]string{"passt", "--no-tcp", "-t", "80"}, "Unable to add rule TCP [*]:80  =>  80"},
	} {
		_, ex := parseWith(t, defaultEnv(), tc.args...)
		if ex == nil {
			t.Errorf("%q: accepted, want %q", tc.args, tc.want)
			continue
		}
		if ex.Code != 1 {
			t.Errorf("%q: status %d, want 1", tc.args, ex.Code)
		}
		if !strings.Contains(ex.Stderr, tc.want) {
			t.Errorf("%q: stderr %q, want %q", tc.args, firstLine(ex.Stderr), tc.want)
		}
		if ex.Stdout != "" {
			t.Errorf("%q: unexpected stdout %q", tc.args, ex.Stdout)
		}
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// TestRuleErrorsWarnFirst: a rule that cannot be added is explained by a
// message printed before the fatal one, as upstream does.
func TestRuleErrorsWarnFirst(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"passt", "-t", "80", "-t", "80"}, "Forwarding configuration conflict: TCP [*]:80  =>  80 versus TCP [*]:80  =>  80"},
		{[]string{"passt", "--no-tcp", "-t", "80"}, "Can't add TCP forwarding rule, TCP not enabled"},
	} {
		c, ex := parseWith(t, defaultEnv(), tc.args...)
		if ex == nil || !hasMsg(c, tc.msg) {
			t.Errorf("%q: messages %+v, want %q", tc.args, c.Messages, tc.msg)
		}
	}
}

// TestGetoptErrorsPrintUsage: getopt diagnostics come with the usage text.
func TestGetoptErrorsPrintUsage(t *testing.T) {
	_, ex := parseWith(t, defaultEnv(), "pasta", "--foo")
	if ex == nil || !strings.Contains(ex.Stderr, "Usage: pasta [OPTION]... [COMMAND] [ARGS]...") {
		t.Fatalf("usage missing: %+v", ex)
	}
}

// TestEarlyExits covers --help, --version and --print-capabilities, acted
// upon where they are reached.
func TestEarlyExits(t *testing.T) {
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"passt", "--help"}, 0, "Usage: passt [OPTION]...", ""},
		{[]string{"pasta", "-h"}, 0, "Usage: pasta [OPTION]... [COMMAND] [ARGS]...", ""},
		{[]string{"passt", "--version"}, 0, "passt ", ""},
		{[]string{"pasta", "--version"}, 0, "pasta ", ""},
		{[]string{"pasta", "--host-lo-to-ns-lo", "--version"}, 0, "pasta ", ""},
		{[]string{"pasta", "--vers"}, 0, "pasta ", ""},
		{[]string{"passt", "--version", "--bogus"}, 0, "passt ", ""},
		{[]string{"passt", "--host-lo-to-ns-lo", "--version"}, 1, "", "--host-lo-to-ns-lo is for pasta mode only"},
		{[]string{"passt", "--print-capabilities"}, 0, "", "{\n  \"type\": \"net\"\n}\n"},
		{[]string{"passt", "--vhost-user", "--print-capabilities"}, 0, "", "\"type\": \"net\""},
	} {
		_, ex := parseWith(t, defaultEnv(), tc.args...)
		if ex == nil {
			t.Errorf("%q: no early exit", tc.args)
			continue
		}
		if ex.Code != tc.code || !strings.Contains(ex.Stdout, tc.stdout) || !strings.Contains(ex.Stderr, tc.stderr) {
			t.Errorf("%q: got status %d stdout %q stderr %q", tc.args, ex.Code, firstLine(ex.Stdout), ex.Stderr)
		}
		if tc.stdout == "" && ex.Stdout != "" {
			t.Errorf("%q: unexpected stdout", tc.args)
		}
	}
	_, ex := parseWith(t, defaultEnv(), "pasta", "--version")
	if lines := strings.Split(ex.Stdout, "\n"); len(lines) != 8 || lines[6] != "" {
		t.Errorf("--version should print the version, five lines and a blank line: %q", ex.Stdout)
	}
}

func TestModes(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		mode Mode
	}{
		{[]string{"passt"}, ModePasst},
		{[]string{"/usr/local/bin/passt"}, ModePasst},
		{[]string{"pasta"}, ModePasta},
		{[]string{"/usr/bin/pasta.avx2"}, ModePasta},
		{[]string{"passt.avx2", "-f"}, ModePasst},
		{[]string{"pasta", "-f", "--vhost-user"}, ModeVhostUser},
		{[]string{"passt", "--vhost"}, ModeVhostUser},
		{[]string{"pasta", "--", "cmd", "--vhost-user"}, ModePasta},
	} {
		m, err := ModeFromArgs(tc.argv)
		if err != nil || m != tc.mode {
			t.Errorf("%q: mode %v err %v, want %v", tc.argv, m, err, tc.mode)
		}
	}
}

// TestAccepts checks accepted options and their effect on the Config.
func TestAccepts(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		args  []string
		check func(c *Config) bool
	}{
		{[]string{"passt", "-fq"}, func(c *Config) bool { return c.Foreground && c.Quiet }},
		{[]string{"passt", "-d", "-q"}, func(c *Config) bool { return c.Quiet && !c.Debug }},
		{[]string{"passt", "-q", "-d"}, func(c *Config) bool { return c.Debug && !c.Quiet }},
		{[]string{"passt", "-q", "--trace"}, func(c *Config) bool { return c.Debug && c.Trace && !c.Quiet }},
		{[]string{"passt", "--trace", "-q"}, func(c *Config) bool { return !c.Debug && !c.Trace && c.Quiet }},
		{[]string{"passt", "-e"}, func(c *Config) bool { return hasMsg(c, "--stderr will be dropped soon") }},
		{[]string{"passt", "-m", "1500"}, func(c *Config) bool { return c.MTU == 1500 }},
		{[]string{"passt", "-m", "0x5dc"}, func(c *Config) bool { return c.MTU == 1500 }},
		{[]string{"passt", "-m", "0"}, func(c *Config) bool { return c.MTU == 0 }},
		{[]string{"passt"}, func(c *Config) bool { return c.MTU == 65520 && c.OurMAC == DefaultMAC }},
		{[]string{"passt", "-m", "1000", "-m", "2000"}, func(c *Config) bool { return c.MTU == 2000 }},
		{[]string{"passt", "-m", "1000"}, func(c *Config) bool { return hasMsg(c, "MTU 1000 is too small for IPv6 (minimum 1280)") }},
		{[]string{"passt", "--mtu=9000"}, func(c *Config) bool { return c.MTU == 9000 }},
		{[]string{"passt", "--mt", "9000"}, func(c *Config) bool { return c.MTU == 9000 }},
		{[]string{"passt", "-a", "10.0.2.100"}, func(c *Config) bool {
			return c.IP4.Addr == a("10.0.2.100") && c.IP4.PrefixLen == 8
		}},
		{[]string{"passt", "-a", "172.16.1.1"}, func(c *Config) bool { return c.IP4.PrefixLen == 16 }},
		{[]string{"passt", "-a", "198.51.100.1"}, func(c *Config) bool { return c.IP4.PrefixLen == 24 }},
		{[]string{"passt", "-a", "10.0.2.100/20"}, func(c *Config) bool { return c.IP4.PrefixLen == 20 }},
		{[]string{"pasta", "--address=10.0.2.100", "--netmask=24"}, func(c *Config) bool {
			return c.IP4.PrefixLen == 24 && c.IP4.NoCopyAddrs
		}},
		{[]string{"passt", "-n", "255.255.240.0", "-a", "10.0.2.100"}, func(c *Config) bool { return c.IP4.PrefixLen == 20 }},
		{[]string{"passt", "-a", "2001:db8::99"}, func(c *Config) bool { return c.IP6.Addr == a("2001:db8::99") }},
		{[]string{"passt", "-a", "::ffff:10.1.1.1"}, func(c *Config) bool { return c.IP4.Addr == a("10.1.1.1") }},
		{[]string{"passt", "-M", "02:00:00:00:00:01"}, func(c *Config) bool { return FormatMAC(c.OurMAC) == "02:00:00:00:00:01" }},
		{[]string{"pasta", "--ns-mac-addr", "02:00:00:00:00:01", "--ns-mac-addr", "02:00:00:00:00:02"}, func(c *Config) bool {
			return c.GuestMACSet && FormatMAC(c.GuestMAC) == "02:00:00:00:00:02"
		}},
		{[]string{"pasta", "-g", "10.0.2.2"}, func(c *Config) bool {
			return c.IP4.Gateway == a("10.0.2.2") && c.IP4.NoCopyRoutes && !c.IP6.NoCopyRoutes
		}},
		{[]string{"passt", "-g", "2001:db8::1"}, func(c *Config) bool { return c.IP6.Gateway == a("2001:db8::1") }},
		{[]string{"passt", "-i", "eth0"}, func(c *Config) bool { return c.ExplicitIfname == "eth0" }},
		{[]string{"passt", "-o", "192.0.2.2", "-o", "2001:db8::2"}, func(c *Config) bool {
			return c.IP4.AddrOut == a("192.0.2.2") && c.IP6.AddrOut == a("2001:db8::2")
		}},
		{[]string{"passt", "-4"}, func(c *Config) bool { return c.IP4.Enabled && !c.IP6.Enabled && c.NoNDP && c.NoDHCPv6 }},
		{[]string{"passt", "-6"}, func(c *Config) bool { return !c.IP4.Enabled && c.IP6.Enabled && c.NoDHCP }},
		{[]string{"passt", "-4", "-6"}, func(c *Config) bool { return !c.IP4.Enabled && c.IP6.Enabled }},
		{[]string{"passt", "-H", "host1", "--fqdn", "fqdn1.passt.test"}, func(c *Config) bool {
			return c.Hostname == "host1" && c.FQDN == "fqdn1.passt.test"
		}},
		{[]string{"passt", "-D", "1.1.1.1", "-D", "2.2.2.2", "-D", "3.3.3.3", "-D", "4.4.4.4"}, func(c *Config) bool {
			return len(c.IP4.DNS) == 3 && c.IP4.DNS[2] == a("3.3.3.3") && len(c.IP6.DNS) == 1
		}},
		{[]string{"passt", "-D", "none"}, func(c *Config) bool { return c.NoDNS && len(c.IP4.DNS) == 0 && len(c.IP6.DNS) == 0 }},
		{[]string{"passt", "--dns-forward", "10.0.2.3", "-D", "none"}, func(c *Config) bool { return !c.IP4.DNSMatch.IsValid() }},
		{[]string{"passt", "-S", "a.example", "-S", "b.example"}, func(c *Config) bool {
			return slices.Equal(c.Search, []string{"a.example", "b.example"})
		}},
		{[]string{"passt", "-S", "d1 d2"}, func(c *Config) bool { return slices.Equal(c.Search, []string{"d1 d2"}) }},
		{[]string{"passt", "-S", "none"}, func(c *Config) bool { return c.NoDNSSearch && len(c.Search) == 0 }},
		{[]string{"passt"}, func(c *Config) bool {
			return slices.Equal(c.IP4.DNS, []netip.Addr{a("192.0.2.53")}) && slices.Equal(c.IP6.DNS, []netip.Addr{a("2001:db8::53")}) &&
				slices.Equal(c.Search, []string{"example.com"}) && c.IP4.DNSHost == a("192.0.2.53")
		}},
		{[]string{"passt", "--dns-forward", "10.0.2.3", "--dns-host", "192.0.2.99"}, func(c *Config) bool {
			return c.IP4.DNSMatch == a("10.0.2.3") && c.IP4.DNSHost == a("192.0.2.99")
		}},
		{[]string{"passt", "--map-host-loopback", "10.0.2.2"}, func(c *Config) bool { return c.IP4.MapHostLoopback == a("10.0.2.2") }},
		{[]string{"passt"}, func(c *Config) bool {
			return c.IP4.MapHostLoopback == a("192.0.2.1") && c.IP6.MapHostLoopback == a("fe80::1")
		}},
		{[]string{"passt", "--no-map-gw"}, func(c *Config) bool {
			return !c.IP4.MapHostLoopback.IsValid() && !c.IP6.MapHostLoopback.IsValid() && c.NoMapGW
		}},
		{[]string{"passt", "--map-host-loopback", "none"}, func(c *Config) bool { return c.NoMapGW && !c.IP4.MapHostLoopback.IsValid() }},
		{[]string{"passt", "--map-guest-addr", "169.254.1.2"}, func(c *Config) bool { return c.IP4.MapGuestAddr == a("169.254.1.2") }},
		{[]string{"passt", "--no-tcp", "--no-udp", "--no-icmp", "--no-dhcp", "--no-dhcpv6", "--no-ra", "--freebind"}, func(c *Config) bool {
			return c.NoTCP && c.NoUDP && c.NoICMP && c.NoNDP && c.NoDHCP && c.NoDHCPv6 && c.NoRA && c.Freebind
		}},
		{[]string{"passt"}, func(c *Config) bool { return c.NoSplice && !c.NoDHCPDNS && !c.NoDHCPSearch && !c.OneOff }},
		{[]string{"passt", "--no-dhcp-dns", "--no-dhcp-search"}, func(c *Config) bool { return c.NoDHCPDNS && c.NoDHCPSearch }},
		{[]string{"pasta"}, func(c *Config) bool { return c.NoDHCPDNS && c.NoDHCPSearch && !c.NoSplice }},
		{[]string{"pasta", "--dhcp-dns", "--dhcp-search"}, func(c *Config) bool { return !c.NoDHCPDNS && !c.NoDHCPSearch }},
		{[]string{"passt", "-1"}, func(c *Config) bool { return c.OneOff }},
		{[]string{"passt", "-F", "3"}, func(c *Config) bool { return c.FD == 3 && c.OneOff && c.SocketPath == "" }},
		{[]string{"passt", "-F", "0"}, func(c *Config) bool { return c.FD == 0 }},
		{[]string{"passt", "-s", "/tmp/a.sock"}, func(c *Config) bool { return c.SocketPath == "/tmp/a.sock" }},
		{[]string{"passt", "--socket-path", "/tmp/a.sock"}, func(c *Config) bool { return c.SocketPath == "/tmp/a.sock" }},
		{[]string{"passt", "--sock", "/tmp/a.sock"}, func(c *Config) bool { return c.SocketPath == "/tmp/a.sock" }},
		{[]string{"passt", "--repair-path", "none"}, func(c *Config) bool { return c.RepairPath == "none" }},
		{[]string{"passt", "--vhost-user", "--repair-path", "/tmp/r", "--migrate-exit"}, func(c *Config) bool {
			return c.Mode == ModeVhostUser && c.RepairPath == "/tmp/r" && c.MigrateExit
		}},
		{[]string{"passt", "-P", "/tmp/p.pid", "-p", "/tmp/c.pcap", "-l", "/tmp/l.log", "--log-size", "0x10000"}, func(c *Config) bool {
			return c.PIDFile == "/tmp/p.pid" && c.Pcap == "/tmp/c.pcap" && c.LogFile == "/tmp/l.log" && c.LogSize == 65536
		}},
		{[]string{"passt", "-f", "--stats", "5"}, func(c *Config) bool { return c.Stats == 5 }},
		{[]string{"passt", "--chroot-fallback"}, func(c *Config) bool { return c.ChrootFallback }},
		{[]string{"passt", "--runas", "0:0"}, func(c *Config) bool { return c.UID == 0 && c.GID == 0 }},
		{[]string{"passt", "--runas", "65534"}, func(c *Config) bool { return c.UID == 65534 && c.GID == 65534 }},
		{[]string{"passt", "--runas", "1234:5678"}, func(c *Config) bool { return c.UID == 1234 && c.GID == 5678 }},
		{[]string{"passt", "-t", "22", "-u", "53"}, func(c *Config) bool { return len(c.Inbound.Rules) == 2 }},
		{[]string{"passt", "-t", "none", "-t", "80"}, func(c *Config) bool { return len(c.Inbound.Rules) == 1 }},
		{[]string{"passt"}, func(c *Config) bool { return len(c.Inbound.Rules) == 0 && len(c.Outbound.Rules) == 0 }},
		{[]string{"pasta", "-t", "none", "-u", "none", "-T", "none", "-U", "none"}, func(c *Config) bool {
			return len(c.Inbound.Rules) == 0 && len(c.Outbound.Rules) == 0
		}},
		{[]string{"pasta", "-t", "80"}, func(c *Config) bool {
			// -u, -T and -U stay at their "auto" default.
			return countRules(c.Inbound.Rules, true) > 0 && countRules(c.Outbound.Rules, true) > 0 &&
				c.Inbound.Rules[0].First == 80 && !c.Inbound.Rules[0].Scan
		}},
		{[]string{"pasta", "--config-net"}, func(c *Config) bool { return c.ConfigNet && c.NoRA }},
		{[]string{"pasta", "--config-net", "--no-copy-routes", "--no-copy-addrs"}, func(c *Config) bool {
			return c.IP4.NoCopyRoutes && c.IP6.NoCopyAddrs &&
				hasMsg(c, "--no-copy-routes will be dropped soon") && hasMsg(c, "--no-copy-addrs will be dropped soon")
		}},
		{[]string{"pasta", "--splice-only"}, func(c *Config) bool {
			return c.HostLoToNsLo && c.NoICMP && c.NoDNS && len(c.IP4.DNS) == 0
		}},
		{[]string{"pasta", "--netns", "ctr1"}, func(c *Config) bool { return c.Netns == "/run/netns/ctr1" && c.NetnsOnly && !c.Foreground }},
		{[]string{"pasta", "--netns", "/run/user/1000/netns/x"}, func(c *Config) bool { return c.Netns == "/run/user/1000/netns/x" }},
		{[]string{"pasta", "--netns-o", "--netns", "x"}, func(c *Config) bool { return c.NetnsOnly }},
		{[]string{"pasta", "1234"}, func(c *Config) bool {
			return c.TargetPID == 1234 && c.Netns == "/proc/1234/ns/net" && c.Userns == "/proc/1234/ns/user" && !c.NetnsOnly
		}},
		{[]string{"pasta", "--userns=/proc/7/ns/user", "--netns=/run/netns/n"}, func(c *Config) bool {
			return c.Userns == "/proc/7/ns/user" && !c.NetnsOnly
		}},
		{[]string{"pasta", "--userns=/u", "--netns-only", "1234"}, func(c *Config) bool {
			// --netns-only stays in force: the PID's user namespace
			// is recorded but not joined, as upstream.
			return c.Userns == "/proc/1234/ns/user" && c.NetnsOnly
		}},
		{[]string{"pasta", "sh", "-c", "true"}, func(c *Config) bool {
			return slices.Equal(c.Command, []string{"sh", "-c", "true"}) && c.Foreground && c.Quiet && c.Spawn()
		}},
		{[]string{"pasta", "-d", "--", "-x"}, func(c *Config) bool { return slices.Equal(c.Command, []string{"-x"}) && !c.Quiet }},
		{[]string{"pasta", "ls", "-l"}, func(c *Config) bool { return slices.Equal(c.Command, []string{"ls", "-l"}) }},
		{[]string{"pasta"}, func(c *Config) bool { return len(c.Command) == 0 && c.Spawn() && c.PastaIfname == "eth0" }},
		{[]string{"pasta", "-I", "myname"}, func(c *Config) bool { return c.PastaIfname == "myname" }},
		{[]string{"pasta", "--no-netns-quit", "--host-lo-to-ns-lo", "--no-splice=" + ""}, nil},
	} {
		if tc.check == nil {
			continue
		}
		c, ex := parseWith(t, defaultEnv(), tc.args...)
		if ex != nil {
			t.Errorf("%q: rejected: %s", tc.args, ex.Stderr)
			continue
		}
		if !tc.check(c) {
			t.Errorf("%q: unexpected configuration %+v", tc.args, *c)
		}
	}
}

func hasMsg(c *Config, text string) bool {
	for _, m := range c.Messages {
		if m.Text == text {
			return true
		}
	}
	return false
}

func countRules[T any](rules []T, _ bool) int { return len(rules) }

// TestRootSwitchesToNobody: root in the initial user namespace warns and
// switches; root in another user namespace (podman) does not.
func TestRootSwitchesToNobody(t *testing.T) {
	te := defaultEnv()
	te.euid, te.initNS = 0, true
	c, ex := parseWith(t, te, "passt")
	if ex != nil {
		t.Fatal(ex)
	}
	if !c.SwitchToNobody || c.UID == 0 || !hasMsg(c, "Started as root, will change to nobody.") {
		t.Fatalf("root did not switch: %+v", c)
	}
	te.initNS = false
	c, _ = parseWith(t, te, "pasta", "--netns", "x")
	if c.SwitchToNobody || c.UID != 0 {
		t.Fatalf("root in a user namespace switched")
	}
	te.initNS = true
	c, _ = parseWith(t, te, "passt", "--runas", "1000")
	if c.SwitchToNobody || c.UID != 1000 {
		t.Fatalf("--runas ignored")
	}
}

// TestDiscoveryRequest: options reach host discovery.
func TestDiscoveryRequest(t *testing.T) {
	te := defaultEnv()
	_, ex := parseWith(t, te, "passt", "-i", "eth0", "--outbound-if4", "eth1", "-a", "10.0.0.5", "-g", "10.0.0.1", "-4")
	if ex != nil {
		t.Fatal(ex)
	}
	r := te.requests[0]
	if r.Ifname != "eth0" || r.OutIf4 != "eth1" || r.Addr4 != netip.MustParseAddr("10.0.0.5") ||
		r.Gateway4 != netip.MustParseAddr("10.0.0.1") || r.Disable4 || !r.Disable6 {
		t.Fatalf("request %+v", r)
	}
}

// TestLocalMode: no template interface at all.
func TestLocalMode(t *testing.T) {
	te := defaultEnv()
	te.host = &hostinfo.Host{Warnings: []string{"No interfaces with usable IPv4 routes", "No interfaces with usable IPv6 routes"}}
	c, ex := parseWith(t, te, "pasta", "--netns", "x")
	if ex != nil {
		t.Fatal(ex)
	}
	if !c.IP4.Local || c.IP4.Addr != LocalGuest4.Addr() || c.IP4.PrefixLen != 16 || c.IP4.Gateway != LocalGateway4 {
		t.Errorf("IPv4 local mode: %+v", c.IP4)
	}
	if !c.IP6.Local || c.IP6.Gateway != LocalGateway6 || c.IP6.OurAddr != LocalGateway6 || !c.NoDHCPv6 {
		t.Errorf("IPv6 local mode: %+v", c.IP6)
	}
	if c.PastaIfname != "tap0" {
		t.Errorf("tap name %q, want tap0", c.PastaIfname)
	}
	if !hasMsg(c, "IPv4: no external interface as template, use local mode") ||
		!hasMsg(c, "IPv6: no external interface as template, use local mode") ||
		!hasMsg(c, "No interfaces with usable IPv4 routes") {
		t.Errorf("messages: %+v", c.Messages)
	}
	_, ex = parseWith(t, te, "passt", "--outbound-if4", "eth9")
	if ex == nil || !strings.Contains(ex.Stderr, "External interface not usable") {
		t.Errorf("unusable outbound interface accepted: %+v", ex)
	}
}

// TestNoGateway: IPv4 without a gateway disables DHCP and gateway mapping.
func TestNoGateway(t *testing.T) {
	te := defaultEnv()
	te.host.V4.Gateway = netip.Addr{}
	c, ex := parseWith(t, te, "passt")
	if ex != nil {
		t.Fatal(ex)
	}
	if !c.NoDHCP || c.IP4.MapHostLoopback.IsValid() {
		t.Fatalf("no gateway: NoDHCP=%v map=%v", c.NoDHCP, c.IP4.MapHostLoopback)
	}
}

// TestResolvConfLoopback covers contract §6.9's loopback resolver rules.
func TestResolvConfLoopback(t *testing.T) {
	a := netip.MustParseAddr
	te := defaultEnv()
	te.resolv = "nameserver 127.0.0.53\nnameserver ::1\n"
	c, _ := parseWith(t, te, "passt")
	if !slices.Equal(c.IP4.DNS, []netip.Addr{a("192.0.2.1")}) || c.IP4.DNSMatch != a("192.0.2.1") || c.IP4.DNSHost != a("127.0.0.53") {
		t.Errorf("loopback resolver via gateway mapping: dns %v match %v host %v", c.IP4.DNS, c.IP4.DNSMatch, c.IP4.DNSHost)
	}
	c, _ = parseWith(t, te, "pasta", "--dns-forward", "169.254.1.1", "--no-map-gw", "--netns", "x")
	if !slices.Equal(c.IP4.DNS, []netip.Addr{a("169.254.1.1")}) || c.IP4.DNSMatch != a("169.254.1.1") {
		t.Errorf("loopback resolver via --dns-forward: %v", c.IP4.DNS)
	}
	c, _ = parseWith(t, te, "passt", "--no-map-gw")
	if len(c.IP4.DNS) != 0 || !hasMsg(c, "Couldn't get any nameserver address") || !hasMsg(c, "No IPv4 nameserver available for DHCP") {
		t.Errorf("unreachable loopback resolver: %v %+v", c.IP4.DNS, c.Messages)
	}
	te.resolv = ""
	c, _ = parseWith(t, te, "pasta", "--netns", "x")
	if !hasMsg(c, "Couldn't get any nameserver address") || hasMsg(c, "No IPv4 nameserver available for DHCP") {
		t.Errorf("pasta without --dhcp-dns warns about DHCP: %+v", c.Messages)
	}
}

// TestSummary checks the summary lines of contract §4.2.
func TestSummary(t *testing.T) {
	c, ex := parseWith(t, defaultEnv(), "passt", "-t", "2222:22")
	if ex != nil {
		t.Fatal(ex)
	}
	got := strings.Join(c.Summary(), "\n")
	want := strings.Join([]string{
		"Template interface: eth0 (IPv4), eth0 (IPv6)",
		"MAC:",
		"    host: 9a:55:9a:55:9a:55",
		"    NAT to host 127.0.0.1: 192.0.2.1",
		"DHCP:",
		"    assign: 192.0.2.2",
		"    mask: 255.255.255.0",
		"    router: 192.0.2.1",
		"DNS:",
		"    192.0.2.53",
		"DNS search list:",
		"    example.com",
		"    NAT to host ::1: fe80::1",
		"NDP/DHCPv6:",
		"    assign: 2001:db8::2",
		"    router: fe80::1",
		"    our link-local: fe80::1",
		"DNS:",
		"    2001:db8::53",
		"DNS search list:",
		"    example.com",
		"Inbound forwarding rules (HOST):",
		"    TCP [*]:2222  =>  22",
	}, "\n")
	if got != want {
		t.Errorf("summary:\n%s\nwant:\n%s", got, want)
	}
	c, _ = parseWith(t, defaultEnv(), "pasta", "--netns", "x", "--no-dhcpv6", "-t", "none", "-u", "none", "-T", "none", "-U", "none")
	s := strings.Join(c.Summary(), "\n")
	if !strings.Contains(s, "Namespace interface: eth0") || !strings.Contains(s, "\nNDP:\n") {
		t.Errorf("pasta summary:\n%s", s)
	}
}
