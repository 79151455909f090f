// SPDX-License-Identifier: GPL-2.0-or-later

package conf

import (
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
)

// parseCLong parses a number the way strtol(s, &end, 0) does when the whole
// string must be consumed: optional sign, "0x" hexadecimal, leading-zero
// octal, decimal.
func parseCLong(s string) (int64, bool) {
	if s == "" || strings.TrimSpace(s) != s {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		// ParseInt(s, 0, ...) accepts "0o" and "0b" and underscores,
		// which strtol does not; those fail the check below anyway.
		return 0, false
	}
	if strings.ContainsAny(s, "_oObB") && !strings.HasPrefix(strings.ToLower(strings.TrimLeft(s, "+-")), "0x") {
		return 0, false
	}
	return n, true
}

// parseCULong is parseCLong for unsigned values (no sign accepted).
func parseCULong(s string) (uint64, bool) {
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		return 0, false
	}
	n, ok := parseCLong(s)
	if !ok || n < 0 {
		return 0, false
	}
	return uint64(n), true
}

// parseIPv4Prefix parses -n: a contiguous dotted netmask or a bit count.
func parseIPv4Prefix(s string) (int, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		if !a.Is4() {
			return 0, false
		}
		b := a.As4()
		m := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		n := bits.OnesCount32(m)
		if m<<n != 0 {
			return 0, false
		}
		return n, true
	}
	n, ok := parseCULong(s)
	if !ok || n > 32 {
		return 0, false
	}
	return int(n), true
}

// parseMAC parses exactly "xx:xx:xx:xx:xx:xx".
func parseMAC(s string) ([6]byte, bool) {
	var mac [6]byte
	if len(s) != 17 {
		return mac, false
	}
	for i := range 6 {
		o := s[3*i : 3*i+2]
		if i < 5 && s[3*i+2] != ':' {
			return mac, false
		}
		v, err := strconv.ParseUint(o, 16, 8)
		if err != nil {
			return mac, false
		}
		mac[i] = byte(v)
	}
	return mac, true
}

// FormatMAC formats a MAC address as upstream prints it.
func FormatMAC(m [6]byte) string {
	const hex = "0123456789abcdef"
	b := make([]byte, 0, 17)
	for i, v := range m {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hex[v>>4], hex[v&15])
	}
	return string(b)
}

func isBroadcast4(a netip.Addr) bool {
	return a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// isV4Compat reports an IPv4-compatible IPv6 address (::a.b.c.d, deprecated),
// excluding :: and ::1 like IN6_IS_ADDR_V4COMPAT.
func isV4Compat(a netip.Addr) bool {
	if !a.Is6() || a.Is4In6() {
		return false
	}
	b := a.As16()
	for _, v := range b[:12] {
		if v != 0 {
			return false
		}
	}
	last := uint32(b[12])<<24 | uint32(b[13])<<16 | uint32(b[14])<<8 | uint32(b[15])
	return last > 1
}

// classfulPrefix is the prefix length of an IPv4 address's class.
func classfulPrefix(a netip.Addr) int {
	b := a.As4()
	switch {
	case b[0] < 128:
		return 8
	case b[0] < 192:
		return 16
	case b[0] < 224:
		return 24
	}
	return 32
}

func isDecimal(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
