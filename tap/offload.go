// SPDX-License-Identifier: GPL-2.0-or-later

package tap

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"passt/pkt"
)

// Offloads (TUNSETOFFLOAD). With them enabled the namespace's kernel hands
// over TCP segments of up to 64 KiB whatever the MTU (TSO: the virtio-net
// header says how the receiver would cut them, gso_type and gso_size) whose
// checksum is left for us to complete (flags NEEDS_CSUM: the field holds
// the pseudo-header sum, csum_start and csum_offset say where). In the
// other direction we may write such super-frames, with a partial checksum,
// and the kernel takes them as one segment each: its receive path never
// needs to cut a segment meant for a local socket. A byte stream then
// crosses the tap in 64 KiB steps even at MTU 1500, and neither side sums
// the payload.
//
// UDP frames to the namespace may also leave their checksum partial: a
// local socket never needs it completed. Where the kernel has UDP
// segmentation offload for taps (USO, Linux 6.2), consecutive datagrams of
// one flow go as one super-frame (GSO_UDP_L4, gso_size the datagrams'
// payload length, the last one possibly shorter): one write, and one pass
// through the namespace's link and IP layers, for up to a batch of them;
// the kernel cuts it into datagrams when it reaches the UDP layer. Their
// payloads need not be contiguous: the frame's headers and first payload
// are followed by the others' payloads in the same write (Offload.Tail),
// each where it was received.
//
// Who needs a complete checksum gets one: frames read with NEEDS_CSUM are
// completed here unless they are TCP or UDP, whose handlers trust the
// kernel's own frames and never look at the checksum (nor do the DHCP and
// DHCPv6 servers).

// Virtio-net header values (include/uapi/linux/virtio_net.h) and tun
// offload flags (include/uapi/linux/if_tun.h).
const (
	vnetFlagNeedsCsum = 1
	gsoNone           = 0
	gsoTCPv4          = 1
	gsoTCPv6          = 4
	gsoUDPL4          = unix.VIRTIO_NET_HDR_GSO_UDP_L4

	tunFCsum = 0x01
	tunFTSO4 = 0x02
	tunFTSO6 = 0x04
)

// MaxTail is how many payloads may follow a frame in one UDP super-frame.
const MaxTail = 63

// Offload describes how a frame written to the device is to be taken.
type Offload struct {
	// GSOSize is the segment size for a TCP super-frame larger than one
	// segment, or the datagram payload size of a UDP super-frame (with
	// a partial checksum, on a device with UDPSegmentation); 0 for a
	// frame that is one segment or datagram.
	GSOSize uint16
	// Partial says the TCP or UDP checksum field holds only the
	// pseudo-header sum, for the kernel to complete.
	Partial bool
	// Tail, for a UDP super-frame, are the payloads of the datagrams
	// after the first, written after the frame: its IP and UDP lengths
	// count them. At most MaxTail.
	Tail [][]byte
}

// OffloadAt is the Offload of frame number Index in a batch.
type OffloadAt struct {
	Index int
	Offload
}

// EnableOffload turns on checksum offload and TSO for IPv4 and IPv6, and
// finds out whether UDP super-frames may be written (UDPSegmentation).
//
// The kernel takes a GSO_UDP_L4 frame written to a tap from Linux 6.2 on,
// the version that added TUN_F_USO4 and TUN_F_USO6, so a TUNSETOFFLOAD
// with those accepted tells; but the flags themselves say that the reader
// takes UDP super-frames from the namespace, which the UDP handler would
// take for one large datagram each. So once the probe has answered, the
// offloads are set again without them: the namespace's kernel cuts what
// its sockets send with UDP_SEGMENT before the tap, as it always did.
func (d *Device) EnableOffload() error {
	base := tunFCsum | tunFTSO4 | tunFTSO6
	d.uso = unix.IoctlSetInt(d.fd, unix.TUNSETOFFLOAD, base|unix.TUN_F_USO4|unix.TUN_F_USO6) == nil
	if err := unix.IoctlSetInt(d.fd, unix.TUNSETOFFLOAD, base); err != nil {
		return fmt.Errorf("TUNSETOFFLOAD ioctl on /dev/net/tun failed: %w", errText{err})
	}
	return nil
}

// UDPSegmentation reports whether the device takes UDP super-frames
// written to it (EnableOffload found a kernel that does).
func (d *Device) UDPSegmentation() bool { return d.uso }

