// SPDX-License-Identifier: GPL-2.0-or-later

package pkt

import (
	"encoding/hex"
	"strings"
)

// Frames as a capture tool would print them (offset, then bytes). Their
// checksums were computed by an independent implementation, not by this
// package.
var (
	// frameARPRequest (60 bytes): ARP request "who has 10.0.2.2? tell 10.0.2.15", broadcast, padded to the 60-byte minimum.
	frameARPRequest = `
0000: ff ff ff ff ff ff 52 54 00 12 34 56 08 06 00 01
0010: 08 00 06 04 00 01 52 54 00 12 34 56 0a 00 02 0f
0020: 00 00 00 00 00 00 0a 00 02 02 00 00 00 00 00 00
0030: 00 00 00 00 00 00 00 00 00 00 00 00
`
	// frameTCPSyn4 (74 bytes): TCP SYN 10.0.2.15:45678 > 93.184.216.34:80, DF, options MSS 1460, SACK-permitted, TS 0x1a2b3c4d/0, NOP, WS 7 (Linux layout).
	frameTCPSyn4 = `
0000: 52 55 0a 00 02 02 52 54 00 12 34 56 08 00 45 00
0010: 00 3c 1c 46 40 00 40 06 dc 8c 0a 00 02 0f 5d b8
0020: d8 22 b2 6e 00 50 6f 3c 9a 01 00 00 00 00 a0 02
0030: fa f0 f8 b0 00 00 02 04 05 b4 04 02 08 0a 1a 2b
0040: 3c 4d 00 00 00 00 01 03 03 07
`
	// frameDNSQuery4 (71 bytes): UDP DNS query 10.0.2.15:54321 > 10.0.2.3:53, id 0xbeef, A? example.com.
	frameDNSQuery4 = `
0000: 52 55 0a 00 02 02 52 54 00 12 34 56 08 00 45 00
0010: 00 39 04 d2 00 00 40 11 5d d1 0a 00 02 0f 0a 00
0020: 02 03 d4 31 00 35 00 25 84 ce be ef 01 00 00 01
0030: 00 00 00 00 00 00 07 65 78 61 6d 70 6c 65 03 63
0040: 6f 6d 00 00 01 00 01
`
	// frameEcho4 (82 bytes): ICMP echo request 10.0.2.15 > 8.8.8.8, id 0x0c1d, seq 1, 40 bytes of data.
	frameEcho4 = `
0000: 52 55 0a 00 02 02 52 54 00 12 34 56 08 00 45 00
0010: 00 44 a1 b2 40 00 40 01 7c e8 0a 00 02 0f 08 08
0020: 08 08 08 00 2d 0f 0c 1d 00 01 10 11 12 13 14 15
0030: 16 17 18 19 1a 1b 1c 1d 1e 1f 20 21 22 23 24 25
0040: 26 27 28 29 2a 2b 2c 2d 2e 2f 30 31 32 33 34 35
0050: 36 37
`
	// frameNS6 (86 bytes): ICMPv6 neighbour solicitation fe80::5054:ff:fe12:3456 > ff02::1:ff00:1 for fe80::1, source link-layer option.
	frameNS6 = `
0000: 33 33 ff 00 00 01 52 54 00 12 34 56 86 dd 60 00
0010: 00 00 00 20 3a ff fe 80 00 00 00 00 00 00 50 54
0020: 00 ff fe 12 34 56 ff 02 00 00 00 00 00 00 00 00
0030: 00 01 ff 00 00 01 87 00 72 22 00 00 00 00 fe 80
0040: 00 00 00 00 00 00 00 00 00 00 00 00 00 01 01 01
0050: 52 54 00 12 34 56
`
	// frameTCPSyn6 (94 bytes): TCP SYN [2001:db8::2]:40000 > [2001:db8:1::80]:443, flow label 0x12345, options MSS 1440, SACK-permitted, TS, NOP, WS 7.
	frameTCPSyn6 = `
0000: 52 55 0a 00 02 02 52 54 00 12 34 56 86 dd 60 01
0010: 23 45 00 28 06 40 20 01 0d b8 00 00 00 00 00 00
0020: 00 00 00 00 00 02 20 01 0d b8 00 01 00 00 00 00
0030: 00 00 00 00 00 80 9c 40 01 bb de ad be ef 00 00
0040: 00 00 a0 02 fd 20 af 5f 00 00 02 04 05 a0 04 02
0050: 08 0a 01 02 03 04 00 00 00 00 01 03 03 07
`
	// frameHBHFrag6 (100 bytes): IPv6 hop-by-hop (router alert, PadN) + fragment header (offset 0, M=1, id 0x12345678) + start of a UDP datagram.
	frameHBHFrag6 = `
0000: 52 55 0a 00 02 02 52 54 00 12 34 56 86 dd 60 00
0010: 00 00 00 2e 00 40 20 01 0d b8 00 00 00 00 00 00
0020: 00 00 00 00 00 02 20 01 0d b8 00 01 00 00 00 00
0030: 00 00 00 00 00 80 2c 00 05 02 00 00 01 00 11 00
0040: 00 01 12 34 56 78 14 e9 14 e9 00 82 00 00 66 72
0050: 61 67 6d 65 6e 74 65 64 20 70 61 79 6c 6f 61 64
0060: 2e 2e 2e 2e
`
	// frameFrag6Later (78 bytes): IPv6 non-first fragment (offset 192, last) of the datagram above.
	frameFrag6Later = `
0000: 52 55 0a 00 02 02 52 54 00 12 34 56 86 dd 60 00
0010: 00 00 00 18 2c 40 20 01 0d b8 00 00 00 00 00 00
0020: 00 00 00 00 00 02 20 01 0d b8 00 01 00 00 00 00
0030: 00 00 00 00 00 80 11 00 00 c0 12 34 56 78 78 78
0040: 78 78 78 78 78 78 78 78 78 78 78 78 78 78
`
	// frameFrag4First (50 bytes): IPv4 first fragment (MF) of a UDP datagram 10.0.2.15 > 10.0.2.3.
	frameFrag4First = `
0000: 52 55 0a 00 02 02 52 54 00 12 34 56 08 00 45 00
0010: 00 24 00 07 20 00 40 11 42 b1 0a 00 02 0f 0a 00
0020: 02 03 14 e9 14 e9 00 82 00 00 66 72 61 67 6d 65
0030: 6e 74
`
)

// hexFrame decodes the dump format above.
func hexFrame(s string) []byte {
	var sb strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, ": "); i >= 0 {
			line = line[i+2:]
		}
		sb.WriteString(strings.ReplaceAll(line, " ", ""))
	}
	b, err := hex.DecodeString(sb.String())
	if err != nil {
		panic(err)
	}
	return b
}
