// SPDX-License-Identifier: GPL-2.0-or-later

package tcp

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// Initial sequence numbers (RFC 6528). Ours, for the SYN or SYN-ACK we
// send the guest, are ISN = M + F(local address and port, remote address
// and port, secret key): M a clock ticking every 4 µs, F SipHash-2-4 of
// the addresses and ports under a key drawn from getrandom at start.
//
// The hash keeps them unpredictable to anyone who does not know the key;
// the clock makes successive connections with the same addresses and ports
// start beyond where the one before ended (unless it carried more than
// 250 000 bytes a second of its life). That matters for host-initiated
// connections: when a host client reuses its source port while the guest
// still holds the connection before in TIME_WAIT, the guest's kernel takes
// our new SYN only if its sequence number is beyond the old connection's
// (without timestamps); otherwise it answers with the old connection's
// ACK, and the connection waits for a retransmission of the SYN.

// isnTick is the period of the clock M.
const isnTick = 4 * time.Microsecond

// isnGen makes initial sequence numbers.
type isnGen struct {
	k0, k1 uint64    // the SipHash key
	epoch  time.Time // M counts from here (monotonic)
}

// newISNGen draws a key with getrandom.
func newISNGen() (isnGen, error) {
	var key [16]byte
	for n := 0; n < len(key); {
		r, err := unix.Getrandom(key[n:], 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return isnGen{}, fmt.Errorf("getrandom for the TCP sequence number key: %w", err)
		}
		n += r
	}
	return isnGen{
		k0:    binary.LittleEndian.Uint64(key[0:]),
		k1:    binary.LittleEndian.Uint64(key[8:]),
		epoch: time.Now(),
	}, nil
}

// isn returns the initial sequence number, at now, of our side local of a
// connection with remote.
func (g *isnGen) isn(now time.Time, local, remote netip.AddrPort) uint32 {
	var in [36]byte
	la, ra := local.Addr().As16(), remote.Addr().As16()
	copy(in[0:16], la[:])
	copy(in[16:32], ra[:])
	binary.BigEndian.PutUint16(in[32:], local.Port())
	binary.BigEndian.PutUint16(in[34:], remote.Port())
	f := sipHash24(g.k0, g.k1, in[:])
	m := uint32(now.Sub(g.epoch) / isnTick)
	return m + uint32(f)
}

// sipHash24 is SipHash-2-4 (Aumasson and Bernstein, 2012) of msg under the
// key k0, k1 (the key's two halves, little-endian).
func sipHash24(k0, k1 uint64, msg []byte) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	n := len(msg)
	for len(msg) >= 8 {
		m := binary.LittleEndian.Uint64(msg)
		v3 ^= m
		round()
		round()
		v0 ^= m
		msg = msg[8:]
	}
	// The last block: the remaining bytes, and the length's low byte on
	// top.
	last := uint64(n) << 56
	for i, b := range msg {
		last |= uint64(b) << (8 * i)
	}
	v3 ^= last
	round()
	round()
	v0 ^= last
	v2 ^= 0xff
	round()
	round()
	round()
	round()
	return v0 ^ v1 ^ v2 ^ v3
}
