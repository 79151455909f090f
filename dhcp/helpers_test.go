// SPDX-License-Identifier: GPL-2.0-or-later

package dhcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"passt/pkt"
)

var (
	clientMAC = [6]byte{0x02, 0xc1, 0x1e, 0x47, 0x00, 0x01}
	ourMAC    = [6]byte{0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55}
	zeroAddr  = netip.AddrFrom4([4]byte{})
	bcastAddr = netip.AddrFrom4([4]byte{255, 255, 255, 255})
)

// testConfig is a full configuration with the router on the guest's subnet.
func testConfig() *Config {
	return &Config{
		OurMAC:     ourMAC,
		ServerAddr: netip.MustParseAddr("10.0.2.2"),
		GuestAddr:  netip.MustParseAddr("10.0.2.15"),
		PrefixLen:  24,
		Router:     netip.MustParseAddr("10.0.2.2"),
		DNS:        []netip.Addr{netip.MustParseAddr("10.0.2.3"), netip.MustParseAddr("192.0.2.53")},
		Search:     []string{"example.com", "sub.example.com", "example.org"},
		MTU:        65520,
		Hostname:   "guest",
		FQDN:       "guest.example.com",
	}
}

// opt returns one option in type-length-value form.
func opt(code byte, data ...byte) []byte {
	return append([]byte{code, byte(len(data))}, data...)
}

// msgSpec describes a client message for buildMsg.
type msgSpec struct {
	typ    int // option 53; 0: none (BOOTP)
	xid    uint32
	flags  uint16
	ciaddr [4]byte
	extra  [][]byte // raw options after option 53
	noEnd  bool
}

// buildMsg builds a BOOTREQUEST from clientMAC.
func buildMsg(s msgSpec) []byte {
	m := make([]byte, 240, 400)
	m[0], m[1], m[2] = 1, 1, 6
	binary.BigEndian.PutUint32(m[4:], s.xid)
	binary.BigEndian.PutUint16(m[10:], s.flags)
	copy(m[12:16], s.ciaddr[:])
	copy(m[28:], clientMAC[:])
	binary.BigEndian.PutUint32(m[236:], 0x63825363)
	if s.typ != 0 {
		m = append(m, opt(53, byte(s.typ))...)
	}
	for _, o := range s.extra {
		m = append(m, o...)
	}
	if !s.noEnd {
		m = append(m, 255)
	}
	return m
}

// wrap puts a BOOTP message in a broadcast UDP datagram from 0.0.0.0:68 to
// 255.255.255.255:67, built with package pkt.
func wrap(msg []byte) []byte {
	return wrapAddr(msg, zeroAddr, bcastAddr, 68, 67)
}

func wrapAddr(msg []byte, src, dst netip.Addr, sport, dport uint16) []byte {
	const hl = pkt.EthernetHeaderLen + pkt.IPv4MinHeaderLen + pkt.UDPHeaderLen
	f := make([]byte, hl+len(msg))
	copy(f[hl:], msg)
	n := pkt.BuildEthernet(f, pkt.Broadcast, clientMAC, pkt.EtherTypeIPv4)
	n += pkt.BuildIPv4(f[n:], src, dst, pkt.ProtoUDP, pkt.UDPHeaderLen+len(msg), 64, 1)
	pkt.BuildUDP(f[n:], sport, dport, len(msg))
	pkt.FinishUDP(pkt.UDP(f[n:]), src, dst)
	return f
}

// reply is a reply frame taken apart by parseReply.
type reply struct {
	ethDst, ethSrc [6]byte
	src, dst       netip.Addr
	ttl            uint8
	ipFlags        uint16
	ipID           uint16
	sport, dport   uint16
	ipLen          int
	msg            []byte
	order          []byte          // option codes in the order sent
	opts           map[byte][]byte // option values
}

func (r *reply) msgType() int {
	if v := r.opts[53]; len(v) == 1 {
		return int(v[0])
	}
	return 0
}

func (r *reply) yiaddr() netip.Addr { return netip.AddrFrom4([4]byte(r.msg[16:20])) }
func (r *reply) ciaddr() netip.Addr { return netip.AddrFrom4([4]byte(r.msg[12:16])) }

