// SPDX-License-Identifier: GPL-2.0-or-later

package main

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"

	"passt/pkt"
)

var (
	src4, dst4 = netip.MustParseAddr("10.0.2.2"), netip.MustParseAddr("10.0.2.15")
	src6, dst6 = netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
)

// seg describes a test segment.
type seg struct {
	v6      bool
	sport   uint16
	seq     uint32
	ack     uint32
	flags   byte
	window  uint16
	tsval   uint32 // with a timestamp option when non-zero
	payload int
	udp     bool
}

// frame builds seg's frame with complete checksums; its payload bytes are
// the low bytes of their sequence numbers.
func frame(s seg) []byte {
	var opts []byte
	if s.tsval != 0 {
		opts = []byte{1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 9}
		binary.BigEndian.PutUint32(opts[4:], s.tsval)
	}
	l4len := 20 + len(opts) + s.payload
	if s.udp {
		l4len = 8 + s.payload
	}
	iplen := 20
	if s.v6 {
		iplen = 40
	}
	f := make([]byte, ethHdrLen+iplen+l4len)
	copy(f, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1})
	ip := f[ethHdrLen:]
	proto := byte(pkt.ProtoTCP)
	if s.udp {
		proto = pkt.ProtoUDP
	}
	var src, dst netip.Addr
	if s.v6 {
		binary.BigEndian.PutUint16(f[12:], pkt.EtherTypeIPv6)
		ip[0], ip[6], ip[7] = 0x60, proto, 64
		binary.BigEndian.PutUint16(ip[4:], uint16(l4len))
		a, b := src6.As16(), dst6.As16()
		copy(ip[8:], a[:])
		copy(ip[24:], b[:])
		src, dst = src6, dst6
	} else {
		binary.BigEndian.PutUint16(f[12:], pkt.EtherTypeIPv4)
		ip[0], ip[8], ip[9] = 0x45, 64, proto
		binary.BigEndian.PutUint16(ip[2:], uint16(20+l4len))
		binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF
		a, b := src4.As4(), dst4.As4()
		copy(ip[12:], a[:])
		copy(ip[16:], b[:])
		pkt.IPv4(ip[:20]).SetChecksum(pkt.Finish(pkt.Checksum(ip[:20], 0)))
		src, dst = src4, dst4
	}
	l4 := ip[iplen:]
	binary.BigEndian.PutUint16(l4[0:], s.sport)
	binary.BigEndian.PutUint16(l4[2:], 5201)
	if s.udp {
		binary.BigEndian.PutUint16(l4[4:], uint16(l4len))
		return f
	}
	binary.BigEndian.PutUint32(l4[4:], s.seq)
	binary.BigEndian.PutUint32(l4[8:], s.ack)
	l4[12] = byte((20+len(opts))/4) << 4
	l4[13] = s.flags
	binary.BigEndian.PutUint16(l4[14:], s.window)
	copy(l4[20:], opts)
	for i := 0; i < s.payload; i++ {
		l4[20+len(opts)+i] = byte(s.seq + uint32(i))
	}
	pkt.FinishTCP(pkt.TCP(l4), src, dst)
	return f
}

// bulk returns n full segments of size bytes from seq, ACK only.
func bulk(base seg, n, size int) []seg {
	out := make([]seg, n)
	for i := range out {
		s := base
		s.seq = base.seq + uint32(i*size)
		s.payload = size
		if s.flags == 0 {
			s.flags = tcpFlagACK
		}
		out[i] = s
	}
	return out
}

