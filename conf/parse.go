// SPDX-License-Identifier: GPL-2.0-or-later

package conf

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/user"
	"passt/internal/errno"
	"path/filepath"
	"strconv"
	"strings"

	"passt/conf/getopt"
	"passt/conf/hostinfo"
	"passt/fwd"
	"passt/version"
)

// Exit ends the program before it runs: --help, --version,
// --print-capabilities, a getopt error or a validation failure. Stdout and
// Stderr are printed as they are, then the process exits with Code.
type Exit struct {
	Code   int
	Stdout string
	Stderr string
}

func (e *Exit) Error() string {
	if e.Stderr != "" {
		return strings.TrimRight(e.Stderr, "\n")
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

// die returns the failure upstream reports with die(): the message on
// stderr and status 1.
func die(format string, args ...any) *Exit {
	return &Exit{Code: 1, Stderr: fmt.Sprintf(format, args...) + "\n"}
}

// Env is what parsing needs from the system; tests replace parts of it.
type Env struct {
	// Discover runs host discovery (hostinfo.Discover on a host netlink
	// handle, normally).
	Discover func(req hostinfo.Request) (*hostinfo.Host, error)
	// InterfaceExists checks -i: nil, or the error to report.
	InterfaceExists func(name string) error
	// ResolvConf is the path of resolv.conf.
	ResolvConf string
	// EphemeralRange is the path of ip_local_port_range.
	EphemeralRange string
	// Geteuid, Getegid return the effective ids.
	Geteuid, Getegid func() int
	// InitUserNS reports whether we run in the initial user namespace.
	InitUserNS func() bool
	// BindToDevice reports whether SO_BINDTODEVICE is usable.
	BindToDevice bool
}

// SystemEnv returns the Env of the running system, using discover for host
// discovery.
func SystemEnv(discover func(hostinfo.Request) (*hostinfo.Host, error), ifExists func(string) error) Env {
	return Env{
		Discover:        discover,
		InterfaceExists: ifExists,
		ResolvConf:      "/etc/resolv.conf",
		EphemeralRange:  "/proc/sys/net/ipv4/ip_local_port_range",
		Geteuid:         os.Geteuid,
		Getegid:         os.Getegid,
		InitUserNS:      InInitialUserNS,
		BindToDevice:    true,
	}
}

// InInitialUserNS reports whether the process runs in the initial user
// namespace, whose uid_map is the identity over the whole range.
func InInitialUserNS() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295"
}

// ModeFromArgs picks the mode (contract §1.1): --vhost-user anywhere before
// a "--" (as a unique prefix, like getopt would take it) selects vhost-user;
// otherwise argv[0]'s base name decides.
func ModeFromArgs(argv []string) (Mode, error) {
	for _, a := range argv[1:] {
		if a == "--" {
			break
		}
		if len(a) > 2 && strings.HasPrefix(a, "--") {
			name, _, _ := strings.Cut(a[2:], "=")
			if strings.HasPrefix("vhost-user", name) {
				return ModeVhostUser, nil
			}
		}
	}
	if len(argv) < 1 {
		return 0, die("Cannot determine argv[0]")
	}
	base := filepath.Base(argv[0])
	switch {
	case strings.Contains(base, "pasta"):
		return ModePasta, nil
	case strings.Contains(base, "passt"):
		return ModePasst, nil
	}
	return 0, die(`Cannot determine mode, invoke as "passt" or "pasta"`)
}

// Usage returns the help text for a mode.
func Usage(prog string, mode Mode) string {
	var b bytes.Buffer
	writeUsage(&b, prog, mode)
	return b.String()
}

// VersionText is what --version prints.
func VersionText(mode Mode) string {
	return mode.Name() + " " + version.Version + "\n" +
		"Copyright The passt-go authors.\n" +
		"License GPLv2+: GNU GPL version 2 or later <https://gnu.org/licenses/gpl-2.0.html>.\n" +
		"Drop-in implementation of passt and pasta, written in Go.\n" +
		"This is free software: you are free to change and redistribute it.\n" +
		"There is NO WARRANTY, to the extent permitted by law.\n\n"
}

// CapabilitiesText is what --print-capabilities prints (on stderr, as
// upstream does).
const CapabilitiesText = "{\n  \"type\": \"net\"\n}\n"

// parser holds the state of one Parse call.
type parser struct {
	c   *Config
	env Env

	netnsOnly      bool
	userns, netns  string
	noMapGW        bool
	copyRoutesOpt  bool
	copyAddrsOpt   bool
	addrHasPrefix  bool
	prefixFromOpt  int // -n given: prefix + 1, 0 if not
	ifname         string
	portOpts       []getopt.Option
	optT, optU     bool
	optTns, optUns bool
	ctx            *fwd.Context
}

func (p *parser) info(format string, args ...any) {
	p.c.Messages = append(p.c.Messages, Message{LevelInfo, fmt.Sprintf(format, args...)})
}

func (p *parser) warn(format string, args ...any) {
	p.c.Messages = append(p.c.Messages, Message{LevelWarn, fmt.Sprintf(format, args...)})
}

func (p *parser) debug(format string, args ...any) {
	p.c.Messages = append(p.c.Messages, Message{LevelDebug, fmt.Sprintf(format, args...)})
}

// Parse parses argv (argv[0] included) for mode. On --help, --version,
// --print-capabilities or any failure it returns an *Exit; the Config
// returned with it carries the messages printed until then.
func Parse(argv []string, mode Mode, env Env) (*Config, error) {
	c := &Config{
		Mode:    mode,
		Prog:    argv[0],
		Args:    argv,
		LogSize: DefaultLogSize,
		FD:      -1,
		MTU:     DefaultMTU,
		OurMAC:  DefaultMAC,
	}
	p := &parser{c: c, env: env}
	if mode == ModePasta {
		c.NoDHCPDNS, c.NoDHCPSearch = true, true
	}
	if err := p.options(); err != nil {
		return c, err
	}
	if err := p.finish(); err != nil {
		return c, err
	}
	return c, nil
}

// options is the first pass: every option but the port specs.
func (p *parser) options() error {
	c := p.c
	g := getopt.New(c.Prog, c.Args[1:], optstring, longOptions)
	for {
		o, ok, err := g.Next()
		if err != nil {
			return &Exit{Code: 1, Stderr: err.Error() + "\n" + Usage(c.Prog, c.Mode)}
		}
		if !ok {
			break
		}
		if err := p.option(o); err != nil {
			return err
		}
	}
	rest := g.Rest()
	if c.Mode != ModePasta {
		if len(rest) > 0 {
			return die("Extra non-option argument: %s", rest[0])
		}
		return nil
	}
	return p.positional(rest)
}

func (p *parser) pastaOnly(o getopt.Option) error {
	if p.c.Mode != ModePasta {
		return die("%s is for pasta mode only", o.Name)
	}
	return nil
}

func (p *parser) passtOnly(o getopt.Option) error {
	if p.c.Mode == ModePasta {
		return die("%s is for passt mode only", o.Name)
	}
	return nil
}

func (p *parser) vhostUserOnly(o getopt.Option) error {
	if p.c.Mode != ModeVhostUser {
		return die("%s is for vhost-user mode only", o.Name)
	}
	return nil
}

// option applies one option of the first pass.
func (p *parser) option(o getopt.Option) error {
	c := p.c
	arg := o.Arg
	switch o.Val {
	case 'd':
		c.Debug, c.Quiet = true, false
	case optTrace:
		c.Trace, c.Debug, c.Quiet = true, true, false
	case 'q':
		c.Quiet, c.Debug, c.Trace = true, false, false
	case 'f':
		c.Foreground = true
	case 'e':
		p.warn("--stderr will be dropped soon")
	case 'l':
		if arg == "" || len(arg) > pathMax {
			return die("Invalid log file: %s", arg)
		}
		c.LogFile = arg
	case optLogSize:
		n, ok := parseCLong(arg)
		if !ok || n < MinLogSize {
			return die("Invalid --log-size: %s", arg)
		}
		c.LogSize = n
	case optStats:
		if !c.Foreground {
			return die("Can't display statistics if not running in foreground")
		}
		n, ok := parseCLong(arg)
		if !ok || n < 0 || n > math.MaxInt32 {
			return die("Invalid --stats: %s", arg)
		}
		c.Stats = int(n)
	case 'h':
		return &Exit{Code: 0, Stdout: Usage(c.Prog, c.Mode)}
	case optVersion:
		return &Exit{Code: 0, Stdout: VersionText(c.Mode)}
	case optPrintCapabilities:
		return &Exit{Code: 0, Stderr: CapabilitiesText}
	case optRunas:
		c.Runas = arg
	case 'P':
		if arg == "" || len(arg) > pathMax {
			return die("Invalid PID file: %s", arg)
		}
		c.PIDFile = arg
	case 'p':
		if arg == "" || len(arg) > pathMax {
			return die("Invalid pcap path: %s", arg)
		}
		c.Pcap = arg
	case optChrootFallback:
		c.ChrootFallback = true
	case 'c':
		if arg == "" || len(arg) > unixPathMax {
			return die("Invalid configuration socket path: %s", arg)
		}
		c.ConfPath = arg

	case 's':
		if c.Mode == ModePasta {
			return die("-s is for passt / vhost-user mode only")
		}
		if arg == "" || len(arg) > unixPathMax {
			return die("Invalid socket path: %s", arg)
		}
		c.SocketPath, c.FD = arg, -1
	case 'F':
		n, ok := parseCLong(arg)
		if !ok || (n != 0 && n <= 2) || n < 0 || n > math.MaxInt32 {
			return die("Invalid --fd: %s", arg)
		}
		c.FD, c.OneOff, c.SocketPath = int(n), true, ""
	case '1':
		if err := p.passtOnly(o); err != nil {
			return err
		}
		c.OneOff = true
	case optVhostUser:
		// Already acted upon by ModeFromArgs.
	case optRepairPath:
		if c.Mode != ModeVhostUser && arg != "none" {
			return die("--repair-path is for vhost-user mode only")
		}
		if arg == "" || len(arg) > unixPathMax {
			return die("Invalid passt-repair path: %s", arg)
		}
		c.RepairPath = arg
	case optMigrateExit:
		if err := p.vhostUserOnly(o); err != nil {
			return err
		}
		c.MigrateExit = true
	case optMigrateNoLinger:
		if err := p.vhostUserOnly(o); err != nil {
			return err
		}
		c.MigrateNoLinger = true

	case 'm':
		n, ok := parseCULong(arg)
		if !ok {
			return die("Invalid MTU: %s", arg)
		}
		if n > MaxMTU {
			return die("MTU %d too large (max %d)", n, MaxMTU)
		}
		c.MTU = int(n)
	case 'a':
		return p.address(arg)
	case 'n':
		if p.addrHasPrefix {
			return die("Redundant prefix length specification")
		}
		plen, ok := parseIPv4Prefix(arg)
		if !ok {
			return die("Invalid prefix length: %s", arg)
		}
		p.prefixFromOpt = plen + 1
		c.IP4.PrefixLen = plen
	case 'M':
		mac, ok := parseMAC(arg)
		if !ok {
			return die("Invalid MAC address: %s", arg)
		}
		c.OurMAC = mac
	case 'g':
		a, err := netip.ParseAddr(arg)
		if err == nil && a.Is6() && !a.Is4In6() {
			if !a.IsUnspecified() && !a.IsLoopback() {
				c.IP6.Gateway, c.IP6.GatewayFixed = a, true
				if c.Mode == ModePasta {
					c.IP6.NoCopyRoutes = true
				}
				return nil
			}
		} else if err == nil && a.Is4() {
			if !a.IsUnspecified() && !isBroadcast4(a) && !a.IsLoopback() {
				c.IP4.Gateway, c.IP4.GatewayFixed = a, true
				if c.Mode == ModePasta {
					c.IP4.NoCopyRoutes = true
				}
				return nil
			}
		}
		return die("Invalid gateway address: %s", arg)
	case 'i':
		if p.env.InterfaceExists != nil {
			if err := p.env.InterfaceExists(arg); err != nil {
				return die("Invalid interface name %s: %s", arg, errno.Text(err))
			}
		}
		p.ifname = arg
		c.ExplicitIfname = arg
	case 'o':
		a, err := netip.ParseAddr(arg)
		if err == nil && a.Zone() == "" {
			if a.Is4() && !a.IsUnspecified() && !isBroadcast4(a) && !a.IsMulticast() && !a.IsLoopback() {
				c.IP4.AddrOut = a
				return nil
			}
			if a.Is6() && !a.Is4In6() && !isV4Compat(a) && !a.IsUnspecified() && !a.IsLoopback() && !a.IsMulticast() {
				c.IP6.AddrOut = a
				return nil
			}
		}
		return die("Invalid or redundant outbound address: %s", arg)
	case optOutboundIf4, optOutboundIf6:
		if arg == "" || len(arg) > ifNameMax {
			return die("Invalid interface name: %s", arg)
		}
		if o.Val == optOutboundIf4 {
			c.IP4.IfnameOut = arg
		} else {
			c.IP6.IfnameOut = arg
		}
	case '4':
		c.IPv4Only, c.IPv6Only = true, false
	case '6':
		c.IPv6Only, c.IPv4Only = true, false
	case 'H':
		if len(arg) > maxDomainName {
			return die("Invalid hostname: %s", arg)
		}
		c.Hostname = arg
	case optFQDN:
		if len(arg) > maxDomainName {
			return die("Invalid FQDN: %s", arg)
		}
		c.FQDN = arg

	case 'D':
		return p.dns(arg)
	case 'S':
		if arg == "none" {
			c.NoDNSSearch, c.Search = true, nil
			return nil
		}
		c.NoDNSSearch = false
		if len(c.Search) >= MaxSearch || arg == "" || len(arg) > maxDomainName {
			return die("Cannot use DNS search domain %s", arg)
		}
		c.Search = append(c.Search, arg)
	case optDHCPDNS:
		if err := p.pastaOnly(o); err != nil {
			return err
		}
		c.NoDHCPDNS = false
	case optNoDHCPDNS:
		if err := p.passtOnly(o); err != nil {
			return err
		}
		c.NoDHCPDNS = true
	case optDHCPSearch:
		if err := p.pastaOnly(o); err != nil {
			return err
		}
		c.NoDHCPSearch = false
	case optNoDHCPSearch:
		if err := p.passtOnly(o); err != nil {
			return err
		}
		c.NoDHCPSearch = true
	case optDNSForward:
		a, err := netip.ParseAddr(arg)
		if err == nil && a.Zone() == "" {
			if a.Is6() && !a.Is4In6() && !a.IsUnspecified() && !a.IsLoopback() {
				c.IP6.DNSMatch = a
				return nil
			}
			if a.Is4() && !a.IsUnspecified() && !isBroadcast4(a) && !a.IsLoopback() {
				c.IP4.DNSMatch = a
				return nil
			}
		}
		return die("Invalid DNS forwarding address: %s", arg)
	case optDNSHost:
		a, err := netip.ParseAddr(arg)
		if err == nil && a.Zone() == "" {
			if a.Is6() && !a.Is4In6() && !a.IsUnspecified() {
				c.IP6.DNSHost = a
				return nil
			}
			if a.Is4() && !a.IsUnspecified() && !isBroadcast4(a) {
				c.IP4.DNSHost = a
				return nil
			}
		}
		return die("Invalid host nameserver address: %s", arg)

	case optNoTCP:
		c.NoTCP = true
	case optNoUDP:
		c.NoUDP = true
	case optNoICMP:
		c.NoICMP = true
	case optNoDHCP:
		c.NoDHCP = true
	case optNoDHCPv6:
		c.NoDHCPv6 = true
	case optNoNDP:
		c.NoNDP = true
	case optNoRA:
		c.NoRA = true
	case optNoSplice:
		c.NoSplice = true
	case optSpliceOnly:
		c.SpliceOnly = true
	case optFreebind:
		c.Freebind = true
	case optNoMapGW:
		p.noMapGW = true
	case optMapHostLoopback:
		return p.nat(arg, &c.IP4.MapHostLoopback, &c.IP6.MapHostLoopback, true)
	case optMapGuestAddr:
		return p.nat(arg, &c.IP4.MapGuestAddr, &c.IP6.MapGuestAddr, false)
	case optHostLoToNsLo:
		if err := p.pastaOnly(o); err != nil {
			return err
		}
		c.HostLoToNsLo = true

	case 't', 'u':
		p.portOpts = append(p.portOpts, o)
	case 'T', 'U':
		if c.Mode != ModePasta {
			return die("-%c is for pasta mode only", rune(o.Val))
		}
		p.portOpts = append(p.portOpts, o)

	case 'I':
		if c.Mode != ModePasta {
			return die("-I is for pasta mode only")
		}
		if arg == "" || len(arg) > ifNameMax {
			return die("Invalid interface name: %s", arg)
		}
		c.PastaIfname = arg
	case optUserns:
		if err := p.pastaOnly(o); err != nil {
			return err
		}
		if arg == "" || len(arg) > pathMax {
			return die("Invalid userns: %s", arg)
		}
		p.userns, p.netnsOnly = arg, false
	case optNetns:
		if err := p.pastaOnly(o); err != nil {
			return err
		}
		path := arg
		if !strings.Contains(arg, "/") {
			path = NetnsRunDir + "/" + arg
		}
		if arg == "" || len(path) > pathMax {
			return die("Network namespace name/path %s too long", arg)
		}
		p.netns = path
	case optNetnsOnly:
		if err := p.pastaOnly(o); err != nil {
			return err
		}
		p.netnsOnly, p.userns = true, ""
	case optNsMacAddr:
		if err := p.pastaOnly(o); err != nil {
			return err
		}
		mac, ok := parseMAC(arg)
		if !ok {
			return die("Invalid MAC address: %s", arg)
		}
		c.GuestMAC, c.GuestMACSet = mac, true
	case optNoNetnsQuit:
		if err := p.pastaOnly(o); err != nil {
			return err
		}
		c.NoNetnsQuit = true
	case optConfigNet:
		if err := p.pastaOnly(o); err != nil {
			return err
		}
		c.ConfigNet = true
	case optNoCopyRoutes:
		if err := p.pastaOnly(o); err != nil {
			return err
		}
		p.warn("--no-copy-routes will be dropped soon")
		c.IP4.NoCopyRoutes, c.IP6.NoCopyRoutes = true, true
		p.copyRoutesOpt = true
	case optNoCopyAddrs:
		if err := p.pastaOnly(o); err != nil {
			return err
		}
		p.warn("--no-copy-addrs will be dropped soon")
		c.IP4.NoCopyAddrs, c.IP6.NoCopyAddrs = true, true
		p.copyAddrsOpt = true
	default:
		return &Exit{Code: 1, Stderr: Usage(c.Prog, c.Mode)}
	}
	return nil
}

// address handles -a ADDR[/PLEN].
func (p *parser) address(arg string) error {
	c := p.c
	addrText, plenText, hasPrefix := strings.Cut(arg, "/")
	p.addrHasPrefix = hasPrefix
	if hasPrefix && p.prefixFromOpt != 0 {
		return die("Redundant prefix length specification")
	}
	a, err := netip.ParseAddr(addrText)
	if err != nil || a.Zone() != "" {
		return die("Invalid guest address: %s", arg)
	}
	v4 := a.Is4() || a.Is4In6()
	a = a.Unmap()
	plen := -1
	if hasPrefix {
		n, err := strconv.ParseUint(plenText, 10, 8)
		max := uint64(128)
		if v4 {
			max = 32
		}
		if err != nil || n > max {
			return die("Invalid prefix length: %s", arg)
		}
		plen = int(n)
	}
	if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || isV4Compat(a) || (v4 && isBroadcast4(a)) {
		return die("Invalid guest address: %s", arg)
	}
	if v4 {
		switch {
		case p.prefixFromOpt != 0:
			plen = p.prefixFromOpt - 1
		case plen < 0:
			plen = classfulPrefix(a)
		}
		c.IP4.Addr, c.IP4.PrefixLen, c.IP4.AddrFixed = a, plen, true
		if c.Mode == ModePasta {
			c.IP4.NoCopyAddrs = true
		}
		return nil
	}
	c.IP6.Addr, c.IP6.AddrFixed = a, true
	if plen >= 0 {
		c.IP6.PrefixLen = plen
	}
	if c.Mode == ModePasta {
		c.IP6.NoCopyAddrs = true
	}
	return nil
}

// dns handles -D ADDR|none.
func (p *parser) dns(arg string) error {
	c := p.c
	if arg == "none" {
		c.NoDNS = true
		c.IP4.DNS, c.IP6.DNS = nil, nil
		c.IP4.DNSMatch, c.IP4.DNSHost = netip.Addr{}, netip.Addr{}
		c.IP6.DNSMatch, c.IP6.DNSHost = netip.Addr{}, netip.Addr{}
		return nil
	}
	c.NoDNS = false
	a, err := netip.ParseAddr(arg)
	if err != nil || a.Zone() != "" {
		return die("Cannot use DNS address %s", arg)
	}
	if a.Is4() {
		if len(c.IP4.DNS) < MaxDNS {
			c.IP4.DNS = append(c.IP4.DNS, a)
		}
		return nil
	}
	if len(c.IP6.DNS) < MaxDNS {
		c.IP6.DNS = append(c.IP6.DNS, a)
	}
	return nil
}

// nat handles --map-host-loopback and --map-guest-addr.
func (p *parser) nat(arg string, a4, a6 *netip.Addr, hostLoopback bool) error {
	if arg == "none" {
		*a4, *a6 = netip.Addr{}, netip.Addr{}
		if hostLoopback {
			p.noMapGW = true
		}
		return nil
	}
	a, err := netip.ParseAddr(arg)
	if err == nil && a.Zone() == "" && !a.IsUnspecified() && !a.IsLoopback() && !a.IsMulticast() {
		if a.Is4() {
			*a4 = a
			return nil
		}
		if !a.Is4In6() {
			*a6 = a
			return nil
		}
	}
	return die("Invalid address to remap to host: %s", arg)
}

// positional handles pasta's non-option words: a PID, or a command.
func (p *parser) positional(rest []string) error {
	c := p.c
	if p.netns != "" && len(rest) > 0 {
		return die("Both --netns and PID or command given")
	}
	if len(rest) == 1 && rest[0] != "" && isDecimal(rest[0]) {
		n, err := strconv.ParseInt(rest[0], 10, 64)
		if err != nil || n > math.MaxInt32 || n < 0 {
			return die("Invalid PID %s", rest[0])
		}
		c.TargetPID = int(n)
		p.netns = fmt.Sprintf("/proc/%d/ns/net", n)
		if p.userns == "" {
			p.userns = fmt.Sprintf("/proc/%d/ns/user", n)
		}
	} else if p.netns == "" {
		c.Command = rest
	}
	if p.netns != "" && p.userns == "" {
		p.netnsOnly = true
	}
	c.Netns, c.Userns, c.NetnsOnly = p.netns, p.userns, p.netnsOnly
	return nil
}

// finish is everything after the first pass.
func (p *parser) finish() error {
	c := p.c
	if c.Mode != ModePasta {
		c.NoSplice = true
		if c.SpliceOnly {
			return die("--splice-only is for pasta mode only")
		}
	}
	if c.Mode == ModePasta && !c.ConfigNet {
		if p.copyRoutesOpt {
			return die("--no-copy-routes needs --config-net")
		}
		if p.copyAddrsOpt {
			return die("--no-copy-addrs needs --config-net")
		}
	}
	if c.Mode == ModePasta && c.SpliceOnly {
		if c.NoSplice {
			return die("--splice-only is incompatible with --no-splice")
		}
		c.HostLoToNsLo, c.NoICMP, c.NoDNS, c.NoDNSSearch = true, true, true, true
		c.IP4.DNS, c.IP6.DNS, c.Search = nil, nil, nil
	}
	if c.HostLoToNsLo && c.NoSplice {
		return die("--host-lo-to-ns-lo is incompatible with --no-splice")
	}

	if err := p.credentials(); err != nil {
		return err
	}

	// pasta spawning a command: foreground, and quiet unless debugging.
	if c.Spawn() {
		c.Foreground = true
		if !c.Debug {
			c.Quiet = true
		}
	}

	if err := p.discover(); err != nil {
		return err
	}

	if c.IP4.Enabled && !p.noMapGW && !c.IP4.MapHostLoopback.IsValid() {
		c.IP4.MapHostLoopback = c.IP4.Gateway
	}
	if c.IP6.Enabled && !p.noMapGW && !c.IP6.MapHostLoopback.IsValid() {
		c.IP6.MapHostLoopback = c.IP6.Gateway
	}
	c.NoMapGW = p.noMapGW
	if c.IP4.Enabled && !c.IP4.Gateway.IsValid() {
		c.NoDHCP = true
	}

	if err := p.ports(); err != nil {
		return err
	}

	if c.NoICMP {
		c.NoNDP = true
	}
	if c.ConfigNet {
		c.NoRA = true
	}
	if !c.IP4.Enabled {
		c.NoDHCP = true
	}
	if !c.IP6.Enabled {
		c.NoNDP, c.NoDHCPv6 = true, true
	} else if !c.IP6.Addr.IsValid() {
		c.NoDHCPv6 = true
	}

	p.resolvConf()

	if c.PastaIfname == "" {
		switch {
		case c.IP4.Ifname != "":
			c.PastaIfname = c.IP4.Ifname
		case c.IP6.Ifname != "":
			c.PastaIfname = c.IP6.Ifname
		}
	}
	return p.defaultPorts()
}

// credentials resolves --runas, or the switch from root to nobody.
func (p *parser) credentials() error {
	c := p.c
	if c.Runas != "" {
		uid, gid, ok := lookupRunas(c.Runas)
		if !ok {
			return die("Invalid --runas option: %s", c.Runas)
		}
		c.UID, c.GID = uid, gid
		return nil
	}
	c.UID, c.GID = p.env.Geteuid(), p.env.Getegid()
	if c.UID != 0 || !p.env.InitUserNS() {
		return nil
	}
	p.warn("Started as root, will change to nobody.")
	c.SwitchToNobody = true
	c.UID, c.GID = 65534, 65534
	if u, err := user.Lookup("nobody"); err == nil {
		if uid, err := strconv.Atoi(u.Uid); err == nil {
			c.UID = uid
		}
		if gid, err := strconv.Atoi(u.Gid); err == nil {
			c.GID = gid
		}
	}
	return nil
}

// lookupRunas parses UID|UID:GID|LOGIN|LOGIN:GROUP.
func lookupRunas(s string) (uid, gid int, ok bool) {
	us, gs, hasGroup := strings.Cut(s, ":")
	if n, ok := parseCLong(us); ok && n >= 0 && n <= math.MaxUint32 {
		uid, gid = int(n), int(n)
	} else {
		u, err := user.Lookup(us)
		if err != nil {
			return 0, 0, false
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		if uid == 0 {
			return 0, 0, false
		}
	}
	if !hasGroup {
		return uid, gid, true
	}
	if n, ok := parseCLong(gs); ok && n >= 0 && n <= math.MaxUint32 {
		return uid, int(n), true
	}
	g, err := user.LookupGroup(gs)
	if err != nil {
		return 0, 0, false
	}
	gid, _ = strconv.Atoi(g.Gid)
	return uid, gid, true
}

// discover fills in each family from the host, or sets local mode.
func (p *parser) discover() error {
	c := p.c
	want4 := !c.IPv6Only && !c.SpliceOnly
	want6 := !c.IPv4Only && !c.SpliceOnly
	var host *hostinfo.Host
	if (want4 || want6) && p.env.Discover != nil {
		req := hostinfo.Request{
			Ifname: p.ifname, OutIf4: c.IP4.IfnameOut, OutIf6: c.IP6.IfnameOut,
			Disable4: !want4, Disable6: !want6,
		}
		if c.IP4.AddrFixed {
			req.Addr4 = c.IP4.Addr
		}
		if c.IP6.AddrFixed {
			req.Addr6 = c.IP6.Addr
		}
		if c.IP4.GatewayFixed {
			req.Gateway4 = c.IP4.Gateway
		}
		if c.IP6.GatewayFixed {
			req.Gateway6 = c.IP6.Gateway
		}
		h, err := p.env.Discover(req)
		if err != nil {
			var ex *Exit
			if errors.As(err, &ex) {
				return ex
			}
			return die("%s", err.Error())
		}
		host = h
		for _, w := range h.Warnings {
			p.warn("%s", w)
		}
	}
	if host != nil && want4 {
		p.family4(&host.V4)
	}
	if host != nil && want6 {
		p.family6(&host.V6)
	}

	if c.IP4.Enabled && c.MTU != 0 && c.MTU < 68 {
		p.warn("MTU %d is too small for IPv4 (minimum 68)", c.MTU)
	}
	if c.IP6.Enabled && c.MTU != 0 && c.MTU < 1280 {
		p.warn("MTU %d is too small for IPv6 (minimum 1280)", c.MTU)
	}
	if (c.IP4.IfnameOut != "" && !c.IP4.Enabled) || (c.IP6.IfnameOut != "" && !c.IP6.Enabled) {
		return die("External interface not usable")
	}
	if !c.IP4.Enabled && !c.IP6.Enabled && c.PastaIfname == "" {
		c.PastaIfname = DefaultPastaIfname
	}
	if !c.IP4.Enabled && !c.IPv6Only {
		if !c.SpliceOnly {
			p.info("IPv4: no external interface as template, use local mode")
			f := &c.IP4
			if !f.AddrFixed {
				f.Addr, f.PrefixLen = LocalGuest4.Addr(), LocalGuest4.Bits()
			}
			if !f.GatewayFixed {
				f.Gateway = LocalGateway4
			}
			f.OurAddr = f.Gateway
			f.NoCopyAddrs, f.NoCopyRoutes = true, true
		}
		c.IP4.Enabled, c.IP4.Local = true, true
	}
	if !c.IP6.Enabled && !c.IPv4Only {
		if !c.SpliceOnly {
			p.info("IPv6: no external interface as template, use local mode")
			f := &c.IP6
			if !f.GatewayFixed {
				f.Gateway = LocalGateway6
			}
			f.OurAddr = LocalGateway6
			f.NoCopyAddrs, f.NoCopyRoutes = true, true
		}
		c.IP6.Enabled, c.IP6.Local = true, true
	}
	return nil
}

// family4 applies IPv4 discovery results (upstream's conf_ip4).
func (p *parser) family4(t *hostinfo.Template) {
	f := &p.c.IP4
	if t.Ifindex == 0 {
		p.debug("Failed to detect external interface for IPv4")
		return
	}
	if !f.GatewayFixed {
		f.Gateway = t.Gateway
	}
	if !f.AddrFixed {
		if !t.Addr.IsValid() {
			p.debug("Couldn't discover IPv4 address")
			return
		}
		f.Addr = t.Addr.Addr()
		if p.prefixFromOpt == 0 {
			f.PrefixLen = t.Addr.Bits()
		}
	}
	if f.PrefixLen == 0 && p.prefixFromOpt == 0 {
		f.PrefixLen = classfulPrefix(f.Addr)
	}
	f.OurAddr = f.Gateway
	f.Ifname, f.Ifindex, f.Enabled = t.Ifname, t.Ifindex, true
}

// family6 applies IPv6 discovery results (upstream's conf_ip6).
func (p *parser) family6(t *hostinfo.Template) {
	f := &p.c.IP6
	if t.Ifindex == 0 {
		p.debug("Failed to detect external interface for IPv6")
		return
	}
	if !f.GatewayFixed {
		f.Gateway = t.Gateway
	}
	if !f.AddrFixed && t.Addr.IsValid() {
		f.Addr = t.Addr.Addr()
		f.PrefixLen = t.Addr.Bits()
	}
	f.OurAddr = t.LinkLocal
	if f.Gateway.IsValid() && f.Gateway.IsLinkLocalUnicast() {
		f.OurAddr = f.Gateway
	}
	if !f.Addr.IsValid() || !f.OurAddr.IsValid() {
		p.debug("Couldn't discover IPv6 address")
		return
	}
	f.Ifname, f.Ifindex, f.Enabled = t.Ifname, t.Ifindex, true
}

// fwdContext is what the port-spec parser needs to know.
func (p *parser) fwdContext() fwd.Context {
	c := p.c
	first, last, warning := fwd.EphemeralRange(p.env.EphemeralRange)
	if warning != "" {
		p.warn("%s", warning)
	}
	return fwd.Context{
		Pasta:          c.Mode == ModePasta,
		IPv4:           c.IP4.Enabled,
		IPv6:           c.IP6.Enabled,
		EphemeralFirst: first,
		EphemeralLast:  last,
		TCPEnabled:     !c.NoTCP,
		UDPEnabled:     !c.NoUDP,
		NoBindToDevice: !p.env.BindToDevice,
		Warn:           func(msg string) { p.warn("%s", msg) },
	}
}

// ports is the second pass over the port options, in command-line order.
func (p *parser) ports() error {
	if len(p.portOpts) == 0 && p.c.Mode != ModePasta {
		return nil
	}
	ctx := p.fwdContext()
	p.ctx = &ctx
	for _, o := range p.portOpts {
		if err := p.portSpec(rune(o.Val), o.Arg); err != nil {
			return err
		}
		p.c.PortSpecs = append(p.c.PortSpecs, PortSpec{Opt: rune(o.Val), Spec: o.Arg})
	}
	p.c.ExplicitRules = len(p.c.Inbound.Rules)+len(p.c.Outbound.Rules) > 0
	return nil
}

// portSpec adds the rules of one -t/-u/-T/-U option.
func (p *parser) portSpec(opt rune, spec string) error {
	table := &p.c.Inbound
	switch opt {
	case 't':
		p.optT = true
	case 'u':
		p.optU = true
	case 'T':
		p.optTns, table = true, &p.c.Outbound
	case 'U':
		p.optUns, table = true, &p.c.Outbound
	}
	if err := table.Parse("-"+string(opt), spec, *p.ctx); err != nil {
		var fe *fwd.Error
		if errors.As(err, &fe) {
			for _, w := range fe.Warnings {
				p.warn("%s", w)
			}
			return die("%s", fe.Msg)
		}
		return die("%s", err.Error())
	}
	return nil
}

// defaultPorts gives pasta's "auto" default to every port option not used.
func (p *parser) defaultPorts() error {
	if p.c.Mode != ModePasta {
		return nil
	}
	for _, d := range []struct {
		given bool
		opt   rune
	}{{p.optT, 't'}, {p.optTns, 'T'}, {p.optU, 'u'}, {p.optUns, 'U'}} {
		if d.given {
			continue
		}
		if (d.opt == 't' || d.opt == 'T') && p.c.NoTCP {
			continue
		}
		if (d.opt == 'u' || d.opt == 'U') && p.c.NoUDP {
			continue
		}
		if err := p.portSpec(d.opt, "auto"); err != nil {
			return err
		}
	}
	return nil
}

// resolvConf fills resolvers and the search list from resolv.conf where the
// options left them open (contract §6.9).
func (p *parser) resolvConf() {
	c := p.c
	dns4Set := !c.IP4.Enabled || len(c.IP4.DNS) > 0
	dns6Set := !c.IP6.Enabled || len(c.IP6.DNS) > 0
	searchSet := len(c.Search) > 0 || c.NoDNSSearch
	dnsSet := (dns4Set && dns6Set) || c.NoDNS
	if dnsSet && searchSet {
		return
	}
	r, err := hostinfo.ReadResolvConf(p.env.ResolvConf)
	if err != nil && !os.IsNotExist(err) {
		p.warn("Error reading %s: %s", p.env.ResolvConf, errno.Text(err))
	}
	added := 0
	if !dnsSet {
		if !dns4Set {
			added += resolvers(&c.IP4, r.Nameservers4)
		}
		if !dns6Set {
			added += resolvers(&c.IP6, r.Nameservers6)
		}
	}
	if !searchSet {
		for _, s := range r.Search {
			if len(c.Search) < MaxSearch-1 {
				c.Search = append(c.Search, s)
			}
		}
	}
	if dnsSet {
		return
	}
	if added == 0 {
		p.warn("Couldn't get any nameserver address")
	}
	if c.NoDHCPDNS {
		return
	}
	if c.IP4.Enabled && !c.NoDHCP && len(c.IP4.DNS) == 0 {
		p.warn("No IPv4 nameserver available for DHCP")
	}
	if c.IP6.Enabled && ((!c.NoNDP && !c.NoRA) || !c.NoDHCPv6) && len(c.IP6.DNS) == 0 {
		p.warn("No IPv6 nameserver available for NDP/DHCPv6")
	}
}

// resolvers adds the host's resolvers of one family, with the rules for
// loopback resolvers and for a gateway that is also a resolver. It returns
// how many were added.
func resolvers(f *Family, servers []netip.Addr) int {
	added := 0
	for _, ns := range servers {
		if !f.DNSHost.IsValid() {
			f.DNSHost = ns
		}
		if ns.IsLoopback() || (f.MapHostLoopback.IsValid() && ns == f.MapHostLoopback) {
			if !f.DNSMatch.IsValid() {
				if !f.MapHostLoopback.IsValid() {
					continue // unreachable from the guest
				}
				ns = f.MapHostLoopback
				f.DNSMatch = f.MapHostLoopback
			} else {
				ns = f.DNSMatch
			}
		}
		if len(f.DNS) < MaxDNS {
			f.DNS = append(f.DNS, ns)
			added++
		}
	}
	return added
}
