// SPDX-License-Identifier: GPL-2.0-or-later

package flow

import (
	"fmt"
	"hash/maphash"
	"net/netip"
)

// Key identifies a flow by its guest-side 5-tuple: the protocol, the
// guest's address and port, and the peer's address and port as the guest
// sees them (for guest-initiated flows, the original destination; for
// host-initiated ones, the translated source). Addresses are 16 bytes, IPv4
// as IPv4-mapped IPv6, so an IPv6 packet carrying an IPv4-mapped address
// would share keys with IPv4: the tap side drops such packets. Keys are
// comparable with ==.
type Key struct {
	Proto     uint8
	GuestAddr [16]byte
	PeerAddr  [16]byte
	GuestPort uint16
	PeerPort  uint16
}

// MakeKey returns the key of a flow of protocol proto between guest and
// peer. Zones are ignored.
func MakeKey(proto uint8, guest, peer netip.AddrPort) Key {
	return Key{
		Proto:     proto,
		GuestAddr: guest.Addr().As16(),
		PeerAddr:  peer.Addr().As16(),
		GuestPort: guest.Port(),
		PeerPort:  peer.Port(),
	}
}

func addrFrom16(b [16]byte) netip.Addr {
	return netip.AddrFrom16(b).Unmap()
}

// Guest returns the guest's address and port.
func (k Key) Guest() netip.AddrPort {
	return netip.AddrPortFrom(addrFrom16(k.GuestAddr), k.GuestPort)
}

// Peer returns the peer's address and port as the guest sees them.
func (k Key) Peer() netip.AddrPort {
	return netip.AddrPortFrom(addrFrom16(k.PeerAddr), k.PeerPort)
}

func (k Key) String() string {
	return fmt.Sprintf("proto %d %s <-> %s", k.Proto, k.Guest(), k.Peer())
}

// entry is one slot of the table, without pointers.
type entry struct {
	key  Key
	hash uint32
	// next is 1 + the index of the next entry in the same bucket chain
	// (in use) or in the free list (free); 0: end.
	next  int32
	inUse bool
}

// MaxCapacity is the largest capacity NewTable accepts.
const MaxCapacity = 1 << 30

// Table maps flow keys to flow indices in [0, Cap()). A flow keeps its
// index until it is removed; freed indices are reused, most recently freed
// first. Once Len() == Cap(), Insert refuses new flows and leaves the
// existing ones alone. The table allocates only in NewTable.
type Table struct {
	entries []entry
	// buckets hold 1 + the index of the first entry of each chain; 0:
	// empty.
	buckets []int32
	mask    uint32
	free    int32 // 1 + first free index, 0: full
	n       int
	limit   int
	seed    maphash.Seed
}

// NewTable returns an empty table for up to capacity flows. It panics if
// capacity is not in [1, MaxCapacity].
func NewTable(capacity int) *Table {
	if capacity < 1 || capacity > MaxCapacity {
		panic(fmt.Sprintf("flow: invalid table capacity %d", capacity))
	}
	nb := 1
	for nb < 2*capacity {
		nb <<= 1
	}
	t := &Table{
		entries: make([]entry, capacity),
		buckets: make([]int32, nb),
		mask:    uint32(nb - 1),
		seed:    maphash.MakeSeed(),
	}
	for i := range t.entries {
		if i+1 < capacity {
			t.entries[i].next = int32(i + 2)
		}
	}
	t.free = 1
	return t
}

// hash returns a keyed hash of k: the seed is random per table, so the
// guest cannot choose ports that collide.
func (t *Table) hash(k *Key) uint32 {
	var b [38]byte
	b[0] = k.Proto
	copy(b[1:17], k.GuestAddr[:])
	copy(b[17:33], k.PeerAddr[:])
	b[33] = byte(k.GuestPort >> 8)
	b[34] = byte(k.GuestPort)
	b[35] = byte(k.PeerPort >> 8)
	b[36] = byte(k.PeerPort)
	h := maphash.Bytes(t.seed, b[:37])
	return uint32(h ^ h>>32)
}

func (t *Table) find(k *Key, h uint32) int {
	for i := t.buckets[h&t.mask]; i != 0; {
		e := &t.entries[i-1]
		if e.hash == h && e.key == *k {
			return int(i - 1)
		}
		i = e.next
	}
	return -1
}

// Lookup returns the index of the flow with key k.
func (t *Table) Lookup(k Key) (idx int, ok bool) {
	idx = t.find(&k, t.hash(&k))
	return idx, idx >= 0
}

// Insert adds a flow with key k and returns its index. ok is false if the
// flow was not added: idx is then the index of the flow already in the
// table with that key, or -1 if the table is full.
func (t *Table) Insert(k Key) (idx int, ok bool) {
	h := t.hash(&k)
	if i := t.find(&k, h); i >= 0 {
		return i, false
	}
	if t.free == 0 {
		return -1, false
	}
	i := t.free - 1
	e := &t.entries[i]
	t.free = e.next
	b := &t.buckets[h&t.mask]
	*e = entry{key: k, hash: h, next: *b, inUse: true}
	*b = i + 1
	t.n++
	if int(i) >= t.limit {
		t.limit = int(i) + 1
	}
	return int(i), true
}

// Remove removes the flow at idx; its index becomes free for reuse. It does
// nothing if idx is out of range or not in use.
func (t *Table) Remove(idx int) {
	if idx < 0 || idx >= len(t.entries) || !t.entries[idx].inUse {
		return
	}
	e := &t.entries[idx]
	p := &t.buckets[e.hash&t.mask]
	for *p != int32(idx+1) {
		p = &t.entries[*p-1].next
	}
	*p = e.next
	*e = entry{next: t.free}
	t.free = int32(idx + 1)
	t.n--
}

// Len returns the number of flows in the table.
func (t *Table) Len() int { return t.n }

// Cap returns the capacity given to NewTable.
func (t *Table) Cap() int { return len(t.entries) }

// Limit returns a bound on the indices ever used: every flow's index is
// below it. Loops over all flows (timers) can stop there.
func (t *Table) Limit() int { return t.limit }

// InUse reports whether idx is the index of a flow.
func (t *Table) InUse(idx int) bool {
	return idx >= 0 && idx < len(t.entries) && t.entries[idx].inUse
}

// Key returns the key of the flow at idx, the zero Key if idx is not in
// use.
func (t *Table) Key(idx int) Key {
	if !t.InUse(idx) {
		return Key{}
	}
	return t.entries[idx].key
}
