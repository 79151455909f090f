// SPDX-License-Identifier: GPL-2.0-or-later

package main

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"passt/pkt"
)

// Transmit segmentation (-gso). QEMU takes a guest's frames from the
// virtio-net transmit ring in shared memory and writes each to passt's
// socket, one write per frame: its only system call per frame is that
// write. The shim's tap costs it one read per frame besides, and at MTU
// 1500 that read (a third of the shim's time) made the shim, not passt,
// the bottleneck of a bulk transfer from the guest, with either passt.
//
// With -gso the tap offers the namespace's stack checksum and TCP
// segmentation offload (TUNSETOFFLOAD: CSUM, TSO4, TSO6, TSO_ECN), as a
// NIC would: a read then returns up to 64 KiB of one connection's data in
// one frame, with a virtio-net header that says how to cut it. The shim
// cuts it into gso_size pieces the way Linux's own GSO does
// (tcp_gso_segment, inet_gso_segment, ipv6_gso_segment), the work a guest
// without offloads does in its kernel before its frames reach the ring,
// and writes each resulting frame to passt on its own, as QEMU does. So
// passt sees the same frames as from a guest that segments itself, and
// each costs the shim one write.
//
// A segment of the super-frame gets its headers' copy with:
//   - the sequence number advanced by the bytes before it;
//   - CWR on the first segment only, FIN and PSH on the last only;
//   - IPv4: total length, an ID one more than the previous segment's, a
//     new header checksum; IPv6: payload length;
//   - a complete TCP checksum.
//
// A frame that needs no cutting but carries a partial checksum
// (NEEDS_CSUM: the field holds the pseudo-header sum) gets it completed:
// the ones' complement sum from csum_start to the end, stored at
// csum_start + csum_offset.

// gsoRoom is what the segmenter needs in front of a frame: the 4-byte
// length of QEMU's stream framing.
const gsoRoom = 4

var errBadOffload = errors.New("malformed offload frame")

// vnetHeader is struct virtio_net_hdr, as the tap gives it (little-endian:
// the tap's default).
type vnetHeader struct {
	flags, gsoType                         uint8
	hdrLen, gsoSize, csumStart, csumOffset int
}

func parseVnetHeader(b []byte) vnetHeader {
	return vnetHeader{
		flags:      b[0],
		gsoType:    b[1],
		hdrLen:     int(binary.LittleEndian.Uint16(b[2:])),
		gsoSize:    int(binary.LittleEndian.Uint16(b[4:])),
		csumStart:  int(binary.LittleEndian.Uint16(b[6:])),
		csumOffset: int(binary.LittleEndian.Uint16(b[8:])),
	}
}

// segmenter turns the tap's frames into the frames a guest that segments
// itself would send.
type segmenter struct {
	// emit takes one frame preceded by gsoRoom bytes it may overwrite.
	emit func(roomAndFrame []byte) error

	tmpl [ethHdrLen + 60 + 60]byte // headers of the super-frame being cut

	superFrames atomic.Int64 // frames cut (read at exit by the other goroutine)
	superSegs   atomic.Int64 // frames cut from them
}

// relay emits frame (whose gsoRoom bytes in front of it in buf are free:
// frame is buf[gsoRoom:]) as the frames it stands for. The segments are
// cut in place: each one's headers are written over the tail of the
// payload emitted just before, so no payload is copied.
func (s *segmenter) relay(h vnetHeader, buf []byte) error {
	frame := buf[gsoRoom:]
	switch h.gsoType &^ unix.VIRTIO_NET_HDR_GSO_ECN {
	case unix.VIRTIO_NET_HDR_GSO_NONE:
		if h.flags&vnetNeedsCsum != 0 {
			if err := completeChecksum(frame, h.csumStart, h.csumOffset); err != nil {
				return err
			}
		}
		return s.emit(buf)
	case vnetGSOTCPv4, vnetGSOTCPv6:
		return s.segment(h, buf)
	default:
		return errBadOffload
	}
}

