// SPDX-License-Identifier: GPL-2.0-or-later

package flow

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// testKey returns a distinct TCP key for each i, IPv4 for even i and IPv6
// for odd i.
func testKey(i int) Key {
	var guest, peer netip.Addr
	if i%2 == 0 {
		guest = netip.AddrFrom4([4]byte{192, 0, 2, 2})
		peer = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	} else {
		guest = netip.MustParseAddr("2001:db8::2")
		b := netip.MustParseAddr("2001:db8:1::").As16()
		b[13], b[14], b[15] = byte(i>>16), byte(i>>8), byte(i)
		peer = netip.AddrFrom16(b)
	}
	return MakeKey(ProtoTCP, netip.AddrPortFrom(guest, uint16(i)), netip.AddrPortFrom(peer, 443))
}

func TestKey(t *testing.T) {
	g, p := netip.MustParseAddrPort("192.0.2.2:40000"), netip.MustParseAddrPort("198.51.100.7:80")
	k := MakeKey(ProtoTCP, g, p)
	if k.Guest() != g || k.Peer() != p || k.Proto != ProtoTCP {
		t.Errorf("round trip: %v", k)
	}
	if MakeKey(ProtoTCP, netip.MustParseAddrPort("[::ffff:192.0.2.2]:40000"), p) != k {
		t.Error("IPv4-mapped key differs from IPv4 key")
	}
	if MakeKey(ProtoUDP, g, p) == k || MakeKey(ProtoTCP, p, g) == k {
		t.Error("different flows share a key")
	}
	g6, p6 := netip.MustParseAddrPort("[fe80::2]:1"), netip.MustParseAddrPort("[2001:db8::7]:2")
	k6 := MakeKey(ProtoUDP, g6, p6)
	if k6.Guest() != g6 || k6.Peer() != p6 {
		t.Errorf("v6 round trip: %v", k6)
	}
	if k.String() == "" {
		t.Error("empty String")
	}
}

func TestTableBasic(t *testing.T) {
	tb := NewTable(4)
	k := testKey(1)
	if _, ok := tb.Lookup(k); ok {
		t.Fatal("found in empty table")
	}
	i, ok := tb.Insert(k)
	if !ok || i < 0 || i >= 4 {
		t.Fatalf("Insert = %d, %v", i, ok)
	}
	if j, ok := tb.Insert(k); ok || j != i {
		t.Fatalf("duplicate Insert = %d, %v; want %d, false", j, ok, i)
	}
	if j, ok := tb.Lookup(k); !ok || j != i {
		t.Fatalf("Lookup = %d, %v", j, ok)
	}
	if tb.Key(i) != k || !tb.InUse(i) || tb.Len() != 1 || tb.Cap() != 4 || tb.Limit() <= i {
		t.Fatal("accessors disagree")
	}
	tb.Remove(i)
	tb.Remove(i) // no-op
	tb.Remove(-1)
	tb.Remove(4)
	if _, ok := tb.Lookup(k); ok || tb.Len() != 0 || tb.InUse(i) || tb.Key(i) != (Key{}) {
		t.Fatal("still there after Remove")
	}
	if tb.InUse(-1) || tb.InUse(4) || tb.Key(99) != (Key{}) {
		t.Fatal("out of range in use")
	}
}

func TestNewTableBadCapacity(t *testing.T) {
	for _, c := range []int{0, -1, MaxCapacity + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewTable(%d) did not panic", c)
				}
			}()
			NewTable(c)
		}()
	}
}

func TestTableScale(t *testing.T) {
	const n = 1 << 16
	tb := NewTable(n)
	idx := make([]int, n)
	seen := make([]bool, n)
	for i := range n {
		j, ok := tb.Insert(testKey(i))
		if !ok {
			t.Fatalf("Insert %d refused at Len %d", i, tb.Len())
		}
		if seen[j] {
			t.Fatalf("index %d handed out twice", j)
		}
		seen[j], idx[i] = true, j
	}
	if tb.Len() != n || tb.Limit() != n {
		t.Fatalf("Len %d Limit %d", tb.Len(), tb.Limit())
	}
	// Full: new flows refused, existing ones untouched.
	if j, ok := tb.Insert(testKey(n)); ok || j != -1 {
		t.Fatalf("Insert into full table = %d, %v", j, ok)
	}
	if j, ok := tb.Insert(testKey(7)); ok || j != idx[7] {
		t.Fatalf("duplicate Insert into full table = %d, %v", j, ok)
	}
	for i := range n {
		if j, ok := tb.Lookup(testKey(i)); !ok || j != idx[i] {
			t.Fatalf("Lookup %d = %d, %v; want %d", i, j, ok, idx[i])
		}
	}
	// Remove half; the others keep their indices.
	freed := map[int]bool{}
	for i := 0; i < n; i += 2 {
		tb.Remove(idx[i])
		freed[idx[i]] = true
	}
	if tb.Len() != n/2 {
		t.Fatalf("Len %d after removing half", tb.Len())
	}
	for i := range n {
		j, ok := tb.Lookup(testKey(i))
		if i%2 == 0 && ok {
			t.Fatalf("removed key %d found", i)
		}
		if i%2 == 1 && (!ok || j != idx[i]) {
			t.Fatalf("kept key %d: %d, %v; want %d", i, j, ok, idx[i])
		}
	}
	// Reinsert new keys into the freed slots.
	for i := 0; i < n; i += 2 {
		j, ok := tb.Insert(testKey(n + i))
		if !ok || !freed[j] {
			t.Fatalf("reinsert %d = %d, %v; want a freed index", i, j, ok)
		}
		delete(freed, j)
	}
	if tb.Len() != n {
		t.Fatalf("Len %d after reinsert", tb.Len())
	}
	if _, ok := tb.Insert(testKey(3 * n)); ok {
		t.Fatal("Insert into full table accepted")
	}
	for i := 1; i < n; i += 2 {
		if j, ok := tb.Lookup(testKey(i)); !ok || j != idx[i] {
			t.Fatalf("kept key %d moved: %d, %v", i, j, ok)
		}
	}
}

