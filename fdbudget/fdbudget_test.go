// SPDX-License-Identifier: GPL-2.0-or-later

package fdbudget

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"passt/icmp"
	"passt/tcp"
	"passt/udp"
)

func TestSplit(t *testing.T) {
	need := Need{UDP: 65536, ICMP: 4096}
	for _, c := range []struct {
		limit, inUse int
		need         Need
		want         Shares
	}{
		// This machine's limit: 20 000 - 30 - 1 024 = 18 946 to share.
		{20000, 30, need, Shares{TCP: 9473, UDP: 7104, ICMP: 2369}},
		// A common systemd limit: UDP and ICMP capped at their tables,
		// TCP takes the rest.
		{1 << 20, 30, need, Shares{TCP: (1 << 20) - 30 - 1024 - 65536 - 4096, UDP: 65536, ICMP: 4096}},
		// Too few to share: no budget.
		{64, 25, need, Shares{}},
		{1024, 900, need, Shares{}},
		// Just enough: 400 - 20 - 64 = 316.
		{400, 20, need, Shares{TCP: 158, UDP: 118, ICMP: 40}},
		// A TCP bound.
		{20000, 30, Need{TCP: 1000, UDP: 65536, ICMP: 4096}, Shares{TCP: 1000, UDP: 7104, ICMP: 2369}},
	} {
		got := Split(c.limit, c.inUse, c.need)
		if got != c.want {
			t.Errorf("Split(%d, %d, %+v) = %+v, want %+v", c.limit, c.inUse, c.need, got, c.want)
		}
		if got != (Shares{}) {
			if sum := got.TCP + got.UDP + got.ICMP; sum > c.limit-c.inUse-minReserve {
				t.Errorf("Split(%d, %d): shares add up to %d, more than available", c.limit, c.inUse, sum)
			}
		}
	}
}

// TestInUse: the count follows descriptors opened and closed, and matches
// /proc/self/fd.
func TestInUse(t *testing.T) {
	limit := Limit()
	n0, err := InUse(limit)
	if err != nil {
		t.Fatal(err)
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if uint64(limit) != rl.Cur {
		t.Errorf("limit %d, RLIMIT_NOFILE %d", limit, rl.Cur)
	}
	var fds []int
	for i := 0; i < 50; i++ {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
	}
	// Leave holes: InUse counts, it does not take the highest number.
	for _, fd := range fds[:10] {
		unix.Close(fd)
	}
	n1, err := InUse(limit)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	// ReadDir holds one descriptor of its own while it reads.
	if n1 != n0+40 || n1 != len(ents)-1 {
		t.Errorf("in use: %d at start, %d after opening 40, /proc/self/fd lists %d (one its own)", n0, n1, len(ents))
	}
	for _, fd := range fds[10:] {
		unix.Close(fd)
	}
}

// TestSplitTCPReachesTable: with a limit of twice the TCP table or more
// (the integration test TestCapacityFullTable uses 2^18; systemd's default
// hard limit is 2^19, Docker's 2^20), TCP's share covers its whole table,
// so the table, not the share, bounds TCP connections; below about 112 000
// descriptors the share is what bounds them.
func TestSplitTCPReachesTable(t *testing.T) {
	need := Need{UDP: 2 * udp.MaxFlows, ICMP: icmp.MaxFlows}
	for limit := 2 * tcp.MaxFlows; limit <= 1<<21; limit += 4093 {
		for _, inUse := range []int{10, 1000} {
			if s := Split(limit, inUse, need); s.TCP < tcp.MaxFlows {
				t.Errorf("Split(%d, %d) = %+v: TCP share under the table's %d flows", limit, inUse, s, tcp.MaxFlows)
			}
		}
	}
	// The smallest limit at which the share covers the table, with 30
	// descriptors in use: 30 + 1 024 reserved, then half of the rest plus
	// what ICMP cannot use (an eighth, less its 4 096) is 65 536.
	smallest := 0
	for limit := 1; limit <= 1<<21; limit++ {
		if Split(limit, 30, need).TCP >= tcp.MaxFlows {
			smallest = limit
			break
		}
	}
	if smallest < 112000 || smallest > 113000 {
		t.Errorf("TCP's share covers the table from a limit of %d, want about 112 500", smallest)
	}
	t.Logf("TCP's share covers its table from a limit of %d descriptors", smallest)
}
