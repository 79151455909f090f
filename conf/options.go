// SPDX-License-Identifier: GPL-2.0-or-later

package conf

import (
	"fmt"
	"io"
	"strings"

	"passt/conf/getopt"
)

// optstring is upstream's short option string: the leading '+' stops parsing
// at the first non-option word (pasta's command and its arguments).
const optstring = "+dqfel:hs:c:F:I:p:P:m:a:n:M:g:i:o:D:S:H:461t:u:T:U:"

// Values of long-only options (short options use their letter).
const (
	optUserns = 256 + iota
	optNetns
	optNsMacAddr
	optDHCPDNS
	optNoDHCPDNS
	optDHCPSearch
	optNoDHCPSearch
	optDNSForward
	optNoNetnsQuit
	optTrace
	optRunas
	optLogSize
	optVersion
	optOutboundIf4
	optOutboundIf6
	optConfigNet
	optNoCopyRoutes
	optNoCopyAddrs
	optNetnsOnly
	optMapHostLoopback
	optMapGuestAddr
	optHostLoToNsLo
	optDNSHost
	optVhostUser
	optPrintCapabilities
	optFQDN
	optRepairPath
	optMigrateExit
	optMigrateNoLinger
	optStats
	optChrootFallback
	optNoTCP
	optNoUDP
	optNoICMP
	optNoDHCP
	optNoDHCPv6
	optNoNDP
	optNoRA
	optNoSplice
	optSpliceOnly
	optFreebind
	optNoMapGW
)

