// SPDX-License-Identifier: GPL-2.0-or-later

// Command shim is the test suite's stand-in for a virtual machine: run
// inside a network namespace, it creates a tap device there and relays its
// frames to passt's UNIX domain socket in QEMU's stream framing (a 4-byte
// big-endian length before each frame), and back. The namespace's own
// network stack (DHCP clients, SLAAC, ping, iperf3) then talks to passt the
// way a guest kernel behind QEMU's virtio-net would.
//
// Usage: shim [-gro] [-gso] SOCKET IFNAME [MTU]
//
// It prints "ready" on stdout once the tap exists and the socket is
// connected, and exits when passt closes the connection.
//
// Without -gro each frame from passt is one write to the tap, and the
// namespace's stack takes it alone: the tests see passt's frames as they
// are. With -gro the shim merges TCP segments as a virtio-net guest's GRO
// would (see gro.go), for the benchmarks; on exit it reports on stderr
// how many frames it wrote and how many segments went into them. With
// -gso the namespace's stack hands the shim TCP super-frames, which it
// cuts into MTU-sized frames as the stack's own segmentation would (see
// gso.go): one write per frame to passt, as QEMU, and no tap read per
// frame, which QEMU does not have either.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

func main() {
	gro := flag.Bool("gro", false, "merge TCP segments to the guest as GRO would")
	gso := flag.Bool("gso", false, "take TCP super-frames from the guest and cut them as GSO would")
	flag.Parse()
	args := flag.Args()
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: shim [-gro] [-gso] SOCKET IFNAME [MTU]")
		os.Exit(2)
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		fatal("open /dev/net/tun: %v", err)
	}
	ifr, err := unix.NewIfreq(args[1])
	if err != nil {
		fatal("%v", err)
	}
	flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI)
	vnet := *gro || *gso
	if vnet {
		flags |= unix.IFF_VNET_HDR
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		fatal("TUNSETIFF: %v", err)
	}
	if *gso {
		offloads := unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6 | unix.TUN_F_TSO_ECN
		if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, offloads); err != nil {
			fatal("TUNSETOFFLOAD: %v", err)
		}
	}
	if err := setTxQueueLen(args[1], txQueueLen); err != nil {
		fatal("%v", err)
	}
	if len(args) > 2 {
		mtu, _ := strconv.Atoi(args[2])
		s, _ := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		r, _ := unix.NewIfreq(args[1])
		r.SetUint32(uint32(mtu))
		if err := unix.IoctlIfreq(s, unix.SIOCSIFMTU, r); err != nil {
			fatal("SIOCSIFMTU: %v", err)
		}
		unix.Close(s)
	}
	tap := os.NewFile(uintptr(fd), "tap")
	conn, err := net.Dial("unix", args[0])
	if err != nil {
		fatal("connect: %v", err)
	}
	fmt.Println("ready")

	seg := &segmenter{emit: func(b []byte) error {
		binary.BigEndian.PutUint32(b, uint32(len(b)-gsoRoom))
		_, err := conn.Write(b)
		return err
	}}
	switch {
	case vnet:
		go tapToPasstVnet(tap, conn, seg, *gso)
	default:
		go tapToPasst(tap, conn)
	}
	if *gro {
		passtToTapGRO(conn, tap, seg)
		return
	}
	passtToTap(conn, tap, vnet)
}

// tapToPasst relays the guest's frames to passt, one write each.
func tapToPasst(tap *os.File, conn net.Conn) {
	buf := make([]byte, 4+65536)
	for {
		n, err := tap.Read(buf[4:])
		if err != nil {
			fatal("tap read: %v", err)
		}
		binary.BigEndian.PutUint32(buf, uint32(n))
		if _, err := conn.Write(buf[:4+n]); err != nil {
			os.Exit(0)
		}
	}
}

// passtToTap relays passt's frames to the tap, one write each, after an
// empty virtio-net header if the tap takes one.
func passtToTap(conn net.Conn, tap *os.File, vnet bool) {
	r := bufio.NewReaderSize(conn, 1<<20)
	// Frames may exceed 65535 bytes: a UDP datagram of 65507 bytes
	// comes as one IPv4 frame of 65549.
	buf := make([]byte, vnetHdrLen+1<<17)
	off := 0
	if vnet {
		off = vnetHdrLen
	}
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			os.Exit(0)
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > uint32(len(buf)-off) {
			fatal("frame of %d bytes", n)
		}
		if _, err := io.ReadFull(r, buf[off:off+int(n)]); err != nil {
			os.Exit(0)
		}
		if _, err := tap.Write(buf[:off+int(n)]); err != nil && !errors.Is(err, unix.EIO) {
			// EIO: the interface is down; the frame is dropped,
			// as a NIC whose link is down would.
			fatal("tap write: %v", err)
		}
	}
}

