// SPDX-License-Identifier: GPL-2.0-or-later

// Package fwd turns the port forwarding specifications given with -t, -u,
// -T and -U into tables of forwarding rules, which later code binds
// listening sockets for and consults when a connection or datagram arrives.
//
// # Grammar
//
//	SPEC    := "none" | [ LISTEN "/" ] CHUNKS
//	LISTEN  := [ ADDR | "*" ] [ "%" IFNAME ]
//	ADDR    := IPv4 | IPv6 | "[" IPv4 "]" | "[" IPv6 "]"
//	CHUNKS  := CHUNK { "," CHUNK }
//	CHUNK   := "auto"
//	         | "all" [ ":" TADDR ]
//	         | "~" RANGE
//	         | RANGE [ ":" TADDR "/" TRANGE ]
//	         | RANGE [ ":" TADDR ]
//	         | RANGE [ ":" TRANGE ]
//	RANGE   := PORT [ "-" PORT ]          (TRANGE likewise)
//
// A PORT is a decimal number as strtoul(3) reads it, like upstream: leading
// zeros, leading whitespace and a sign are accepted ("+22", " 22"; "-0" is
// 0, any other negative number is out of range); first <= last <= 65535.
// IFNAME is 1 to 15 bytes up to the "/", with no whitespace; "." and ".."
// are rejected. As upstream, "Invalid port specifier '...'" quotes the
// CHUNKS part only, without the LISTEN part.
//
// # Tokenisation
//
// The parser is a greedy left-to-right scanner that tries alternatives in a
// fixed order, the same shape as upstream's, which settles the ambiguities of
// a grammar where "/" and ":" appear both in addresses and in chunks:
//
//   - An address is scanned as the longest run of IPv6 characters
//     ([0-9a-fA-F:.]) and accepted if that run is an IPv6 address (no zone);
//     otherwise as the longest run of [0-9.] that is a dotted-quad IPv4
//     address. A bracketed address runs up to "]". IPv4-mapped IPv6
//     addresses are treated as IPv4 ones, as upstream does.
//   - The SPEC has a LISTEN part if it starts with an address, an optional
//     %IFNAME and a "/", or with an optional "*", an optional %IFNAME and a
//     "/". So "8080:80" (not an address) has no LISTEN part, while
//     "2001:db8::1/8080-8080:80-80" (podman) listens on 2001:db8::1.
//     "80:1::1/80" is read as LISTEN "80:1::1", port 80, because that run
//     of characters is a valid IPv6 address; to mean port 80 to target
//     1::1 port 80, write "::/80:1::1/80" or "80:[1::1]/80" (a target
//     address needs a single-family LISTEN anyway).
//   - After a RANGE, the target alternatives are tried in the order of the
//     grammar: ":TADDR/TRANGE", ":TADDR", ":TRANGE"; the first that matches
//     wins. A chunk stops at the first character it cannot use; anything
//     after it but a "," followed by another chunk is trailing garbage.
//
// # Semantics
//
// Each include RANGE maps host port First+i to guest port ToFirst+i.
// Exclusions ("~RANGE") collected from the whole SPEC (order does not
// matter) are cut out of every include range, which may split one range into
// several rules ("2000-5000,~3000-3010" gives two). "auto" marks every rule
// of the SPEC as scanned (pasta only): a port is listened on only while the
// matching port is bound on the other side. If the SPEC has no include range
// at all (only "all", "auto" and exclusions), it forwards 1-65535 minus the
// exclusions and minus the host's ephemeral port range, best effort:
// individual bind failures are ignored, only binding nothing at all is an
// error. "all:TADDR" gives that catch-all rule a target address; "all" in a
// SPEC that also has include ranges is a no-op. "none" adds nothing but is
// an error once rules of its protocol are in the table ("-t 80 -t none"
// fails, "-t none -t 80" works).
//
// Every rule is validated before it is added: port 0 cannot be mapped
// from or to, the listening address family must be enabled, the protocol
// must be enabled, a target address must not be multicast, must have the
// family of the listening address and cannot be combined with a dual-stack
// listener. Two rules conflict when they have the same protocol,
// overlapping port ranges and matching listening addresses: a dual-stack
// wildcard matches everything, 0.0.0.0 matches every IPv4 address, ::
// every IPv6 one, specific addresses only themselves. The interface name
// plays no part in conflicts, as upstream. A SPEC is added atomically:
// when Parse fails the table is left as it was (upstream dies instead).
// Errors are reported in upstream's order (this was checked against
// upstream's parser on random inputs): chunks are scanned first, failing on
// a malformed chunk or on "auto" outside pasta, whichever comes first;
// then include chunks add their rules in order (a size mismatch between
// RANGE and TRANGE is an invalid specifier, a rejected rule an *Error
// ending in "Unable to add rule ..."); then trailing garbage; then the
// catch-all rule.
//
// Rule.String() is upstream's format without its trailing blank (upstream
// prints "TCP [*]:22  =>  22 " and thus "...  =>  22  versus ..." in
// conflict messages; here it is "TCP [*]:22  =>  22" and "... versus ...").
//
// -T and -U take no LISTEN part: their rules listen on any address on
// device "lo" in the namespace. Without SO_BINDTODEVICE they listen on
// 127.0.0.1 and ::1 instead (one rule each per active family).
//
// # Table layout
//
// A Table holds the rules of one direction (Inbound for -t/-u, Outbound for
// -T/-U), both protocols mixed, in the order they were given: at most
// MaxRules rules, and at most MaxListenSockets ports summed over all rules
// (one listening socket per port per rule). A Rule is a plain value: the
// listening side (protocol, address, optional device, port range), the
// target side (first port, optional address) and two flags. The
// listening address encodes the wildcard kind: the zero netip.Addr is the
// dual-stack wildcard (one IPv6 socket with IPV6_V6ONLY off, used only when
// both families are active), 0.0.0.0 and :: are the single-family
// wildcards (what "*" or an empty LISTEN becomes when only one family is
// active), anything else a specific address.
package fwd

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Proto is a transport protocol; values are IP protocol numbers.
type Proto uint8