// vnetHeader fills h for frame with offload o. The frame is Ethernet,
// IPv4 (any header length) or IPv6 (no extension headers), then TCP or UDP,
// as the TCP and UDP handlers build them; anything else gets no offload.
// A UDP frame takes a partial checksum (csum_offset 6) and, with it, GSO
// (GSO_UDP_L4, which the kernel takes only with the partial checksum).
func vnetHeader(h *[VnetHdrLen]byte, frame []byte, o Offload) {
	*h = [VnetHdrLen]byte{}
	if len(frame) < 14+20 {
		return
	}
	var l3, gso int
	var proto byte
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case pkt.EtherTypeIPv4:
		l3, gso, proto = int(frame[14]&0x0f)*4, gsoTCPv4, frame[14+9]
	case pkt.EtherTypeIPv6:
		l3, gso, proto = 40, gsoTCPv6, frame[14+6]
	default:
		return
	}
	start := 14 + l3
	if proto == pkt.ProtoUDP {
		if o.Partial && len(frame) >= start+8 {
			h[0] = vnetFlagNeedsCsum
			binary.LittleEndian.PutUint16(h[6:], uint16(start)) // csum_start
			binary.LittleEndian.PutUint16(h[8:], 6)             // csum_offset: UDP checksum
			if o.GSOSize != 0 {
				h[1] = gsoUDPL4
				binary.LittleEndian.PutUint16(h[2:], uint16(start+8)) // hdr_len
				binary.LittleEndian.PutUint16(h[4:], o.GSOSize)
			}
		}
		return
	}
	if len(frame) < start+20 {
		return
	}
	if o.Partial {
		h[0] = vnetFlagNeedsCsum
		binary.LittleEndian.PutUint16(h[6:], uint16(start)) // csum_start
		binary.LittleEndian.PutUint16(h[8:], 16)            // csum_offset: TCP checksum
	}
	if o.GSOSize != 0 {
		h[1] = byte(gso)
		binary.LittleEndian.PutUint16(h[2:], uint16(start+int(frame[start+12]>>4)*4)) // hdr_len
		binary.LittleEndian.PutUint16(h[4:], o.GSOSize)
	}
}

// WriteOffload writes frames like WriteBatch, frames listed in offl (in
// increasing Index order) with their virtio-net header. It does not
// allocate.
func (d *Device) WriteOffload(frames [][]byte, offl []OffloadAt) (int, error) {
	var hdr [VnetHdrLen]byte
	var iov [2 + MaxTail]unix.Iovec
	for i, f := range frames {
		if len(f) == 0 {
			return i, unix.EINVAL
		}
		iov[0].Base = &zeroHdr[0]
		niov := 2
		if len(offl) > 0 && offl[0].Index == i {
			o := &offl[0].Offload
			if len(o.Tail) > MaxTail {
				return i, unix.EINVAL
			}
			vnetHeader(&hdr, f, *o)
			iov[0].Base = &hdr[0]
			for _, t := range o.Tail {
				if len(t) == 0 {
					continue
				}
				iov[niov].Base = &t[0]
				iov[niov].SetLen(len(t))
				niov++
			}
			offl = offl[1:]
		}
		iov[0].SetLen(VnetHdrLen)
		iov[1].Base = &f[0]
		iov[1].SetLen(len(f))
		for {
			_, _, e := unix.RawSyscall(unix.SYS_WRITEV, uintptr(d.fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(niov))
			if e == unix.EINTR {
				continue
			}
			if e != 0 {
				return i, e
			}
			break
		}
	}
	return len(frames), nil
}

// completeChecksum finishes the checksum of a frame read from the device
// (buf holds the virtio-net header, then the frame) when the kernel left it
// partial, unless the frame is TCP or UDP. It reports whether the frame is
// left with a partial checksum.
func completeChecksum(buf []byte) (partial bool) {
	if len(buf) < VnetHdrLen+14 || buf[0]&vnetFlagNeedsCsum == 0 {
		return false
	}
	start := VnetHdrLen + int(binary.LittleEndian.Uint16(buf[6:]))
	field := start + int(binary.LittleEndian.Uint16(buf[8:]))
	if start >= len(buf) || field+2 > len(buf) {
		return false
	}
	frame := buf[VnetHdrLen:]
	var proto byte
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case pkt.EtherTypeIPv4:
		if len(frame) > 14+9 {
			proto = frame[14+9]
		}
	case pkt.EtherTypeIPv6:
		if len(frame) > 14+6 {
			proto = frame[14+6]
		}
	}
	if proto == pkt.ProtoTCP || proto == pkt.ProtoUDP {
		return true
	}
	sum := pkt.Finish(pkt.Checksum(buf[start:], 0))
	if proto == pkt.ProtoUDP && sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(buf[field:], sum)
	buf[0] &^= vnetFlagNeedsCsum
	return false
}
