// SPDX-License-Identifier: GPL-2.0-or-later

package fwd

import (
	"fmt"
	"net/netip"
	"strings"
)

// Context is what the parser needs to know from the rest of the
// configuration.
type Context struct {
	// Pasta: pasta mode. "auto" is only allowed for pasta.
	Pasta bool
	// IPv4, IPv6: active address families. With both, "*" and an empty
	// LISTEN mean the dual-stack wildcard.
	IPv4, IPv6 bool
	// EphemeralFirst, EphemeralLast: the host's ephemeral port range,
	// left out of "all"/"auto"/exclusion-only specs (see EphemeralRange).
	// EphemeralFirst > EphemeralLast means an empty range.
	EphemeralFirst, EphemeralLast uint16
	// TCPEnabled, UDPEnabled: false after --no-tcp / --no-udp.
	TCPEnabled, UDPEnabled bool
	// NoBindToDevice: SO_BINDTODEVICE is unusable (kernel < 5.7). Then
	// %IFNAME is an error, and -T/-U listen on 127.0.0.1 and ::1.
	NoBindToDevice bool
	// Warn, if not nil, receives non-fatal warnings.
	Warn func(msg string)
}

func (ctx *Context) warn(format string, args ...any) {
	if ctx.Warn != nil {
		ctx.Warn(fmt.Sprintf(format, args...))
	}
}

// Table holds the rules of one direction, for both protocols.
type Table struct {
	// Dir is the direction of the rules. The first successful Parse call
	// on a table sets it from its option; later calls must agree.
	Dir   Direction
	Rules []Rule

	used bool
}

// Option parses an option name, "-t", "-u", "-T", "-U" (also without the
// dash, or as the long names --tcp-ports, --udp-ports, --tcp-ns,
// --udp-ns), into its protocol, direction and short letter.
func Option(opt string) (Proto, Direction, byte, bool) {
	switch opt {
	case "-t", "t", "--tcp-ports", "tcp-ports":
		return TCP, Inbound, 't', true
	case "-u", "u", "--udp-ports", "udp-ports":
		return UDP, Inbound, 'u', true
	case "-T", "T", "--tcp-ns", "tcp-ns":
		return TCP, Outbound, 'T', true
	case "-U", "U", "--udp-ns", "udp-ns":
		return UDP, Outbound, 'U', true
	}
	return 0, 0, 0, false
}

// Parse adds the rules described by spec, given as argument of option opt
// ("-t", "-u", "-T" or "-U", see Option), to t. On error, t is unchanged
// and the error is an *Error carrying upstream's messages.
func (t *Table) Parse(opt string, spec string, ctx Context) error {
	proto, dir, letter, ok := Option(opt)
	if !ok {
		return fatalf("fwd: unknown forwarding option %q", opt)
	}
	if t.used && t.Dir != dir {
		return fatalf("fwd: -%c rules can't be added to the %s table", letter, t.Dir)
	}

	if spec == "none" {
		for _, r := range t.Rules {
			if r.Proto == proto {
				return fatalf("-%c none conflicts with previous options", letter)
			}
		}
		t.commit(dir, nil)
		return nil
	}

	addr, ifname, rest, hasListen := parseListen(spec)
	if hasListen {
		if dir == Outbound {
			return fatalf("Listening address not allowed for -%c %s", letter, spec)
		}
		if ifname == "." || ifname == ".." {
			return fatalf("Invalid interface name: %s", ifname)
		}
	} else {
		addr, ifname, rest = netip.Addr{}, "", spec
	}
	p := &parser{t: t, ctx: &ctx, proto: proto, chunks: rest}

	if dir == Outbound {
		if ctx.NoBindToDevice {
			ctx.warn("SO_BINDTODEVICE unavailable, forwarding only 127.0.0.1 and ::1 for '-%c %s'",
				letter, spec)
			if ctx.IPv4 {
				if err := p.ports(netip.AddrFrom4([4]byte{127, 0, 0, 1}), "", rest); err != nil {
					return err
				}
			}
			if ctx.IPv6 {
				if err := p.ports(netip.IPv6Loopback(), "", rest); err != nil {
					return err
				}
			}
			t.commit(dir, p.pending)
			return nil
		}
		ifname = "lo"
	}

	// No dual stack wildcard with a single family.
	if !addr.IsValid() && !ctx.IPv4 {
		addr = netip.IPv6Unspecified()
	} else if !addr.IsValid() && !ctx.IPv6 {
		addr = netip.IPv4Unspecified()
	}

	if ifname != "" && ctx.NoBindToDevice {
		return fatalf("Device binding for '-%c %s' unsupported (requires kernel 5.7+)", letter, spec)
	}

	if err := p.ports(addr, ifname, rest); err != nil {
		return err
	}
	t.commit(dir, p.pending)
	return nil
}

