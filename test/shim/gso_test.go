// SPDX-License-Identifier: GPL-2.0-or-later

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"passt/pkt"
)

// cut feeds one frame with virtio-net header h to a segmenter and returns
// the frames it emitted.
func cut(t *testing.T, h vnetHeader, frame []byte) ([][]byte, error) {
	t.Helper()
	var out [][]byte
	s := &segmenter{emit: func(b []byte) error {
		binary.BigEndian.PutUint32(b, uint32(len(b)-gsoRoom)) // as main's: the room is the segmenter's to give
		out = append(out, bytes.Clone(b[gsoRoom:]))
		return nil
	}}
	err := s.relay(h, append(make([]byte, gsoRoom), frame...))
	return out, err
}

// withID sets an IPv4 frame's ID and header checksum.
func withID(f []byte, id uint16) []byte {
	ip := pkt.IPv4(f[ethHdrLen : ethHdrLen+20])
	ip.SetID(id)
	ip.SetChecksum(0)
	ip.SetChecksum(pkt.Finish(pkt.Checksum(ip, 0)))
	return f
}

// TestSegmentTCP: a super-frame is cut into the frames Linux's GSO would
// send: every header field and checksum as in a frame built whole, the
// sequence numbers advancing, CWR on the first only, PSH and FIN on the
// last only, IPv4 IDs counting up; the last piece shorter.
func TestSegmentTCP(t *testing.T) {
	const mss, total = 1448, 10*1448 + 300
	for _, v6 := range []bool{false, true} {
		super := seg{v6: v6, sport: 40000, seq: 0xfffff000, ack: 77, window: 500,
			flags: tcpFlagACK | tcpFlagPSH | pkt.TCPFlagFIN | pkt.TCPFlagCWR, payload: total}
		in := frame(super)
		l4 := ethHdrLen + 20
		h := vnetHeader{flags: vnetNeedsCsum, gsoType: vnetGSOTCPv4 | unix.VIRTIO_NET_HDR_GSO_ECN, hdrLen: l4 + 20,
			gsoSize: mss, csumStart: l4, csumOffset: 16}
		if v6 {
			l4 = ethHdrLen + 40
			h.gsoType, h.hdrLen, h.csumStart = vnetGSOTCPv6, l4+20, l4
		}
		// The kernel leaves the pseudo-header sum in the checksum field.
		binary.BigEndian.PutUint16(in[l4+16:], 0x1234)
		if !v6 {
			withID(in, 1000)
		}
		got, err := cut(t, h, in)
		if err != nil {
			t.Fatalf("v6 %v: %v", v6, err)
		}
		if len(got) != 11 {
			t.Fatalf("v6 %v: %d frames, want 11", v6, len(got))
		}
		for i, f := range got {
			want := super
			want.seq = super.seq + uint32(i*mss)
			want.payload = min(mss, total-i*mss)
			want.flags = tcpFlagACK
			if i == 0 {
				want.flags |= pkt.TCPFlagCWR
			}
			if i == len(got)-1 {
				want.flags |= tcpFlagPSH | pkt.TCPFlagFIN
			}
			w := frame(want)
			if !v6 {
				withID(w, 1000+uint16(i))
			}
			if !bytes.Equal(f, w) {
				t.Fatalf("v6 %v: frame %d differs from one built whole:\n got %x\nwant %x", v6, i, f[:l4+20], w[:l4+20])
			}
		}
	}
}

