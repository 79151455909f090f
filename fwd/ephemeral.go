// SPDX-License-Identifier: GPL-2.0-or-later

package fwd

import (
	"errors"
	"io/fs"
	"os"
	"passt/internal/errno"
	"strings"
)

// PortRangeSysctl is where Linux keeps the ephemeral port range.
const PortRangeSysctl = "/proc/sys/net/ipv4/ip_local_port_range"

// Default ephemeral range (RFC 6335), used when the sysctl can't be read.
const (
	DefaultEphemeralFirst = 49152
	DefaultEphemeralLast  = 65535
)

// EphemeralRange reads the ephemeral port range from path (normally
// PortRangeSysctl: "FIRST\tLAST\n"). If the file can't be opened or
// parsed, it returns 49152-65535 and the warning to print. The range is
// returned as read, even if FIRST > LAST (an empty range).
func EphemeralRange(path string) (first, last uint16, warning string) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		msg := err.Error()
		if errors.As(err, &pe) {
			msg = errno.Text(pe.Err)
		}
		if pe == nil || pe.Op == "open" {
			return DefaultEphemeralFirst, DefaultEphemeralLast,
				"Unable to open " + path + ": " + msg
		}
		return DefaultEphemeralFirst, DefaultEphemeralLast, "Unable to parse " + path
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f, n, ok := parsePort(line)
	if ok && strings.HasPrefix(line[n:], "\t") {
		l, m, ok := parsePort(line[n+1:])
		if ok && n+1+m == len(line) && f <= 65535 && l <= 65535 {
			return uint16(f), uint16(l), ""
		}
	}
	return DefaultEphemeralFirst, DefaultEphemeralLast, "Unable to parse " + path
}