func (t *Table) commit(dir Direction, rules []Rule) {
	t.Dir, t.used = dir, true
	t.Rules = append(t.Rules, rules...)
}

// Add validates r against ctx and the rules already in t, and appends it.
// Errors are *Error values ending with "Unable to add rule <r>".
func (t *Table) Add(r Rule, ctx Context) error {
	if err := t.check(nil, r, &ctx); err != nil {
		return err
	}
	t.commit(t.Dir, []Rule{r})
	return nil
}

// Sockets returns the number of listening sockets the rules need (one per
// port per rule).
func (t *Table) Sockets() int {
	n := 0
	for _, r := range t.Rules {
		n += r.Ports()
	}
	return n
}

// Search returns the index of the first rule matching a connection or
// datagram of protocol proto to addr and port, or -1.
func (t *Table) Search(proto Proto, addr netip.Addr, port uint16) int {
	for i, r := range t.Rules {
		if r.Matches(proto, addr, port) {
			return i
		}
	}
	return -1
}

// HasProto reports whether t has rules for proto.
func (t *Table) HasProto(proto Proto) bool {
	for _, r := range t.Rules {
		if r.Proto == proto {
			return true
		}
	}
	return false
}

// Lines returns the start-up dump of the table: the header, then one line
// per rule.
func (t *Table) Lines() []string {
	l := []string{t.Dir.Header()}
	for _, r := range t.Rules {
		l = append(l, "    "+r.String())
	}
	return l
}