// run feeds the frames of segs to a coalescer, flushing at the end, and
// returns what it wrote (virtio-net header and frame).
func run(t *testing.T, segs []seg) [][]byte {
	t.Helper()
	var out [][]byte
	c := newCoalescer(func(b []byte) error {
		out = append(out, bytes.Clone(b))
		return nil
	})
	for _, s := range segs {
		if err := c.add(frame(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.flush(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkWritten checks one written super-frame or frame: a valid IP
// header, a TCP checksum that is complete, or partial and right once
// completed as the kernel would, and a payload continuing from seq. It
// returns the frame's gso_size (0 without GSO) and payload length.
func checkWritten(t *testing.T, b []byte) (gsoSize, payload int) {
	t.Helper()
	h, f := b[:vnetHdrLen], b[vnetHdrLen:]
	s, ok := parseSegment(f)
	if !ok {
		if h[0] != 0 || h[1] != 0 {
			t.Errorf("offload on a frame that is no TCP segment: % x", h)
		}
		return 0, 0
	}
	if s.end != len(f) {
		t.Errorf("frame of %d bytes, IP packet ending at %d", len(f), s.end)
	}
	var src, dst netip.Addr
	if s.v6 {
		src, dst = src6, dst6
	} else {
		ip := pkt.IPv4(f[ethHdrLen:s.l4])
		if !ip.ChecksumValid() {
			t.Error("IPv4 header checksum wrong")
		}
		src, dst = ip.Src(), ip.Dst()
	}
	tcp := bytes.Clone(f[s.l4:s.end])
	switch h[0] {
	case 0:
		if h[1] != 0 {
			t.Errorf("GSO without NEEDS_CSUM: % x", h)
		}
	case vnetNeedsCsum:
		start, off := int(binary.LittleEndian.Uint16(h[6:])), int(binary.LittleEndian.Uint16(h[8:]))
		if start != s.l4 || off != 16 {
			t.Errorf("csum_start %d csum_offset %d, want %d 16", start, off, s.l4)
		}
		binary.BigEndian.PutUint16(tcp[16:], pkt.Finish(pkt.Checksum(tcp, 0)))
		want := byte(vnetGSOTCPv4)
		if s.v6 {
			want = vnetGSOTCPv6
		}
		if h[1] != want || int(binary.LittleEndian.Uint16(h[2:])) != s.hdrEnd {
			t.Errorf("gso_type %d hdr_len %d, want %d %d", h[1], binary.LittleEndian.Uint16(h[2:]), want, s.hdrEnd)
		}
		gsoSize = int(binary.LittleEndian.Uint16(h[4:]))
	default:
		t.Errorf("virtio-net flags %#x", h[0])
	}
	if pkt.Finish(pkt.Checksum(tcp, pkt.PseudoHeaderSum(src, dst, pkt.ProtoTCP, uint32(len(tcp))))) != 0 {
		t.Error("TCP checksum wrong")
	}
	for i, v := range f[s.hdrEnd:s.end] {
		if v != byte(s.seq+uint32(i)) {
			t.Fatalf("payload byte %d (seq %d) is %d", i, s.seq+uint32(i), v)
		}
	}
	return gsoSize, s.payload
}

func TestCoalesce(t *testing.T) {
	flow := seg{sport: 40000, seq: 1000, ack: 77, window: 500}
	ts := flow
	ts.tsval = 123
	v6 := flow
	v6.v6 = true
	concat := func(parts ...[]seg) []seg {
		var out []seg
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	with := func(segs []seg, i int, f func(*seg)) []seg {
		f(&segs[i])
		return segs
	}
	for _, tc := range []struct {
		name string
		segs []seg
		want []int // payload of each frame written
	}{
		{"in order", bulk(flow, 5, 1000), []int{5000}},
		{"with timestamps", bulk(ts, 5, 1448), []int{5 * 1448}},
		{"IPv6", bulk(v6, 4, 1440), []int{4 * 1440}},
		{"one segment", bulk(flow, 1, 1000), []int{1000}},
		{"gap", concat(bulk(flow, 2, 1000), bulk(seg{sport: 40000, seq: 4000, ack: 77}, 2, 1000)), []int{2000, 2000}},
		{"retransmission", concat(bulk(flow, 3, 1000), bulk(flow, 1, 1000)), []int{3000, 1000}},
		{"other ack", with(bulk(flow, 4, 1000), 2, func(s *seg) { s.ack++ }), []int{2000, 1000, 1000}},
		{"other port", with(bulk(flow, 4, 1000), 2, func(s *seg) { s.sport++ }), []int{2000, 1000, 1000}},
		{"other timestamp", with(bulk(ts, 4, 1000), 2, func(s *seg) { s.tsval++ }), []int{2000, 1000, 1000}},
		{"other window", with(bulk(flow, 4, 1000), 2, func(s *seg) { s.window++ }), []int{4000}},
		{"PSH ends", with(bulk(flow, 4, 1000), 1, func(s *seg) { s.flags |= tcpFlagPSH }), []int{2000, 2000}},
		{"short ends", concat(bulk(flow, 2, 1000), bulk(seg{sport: 40000, seq: 3000, ack: 77}, 1, 500), bulk(seg{sport: 40000, seq: 3500, ack: 77}, 1, 1000)), []int{2500, 1000}},
		{"longer", concat(bulk(flow, 2, 1000), bulk(seg{sport: 40000, seq: 3000, ack: 77}, 1, 1200)), []int{2000, 1200}},
		{"FIN alone", with(bulk(flow, 3, 1000), 2, func(s *seg) { s.flags |= 0x01 }), []int{2000, 0}},
		{"pure ACK", concat(bulk(flow, 2, 1000), []seg{{sport: 40000, seq: 3000, ack: 77, flags: tcpFlagACK}}, bulk(seg{sport: 40000, seq: 3000, ack: 77}, 2, 1000)), []int{2000, 0, 2000}},
		{"UDP between", concat(bulk(flow, 2, 1000), []seg{{udp: true, payload: 100}}, bulk(seg{sport: 40000, seq: 3000, ack: 77}, 2, 1000)), []int{2000, 0, 2000}},
		{"64 KiB", bulk(flow, 50, 1460), []int{44 * 1460, 6 * 1460}},
		{"64 KiB IPv6", bulk(v6, 50, 1440), []int{45 * 1440, 5 * 1440}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := run(t, tc.segs)
			var got []int
			for _, b := range out {
				gso, n := checkWritten(t, b)
				got = append(got, n)
				if gso != 0 && n <= gso {
					t.Errorf("gso_size %d on a frame of %d bytes of data", gso, n)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("wrote frames of %v bytes of data, want %v", got, tc.want)
			}
		})
	}
}

// TestCoalesceFields: a merged frame keeps the first segment's headers but
// takes the last one's window, and PSH if the last one had it.
func TestCoalesceFields(t *testing.T) {
	segs := bulk(seg{sport: 40000, seq: 1000, ack: 77, window: 500}, 3, 1000)
	segs[2].window, segs[2].flags = 900, tcpFlagACK|tcpFlagPSH
	out := run(t, segs)
	if len(out) != 1 {
		t.Fatalf("%d frames written", len(out))
	}
	f := out[0][vnetHdrLen:]
	tcp := pkt.TCP(f[34:])
	if tcp.Seq() != 1000 || tcp.Ack() != 77 || tcp.Window() != 900 || tcp.Flags() != tcpFlagACK|tcpFlagPSH {
		t.Errorf("seq %d ack %d window %d flags %#x", tcp.Seq(), tcp.Ack(), tcp.Window(), tcp.Flags())
	}
	if gso := binary.LittleEndian.Uint16(out[0][4:]); gso != 1000 {
		t.Errorf("gso_size %d", gso)
	}
}

// FuzzCoalesce: any frames make the coalescer write each byte of TCP data
// it took exactly once, in frames that check out, and never panic.
func FuzzCoalesce(f *testing.F) {
	f.Add(frame(seg{sport: 1, seq: 5, ack: 1, flags: tcpFlagACK, payload: 30}), frame(seg{sport: 1, seq: 35, ack: 1, flags: tcpFlagACK, payload: 30}))
	f.Add(frame(seg{v6: true, seq: 5, flags: tcpFlagACK, payload: 30}), []byte{0x45})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		if len(a) > maxFrame || len(b) > maxFrame {
			return
		}
		var written int
		c := newCoalescer(func(w []byte) error {
			written += len(w) - vnetHdrLen
			if s, ok := parseSegment(w[vnetHdrLen:]); ok && w[vnetHdrLen+s.l4+13]&^tcpFlagPSH != tcpFlagACK {
				t.Errorf("flags %#x written", w[vnetHdrLen+s.l4+13])
			}
			return nil
		})
		var in int
		for _, fr := range [][]byte{a, b, a} {
			if s, ok := parseSegment(fr); ok {
				in += s.end // padding after the IP packet is not kept
			} else {
				in += len(fr)
			}
			if err := c.add(fr); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.flush(); err != nil {
			t.Fatal(err)
		}
		if written > in {
			t.Errorf("wrote %d bytes from %d", written, in)
		}
	})
}
