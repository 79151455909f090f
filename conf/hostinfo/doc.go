// SPDX-License-Identifier: GPL-2.0-or-later

// Package hostinfo discovers the host network configuration that passt and
// pasta copy to the guest (contract §6.1–§6.5), and parses /etc/resolv.conf
// (contract §6.9).
//
// # Netlink access
//
// All queries go through a *netlink.Handle owned by the caller, so the
// caller picks the network namespace (create the handle on a thread that is
// already in the wanted namespace, never with NewHandleAt) and any socket
// timeout. Dumps that the kernel flags as interrupted
// (netlink.ErrDumpInterrupted) are repeated, up to nlretry.MaxTries times.
//
// # Template interface (per family)
//
// The template interface of a family is, in this order of precedence:
//
//  1. the -i interface (Request.Ifname), for both families; a name that
//     does not resolve is an error "Invalid interface name NAME: <strerror>";
//  2. the --outbound-if4/--outbound-if6 interface (Request.OutIf4/OutIf6)
//     for that family; like passt's if_nametoindex() call, a name that does
//     not resolve silently falls back to the automatic choice;
//  3. automatic: the main-table unicast routes of the family are dumped;
//     routes without an output interface, routes through ifindex 1 (lo)
//     and routes to link-local destinations (169.254.0.0/16, fe80::/10
//     with at least that prefix length) are ignored; multipath routes count
//     for the interface of their first nexthop. The interface of the first
//     default route (destination length 0) wins, with the warning
//     "Multiple default IPvN routes, picked first" if more than one default
//     route was seen; otherwise the interface of the first remaining route
//     wins, with "Multiple interfaces with IPvN routes, picked first" if
//     non-default routes use more than one interface; otherwise there is no
//     template and the warning is "No interfaces with usable IPvN routes".
//
// # Gateway
//
// Unless fixed by -g (Request.Gateway4/6), the gateway is taken from the
// first main-table unicast default route that uses the template interface
// (as output interface or in any of its nexthops) and carries a gateway;
// default routes without a gateway are passed over. For a multipath route
// the nexthops are scanned in order and a nexthop whose weight is not lower
// than the best weight seen so far becomes the best; its gateway, if it has
// one, replaces the current choice (so the highest weight wins and, on equal
// weights, the later nexthop). A failing route dump makes the family
// unusable.
//
// # Address
//
// Among the template's addresses of the family that are not deprecated
// (IFA_F_DEPRECATED), the one with the longest prefix wins, the first one in
// dump order on ties. A prefix length of 0 never wins (as in passt). IPv4
// accepts any scope; IPv6 only scopes narrower than link (global, site).
// The local address is used (not the peer of a point-to-point address), with
// the prefix length of the address message.
//
// # IPv6 link-local identity
//
// The template's link-local address is the non-deprecated link-scope IPv6
// address with the longest prefix (first on ties). If the gateway is itself
// link-local (typically fe80::1), the gateway replaces it: that is the
// address passt uses as its own link-local source.
//
// # Usability
//
// IPv4 is usable when the template has an address (or one was fixed with
// -a, Request.Addr4). IPv6 is usable when it has a global address (or -a)
// and a link-local address (its own or a link-local gateway). Netlink errors
// while looking up the gateway or the address make the family unusable; the
// error is kept in Template.Err. The fields of an unusable template still
// hold what was found, because passt's local mode keeps discovered values
// it does not override.
//
// # Local mode
//
// A family without a usable template runs in local mode (§6.5): IPv4 guest
// 169.254.2.1/16 with gateway and passt's own address 169.254.2.2 (see
// LocalGuest4, LocalGateway4); IPv6 gateway and passt's link-local address
// fe80::1 (LocalGateway6) and no global address. Applying it is the caller's
// job; this package only reports Usable=false and exports the constants.
//
// # resolv.conf
//
// A line is a nameserver line only when it starts with "nameserver " (one
// space, no tabs). The value is the text after the last space of the line,
// cut at the first '%' (zone); values that do not parse as an IPv4 or IPv6
// address (as inet_pton would) are skipped. At most three servers per
// family are kept in Nameservers4/Nameservers6; All4/All6 keep every valid
// one in order, for callers that discard some (e.g. an unmappable loopback
// resolver) and then continue with later lines as passt does. The search
// list comes from the first line starting with "search " that yields at
// least one domain: the tokens after "search", split on spaces and tabs, at
// most five. "domain", "options", comments and anything else are ignored.
// A NUL byte ends a line, as it would for passt's C string handling.
package hostinfo