// Protocols that can be forwarded.
const (
	TCP Proto = 6
	UDP Proto = 17
)

// String returns "TCP" or "UDP".
func (p Proto) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	}
	return "proto-" + strconv.Itoa(int(p))
}

// Direction is the side where a table's rules listen.
type Direction uint8

// Directions.
const (
	// Inbound rules (-t, -u) listen on the host and forward to the guest
	// or namespace ("HOST" interface).
	Inbound Direction = iota
	// Outbound rules (-T, -U) listen in the namespace, on "lo", and
	// forward to the host ("SPLICE" interface).
	Outbound
)

// String returns the name of the interface the rules listen on, as used in
// messages: "HOST" or "SPLICE".
func (d Direction) String() string {
	if d == Outbound {
		return "SPLICE"
	}
	return "HOST"
}

// Header returns the line printed before the rules of a table at start-up.
func (d Direction) Header() string {
	if d == Outbound {
		return "Outbound forwarding rules (SPLICE):"
	}
	return "Inbound forwarding rules (HOST):"
}

// Limits of a Table.
const (
	MaxRules         = 255       // rules per direction
	MaxListenSockets = 5 * 65536 // listening sockets (ports summed over rules) per direction
)

// Rule is one forwarding rule: listening ports First..Last of protocol
// Proto on Addr (and device Ifname if set) go to target ports
// ToFirst..ToFirst+(Last-First), on Target if that is valid.
type Rule struct {
	Proto Proto
	// Addr is the listening address: the zero Addr is the dual-stack
	// wildcard, 0.0.0.0 and :: are single-family wildcards. Never an
	// IPv4-mapped IPv6 address.
	Addr netip.Addr
	// Ifname, if not empty, is the device to bind to (SO_BINDTODEVICE).
	Ifname      string
	First, Last uint16
	ToFirst     uint16
	// Target is the destination address on the target side; the zero
	// Addr means none (the guest's, or loopback when spliced).
	Target netip.Addr
	// BestEffort: bind failures of single ports are ignored; only
	// failing to bind any port of the rule is an error.
	BestEffort bool
	// Scan: a port is only listened on while the matching port is bound
	// on the other side ("auto").
	Scan bool
}