// check validates r for addition to t after the rules in pending.
func (t *Table) check(pending []Rule, r Rule, ctx *Context) error {
	fail := func(format string, args ...any) error {
		return &Error{
			Warnings: strings.Split(fmt.Sprintf(format, args...), "\n"),
			Msg:      "Unable to add rule " + r.String(),
		}
	}
	if r.First > r.Last {
		return fail("Rule has invalid port range %d-%d", r.First, r.Last)
	}
	if r.First == 0 {
		return fail("Forwarding rule attempts to map from port 0")
	}
	if r.ToFirst == 0 || r.ToFirst+(r.Last-r.First) < r.ToFirst {
		return fail("Forwarding rule attempts to map to port 0")
	}
	if r.Addr.Is4In6() || r.Target.Is4In6() || r.Addr.Zone() != "" || r.Target.Zone() != "" {
		return fail("Rule has non-canonical address")
	}
	if !r.Addr.IsValid() {
		if !ctx.IPv4 {
			return fail("Dual stack forward, but IPv4 not enabled")
		}
		if !ctx.IPv6 {
			return fail("Dual stack forward, but IPv6 not enabled")
		}
	} else if r.Addr.Is4() && !ctx.IPv4 {
		return fail("IPv4 forward, but IPv4 not enabled")
	} else if r.Addr.Is6() && !ctx.IPv6 {
		return fail("IPv6 forward, but IPv6 not enabled")
	}
	switch r.Proto {
	case TCP:
		if !ctx.TCPEnabled {
			return fail("Can't add TCP forwarding rule, TCP not enabled")
		}
	case UDP:
		if !ctx.UDPEnabled {
			return fail("Can't add UDP forwarding rule, UDP not enabled")
		}
	default:
		return fail("Unsupported protocol %d (%s) for forwarding rule", uint8(r.Proto), r.Proto)
	}
	if r.Target.IsValid() && !r.Target.IsUnspecified() {
		tfam := family(r.Target)
		if r.Target.IsMulticast() {
			return fail("Multicast target address %s for forwarding rule", addrString(r.Target))
		}
		if !r.Addr.IsValid() {
			hint := "0.0.0.0"
			if r.Target.Is6() {
				hint = "[::]"
			}
			return fail("Dual stack forward to %s address %s unsupported\nDid you mean %s/... instead?",
				tfam, addrString(r.Target), hint)
		}
		if r.Addr.Is4() != r.Target.Is4() {
			return fail("Forward from %s (%s) to %s (%s) unsupported",
				family(r.Addr), addrString(r.Addr), tfam, addrString(r.Target))
		}
	}
	for _, lists := range [][]Rule{t.Rules, pending} {
		for _, o := range lists {
			if conflicts(r, o) {
				return fail("Forwarding configuration conflict: %s versus %s", r, o)
			}
		}
	}
	if len(t.Rules)+len(pending) >= MaxRules {
		return fail("Too many rules (maximum %d)", MaxRules)
	}
	socks := t.Sockets() + r.Ports()
	for _, o := range pending {
		socks += o.Ports()
	}
	if socks > MaxListenSockets {
		return fail("Rules require too many listening sockets (maximum %d)", MaxListenSockets)
	}
	return nil
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

func conflicts(a, b Rule) bool {
	return a.Proto == b.Proto && addrsMatch(a.Addr, b.Addr) &&
		a.First <= b.Last && b.First <= a.Last
}

// parser holds the state of one Parse call.
type parser struct {
	t       *Table
	ctx     *Context
	proto   Proto
	chunks  string // CHUNKS part of the option argument, for messages
	pending []Rule
}

type chunkKind uint8

const (
	chunkAll chunkKind = iota
	chunkAuto
	chunkExclude
	chunkInclude
)

// chunk is one parsed CHUNK.
type chunk struct {
	kind          chunkKind
	first, last   uint16     // listening range (include, exclude)
	taddr         netip.Addr // target address (include, all); zero if none
	tfirst, tlast uint16     // target range (include)
}

// ports parses CHUNKS (s) and adds the resulting rules, listening on addr
// (zero: dual-stack) and ifname, to p.pending.
func (p *parser) ports(addr netip.Addr, ifname, s string) error {
	invalid := func() error { return fatalf("Invalid port specifier '%s'", p.chunks) }

	// Chunks are read while separated by ","; the first one that
	// doesn't parse is an error, a character other than "," after a
	// chunk ends the list (and is checked as trailing garbage later).
	var chunks []chunk
	var exclude [65536 / 64]uint64
	scan := false
	for {
		c, n, ok := parseChunk(s)
		if !ok {
			return invalid()
		}
		s = s[n:]
		switch c.kind {
		case chunkAuto:
			if !p.ctx.Pasta {
				return fatalf("'auto' port forwarding is only allowed for pasta")
			}
			scan = true
		case chunkExclude:
			for i := int(c.first); i <= int(c.last); i++ {
				exclude[i/64] |= 1 << (i % 64)
			}
		}
		chunks = append(chunks, c)
		if !strings.HasPrefix(s, ",") {
			break
		}
		s = s[1:]
	}

	var allTarget netip.Addr
	includes := false
	for _, c := range chunks {
		switch c.kind {
		case chunkAll:
			allTarget = c.taddr
		case chunkInclude:
			includes = true
			if c.tlast-c.tfirst != c.last-c.first {
				return invalid()
			}
			err := p.rangeExcept(addr, ifname, c.first, c.last, &exclude, c.taddr, c.tfirst, false, scan)
			if err != nil {
				return err
			}
		}
	}
	if s != "" {
		return invalid()
	}
	if !includes {
		ef, el := int(p.ctx.EphemeralFirst), int(p.ctx.EphemeralLast)
		for i := ef; i <= el; i++ {
			exclude[i/64] |= 1 << (i % 64)
		}
		return p.rangeExcept(addr, ifname, 1, 65535, &exclude, allTarget, 1, true, scan)
	}
	return nil
}

// rangeExcept adds rules for first..last minus the ports set in exclude,
// one rule per contiguous run, target ports shifted like tfirst is from
// first.
func (p *parser) rangeExcept(addr netip.Addr, ifname string, first, last uint16,
	exclude *[1024]uint64, taddr netip.Addr, tfirst uint16, weak, scan bool) error {
	excluded := func(i int) bool { return exclude[i/64]&(1<<(i%64)) != 0 }
	delta := tfirst - first
	for base := int(first); base <= int(last); base++ {
		if excluded(base) {
			continue
		}
		end := base
		for end < int(last) && !excluded(end+1) {
			end++
		}
		r := Rule{
			Proto:      p.proto,
			Addr:       addr,
			Ifname:     ifname,
			First:      uint16(base),
			Last:       uint16(end),
			ToFirst:    uint16(base) + delta,
			Target:     taddr,
			BestEffort: weak,
			Scan:       scan,
		}
		if err := p.t.check(p.pending, r, p.ctx); err != nil {
			return err
		}
		p.pending = append(p.pending, r)
		base = end
	}
	return nil
}

// parseChunk parses one CHUNK at the start of s, returning it and the
// number of bytes used.
func parseChunk(s string) (chunk, int, bool) {
	var c chunk
	switch {
	case strings.HasPrefix(s, "all"):
		c.kind = chunkAll
		n := 3
		if a, m, ok := parseTarget(s[n:]); ok {
			c.taddr = a
			n += m
		}
		return c, n, true
	case strings.HasPrefix(s, "auto"):
		c.kind = chunkAuto
		return c, 4, true
	case strings.HasPrefix(s, "~"):
		c.kind = chunkExclude
		f, l, n, ok := parseRange(s[1:])
		if !ok {
			return c, 0, false
		}
		c.first, c.last = f, l
		return c, 1 + n, true
	}

	f, l, n, ok := parseRange(s)
	if !ok {
		return c, 0, false
	}
	c.kind, c.first, c.last = chunkInclude, f, l
	c.tfirst, c.tlast = f, l
	rest := s[n:]

	// ":TADDR/TRANGE"
	if a, m, ok := parseTarget(rest); ok && strings.HasPrefix(rest[m:], "/") {
		if tf, tl, k, ok := parseRange(rest[m+1:]); ok {
			c.taddr, c.tfirst, c.tlast = a, tf, tl
			return c, n + m + 1 + k, true
		}
	}
	// ":TADDR"
	if a, m, ok := parseTarget(rest); ok {
		c.taddr = a
		return c, n + m, true
	}
	// ":TRANGE"
	if strings.HasPrefix(rest, ":") {
		if tf, tl, k, ok := parseRange(rest[1:]); ok {
			c.tfirst, c.tlast = tf, tl
			return c, n + 1 + k, true
		}
	}
	return c, n, true
}

// parseTarget parses ":ADDR" at the start of s. An unspecified address
// (0.0.0.0, ::) means no target address and is returned as the zero Addr.
func parseTarget(s string) (netip.Addr, int, bool) {
	if !strings.HasPrefix(s, ":") {
		return netip.Addr{}, 0, false
	}
	a, n, ok := parseAddr(s[1:])
	if !ok {
		return netip.Addr{}, 0, false
	}
	if a.IsUnspecified() {
		a = netip.Addr{}
	}
	return a, 1 + n, true
}

// parseRange parses PORT["-"PORT] at the start of s.
func parseRange(s string) (first, last uint16, n int, ok bool) {
	f, n, ok := parsePort(s)
	if !ok {
		return 0, 0, 0, false
	}
	l := f
	if strings.HasPrefix(s[n:], "-") {
		var m int
		l, m, ok = parsePort(s[n+1:])
		if !ok {
			return 0, 0, 0, false
		}
		n += 1 + m
	}
	if l < f || l > 65535 {
		return 0, 0, 0, false
	}
	return uint16(f), uint16(l), n, true
}

// parsePort parses a decimal number at the start of s the way strtoul(3)
// does (optional leading whitespace, optional sign, digits; a negated
// non-zero value is huge); values above 65535 are returned as 65536.
func parsePort(s string) (uint32, int, bool) {
	n := 0
	for n < len(s) && strings.IndexByte(" \t\n\v\f\r", s[n]) >= 0 {
		n++
	}
	neg := false
	if n < len(s) && (s[n] == '+' || s[n] == '-') {
		neg = s[n] == '-'
		n++
	}
	start := n
	var v uint32
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		v = v*10 + uint32(s[n]-'0')
		if v > 65535 {
			v = 65536
		}
		n++
	}
	if n == start {
		return 0, 0, false
	}
	if neg && v != 0 {
		v = 65536
	}
	return v, n, true
}

