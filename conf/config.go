// SPDX-License-Identifier: GPL-2.0-or-later

// Package conf turns passt's and pasta's command line into a Config: it
// parses the options with a getopt_long-compatible parser, validates each one
// as upstream does (same messages, same "last wins" or additive semantics),
// discovers what the options leave open from the host (template interface,
// addresses, gateway, resolvers), applies the implied settings, and parses
// the port-forwarding specifications into rule tables.
//
// Theory of operation. Parsing runs in the order upstream does, because that
// order is observable:
//
//  1. The mode comes first, from a pre-scan for --vhost-user and then from
//     argv[0] (ModeFromArgs).
//  2. One pass over the options applies everything but the port specs, left
//     to right. --version, --help and --print-capabilities act where they are
//     reached, so options before them are already validated; getopt errors
//     and validation failures end parsing with an *Exit carrying the message
//     and status 1.
//  3. Host discovery (package hostinfo) fills in, per IP family, what -a, -g
//     and -i did not fix; a family without a usable template falls back to
//     local mode. Gateway mapping, DHCP and NDP switches follow from it.
//  4. A second pass parses -t/-u/-T/-U (package fwd), now that the active
//     families are known; pasta defaults every one of them that was not given
//     to "auto".
//  5. Positional arguments (pasta's PID or command), resolv.conf (resolvers
//     and search list, with the loopback-resolver rules), and the remaining
//     implications.
//
// Nothing here opens files, binds sockets or changes credentials: the
// launcher does that with the Config in hand. Messages that upstream prints
// while parsing (warnings, informational lines) are collected in order in
// Config.Messages for the caller to log.
package conf

import (
	"net/netip"

	"passt/fwd"
)

// Mode is the operating mode.
type Mode int

// The modes: passt (QEMU socket), pasta (namespace with a tap device), and
// passt speaking vhost-user.
const (
	ModePasst Mode = iota
	ModePasta
	ModeVhostUser
)

func (m Mode) String() string {
	switch m {
	case ModePasta:
		return "pasta"
	case ModeVhostUser:
		return "vhost-user"
	}
	return "passt"
}

// Name is the program name used in messages, the log header and --version.
func (m Mode) Name() string {
	if m == ModePasta {
		return "pasta"
	}
	return "passt"
}

// Defaults and limits.
const (
	// MaxMTU is the largest MTU: 65535 (largest tap or stream frame) minus
	// the 14-byte Ethernet header.
	MaxMTU = 65535 - 14
	// DefaultMTU is MaxMTU rounded down to a multiple of four.
	DefaultMTU = MaxMTU &^ 3
	// DefaultLogSize is the log file cap without --log-size.
	DefaultLogSize = 1 << 20
	// MinLogSize is the smallest --log-size accepted.
	MinLogSize = 40960
	// MaxDNS is the number of resolvers kept per family.
	MaxDNS = 3
	// MaxSearch is the number of search domains kept.
	MaxSearch = 6
	// maxDomainName is the longest hostname, FQDN or search domain.
	maxDomainName = 253
	// ifNameMax is the longest interface name (IFNAMSIZ - 1).
	ifNameMax = 15
	// pathMax is PATH_MAX - 1.
	pathMax = 4095
	// unixPathMax is the longest UNIX socket path (sun_path - 1).
	unixPathMax = 107
	// DefaultPastaIfname is the tap name when no template interface exists.
	DefaultPastaIfname = "tap0"
	// NetnsRunDir is where named network namespaces live.
	NetnsRunDir = "/run/netns"
)

// DefaultMAC is our own MAC address unless -M gives one: locally administered.
var DefaultMAC = [6]byte{0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55}

// Local-mode addresses (contract §6.5).
var (
	LocalGuest4   = netip.MustParsePrefix("169.254.2.1/16")
	LocalGateway4 = netip.MustParseAddr("169.254.2.2")
	LocalGateway6 = netip.MustParseAddr("fe80::1")
)