// longOptions is the long option table, in upstream's order so that
// ambiguity diagnostics list candidates the same way.
var longOptions = []getopt.LongOption{
	{Name: "debug", Arg: getopt.NoArgument, Val: 'd'},
	{Name: "quiet", Arg: getopt.NoArgument, Val: 'q'},
	{Name: "foreground", Arg: getopt.NoArgument, Val: 'f'},
	{Name: "stderr", Arg: getopt.NoArgument, Val: 'e'},
	{Name: "log-file", Arg: getopt.RequiredArgument, Val: 'l'},
	{Name: "help", Arg: getopt.NoArgument, Val: 'h'},
	{Name: "socket", Arg: getopt.RequiredArgument, Val: 's'},
	{Name: "conf-path", Arg: getopt.RequiredArgument, Val: 'c'},
	{Name: "fd", Arg: getopt.RequiredArgument, Val: 'F'},
	{Name: "ns-ifname", Arg: getopt.RequiredArgument, Val: 'I'},
	{Name: "pcap", Arg: getopt.RequiredArgument, Val: 'p'},
	{Name: "pid", Arg: getopt.RequiredArgument, Val: 'P'},
	{Name: "mtu", Arg: getopt.RequiredArgument, Val: 'm'},
	{Name: "address", Arg: getopt.RequiredArgument, Val: 'a'},
	{Name: "netmask", Arg: getopt.RequiredArgument, Val: 'n'},
	{Name: "mac-addr", Arg: getopt.RequiredArgument, Val: 'M'},
	{Name: "gateway", Arg: getopt.RequiredArgument, Val: 'g'},
	{Name: "interface", Arg: getopt.RequiredArgument, Val: 'i'},
	{Name: "outbound", Arg: getopt.RequiredArgument, Val: 'o'},
	{Name: "dns", Arg: getopt.RequiredArgument, Val: 'D'},
	{Name: "search", Arg: getopt.RequiredArgument, Val: 'S'},
	{Name: "hostname", Arg: getopt.RequiredArgument, Val: 'H'},
	{Name: "no-tcp", Arg: getopt.NoArgument, Val: optNoTCP},
	{Name: "no-udp", Arg: getopt.NoArgument, Val: optNoUDP},
	{Name: "no-icmp", Arg: getopt.NoArgument, Val: optNoICMP},
	{Name: "no-dhcp", Arg: getopt.NoArgument, Val: optNoDHCP},
	{Name: "no-dhcpv6", Arg: getopt.NoArgument, Val: optNoDHCPv6},
	{Name: "no-ndp", Arg: getopt.NoArgument, Val: optNoNDP},
	{Name: "no-ra", Arg: getopt.NoArgument, Val: optNoRA},
	{Name: "no-splice", Arg: getopt.NoArgument, Val: optNoSplice},
	{Name: "splice-only", Arg: getopt.NoArgument, Val: optSpliceOnly},
	{Name: "freebind", Arg: getopt.NoArgument, Val: optFreebind},
	{Name: "no-map-gw", Arg: getopt.NoArgument, Val: optNoMapGW},
	{Name: "ipv4-only", Arg: getopt.NoArgument, Val: '4'},
	{Name: "ipv6-only", Arg: getopt.NoArgument, Val: '6'},
	{Name: "one-off", Arg: getopt.NoArgument, Val: '1'},
	{Name: "tcp-ports", Arg: getopt.RequiredArgument, Val: 't'},
	{Name: "udp-ports", Arg: getopt.RequiredArgument, Val: 'u'},
	{Name: "tcp-ns", Arg: getopt.RequiredArgument, Val: 'T'},
	{Name: "udp-ns", Arg: getopt.RequiredArgument, Val: 'U'},
	{Name: "userns", Arg: getopt.RequiredArgument, Val: optUserns},
	{Name: "netns", Arg: getopt.RequiredArgument, Val: optNetns},
	{Name: "ns-mac-addr", Arg: getopt.RequiredArgument, Val: optNsMacAddr},
	{Name: "dhcp-dns", Arg: getopt.NoArgument, Val: optDHCPDNS},
	{Name: "no-dhcp-dns", Arg: getopt.NoArgument, Val: optNoDHCPDNS},
	{Name: "dhcp-search", Arg: getopt.NoArgument, Val: optDHCPSearch},
	{Name: "no-dhcp-search", Arg: getopt.NoArgument, Val: optNoDHCPSearch},
	{Name: "dns-forward", Arg: getopt.RequiredArgument, Val: optDNSForward},
	{Name: "no-netns-quit", Arg: getopt.NoArgument, Val: optNoNetnsQuit},
	{Name: "trace", Arg: getopt.NoArgument, Val: optTrace},
	{Name: "runas", Arg: getopt.RequiredArgument, Val: optRunas},
	{Name: "log-size", Arg: getopt.RequiredArgument, Val: optLogSize},
	{Name: "version", Arg: getopt.NoArgument, Val: optVersion},
	{Name: "outbound-if4", Arg: getopt.RequiredArgument, Val: optOutboundIf4},
	{Name: "outbound-if6", Arg: getopt.RequiredArgument, Val: optOutboundIf6},
	{Name: "config-net", Arg: getopt.NoArgument, Val: optConfigNet},
	{Name: "no-copy-routes", Arg: getopt.NoArgument, Val: optNoCopyRoutes},
	{Name: "no-copy-addrs", Arg: getopt.NoArgument, Val: optNoCopyAddrs},
	{Name: "netns-only", Arg: getopt.NoArgument, Val: optNetnsOnly},
	{Name: "map-host-loopback", Arg: getopt.RequiredArgument, Val: optMapHostLoopback},
	{Name: "map-guest-addr", Arg: getopt.RequiredArgument, Val: optMapGuestAddr},
	{Name: "host-lo-to-ns-lo", Arg: getopt.NoArgument, Val: optHostLoToNsLo},
	{Name: "dns-host", Arg: getopt.RequiredArgument, Val: optDNSHost},
	{Name: "vhost-user", Arg: getopt.NoArgument, Val: optVhostUser},
	{Name: "print-capabilities", Arg: getopt.NoArgument, Val: optPrintCapabilities},
	{Name: "socket-path", Arg: getopt.RequiredArgument, Val: 's'},
	{Name: "fqdn", Arg: getopt.RequiredArgument, Val: optFQDN},
	{Name: "repair-path", Arg: getopt.RequiredArgument, Val: optRepairPath},
	{Name: "migrate-exit", Arg: getopt.NoArgument, Val: optMigrateExit},
	{Name: "migrate-no-linger", Arg: getopt.NoArgument, Val: optMigrateNoLinger},
	{Name: "stats", Arg: getopt.RequiredArgument, Val: optStats},
	{Name: "chroot-fallback", Arg: getopt.NoArgument, Val: optChrootFallback},
}