// DualStack reports whether the rule listens on the dual-stack wildcard.
func (r Rule) DualStack() bool { return !r.Addr.IsValid() }

// Wildcard reports whether the rule listens on any address (dual-stack,
// 0.0.0.0 or ::).
func (r Rule) Wildcard() bool { return !r.Addr.IsValid() || r.Addr.IsUnspecified() }

// ToLast returns the last target port.
func (r Rule) ToLast() uint16 { return r.ToFirst + (r.Last - r.First) }

// Ports returns the number of ports of the rule.
func (r Rule) Ports() int { return int(r.Last) - int(r.First) + 1 }

// MapPort returns the target port for listening port p, which must be in
// First..Last.
func (r Rule) MapPort(p uint16) uint16 { return r.ToFirst + (p - r.First) }

// Matches reports whether a connection or datagram of protocol proto to
// addr (the zero Addr for "unknown") and port is covered by the rule.
func (r Rule) Matches(proto Proto, addr netip.Addr, port uint16) bool {
	return r.Proto == proto && port >= r.First && port <= r.Last &&
		addrsMatch(r.Addr, addr.Unmap())
}

// String formats the rule as printed at start-up, for example
// "TCP [*]:22-80  =>  32-90", "TCP [192.0.2.1]%eth0:22  =>  22",
// "TCP [0.0.0.0]:5000  =>  192.0.2.5:6000" or
// "TCP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)".
func (r Rule) String() string {
	var b strings.Builder
	b.WriteString(r.Proto.String())
	b.WriteString(" [")
	b.WriteString(addrString(r.Addr))
	b.WriteString("]")
	if r.Ifname != "" {
		b.WriteString("%")
		b.WriteString(r.Ifname)
	}
	b.WriteString(":")
	b.WriteString(portsString(r.First, r.Last))
	b.WriteString("  =>  ")
	if r.Target.IsValid() && !r.Target.IsUnspecified() {
		b.WriteString(addrString(r.Target))
		b.WriteString(":")
	}
	b.WriteString(portsString(r.ToFirst, r.ToLast()))
	if r.BestEffort || r.Scan {
		b.WriteString(" ")
	}
	if r.BestEffort {
		b.WriteString(" (best effort)")
	}
	if r.Scan {
		b.WriteString(" (auto-scan)")
	}
	return b.String()
}

func portsString(first, last uint16) string {
	if first == last {
		return strconv.Itoa(int(first))
	}
	return strconv.Itoa(int(first)) + "-" + strconv.Itoa(int(last))
}

// addrString formats an address like inet_ntop(3) (glibc) does, "*" for
// the zero Addr (dual-stack wildcard).
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return "*"
	}
	a = a.Unmap()
	if a.Is6() {
		// glibc writes ::/96 addresses (but not :: and ::x with x < 2^16)
		// with an embedded dotted quad, "::1.2.3.4".
		b := a.As16()
		zero := true
		for _, c := range b[:12] {
			if c != 0 {
				zero = false
				break
			}
		}
		if zero && (b[12] != 0 || b[13] != 0) {
			return "::" + netip.AddrFrom4([4]byte(b[12:16])).String()
		}
	}
	return a.String()
}

// addrsMatch reports whether two listening addresses overlap: the zero
// Addr overlaps everything, an unspecified address every address of its
// family, a specific address only itself.
func addrsMatch(a, b netip.Addr) bool {
	if !a.IsValid() || !b.IsValid() {
		return true
	}
	if a.IsUnspecified() || b.IsUnspecified() {
		return a.Is4() == b.Is4()
	}
	return a == b
}

// Error is a fatal forwarding configuration error. Upstream prints Warnings
// as warnings, then Msg as the message it dies with.
type Error struct {
	Warnings []string
	Msg      string
}

// Error returns all lines, warnings first, separated by newlines.
func (e *Error) Error() string {
	return strings.Join(e.Lines(), "\n")
}

// Lines returns the warnings followed by the fatal message.
func (e *Error) Lines() []string {
	l := make([]string, 0, len(e.Warnings)+1)
	l = append(l, e.Warnings...)
	return append(l, e.Msg)
}

func fatalf(format string, args ...any) *Error {
	return &Error{Msg: fmt.Sprintf(format, args...)}
}
