// SPDX-License-Identifier: GPL-2.0-or-later

package main

import (
	"bytes"
	"encoding/binary"
	"net/netip"

	"passt/pkt"
)

// Receive coalescing (-gro). A guest behind QEMU's virtio-net does not take
// passt's frames one by one into its TCP: its driver hands them to the
// kernel's GRO, which merges consecutive in-order segments of one
// connection into one large segment before the protocol sees them, once
// per batch of received frames. The shim's tap cannot do that: each frame
// written to it runs the namespace's whole receive path in the write,
// which at MTU 1500 makes the shim, not passt, the bottleneck of a bulk
// transfer to the guest (about 3 Gbit/s on a 2-core machine, with either
// passt).
//
// With -gro the shim merges as GRO does, then writes each merged segment
// as one super-frame: the tap opened with IFF_VNET_HDR takes a virtio-net
// header saying the frame is a TCP segment of gso_size-byte pieces with a
// checksum to complete (NEEDS_CSUM, the field holding the pseudo-header
// sum), and the kernel delivers it to the local socket as one segment, as
// GRO's result would be. The rules follow Linux's tcp_gro_receive:
//   - only IPv4 without options and not fragmented, or IPv6 without
//     extension headers, carrying TCP with data and no flag but ACK and PSH;
//   - the next segment must belong to the same connection, between the
//     same Ethernet addresses, with identical IP fields (but length, ID and
//     header checksum), the same acknowledgement number and identical TCP
//     options, and start where the merged one ends;
//   - it may not be longer than the first (its length is the gso_size);
//   - a segment with PSH, or shorter than the first, ends the merge;
//   - the merged IP packet stays within 65535 bytes.
//
// The window field is the last segment's. Anything else is written as it
// came, and so is a merge of one segment (with its own, complete checksum).
// Merges end at the end of each read from passt's socket, as GRO flushes at
// the end of a NAPI poll.

const (
	vnetHdrLen    = 10 // struct virtio_net_hdr
	vnetNeedsCsum = 1  // VIRTIO_NET_HDR_F_NEEDS_CSUM
	vnetGSOTCPv4  = 1  // VIRTIO_NET_HDR_GSO_TCPV4
	vnetGSOTCPv6  = 4  // VIRTIO_NET_HDR_GSO_TCPV6
	ethHdrLen     = 14
	maxIPPacket   = 65535
	tcpFlagACK    = 0x10
	tcpFlagPSH    = 0x08
	maxFrame      = 1 << 17 // as the plain relay's buffer
)

// segment is a frame that may take part in a merge: where its headers end
// and what they say.
type segment struct {
	v6       bool
	src, dst netip.Addr
	l4       int // offset of the TCP header in the frame
	hdrEnd   int // offset of the payload
	end      int // end of the IP packet (the frame may be padded)
	seq      uint32
	flags    byte
	payload  int
}

// parseSegment reports whether frame is a TCP segment GRO would consider,
// and its layout. pkt.Decode validates the headers.
func parseSegment(frame []byte) (s segment, ok bool) {
	var d pkt.Decoded
	if pkt.Decode(frame, &d) != nil || d.L4Proto != pkt.ProtoTCP || d.L4HdrLen == 0 ||
		d.Fragment || d.IPv4HasOptions || d.IPv6ExtHeaders {
		return s, false
	}
	s.v6, s.src, s.dst = d.IPVersion == 6, d.Src, d.Dst
	s.l4, s.hdrEnd, s.end = d.L4Off, d.L4Off+d.L4HdrLen, d.L4Off+d.L4Len
	if s.hdrEnd >= s.end {
		return s, false // no data
	}
	tcp := frame[s.l4:]
	s.flags = tcp[13]
	if s.flags&^tcpFlagPSH != tcpFlagACK {
		return s, false
	}
	s.seq = binary.BigEndian.Uint32(tcp[4:8])
	s.payload = s.end - s.hdrEnd
	return s, true
}

// coalescer merges segments and writes what it has to the tap.
type coalescer struct {
	write func([]byte) error // one frame, after its virtio-net header

	buf    []byte  // virtio-net header, then the pending frame
	n      int     // length of the pending frame; 0: none
	first  segment // the pending frame's first segment
	segs   int     // segments merged into it
	nextSq uint32  // sequence number the next segment must start at

	frames      int // frames written
	superFrames int // of which merged from more than one segment
	superSegs   int // segments merged into them
}

func newCoalescer(write func([]byte) error) *coalescer {
	return &coalescer{write: write, buf: make([]byte, vnetHdrLen+maxFrame)}
}