// writeUsage writes the help text for the mode; prog is argv[0] as invoked.
// The wording is ours: clients do not parse it (contract §1.2).
func writeUsage(w io.Writer, prog string, mode Mode) {
	var b strings.Builder
	guest, fwdDefault := "guest", "none"
	if mode == ModePasta {
		guest, fwdDefault = "namespace", "auto"
		fmt.Fprintf(&b, "Usage: %s [OPTION]... [COMMAND] [ARGS]...\n", prog)
		fmt.Fprintf(&b, "       %s [OPTION]... PID\n", prog)
		fmt.Fprintf(&b, "       %s [OPTION]... --netns [PATH|NAME]\n", prog)
		b.WriteString("\nWith neither PID nor --netns, start COMMAND (or the login shell) in new\n" +
			"user and network namespaces, connected to the host through pasta.\n")
	} else {
		fmt.Fprintf(&b, "Usage: %s [OPTION]...\n", prog)
	}

	opt := func(name, text string, more ...string) {
		fmt.Fprintf(&b, "  %-28s %s\n", name, text)
		for _, m := range more {
			fmt.Fprintf(&b, "  %-28s %s\n", "", m)
		}
	}

	b.WriteString("\nGeneral:\n")
	opt("-d, --debug", "print debugging messages (with timestamps)")
	opt("--trace", "also trace packets; implies --debug")
	opt("-q, --quiet", "print only warnings and errors")
	opt("-f, --foreground", "stay in the foreground (default: run in background)")
	opt("-l, --log-file PATH", "log only to PATH")
	opt("--log-size BYTES", "maximum log file size (default: 1 MiB)")
	opt("--stats DELAY", "print event statistics at most every DELAY seconds",
		"(needs --foreground before it)")
	opt("--runas UID|UID:GID", "run as this user and group, numeric or names",
		"(default: root switches to nobody)")
	opt("-P, --pid FILE", "write the process ID to FILE")
	opt("-p, --pcap FILE", "capture guest-side frames to FILE (pcap format)")
	opt("--chroot-fallback", "use chroot() if pivot_root() is not possible")
	opt("-h, --help", "show this help and exit")
	opt("--version", "show the version and exit")

	b.WriteString("\nGuest side:\n")
	if mode == ModePasta {
		opt("-I, --ns-ifname NAME", "name of the tap device in the namespace",
			"(default: name of the host's template interface, or tap0)")
	} else {
		opt("-s, --socket, --socket-path PATH", "UNIX domain socket for the guest",
			"(default: first free of /tmp/passt_1.socket ... _99)")
		opt("--vhost-user", "speak vhost-user on the socket")
		opt("--print-capabilities", "print vhost-user back-end capabilities (JSON)")
		opt("--repair-path PATH|none", "socket for passt-repair(1) (vhost-user)",
			"(default: the socket path with .repair appended)")
		opt("--migrate-exit", "DEPRECATED: exit after migrating away")
		opt("--migrate-no-linger", "DEPRECATED: close sockets after migrating away")
		opt("-1, --one-off", "exit once the first client disconnects")
	}
	opt("-F, --fd FD", "use FD as an already connected guest socket")
	opt("-c, --conf-path PATH", "UNIX socket for live configuration (pesto)")

	b.WriteString("\nAddresses given to the " + guest + ":\n")
	opt("-m, --mtu MTU", "MTU to advertise (0: none; default: 65520)")
	opt("-a, --address ADDR[/LEN]", "IPv4 or IPv6 address to assign, once per family",
		"(default: the template interface's address)")
	opt("-n, --netmask MASK", "IPv4 netmask, dotted or as a prefix length")
	opt("-M, --mac-addr ADDR", "our own MAC address (default: 9a:55:9a:55:9a:55)")
	opt("-g, --gateway ADDR", "gateway to announce, once per family",
		"(default: the host's default gateway)")
	opt("-i, --interface NAME", "template interface for addresses and routes")
	opt("-o, --outbound ADDR", "source address for outbound sockets, once per family")
	opt("--outbound-if4 NAME", "bind outbound IPv4 sockets to interface NAME")
	opt("--outbound-if6 NAME", "bind outbound IPv6 sockets to interface NAME")
	opt("-4, --ipv4-only", "IPv4 only")
	opt("-6, --ipv6-only", "IPv6 only")
	opt("-H, --hostname NAME", "hostname for DHCP (and the namespace)")
	opt("--fqdn NAME", "FQDN for DHCP and DHCPv6")

	b.WriteString("\nDNS:\n")
	opt("-D, --dns ADDR|none", "resolver to advertise, repeatable",
		"(default: from /etc/resolv.conf)")
	opt("-S, --search DOMAIN|none", "search domain to advertise, repeatable",
		"(default: from /etc/resolv.conf)")
	if mode == ModePasta {
		opt("--dhcp-dns", "advertise resolvers via DHCP/DHCPv6/NDP")
		opt("--dhcp-search", "advertise the search list via DHCP/DHCPv6/NDP")
	} else {
		opt("--no-dhcp-dns", "advertise no resolvers")
		opt("--no-dhcp-search", "advertise no search list")
	}
	opt("--dns-forward ADDR", "forward DNS queries sent to ADDR to the host resolver")
	opt("--dns-host ADDR", "host resolver to forward to (default: first in resolv.conf)")

	b.WriteString("\nAddress translation:\n")
	opt("--map-host-loopback ADDR|none", "ADDR reaches the host's loopback",
		"(default: the gateway address)")
	opt("--map-guest-addr ADDR|none", "ADDR reaches the host's own address")
	opt("--no-map-gw", "do not map the gateway address to the host")

	b.WriteString("\nProtocols and services:\n")
	opt("--no-tcp", "disable TCP")
	opt("--no-udp", "disable UDP")
	opt("--no-icmp", "disable ICMP/ICMPv6 echo")
	opt("--no-dhcp", "disable the DHCP server")
	opt("--no-ndp", "disable NDP")
	opt("--no-dhcpv6", "disable the DHCPv6 server")
	opt("--no-ra", "disable router advertisements")
	opt("--freebind", "allow forwarding from addresses not (yet) on the host")

	b.WriteString("\nPort forwarding:\n")
	opt("-t, --tcp-ports SPEC", "forward TCP ports from the host to the "+guest+", repeatable")
	opt("-u, --udp-ports SPEC", "the same for UDP")
	fmt.Fprintf(&b, "  %-28s %s\n", "", "default: "+fwdDefault)
	b.WriteString("    SPEC is 'none', or [ADDR][%IFNAME]/PORTS, or PORTS, where PORTS is a\n" +
		"    comma-separated list of: PORT[-PORT][:TOPORT[-TOPORT]], ~PORT[-PORT]\n" +
		"    (excluded), 'all' (every non-ephemeral port")
	if mode == ModePasta {
		b.WriteString("), 'auto' (only ports bound\n    on the other side, rescanned every second)")
	} else {
		b.WriteString(")")
	}
	b.WriteString(".\n    Examples: -t 22   -t 2222:22   -t 192.0.2.1/80-90   -t %eth0/443\n" +
		"              -t 5000-6000,~5500   -t all   -t ::1/8080\n")
	if mode == ModePasta {
		opt("-T, --tcp-ns SPEC", "forward TCP ports from the namespace to the host (default: auto)")
		opt("-U, --udp-ns SPEC", "the same for UDP (default: auto)")

		b.WriteString("\nNamespace:\n")
		opt("--userns PATH", "user namespace to join")
		opt("--netns PATH|NAME", "network namespace to join (NAME: /run/netns/NAME)")
		opt("--netns-only", "do not join or create a user namespace")
		opt("--no-netns-quit", "do not exit when the namespace goes away")
		opt("--config-net", "configure the tap device (addresses, routes, MTU, up)")
		opt("--no-copy-routes", "DEPRECATED: set only the default route")
		opt("--no-copy-addrs", "DEPRECATED: set only one address")
		opt("--ns-mac-addr ADDR", "MAC address of the tap device")
		opt("--host-lo-to-ns-lo", "host loopback forwards arrive on namespace loopback")
		opt("--no-splice", "no loopback bypass: everything goes through the tap")
		opt("--splice-only", "no tap at all: only loopback forwarding")
	}
	io.WriteString(w, b.String())
}