// parseAddr parses an IPv4 or IPv6 address, optionally in brackets, at the
// start of s. IPv4-mapped addresses are returned as IPv4 ones.
func parseAddr(s string) (netip.Addr, int, bool) {
	if a, n, ok := parseAddrFamily(s, true); ok {
		return a.Unmap(), n, true
	}
	return parseAddrFamily(s, false)
}

const (
	inet6AddrStrLen = 46
	inetAddrStrLen  = 16
)

func parseAddrFamily(s string, v6 bool) (netip.Addr, int, bool) {
	n := 0
	bracket := strings.HasPrefix(s, "[")
	if bracket {
		n = 1
	}
	var text string
	if bracket {
		i := strings.IndexByte(s[n:], ']')
		if i < 0 {
			i = len(s) - n
		}
		text = s[n : n+i]
	} else {
		i := n
		for i < len(s) && isAddrChar(s[i], v6) {
			i++
		}
		text = s[n:i]
	}
	max := inetAddrStrLen
	if v6 {
		max = inet6AddrStrLen
	}
	if len(text) >= max || strings.ContainsAny(text, "%") {
		return netip.Addr{}, 0, false
	}
	a, err := netip.ParseAddr(text)
	if err != nil || a.Is6() != v6 {
		return netip.Addr{}, 0, false
	}
	n += len(text)
	if bracket {
		if !strings.HasPrefix(s[n:], "]") {
			return netip.Addr{}, 0, false
		}
		n++
	}
	return a, n, true
}

