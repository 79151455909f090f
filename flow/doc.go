// SPDX-License-Identifier: GPL-2.0-or-later

// Package flow holds the two things every L4 protocol handler (TCP, UDP,
// ICMP) needs before it can move a single byte: the address translation
// rules and the flow table.
//
// # Address translation
//
// passt does not NAT by default: the guest gets the host's own address and a
// flow from the guest to some address A leaves the host towards A. A small
// set of rules (spec/contract.md §6.11) rewrites addresses, and they all live
// here, in [NAT]:
//
// Guest → host ([NAT.FromGuest]), on the destination the guest used:
//
//  1. TCP or UDP to port 53 or 853 of the DNS match address (--dns-forward,
//     or the implicit match of §6.9) goes to the DNS host (--dns-host).
//  2. The map-host-loopback address (default: the gateway) becomes
//     127.0.0.1 or ::1, reaching services on host loopback.
//  3. The map-guest-addr address becomes the guest's assigned address, which
//     by default is the host's own address.
//  4. Anything else is used unchanged.
//
// The rules are tried in that order, so a DNS match address that is also the
// map-host-loopback address sends DNS ports to the resolver and every other
// port to host loopback. Destinations that cannot be the target of a flow
// (unspecified, multicast, broadcast, loopback, TCP/UDP port 0) are refused.
//
// The reverse direction of such a flow needs no rule: replies reach the guest
// from the address and port it originally talked to. The handlers keep that
// original destination in their per-flow state (it is the peer half of the
// flow's [Key]), and use the translated target only for the host socket.
//
// Host → guest ([NAT.FromHost]), for flows arriving on -t/-u listening
// sockets that are not spliced: the host peer's address is what the guest
// sees as source, unless the guest could not tell it apart from its own side
// of the link. 127.0.0.1 and ::1 become the map-host-loopback address, the
// guest's own address becomes the map-guest-addr address, and other such
// addresses (the rest of loopback, unspecified, the guest's own address with
// no mapping) become our own address on the link (IPv4 gateway, IPv6
// link-local). This follows upstream's code, not its man page: with
// --no-map-gw or --map-host-loopback none, loopback sources are rewritten to
// our address rather than dropped; they are dropped only if we have no
// address of that family. The destination is the rule's target address if
// any, a multicast destination is kept, and otherwise it is the guest's last
// observed address (of the scope matching the source for IPv6), or the
// assigned one before the guest has sent anything.
//
// Whether a host flow is spliced (pasta's loopback bypass) is decided by the
// caller before it asks for a translation; spliced flows never use [NAT].
//
// # Flow table
//
// [Table] maps a flow's guest-side 5-tuple ([Key]) to a small integer, the
// flow index, which stays the same for the flow's whole life. Handlers keep
// their per-flow state in their own slices indexed by it, and put it in the
// epoll data of the flow's sockets, so dispatching an event never needs a
// lookup. Entries are plain structs without pointers (addresses are stored
// as 16 bytes, IPv4 as IPv4-mapped IPv6), so the garbage collector never
// scans the table, and insert, lookup and remove are O(1) and allocate
// nothing. The capacity is fixed at creation: when it is reached new flows
// are refused and existing ones are not touched.
//
// Nothing in this package is safe for concurrent use; each engine owns its
// tables and runs them from its event loop.
package flow