// tapToPasstVnet relays the guest's frames to passt from a tap opened with
// IFF_VNET_HDR. Without -gso no offload is enabled on the tap, so the
// kernel completes every frame (checksum, segmentation) and its header
// says nothing; with it the segmenter completes them.
func tapToPasstVnet(tap *os.File, conn net.Conn, seg *segmenter, gso bool) {
	// The header is read to buf[gsoRoom:at], the frame after it; once the
	// header is parsed, the gsoRoom bytes in front of the frame take its
	// length.
	const at = gsoRoom + vnetHdrLen
	buf := make([]byte, at+maxFrame)
	for {
		n, err := tap.Read(buf[gsoRoom:])
		if err != nil {
			fatal("tap read: %v", err)
		}
		if n < vnetHdrLen {
			continue
		}
		h := parseVnetHeader(buf[gsoRoom : gsoRoom+vnetHdrLen])
		if !gso && (h.flags != 0 || h.gsoType != 0) {
			fatal("tap read: offload in a frame from the guest (flags %#x, gso %d)", h.flags, h.gsoType)
		}
		if err := seg.relay(h, buf[at-gsoRoom:gsoRoom+n]); err != nil {
			if errors.Is(err, errBadOffload) {
				fatal("tap read: %v (header %+v, %d bytes)", err, h, n-vnetHdrLen)
			}
			os.Exit(0)
		}
	}
}

// passtToTapGRO relays passt's frames to the tap through a coalescer,
// merging within each read from passt's socket.
func passtToTapGRO(conn net.Conn, tap *os.File, seg *segmenter) {
	c := newCoalescer(func(b []byte) error {
		if _, err := tap.Write(b); err != nil && !errors.Is(err, unix.EIO) {
			return err // EIO: link down, dropped as by plain relay
		}
		return nil
	})
	buf := make([]byte, 1<<20)
	start, end := 0, 0
	for {
		for end-start >= 4 {
			n := int(binary.BigEndian.Uint32(buf[start:]))
			if n > maxFrame {
				fatal("frame of %d bytes", n)
			}
			if end-start < 4+n {
				break
			}
			if err := c.add(buf[start+4 : start+4+n]); err != nil {
				fatal("tap write: %v", err)
			}
			start += 4 + n
		}
		if err := c.flush(); err != nil {
			fatal("tap write: %v", err)
		}
		end = copy(buf, buf[start:end])
		start = 0
		m, err := conn.Read(buf[end:])
		if err != nil {
			fmt.Fprintf(os.Stderr, "shim: %d frames to the guest; %d merged from %d TCP segments\n", c.frames, c.superFrames, c.superSegs)
			if n := seg.superFrames.Load(); n > 0 {
				fmt.Fprintf(os.Stderr, "shim: %d TCP super-frames from the guest, cut into %d frames\n", n, seg.superSegs.Load())
			}
			os.Exit(0)
		}
		end += m
	}
}

// txQueueLen is the length of the tap's transmit ring (frames the
// namespace's stack sends, waiting for the shim to read them). QEMU's
// virtio-net never drops a guest's frame because its backend is slow: it
// stops taking frames from the guest's queue, and the guest's stack holds
// them back. A tap drops instead, once its ring is full. The guest's TCP
// has at most passt's advertised window in flight (a few MiB: the host
// socket's send buffer), so a ring of 10 000 frames (14 MiB at MTU 1500)
// never fills and the shim loses nothing QEMU would not; with the
// default 1000, bulk transfers at MTU 1500 lost frames whenever passt was
// slower than the guest for a moment, and TCP without SACK recovered by
// retransmission timeouts (0.1-0.7 Gbit/s instead of 1.5-1.9).
const txQueueLen = 10000

// setTxQueueLen sets the transmit queue length of interface name.
func setTxQueueLen(name string, n int) error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(s)
	r, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	r.SetUint32(uint32(n))
	if err := unix.IoctlIfreq(s, unix.SIOCSIFTXQLEN, r); err != nil {
		return fmt.Errorf("SIOCSIFTXQLEN %s %d: %w", name, n, err)
	}
	return nil
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "shim: "+format+"\n", args...)
	os.Exit(1)
}
