// SPDX-License-Identifier: GPL-2.0-or-later

// Package pkt provides bounds-checked, allocation-free views, builders and
// checksums for the headers the data path handles: Ethernet, ARP, IPv4,
// IPv6 (with extension headers), ICMP, ICMPv6, TCP and UDP.
//
// # Views
//
// A view is a named byte slice over the caller's buffer, for example
// [IPv4] or [TCP]. It owns nothing and copies nothing: accessors such as
// [IPv4.Src] or [TCP.Seq] read the wire bytes with encoding/binary's
// big-endian helpers, and setters such as [IPv4.SetDst] write them back in
// place. Addresses are exchanged as [netip.Addr], built with
// [netip.AddrFrom4] and [netip.AddrFrom16], which do not allocate.
//
// # Validate once, then access freely
//
// Bytes coming from the guest are untrusted. Each view has a Parse
// function ([ParseEthernet], [ParseARP], [ParseIPv4], [ParseIPv6],
// [ParseICMP], [ParseTCP], [ParseUDP]) that checks, once, every length the
// accessors later rely on: the fixed header fits, the version is right, the
// variable header length (IPv4 IHL, TCP data offset) is at least the
// minimum and fits, and the length fields (IPv4 total length, IPv6 payload
// length, UDP length) are not larger than the buffer. On success it returns
// the view trimmed to the length the header claims, so link-layer padding is
// dropped and Payload never reaches past the packet. After a successful
// Parse no accessor of that view can index out of bounds. Accessors on a
// view that was not parsed are still memory-safe (Go bounds checks) but may
// panic; they are meant for buffers that were validated or built here.
//
// [Decode] does the whole job for one Ethernet frame in a single pass: it
// validates L2, L3 (walking IPv6 extension headers) and the fixed part of
// L4, and fills a [Decoded] with offsets, lengths, addresses and flags.
// Every offset and length it reports lies inside the frame; the fuzz target
// FuzzDecode checks exactly that.
//
// # What is rejected
//
// Parse and Decode return sentinel errors (no formatting on the hot path):
// [ErrShort] for a header that does not fit, [ErrIPVersion],
// [ErrIPv4HeaderLen] (IHL < 5 or beyond the buffer), [ErrIPv4TotalLen]
// (total length shorter than the header or longer than the buffer),
// [ErrIPv6PayloadLen] (payload length beyond the buffer; jumbograms are not
// supported),
// [ErrIPv6ExtHeader] (a truncated extension header, a hop-by-hop header
// that is not first, or more than [MaxIPv6ExtHeaders] of them),
// [ErrTCPDataOffset] (data offset below 5 or beyond the segment),
// [ErrUDPLength] (UDP length below 8 or beyond the datagram), [ErrARP]
// (anything but Ethernet/IPv4 ARP), and [ErrTCPOption] for a TCP option
// whose length byte is 0, 1 or runs past the option space. Fragments are not
// rejected but flagged ([Decoded.Fragment]) so callers can drop them; their
// L4 header is not validated, because only the first fragment carries it.
// IPv6 extension headers other than hop-by-hop, routing, fragment,
// destination options and AH end the walk and are reported as the L4
// protocol, which callers will not recognise.
//
// # Builders
//
// Builders ([BuildEthernet], [BuildARP], [BuildIPv4], [BuildIPv6],
// [BuildICMP], [BuildTCP], [BuildUDP]) write a header at the start of a
// caller-provided buffer, typically a preallocated frame buffer in which the
// payload already sits (or will be read) at the right offset, and return the
// number of bytes written. They do not allocate and do not check that the
// buffer is large enough beyond Go's own bounds checks: a too-short buffer is
// a programming error and panics. L3 builders compute the IPv4 header
// checksum; L4 builders leave the checksum at zero, to be completed by
// [FinishTCP], [FinishUDP], [FinishICMPv4] or [FinishICMPv6] once the payload
// is in place, or set to the pseudo-header sum when the kernel completes it
// (virtio-net checksum offload).
//
// # Checksums
//
// The Internet checksum is the ones' complement of the ones' complement
// sum of 16-bit big-endian words. Because 2^16 ≡ 1 (mod 2^16-1), that sum
// can be accumulated in any wider word with end-around carry and folded at
// the end. [Checksum] adds 8 bytes at a time into a uint64 with
// [math/bits.Add64], chaining the carry, and returns an unfolded partial
// sum that can be passed as the initial value of the next call (for every
// chunk but the last, the chunk length must be even). [PseudoHeaderSum4] and
// [PseudoHeaderSum6] produce the pseudo-header partial sum, [Fold] reduces a
// partial sum to 16 bits, and [Finish] returns its complement, the value to
// store in a checksum field. Summing a region that contains a correct
// checksum gives Finish(...) == 0.
//
// When only an address or a port changes, [UpdateChecksum16],
// [UpdateChecksum32] and [UpdateChecksumAddr] adjust an existing checksum in
// constant time following RFC 1624 (HC' = ~(~HC + ~m + m')). The result
// is bit-identical to a full recomputation unless the data before or after
// the change sums to zero (all zero bytes, which no real header is); then
// it may differ only in the representation of zero (0x0000 vs 0xffff).
package pkt
