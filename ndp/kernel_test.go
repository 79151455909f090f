// SPDX-License-Identifier: GPL-2.0-or-later

package ndp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"passt/arp"
	"passt/pkt"
)

// The kernel test: a fresh network namespace with a tap device is the guest,
// a relay answers its ARP and NDP with this package and package arp, and
// the guest's own tables show whether Linux accepted the answers.

func requireRoot(t *testing.T) {
	t.Helper()
	missing := ""
	if os.Geteuid() != 0 {
		missing = "root"
	} else if _, err := os.Stat("/dev/net/tun"); err != nil {
		missing = "/dev/net/tun"
	}
	if missing == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("the kernel test needs %s (run as root on a host with the tun module)", missing)
	}
	t.Skipf("the kernel test needs %s", missing)
}

// nsThread is a goroutine locked, for good, to a thread in a fresh network
// namespace; do runs functions there.
type nsThread struct{ req chan func() }

func newNS(t *testing.T) *nsThread {
	t.Helper()
	n := &nsThread{req: make(chan func())}
	ready := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ready <- err
			return
		}
		ready <- nil
		for f := range n.req {
			f()
		}
	}()
	if err := <-ready; err != nil {
		t.Fatalf("unshare(CLONE_NEWNET): %v", err)
	}
	t.Cleanup(func() { close(n.req) })
	return n
}

func (n *nsThread) do(f func() error) error {
	done := make(chan error)
	n.req <- func() { done <- f() }
	return <-done
}

func openTap(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil // pollable: Close ends a blocked Read
}

func sysctl(path, value string) error {
	return os.WriteFile("/proc/sys/net/"+path, []byte(value), 0)
}

// relay answers the guest's ARP and NDP until the tap is closed.
type relay struct {
	tap          *os.File
	arp          *arp.Config
	ndp          *Config
	dad, dadAns  atomic.Int32 // DAD probes seen, answered
	ns, na       atomic.Int32 // NS seen, NA sent
	rs, ra       atomic.Int32
	arpReq, arpR atomic.Int32
	done         sync.WaitGroup
}