// sum16 is a deliberately naive Internet checksum (RFC 1071), independent
// of package pkt's implementation: it returns the folded ones' complement
// sum, 0xffff for a region that contains its correct checksum.
func sum16(chunks ...[]byte) uint16 {
	var s uint32
	for _, b := range chunks {
		for i := 0; i+1 < len(b); i += 2 {
			s += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			s += uint32(b[len(b)-1]) << 8
		}
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// parseReply checks that frame is a well-formed Ethernet/IPv4/UDP/BOOTP
// reply with valid checksums and a well-formed options field, and takes it
// apart.
func parseReply(frame []byte) (*reply, error) {
	r := &reply{opts: map[byte][]byte{}}
	eth, err := pkt.ParseEthernet(frame)
	if err != nil {
		return nil, err
	}
	if eth.EtherType() != pkt.EtherTypeIPv4 {
		return nil, fmt.Errorf("EtherType %#04x", eth.EtherType())
	}
	r.ethDst, r.ethSrc = eth.Dst(), eth.Src()
	ip, err := pkt.ParseIPv4(eth.Payload())
	if err != nil {
		return nil, err
	}
	if len(ip) != len(eth.Payload()) {
		return nil, fmt.Errorf("IPv4 total length %d, frame carries %d", len(ip), len(eth.Payload()))
	}
	if ip.HeaderLen() != 20 || ip.Protocol() != pkt.ProtoUDP {
		return nil, fmt.Errorf("IPv4 header length %d protocol %d", ip.HeaderLen(), ip.Protocol())
	}
	if sum16(ip[:20]) != 0xffff || !ip.ChecksumValid() {
		return nil, errors.New("bad IPv4 header checksum")
	}
	if len(ip) > 576 {
		return nil, fmt.Errorf("IPv4 datagram of %d bytes exceeds 576", len(ip))
	}
	r.src, r.dst, r.ttl, r.ipFlags, r.ipID, r.ipLen = ip.Src(), ip.Dst(), ip.TTL(), ip.Flags(), ip.ID(), len(ip)
	udp, err := pkt.ParseUDP(ip.Payload())
	if err != nil {
		return nil, err
	}
	if len(udp) != len(ip.Payload()) {
		return nil, errors.New("UDP length differs from the datagram")
	}
	src4, dst4 := r.src.As4(), r.dst.As4()
	var pseudo [12]byte
	copy(pseudo[0:], src4[:])
	copy(pseudo[4:], dst4[:])
	pseudo[9] = pkt.ProtoUDP
	binary.BigEndian.PutUint16(pseudo[10:], uint16(len(udp)))
	if udp.Checksum() == 0 || sum16(pseudo[:], udp) != 0xffff {
		return nil, errors.New("bad UDP checksum")
	}
	r.sport, r.dport = udp.SrcPort(), udp.DstPort()
	m := udp.Payload()
	r.msg = m
	if len(m) < 300 {
		return nil, fmt.Errorf("BOOTP message of %d bytes, below 300", len(m))
	}
	if m[0] != 2 || m[2] > 16 {
		return nil, fmt.Errorf("op %d hlen %d", m[0], m[2])
	}
	if binary.BigEndian.Uint32(m[236:]) != 0x63825363 {
		return nil, errors.New("bad magic cookie")
	}
	o := m[240:]
	for i := 0; ; {
		if i >= len(o) {
			return nil, errors.New("no end option")
		}
		code := o[i]
		if code == 255 {
			for _, b := range o[i+1:] {
				if b != 0 {
					return nil, errors.New("garbage after end option")
				}
			}
			break
		}
		if code == 0 {
			i++
			continue
		}
		if i+2 > len(o) || i+2+int(o[i+1]) > len(o) {
			return nil, fmt.Errorf("option %d overruns the message", code)
		}
		if _, dup := r.opts[code]; dup {
			return nil, fmt.Errorf("option %d sent twice", code)
		}
		r.opts[code] = o[i+2 : i+2+int(o[i+1])]
		r.order = append(r.order, code)
		i += 2 + int(o[i+1])
	}
	switch r.msgType() {
	case 2, 5, 6:
	default:
		return nil, fmt.Errorf("message type %v", r.opts[53])
	}
	return r, nil
}

// decodeNames decodes a sequence of possibly compressed DNS names (RFC 1035
// §4.1.4), pointers counting from the start of b, as RFC 3397 specifies.
func decodeNames(b []byte) ([]string, error) {
	var names []string
	for i := 0; i < len(b); {
		name, next, err := decodeName(b, i)
		if err != nil {
			return nil, err
		}
		names = append(names, name)
		i = next
	}
	return names, nil
}

func decodeName(b []byte, i int) (string, int, error) {
	name, next, jumps := "", -1, 0
	for {
		if i >= len(b) {
			return "", 0, errors.New("name runs past the option")
		}
		l := int(b[i])
		switch {
		case l == 0:
			if next < 0 {
				next = i + 1
			}
			return name, next, nil
		case l&0xc0 == 0xc0:
			if i+1 >= len(b) {
				return "", 0, errors.New("truncated pointer")
			}
			if next < 0 {
				next = i + 2
			}
			if jumps++; jumps > 64 {
				return "", 0, errors.New("pointer loop")
			}
			i = (l&0x3f)<<8 | int(b[i+1])
		case l&0xc0 != 0:
			return "", 0, errors.New("bad label type")
		default:
			if i+1+l > len(b) {
				return "", 0, errors.New("label runs past the option")
			}
			if name != "" {
				name += "."
			}
			name += string(b[i+1 : i+1+l])
			i += 1 + l
		}
	}
}