func isAddrChar(c byte, v6 bool) bool {
	switch {
	case c >= '0' && c <= '9', c == '.':
		return true
	case v6 && (c == ':' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')):
		return true
	}
	return false
}

// parseListen parses "[ADDR|*][%IFNAME]/" at the start of spec. addr is the
// zero Addr for "*" or no address.
func parseListen(spec string) (addr netip.Addr, ifname, rest string, ok bool) {
	if a, n, ok := parseAddr(spec); ok {
		if ifn, m, ok := parseIfspec(spec[n:]); ok && strings.HasPrefix(spec[n+m:], "/") {
			return a, ifn, spec[n+m+1:], true
		}
	}
	n := 0
	if strings.HasPrefix(spec, "*") {
		n = 1
	}
	if ifn, m, ok := parseIfspec(spec[n:]); ok && strings.HasPrefix(spec[n+m:], "/") {
		return netip.Addr{}, ifn, spec[n+m+1:], true
	}
	return netip.Addr{}, "", spec, false
}

// parseIfspec parses an optional "%IFNAME" at the start of s.
func parseIfspec(s string) (string, int, bool) {
	if !strings.HasPrefix(s, "%") {
		return "", 0, true
	}
	i := strings.IndexAny(s[1:], "/ \f\n\r\t\v")
	if i < 0 {
		i = len(s) - 1
	}
	if i == 0 || i >= 16 {
		return "", 0, false
	}
	return s[1 : 1+i], 1 + i, true
}