func (r *relay) run(t *testing.T) {
	r.done.Add(1)
	go func() {
		defer r.done.Done()
		buf := make([]byte, 65536)
		for {
			n, err := r.tap.Read(buf)
			if err != nil {
				if !errors.Is(err, os.ErrClosed) {
					t.Errorf("tap read: %v", err)
				}
				return
			}
			f := buf[:n]
			var reply []byte
			var d pkt.Decoded
			if pkt.Decode(f, &d) != nil {
				continue
			}
			switch {
			case d.EtherType == pkt.EtherTypeARP:
				r.arpReq.Add(1)
				if reply = arp.Reply(r.arp, f); reply != nil {
					r.arpR.Add(1)
				}
			case d.IPVersion == 6 && d.L4Proto == pkt.ProtoICMPv6 && d.L4HdrLen > 0:
				typ := f[d.L4Off]
				reply = Handle(r.ndp, f)
				switch typ {
				case pkt.ICMPv6NeighSolicit:
					if d.Src.IsUnspecified() {
						r.dad.Add(1)
						if reply != nil {
							r.dadAns.Add(1)
						}
					} else if r.ns.Add(1); reply != nil {
						r.na.Add(1)
					}
				case pkt.ICMPv6RouterSolicit:
					if r.rs.Add(1); reply != nil {
						r.ra.Add(1)
					}
				}
			}
			if reply != nil {
				if _, err := r.tap.Write(reply); err != nil {
					t.Errorf("tap write: %v", err)
				}
			}
		}
	}()
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestKernel(t *testing.T) {
	requireRoot(t)
	const (
		name = "tap0"
		mtu  = 1400 // below the link's 1500, so the kernel accepts it
	)
	var (
		ourMAC    = [6]byte{0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55}
		proxyMAC  = [6]byte{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}
		our4      = netip.MustParseAddr("10.0.2.2")
		guest4    = netip.MustParseAddr("10.0.2.15")
		proxied4  = netip.MustParseAddr("10.0.2.77")
		other4    = netip.MustParseAddr("10.0.2.99")
		ourLL     = netip.MustParseAddr("fe80::1")
		prefix    = netip.MustParsePrefix("2001:db8:1:2::/64")
		guest6    = netip.MustParseAddr("2001:db8:1:2::15")
		gateway6  = netip.MustParseAddr("2001:db8:1:2::1")
		proxied6  = netip.MustParseAddr("2001:db8:1:2::77")
		proxiedFn = func(a netip.Addr) ([6]byte, bool) { return proxyMAC, a == proxied4 || a == proxied6 }
	)

	ns := newNS(t)
	var (
		tap  *os.File
		h    *netlink.Handle
		link netlink.Link
	)
	err := ns.do(func() error {
		var err error
		if tap, err = openTap(name); err != nil {
			return err
		}
		if h, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			return err
		}
		if link, err = h.LinkByName(name); err != nil {
			return err
		}
		for _, s := range [][2]string{
			{"ipv6/conf/all/forwarding", "0"},
			{"ipv6/conf/" + name + "/forwarding", "0"},
			{"ipv6/conf/" + name + "/accept_ra", "1"},
			{"ipv6/conf/" + name + "/accept_dad", "1"},
			{"ipv6/neigh/" + name + "/retrans_time_ms", "200"}, // quicker DAD
			{"ipv6/conf/" + name + "/router_solicitation_delay", "0"},
		} {
			if err := sysctl(s[0], s[1]); err != nil {
				return err
			}
		}
		if err := h.LinkSetMTU(link, 1500); err != nil {
			return err
		}
		a, _ := netlink.ParseAddr(guest4.String() + "/24")
		if err := h.AddrAdd(link, a); err != nil {
			return err
		}
		return h.LinkSetUp(link)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	r := &relay{
		tap: tap,
		arp: &arp.Config{OurMAC: ourMAC, OurAddr: our4, GuestAddr: guest4, MACFor: proxiedFn},
		ndp: &Config{
			OurMAC: ourMAC, OurLinkLocal: ourLL, GuestAddr: guest6, MTU: mtu,
			DNS: []netip.Addr{netip.MustParseAddr("2001:db8::53")}, Search: []string{"example.com"},
			ManagedFlag: true, MACFor: proxiedFn,
		},
	}
	r.run(t)
	defer func() {
		tap.Close()
		r.done.Wait()
	}()
	idx := link.Attrs().Index

	// SLAAC: the kernel solicits, we advertise the /64, the kernel picks an
	// address in it and runs DAD, which we must not answer.
	var slaac netip.Addr
	waitFor(t, "an address in "+prefix.String()+" that passed DAD", 20*time.Second, func() (bool, error) {
		addrs, err := h.AddrList(link, netlink.FAMILY_V6)
		if err != nil {
			return false, err
		}
		for _, a := range addrs {
			ip, _ := netip.AddrFromSlice(a.IP)
			if !prefix.Contains(ip) {
				continue
			}
			if a.Flags&unix.IFA_F_DADFAILED != 0 {
				return false, fmt.Errorf("DAD failed for %v", ip)
			}
			if a.Flags&unix.IFA_F_TENTATIVE == 0 {
				slaac = ip
				return true, nil
			}
		}
		return false, nil
	})
	t.Logf("autoconfigured %v; RS %d, RA %d, DAD probes %d", slaac, r.rs.Load(), r.ra.Load(), r.dad.Load())
	if r.ra.Load() == 0 {
		t.Error("no RA sent in answer to an RS")
	}
	if r.dad.Load() == 0 || r.dadAns.Load() != 0 {
		t.Errorf("DAD probes: %d seen, %d answered", r.dad.Load(), r.dadAns.Load())
	}

	// Default route via our link-local, from the RA.
	routes, err := h.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{LinkIndex: idx}, netlink.RT_FILTER_OIF)
	if err != nil {
		t.Fatal(err)
	}
	var def *netlink.Route
	for i, rt := range routes {
		if (rt.Dst == nil || rt.Dst.IP.IsUnspecified()) && rt.Gw != nil {
			def = &routes[i]
		}
	}
	if def == nil {
		t.Fatalf("no IPv6 default route; routes: %v", routes)
	}
	if gw, _ := netip.AddrFromSlice(def.Gw); gw != ourLL {
		t.Errorf("default route via %v, want %v", gw, ourLL)
	}
	if def.Protocol != unix.RTPROT_RA {
		t.Errorf("default route protocol %d, want RA (%d)", def.Protocol, unix.RTPROT_RA)
	}

	// The announced MTU is the interface's IPv6 MTU; the link MTU stays.
	var ipv6MTU []byte
	if err := ns.do(func() (err error) {
		ipv6MTU, err = os.ReadFile("/proc/sys/net/ipv6/conf/" + name + "/mtu")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(ipv6MTU)); got != fmt.Sprint(mtu) {
		t.Errorf("IPv6 MTU %s, want %d", got, mtu)
	}

	// Neighbours: traffic to each address makes the kernel resolve it.
	send := func(family int, sa unix.Sockaddr) error {
		return ns.do(func() error {
			fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			return unix.Sendto(fd, []byte("x"), 0, sa)
		})
	}
	want := map[netip.Addr][6]byte{
		our4: ourMAC, other4: ourMAC, proxied4: proxyMAC,
		ourLL: ourMAC, gateway6: ourMAC, proxied6: proxyMAC,
	}
	for a := range want {
		var err error
		if a.Is4() {
			err = send(unix.AF_INET, &unix.SockaddrInet4{Port: 9, Addr: a.As4()})
		} else {
			sa := &unix.SockaddrInet6{Port: 9, Addr: a.As16()}
			if a.IsLinkLocalUnicast() {
				sa.ZoneId = uint32(idx)
			}
			err = send(unix.AF_INET6, sa)
		}
		if err != nil {
			t.Fatalf("send to %v: %v", a, err)
		}
	}
	var missing []string
	defer func() {
		if len(missing) > 0 {
			t.Logf("unresolved: %v", missing)
		}
	}()
	const resolved = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY | netlink.NUD_PROBE
	waitFor(t, "neighbour entries", 10*time.Second, func() (bool, error) {
		got := map[netip.Addr][6]byte{}
		for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
			neighs, err := h.NeighList(idx, fam)
			if err != nil {
				return false, err
			}
			for _, n := range neighs {
				ip, _ := netip.AddrFromSlice(n.IP)
				if n.State&resolved != 0 && len(n.HardwareAddr) == 6 {
					got[ip.Unmap()] = [6]byte(n.HardwareAddr)
				}
			}
		}
		missing = missing[:0]
		for a, mac := range want {
			if got[a] != mac {
				g := got[a]
				missing = append(missing, fmt.Sprintf("%v at %v (want %v)", a, net.HardwareAddr(g[:]), net.HardwareAddr(mac[:])))
			}
		}
		return len(missing) == 0, nil
	})
	if r.arpR.Load() < 3 {
		t.Errorf("%d ARP replies, want at least 3", r.arpR.Load())
	}
	if r.na.Load() < 2 {
		t.Errorf("%d NAs, want at least 2", r.na.Load())
	}
	t.Logf("ARP %d/%d answered, NS %d/%d answered", r.arpR.Load(), r.arpReq.Load(), r.na.Load(), r.ns.Load())

	// No frame we sent made the kernel think its addresses are taken.
	addrs, err := h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if a.Flags&unix.IFA_F_DADFAILED != 0 {
			t.Errorf("DAD failed: %v", a)
		}
	}
}
