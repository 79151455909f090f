// SPDX-License-Identifier: GPL-2.0-or-later

// Package dhcpv6 is the minimal DHCPv6 server (RFC 8415) that lets the guest
// configure itself: it hands out one address, the guest's own (normally the
// host's), plus DNS servers (option 23, RFC 3646), the domain search list
// (option 24) and the client FQDN (option 39, RFC 4704).
//
// # Theory of operation
//
// The server keeps no state: there is one address to give, it never changes
// while we run, and every lifetime (T1, T2, preferred, valid) is infinite, so
// a lease needs no bookkeeping and never expires. Handle takes one Ethernet
// frame from the guest and returns the whole reply frame, or nil when the
// frame is not a DHCPv6 client message for us or is malformed. It allocates
// freely (the parsed IA list, the reply): DHCPv6 is control plane, a handful
// of messages per guest, so clarity wins over allocations here.
//
// A frame is ours when it is an unfragmented IPv6/UDP datagram from port 546
// to port 547, sent to All_DHCP_Relay_Agents_and_Servers (ff02::1:2) or to our
// link-local address, from a unicast source, with a UDP length that matches
// the IP payload exactly. The UDP checksum is not verified (a tap with
// checksum offload may hand us a partial one). The message is parsed once:
// the top-level options, then the options nested in each IA_NA and IA_TA.
// Any option whose length runs past its container, more than maxOptions
// options at one level, an IA shorter than its fixed part, an IA Address
// shorter than 24 bytes, a missing or oversized (more than 128 bytes) Client
// Identifier: the frame is dropped.
//
// The exchange, message by message (what upstream passt does, except where
// noted as a deviation):
//
//   - SOLICIT (must not carry a Server Identifier): ADVERTISE. If the client
//     included Rapid Commit (option 14), a REPLY carrying Rapid Commit
//     instead (RFC 8415 §18.3.1; upstream has no rapid commit).
//   - REQUEST, RENEW (Server Identifier required and ours): REPLY.
//   - REBIND: REPLY. RFC 8415 forbids a Server Identifier in REBIND; one that
//     is present must be ours (deviation: upstream insists on ours and so
//     never answers a real REBIND).
//   - INFORMATION-REQUEST (Server Identifier optional, but ours if present;
//     no IA allowed): REPLY without IA.
//   - CONFIRM (no Server Identifier): REPLY with a top-level Status Code,
//     Success when every address in the client's IAs is ours, NotOnLink
//     otherwise; no reply when it lists no address (RFC 8415 §18.3.3).
//     Deviation: upstream answers a good CONFIRM like a REQUEST and puts
//     NotOnLink inside the IA.
//   - RELEASE, DECLINE (Server Identifier required and ours): REPLY with a
//     Success status (RFC 8415 §18.3.7, §18.3.8). Deviation: upstream ignores
//     them, which leaves clients retransmitting until they give up.
//   - Anything else (relay messages, server messages, unknown types): nil.
//
// A full reply carries, in this order: Server Identifier, one IA_NA per
// IA_NA of the request, Client Identifier (the client's DUID echoed byte for
// byte), Rapid Commit (SOLICIT with rapid commit only), DNS servers, domain
// search list and client FQDN. The first IA_NA echoes the client's IAID and
// holds an IA Address with Config.GuestAddr; T1, T2 and both lifetimes are
// 0xffffffff (infinity), as upstream. Further IA_NAs get a NoAddrsAvail
// status (upstream only answers the first one). Requests without IA_NA get
// no IA in the reply (upstream always sends one, IAID 1). Options 23, 24 and
// 39 are sent whatever the Option Request option asks for, as upstream, and
// are omitted when the configuration leaves them empty. Search domains and
// the FQDN are encoded as fully qualified names (a trailing dot is optional
// in the configuration; empty, root-only, overlong or malformed names are
// skipped). The FQDN option's flags are zero, or O (override) when the
// client set S (asking us to update its AAAA record), as upstream.
//
// REQUEST, RENEW and REBIND whose IAs (IA_NA or IA_TA) contain an address
// other than Config.GuestAddr are answered, as upstream does (and RFC 3315
// §18.2.1 asks), with a REPLY holding that IA (IAID, T1, T2 echoed) with a
// NotOnLink Status Code and no address; the client then starts over with a
// SOLICIT. Unspecified addresses (::) count as no hint.
//
// The server DUID is a DUID-LLT (RFC 8415 §11.2): hardware type 1
// (Ethernet), Config.DUIDTime (seconds since 2000-01-01 UTC, taken once at
// start-up as upstream does; zero is fine) and Config.OurMAC. Server
// Identifiers in requests are compared with it byte for byte.
//
// Replies go from OurMAC and OurLinkLocal port 547 to the source MAC and
// source address of the request, port 546, hop limit 255, with the
// transaction ID in the flow label (as upstream) and a valid UDP checksum.
//
// # Library decision
//
// The code is hand-written rather than built on
// github.com/insomniacslk/dhcp/dhcpv6. The subset needed is small (ten option
// codes, one fixed answer) and full of upstream-specific choices (byte-wise
// Server Identifier comparison, NotOnLink inside the IA, FQDN flag handling,
// replies on the client's exact DUID bytes) that are easier to state directly
// than to bend a general encoder into. The library has no tagged release
// (pseudo-versions only) and brings u-root/uio and other modules into a
// process that runs under seccomp; its decoder allocates a tree of interface
// values per message and re-encodes options, where we want the guest's bytes
// echoed verbatim. A bounded single-pass parser of about a hundred lines is
// easy to fuzz to the same guarantees as package pkt: never a panic, every
// reply well formed.
package dhcpv6