// TestSegmentChecksumOnly: a frame that needs no cutting gets its partial
// checksum completed (TCP and UDP), and a frame with nothing to do passes
// as it came.
func TestSegmentChecksumOnly(t *testing.T) {
	for _, s := range []seg{
		{sport: 1, seq: 5, flags: tcpFlagACK, payload: 100},
		{v6: true, sport: 2, seq: 5, flags: tcpFlagACK, payload: 0},
		{sport: 3, udp: true, payload: 33},
		{v6: true, sport: 4, udp: true, payload: 1},
	} {
		want := frame(s)
		l4, off := ethHdrLen+20, 16
		if s.v6 {
			l4 = ethHdrLen + 40
		}
		if s.udp {
			off = 6
			// frame leaves UDP checksums empty: complete it here.
			var src, dst = src4, dst4
			if s.v6 {
				src, dst = src6, dst6
			}
			u := want[l4:]
			sum := pkt.Finish(pkt.Checksum(u, pkt.PseudoHeaderSum(src, dst, pkt.ProtoUDP, uint32(len(u)))))
			if sum == 0 {
				sum = 0xffff
			}
			binary.BigEndian.PutUint16(u[6:], sum)
		}
		in := bytes.Clone(want)
		var src, dst = src4, dst4
		if s.v6 {
			src, dst = src6, dst6
		}
		proto := uint8(pkt.ProtoTCP)
		if s.udp {
			proto = pkt.ProtoUDP
		}
		partial := pkt.Fold(pkt.PseudoHeaderSum(src, dst, proto, uint32(len(in)-l4)))
		binary.BigEndian.PutUint16(in[l4+off:], partial)
		got, err := cut(t, vnetHeader{flags: vnetNeedsCsum, csumStart: l4, csumOffset: off}, in)
		if err != nil || len(got) != 1 || !bytes.Equal(got[0], want) {
			t.Errorf("%+v: %v, %d frames, or not the frame with its checksum", s, err, len(got))
		}
		got, err = cut(t, vnetHeader{}, want)
		if err != nil || len(got) != 1 || !bytes.Equal(got[0], want) {
			t.Errorf("%+v without offload: %v, %d frames, or changed", s, err, len(got))
		}
	}
}

// TestSegmentMalformed: headers that do not describe the frame are an
// error, never a panic or a frame.
func TestSegmentMalformed(t *testing.T) {
	good := frame(seg{sport: 1, seq: 5, flags: tcpFlagACK, payload: 3000})
	udp := frame(seg{sport: 1, udp: true, payload: 3000})
	for name, c := range map[string]struct {
		h vnetHeader
		f []byte
	}{
		"unknown GSO type":   {vnetHeader{gsoType: 3, gsoSize: 1000}, good},
		"GSO size 0":         {vnetHeader{gsoType: vnetGSOTCPv4}, good},
		"IPv6 type on IPv4":  {vnetHeader{gsoType: vnetGSOTCPv6, gsoSize: 1000}, good},
		"UDP as TCP":         {vnetHeader{gsoType: vnetGSOTCPv4, gsoSize: 1000}, udp},
		"no payload":         {vnetHeader{gsoType: vnetGSOTCPv4, gsoSize: 1000}, good[:ethHdrLen+40]},
		"cut header":         {vnetHeader{gsoType: vnetGSOTCPv4, gsoSize: 1000}, good[:ethHdrLen+30]},
		"no frame":           {vnetHeader{gsoType: vnetGSOTCPv4, gsoSize: 1000}, nil},
		"checksum past end":  {vnetHeader{flags: vnetNeedsCsum, csumStart: uint16max, csumOffset: 16}, good},
		"checksum field cut": {vnetHeader{flags: vnetNeedsCsum, csumStart: len(good) - 10, csumOffset: 9}, good},
	} {
		got, err := cut(t, c.h, bytes.Clone(c.f))
		if !errors.Is(err, errBadOffload) || len(got) != 0 {
			t.Errorf("%s: %v, %d frames", name, err, len(got))
		}
	}
}

const uint16max = 1<<16 - 1

// FuzzSegment: any header and frame: an error or frames, never a panic,
// and never more payload out than in.
func FuzzSegment(f *testing.F) {
	f.Add([]byte{1, 1, 54, 0, 0xa8, 5, 34, 0, 16, 0}, frame(seg{sport: 1, seq: 5, flags: tcpFlagACK, payload: 3000}))
	f.Add([]byte{1, 4, 74, 0, 100, 0, 54, 0, 16, 0}, frame(seg{v6: true, sport: 1, seq: 5, flags: tcpFlagACK, payload: 500}))
	f.Fuzz(func(t *testing.T, hdr, fr []byte) {
		if len(hdr) < vnetHdrLen {
			return
		}
		got, err := cut(t, parseVnetHeader(hdr), fr)
		if err != nil {
			return
		}
		n := 0
		for _, g := range got {
			n += len(g)
		}
		if len(got) > 1 && n > len(fr)+len(got)*(ethHdrLen+60+60) {
			t.Fatalf("%d bytes out of %d", n, len(fr))
		}
	})
}