// add takes one frame from passt. An empty one is dropped.
func (c *coalescer) add(frame []byte) error {
	if len(frame) == 0 {
		return nil
	}
	s, ok := parseSegment(frame)
	if !ok {
		if err := c.flush(); err != nil {
			return err
		}
		return c.writeAlone(frame)
	}
	if c.n > 0 && c.follows(frame, s) {
		pending := c.buf[vnetHdrLen:]
		copy(pending[c.n:], frame[s.hdrEnd:s.end])
		c.n += s.payload
		c.segs++
		c.nextSq += uint32(s.payload)
		copy(pending[c.first.l4+14:c.first.l4+16], frame[s.l4+14:s.l4+16]) // window
		if s.flags&tcpFlagPSH != 0 || s.payload < c.first.payload {
			pending[c.first.l4+13] |= s.flags & tcpFlagPSH
			return c.flush()
		}
		return nil
	}
	if err := c.flush(); err != nil {
		return err
	}
	c.n = copy(c.buf[vnetHdrLen:], frame[:s.end])
	c.first, c.segs, c.nextSq = s, 1, s.seq+uint32(s.payload)
	if s.flags&tcpFlagPSH != 0 {
		return c.flush()
	}
	return nil
}

// follows reports whether segment s of frame continues the pending one.
func (c *coalescer) follows(frame []byte, s segment) bool {
	p, f := c.buf[vnetHdrLen:vnetHdrLen+c.n], c.first
	if s.v6 != f.v6 || s.hdrEnd != f.hdrEnd || s.seq != c.nextSq || s.payload > f.payload ||
		c.n+s.payload-ethHdrLen-ipFixedLen(f.v6) > maxIPPacket {
		return false
	}
	if !bytes.Equal(p[:ethHdrLen], frame[:ethHdrLen]) {
		return false
	}
	if f.v6 {
		// version, class, flow label; next header and hop limit; addresses
		if !bytes.Equal(p[14:18], frame[14:18]) || !bytes.Equal(p[20:54], frame[20:54]) {
			return false
		}
	} else if !bytes.Equal(p[14:16], frame[14:16]) || !bytes.Equal(p[20:24], frame[20:24]) || !bytes.Equal(p[26:34], frame[26:34]) {
		// version, header length, TOS; flags and fragment; TTL, protocol; addresses
		return false
	}
	// ports; acknowledgement and data offset; options
	return bytes.Equal(p[f.l4:f.l4+4], frame[s.l4:s.l4+4]) &&
		bytes.Equal(p[f.l4+8:f.l4+13], frame[s.l4+8:s.l4+13]) &&
		bytes.Equal(p[f.l4+20:f.hdrEnd], frame[s.l4+20:s.hdrEnd])
}

// ipFixedLen is the length of the IP header that does not count in the
// IP length field: IPv6's fixed header; IPv4's counts.
func ipFixedLen(v6 bool) int {
	if v6 {
		return 40
	}
	return 0
}

// flush writes the pending frame, if any.
func (c *coalescer) flush() error {
	if c.n == 0 {
		return nil
	}
	h, frame, f := c.buf[:vnetHdrLen], c.buf[vnetHdrLen:vnetHdrLen+c.n], c.first
	clear(h)
	if c.segs > 1 {
		if f.v6 {
			binary.BigEndian.PutUint16(frame[18:20], uint16(c.n-f.l4))
			h[1] = vnetGSOTCPv6
		} else {
			ip := pkt.IPv4(frame[ethHdrLen:f.l4])
			ip.SetTotalLen(uint16(c.n - ethHdrLen))
			ip.SetChecksum(0)
			ip.SetChecksum(pkt.Finish(pkt.Checksum(ip, 0)))
			h[1] = vnetGSOTCPv4
		}
		sum := pkt.Fold(pkt.PseudoHeaderSum(f.src, f.dst, pkt.ProtoTCP, uint32(c.n-f.l4)))
		binary.BigEndian.PutUint16(frame[f.l4+16:], sum)
		h[0] = vnetNeedsCsum
		binary.LittleEndian.PutUint16(h[2:], uint16(f.hdrEnd))  // hdr_len
		binary.LittleEndian.PutUint16(h[4:], uint16(f.payload)) // gso_size
		binary.LittleEndian.PutUint16(h[6:], uint16(f.l4))      // csum_start
		binary.LittleEndian.PutUint16(h[8:], 16)                // csum_offset
	}
	c.frames++
	if c.segs > 1 {
		c.superFrames++
		c.superSegs += c.segs
	}
	c.n = 0
	return c.write(c.buf[:vnetHdrLen+len(frame)])
}

// writeAlone writes a frame (of at most maxFrame bytes) that takes part in
// no merge, with an empty virtio-net header.
func (c *coalescer) writeAlone(frame []byte) error {
	clear(c.buf[:vnetHdrLen])
	copy(c.buf[vnetHdrLen:], frame)
	c.frames++
	return c.write(c.buf[:vnetHdrLen+len(frame)])
}