// TestTableModel runs random operations on small tables, with a small key
// space so that duplicates, full tables and long chains all happen, and
// checks every result against a map.
func TestTableModel(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 42))
		capacity := 1 + r.IntN(64)
		keys := 1 + r.IntN(3*capacity)
		tb := NewTable(capacity)
		model := map[Key]int{}
		byIdx := map[int]Key{}
		for op := range 20000 {
			k := testKey(r.IntN(keys))
			switch r.IntN(3) {
			case 0:
				j, ok := tb.Insert(k)
				old, present := model[k]
				switch {
				case present:
					if ok || j != old {
						t.Fatalf("seed %d op %d: duplicate Insert = %d, %v; want %d", seed, op, j, ok, old)
					}
				case len(model) == capacity:
					if ok || j != -1 {
						t.Fatalf("seed %d op %d: Insert into full = %d, %v", seed, op, j, ok)
					}
				default:
					if !ok || j < 0 || j >= capacity {
						t.Fatalf("seed %d op %d: Insert = %d, %v", seed, op, j, ok)
					}
					if _, used := byIdx[j]; used {
						t.Fatalf("seed %d op %d: index %d reused while in use", seed, op, j)
					}
					model[k], byIdx[j] = j, k
				}
			case 1:
				j, ok := tb.Lookup(k)
				want, present := model[k]
				if ok != present || ok && j != want {
					t.Fatalf("seed %d op %d: Lookup = %d, %v; want %d, %v", seed, op, j, ok, want, present)
				}
			case 2:
				if j, present := model[k]; present {
					tb.Remove(j)
					delete(model, k)
					delete(byIdx, j)
				} else {
					j := r.IntN(capacity+2) - 1 // may be out of range
					tb.Remove(j)
					if k, used := byIdx[j]; used {
						delete(model, k)
						delete(byIdx, j)
					}
					for i := range capacity {
						if _, used := byIdx[i]; used != tb.InUse(i) {
							t.Fatalf("seed %d op %d: InUse(%d) = %v", seed, op, i, !used)
						}
					}
				}
			}
			if tb.Len() != len(model) {
				t.Fatalf("seed %d op %d: Len %d, want %d", seed, op, tb.Len(), len(model))
			}
		}
		for j, k := range byIdx {
			if tb.Key(j) != k || j >= tb.Limit() {
				t.Fatalf("seed %d: Key(%d) = %v, want %v", seed, j, tb.Key(j), k)
			}
		}
	}
}

func TestTableAllocs(t *testing.T) {
	tb := NewTable(1024)
	for i := range 512 {
		tb.Insert(testKey(i))
	}
	k, miss := testKey(3), testKey(5000)
	if a := testing.AllocsPerRun(1000, func() { tb.Lookup(k); tb.Lookup(miss) }); a != 0 {
		t.Errorf("Lookup: %v allocs", a)
	}
	if a := testing.AllocsPerRun(1000, func() {
		i, _ := tb.Insert(miss)
		tb.Insert(miss)
		tb.Remove(i)
	}); a != 0 {
		t.Errorf("Insert/Remove: %v allocs", a)
	}
	n := baseNAT()
	dst, src := netip.MustParseAddrPort("192.0.2.1:53"), netip.MustParseAddrPort("[::1]:4000")
	if a := testing.AllocsPerRun(1000, func() {
		n.FromGuest(ProtoUDP, dst)
		n.FromHost(src, netip.Addr{}, 80)
	}); a != 0 {
		t.Errorf("NAT: %v allocs", a)
	}
}

func BenchmarkLookup(b *testing.B) {
	const n = 1 << 16
	tb := NewTable(n)
	keys := make([]Key, n)
	for i := range keys {
		keys[i] = testKey(i)
		tb.Insert(keys[i])
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := tb.Lookup(keys[i&(n-1)]); !ok {
			b.Fatal("missing")
		}
		i += 7919
	}
}

func BenchmarkInsertRemove(b *testing.B) {
	const n = 1 << 16
	tb := NewTable(n)
	for i := range n - 1 {
		tb.Insert(testKey(i))
	}
	k := testKey(n)
	b.ReportAllocs()
	for b.Loop() {
		i, _ := tb.Insert(k)
		tb.Remove(i)
	}
}