// Family is the configuration of one IP family.
type Family struct {
	// Enabled: the family is in use (a template interface, or local mode).
	Enabled bool
	// Local: no usable template interface; local-mode addresses are used.
	Local bool
	// Ifname, Ifindex: the template interface (empty, 0 in local mode).
	Ifname  string
	Ifindex int
	// Addr is the guest's assigned address; PrefixLen its prefix length
	// (IPv6 uses /64 in RAs whatever this says). AddrFixed: given with -a.
	Addr      netip.Addr
	PrefixLen int
	AddrFixed bool
	// Gateway is the gateway announced to the guest. GatewayFixed: -g.
	Gateway      netip.Addr
	GatewayFixed bool
	// OurAddr is our own address on the link: IPv4, the gateway (DHCP
	// server identifier, ARP); IPv6, our link-local address (RA, NA source).
	OurAddr netip.Addr
	// MapHostLoopback: guest traffic to this address reaches host loopback.
	MapHostLoopback netip.Addr
	// MapGuestAddr: guest traffic to this address reaches Addr on the host.
	MapGuestAddr netip.Addr
	// DNSMatch is the --dns-forward address; DNSHost where it goes.
	DNSMatch netip.Addr
	DNSHost  netip.Addr
	// DNS are the resolvers advertised to the guest.
	DNS []netip.Addr
	// AddrOut (-o) and IfnameOut (--outbound-ifN) bind outbound sockets.
	AddrOut   netip.Addr
	IfnameOut string
	// NoCopyAddrs, NoCopyRoutes: pasta --config-net sets one address or
	// one default route instead of copying the template's.
	NoCopyAddrs  bool
	NoCopyRoutes bool
}

// Config is the complete configuration.
type Config struct {
	Mode Mode
	// Prog is argv[0] exactly as invoked; Args the whole argument vector.
	Prog string
	Args []string

	Foreground bool
	Quiet      bool
	Debug      bool
	Trace      bool
	LogFile    string
	LogSize    int64
	Stats      int
	PIDFile    string
	Pcap       string

	// Runas was given; UID and GID are the credentials to run with.
	// SwitchToNobody: started as root in the initial user namespace.
	Runas          string
	UID, GID       int
	SwitchToNobody bool

	// passt and vhost-user.
	SocketPath      string
	FD              int // -1: none
	OneOff          bool
	RepairPath      string
	MigrateExit     bool
	MigrateNoLinger bool
	PrintCaps       bool

	ConfPath       string
	ChrootFallback bool

	MTU      int
	OurMAC   [6]byte
	GuestMAC [6]byte
	// GuestMACSet: --ns-mac-addr was given.
	GuestMACSet bool
	Hostname    string
	FQDN        string

	IP4, IP6 Family

	Search       []string
	NoDNS        bool
	NoDNSSearch  bool
	NoDHCPDNS    bool
	NoDHCPSearch bool

	NoTCP, NoUDP, NoICMP           bool
	NoDHCP, NoDHCPv6, NoNDP, NoRA  bool
	NoSplice, SpliceOnly, Freebind bool
	NoMapGW, HostLoToNsLo          bool
	IPv4Only, IPv6Only             bool
	ExplicitIfname                 string // -i

	// pasta.
	PastaIfname string
	Userns      string
	Netns       string
	NetnsOnly   bool
	NoNetnsQuit bool
	ConfigNet   bool
	// TargetPID is the PID given as the only positional argument (0: none).
	TargetPID int
	// Command is the command to spawn (empty: the login shell), when
	// neither a PID nor --netns was given.
	Command []string

	// Forwarding rules: Inbound (-t/-u, host to guest) and Outbound
	// (-T/-U, namespace to host).
	Inbound  fwd.Table
	Outbound fwd.Table
	// ExplicitRules: some -t/-u/-T/-U option added rules (pasta's
	// implicit "auto" defaults do not count).
	ExplicitRules bool
	// PortSpecs are the port options given, in order ('t', "80").
	PortSpecs []PortSpec

	// Messages are what parsing printed, in order, for the caller to log.
	Messages []Message `json:"-"`
}

// PortSpec is one -t/-u/-T/-U option as given.
type PortSpec struct {
	Opt  rune
	Spec string
}

// Spawn reports whether pasta starts a command in new namespaces.
func (c *Config) Spawn() bool {
	return c.Mode == ModePasta && c.Netns == ""
}

// Level is the severity of a Message.
type Level int

// Message levels.
const (
	LevelWarn Level = iota
	LevelInfo
	LevelDebug
)

// Message is one line printed during configuration.
type Message struct {
	Level Level
	Text  string
}
