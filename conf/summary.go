// SPDX-License-Identifier: GPL-2.0-or-later

package conf

import (
	"fmt"
	"net/netip"
)

// Summary returns the configuration summary printed at start unless quiet
// (contract §4.2), one informational line per element.
func (c *Config) Summary() []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	t4, t6 := c.IP4.Ifindex > 0, c.IP6.Ifindex > 0
	if t4 || t6 {
		s := "Template interface: "
		if t4 {
			s += c.IP4.Ifname + " (IPv4)"
		}
		if t4 && t6 {
			s += ", "
		}
		if t6 {
			s += c.IP6.Ifname + " (IPv6)"
		}
		out = append(out, s)
	}
	if c.IP4.IfnameOut != "" || c.IP6.IfnameOut != "" {
		s := "Outbound interface: "
		if c.IP4.IfnameOut != "" {
			s += c.IP4.IfnameOut + " (IPv4)"
		}
		if c.IP4.IfnameOut != "" && c.IP6.IfnameOut != "" {
			s += ", "
		}
		if c.IP6.IfnameOut != "" {
			s += c.IP6.IfnameOut + " (IPv6)"
		}
		out = append(out, s)
	}
	if c.IP4.AddrOut.IsValid() {
		add("Outbound IPv4 address: %s", c.IP4.AddrOut)
	}
	if c.IP6.AddrOut.IsValid() {
		add("Outbound IPv6 address: %s", c.IP6.AddrOut)
	}
	if c.Mode == ModePasta && !c.SpliceOnly {
		add("Namespace interface: %s", c.PastaIfname)
	}
	add("MAC:")
	add("    host: %s", FormatMAC(c.OurMAC))

	if c.IP4.Enabled {
		if c.IP4.MapHostLoopback.IsValid() {
			add("    NAT to host 127.0.0.1: %s", c.IP4.MapHostLoopback)
		}
		if !c.NoDHCP {
			add("DHCP:")
			add("    assign: %s", c.IP4.Addr)
			add("    mask: %s", netmask4(c.IP4.PrefixLen))
			add("    router: %s", c.IP4.Gateway)
		}
		out = appendDNS(out, c.IP4.DNS, c.Search)
	}
	if c.IP6.Enabled {
		if c.IP6.MapHostLoopback.IsValid() {
			add("    NAT to host ::1: %s", c.IP6.MapHostLoopback)
		}
		header := ""
		switch {
		case !c.NoNDP && !c.NoDHCPv6:
			header = "NDP/DHCPv6:"
		case !c.NoDHCPv6:
			header = "DHCPv6:"
		case !c.NoNDP:
			header = "NDP:"
		}
		if header != "" {
			add("%s", header)
			add("    assign: %s", addrOrUnspec(c.IP6.Addr, "::"))
			add("    router: %s", addrOrUnspec(c.IP6.Gateway, "::"))
			add("    our link-local: %s", addrOrUnspec(c.IP6.OurAddr, "::"))
		}
		out = appendDNS(out, c.IP6.DNS, c.Search)
	}
	if len(c.Inbound.Rules) > 0 {
		add("Inbound forwarding rules (HOST):")
		for _, r := range c.Inbound.Rules {
			add("    %s", r)
		}
	}
	if len(c.Outbound.Rules) > 0 {
		add("Outbound forwarding rules (SPLICE):")
		for _, r := range c.Outbound.Rules {
			add("    %s", r)
		}
	}
	return out
}

func appendDNS(out []string, dns []netip.Addr, search []string) []string {
	for i, a := range dns {
		if i == 0 {
			out = append(out, "DNS:")
		}
		out = append(out, "    "+a.String())
	}
	for i, s := range search {
		if i == 0 {
			out = append(out, "DNS search list:")
		}
		out = append(out, "    "+s)
	}
	return out
}

func netmask4(plen int) netip.Addr {
	m := uint32(0)
	if plen > 0 {
		m = ^uint32(0) << (32 - plen)
	}
	return netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)})
}

func addrOrUnspec(a netip.Addr, unspec string) string {
	if !a.IsValid() {
		return unspec
	}
	return a.String()
}