// completeChecksum stores the checksum of frame[start:] at start+offset,
// whose field holds the pseudo-header sum.
func completeChecksum(frame []byte, start, offset int) error {
	if start < 0 || start+offset+2 > len(frame) {
		return errBadOffload
	}
	sum := pkt.Finish(pkt.Checksum(frame[start:], 0))
	if sum == 0 && offset == 6 { // UDP: 0 means no checksum
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(frame[start+offset:], sum)
	return nil
}

// segment cuts a TCP super-frame into gso_size pieces.
func (s *segmenter) segment(h vnetHeader, buf []byte) error {
	frame := buf[gsoRoom:]
	v6 := h.gsoType&^unix.VIRTIO_NET_HDR_GSO_ECN == vnetGSOTCPv6
	if len(frame) < ethHdrLen {
		return errBadOffload
	}
	var src, dst netip.Addr
	var l4 int
	etherType := binary.BigEndian.Uint16(frame[12:14])
	switch {
	case !v6 && etherType == 0x0800 && len(frame) >= ethHdrLen+20:
		ihl := int(frame[ethHdrLen]&0x0f) * 4
		if frame[ethHdrLen]>>4 != 4 || ihl < 20 || frame[ethHdrLen+9] != pkt.ProtoTCP {
			return errBadOffload
		}
		src = netip.AddrFrom4([4]byte(frame[ethHdrLen+12 : ethHdrLen+16]))
		dst = netip.AddrFrom4([4]byte(frame[ethHdrLen+16 : ethHdrLen+20]))
		l4 = ethHdrLen + ihl
	case v6 && etherType == 0x86dd && len(frame) >= ethHdrLen+40:
		if frame[ethHdrLen]>>4 != 6 || frame[ethHdrLen+6] != pkt.ProtoTCP {
			return errBadOffload // extension headers: the stack does not use them here
		}
		src = netip.AddrFrom16([16]byte(frame[ethHdrLen+8 : ethHdrLen+24]))
		dst = netip.AddrFrom16([16]byte(frame[ethHdrLen+24 : ethHdrLen+40]))
		l4 = ethHdrLen + 40
	default:
		return errBadOffload
	}
	if len(frame) < l4+20 {
		return errBadOffload
	}
	hdrEnd := l4 + int(frame[l4+12]>>4)*4
	if hdrEnd < l4+20 || hdrEnd > len(frame) || hdrEnd > len(s.tmpl) || h.gsoSize <= 0 {
		return errBadOffload
	}
	copy(s.tmpl[:], frame[:hdrEnd])
	tmpl := s.tmpl[:hdrEnd]
	seq0 := binary.BigEndian.Uint32(tmpl[l4+4:])
	flags0 := tmpl[l4+13]
	id0 := binary.BigEndian.Uint16(tmpl[ethHdrLen+4:])
	payload := len(frame) - hdrEnd
	if payload == 0 {
		return errBadOffload
	}
	for off, i := 0, 0; off < payload; off, i = off+h.gsoSize, i+1 {
		n := min(h.gsoSize, payload-off)
		// This segment's frame starts off bytes into the super-frame,
		// over the previous segment's payload, already emitted.
		seg := frame[off : off+hdrEnd+n]
		copy(seg, tmpl)
		if v6 {
			binary.BigEndian.PutUint16(seg[ethHdrLen+4:], uint16(hdrEnd+n-ethHdrLen-40))
		} else {
			ip := pkt.IPv4(seg[ethHdrLen:l4])
			ip.SetTotalLen(uint16(hdrEnd + n - ethHdrLen))
			ip.SetID(id0 + uint16(i))
			ip.SetChecksum(0)
			ip.SetChecksum(pkt.Finish(pkt.Checksum(ip, 0)))
		}
		tcp := seg[l4:]
		binary.BigEndian.PutUint32(tcp[4:], seq0+uint32(off))
		flags := flags0
		if i > 0 {
			flags &^= pkt.TCPFlagCWR
		}
		if off+n < payload {
			flags &^= pkt.TCPFlagFIN | pkt.TCPFlagPSH
		}
		tcp[13] = flags
		tcp[16], tcp[17] = 0, 0
		sum := pkt.Checksum(tcp, pkt.PseudoHeaderSum(src, dst, pkt.ProtoTCP, uint32(len(tcp))))
		binary.BigEndian.PutUint16(tcp[16:], pkt.Finish(sum))
		if err := s.emit(buf[off : gsoRoom+off+hdrEnd+n]); err != nil {
			return err
		}
		s.superSegs.Add(1)
	}
	s.superFrames.Add(1)
	return nil
}
