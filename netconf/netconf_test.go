// SPDX-License-Identifier: GPL-2.0-or-later

package netconf

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"passt/internal/errno"
	"passt/internal/nlretry"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

const tapName = "tap-test0"

// testNS is a fresh network namespace owned by one locked OS thread, which
// also runs the functions sent to it (anything that must happen inside the
// namespace, like opening a tap). The handle was created on that thread, so
// its socket lives in the namespace.
type testNS struct {
	t    *testing.T
	h    *netlink.Handle
	run  chan func()
	tapF int
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("namespace tests need root (CI=true, not skipping)")
		}
		t.Skip("namespace tests need root; skipping (set CI=true to fail instead)")
	}
}

func newNS(t *testing.T) *testNS {
	t.Helper()
	requireRoot(t)

	ns := &testNS{t: t, run: make(chan func()), tapF: -1}
	ready := make(chan error, 1)
	go func() {
		// Never unlocked: when this goroutine returns, the runtime
		// discards the thread, and the namespace with it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ready <- err
			return
		}
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			ready <- err
			return
		}
		ns.h = h
		ready <- nil
		for fn := range ns.run {
			fn()
		}
	}()
	if err := <-ready; err != nil {
		t.Fatalf("creating network namespace: %v", err)
	}
	t.Cleanup(func() {
		ns.h.Close()
		if ns.tapF >= 0 {
			unix.Close(ns.tapF)
		}
		close(ns.run)
	})
	return ns
}

// do runs fn on the namespace's thread.
func (ns *testNS) do(fn func()) {
	done := make(chan struct{})
	ns.run <- func() { fn(); close(done) }
	<-done
}

func (ns *testNS) must(err error, what string) {
	ns.t.Helper()
	if err != nil {
		ns.t.Fatalf("%s: %v", what, err)
	}
}

// tap creates a tap (IFF_TAP|IFF_NO_PI) in the namespace, kept alive by its
// file descriptor until the test ends.
func (ns *testNS) tap(name string) netlink.Link {
	ns.t.Helper()
	var err error
	ns.do(func() {
		var fd int
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return
		}
		var ifr *unix.Ifreq
		ifr, err = unix.NewIfreq(name)
		if err != nil {
			unix.Close(fd)
			return
		}
		ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
		if err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return
		}
		ns.tapF = fd
	})
	ns.must(err, "creating tap "+name)
	l, err := ns.h.LinkByName(name)
	ns.must(err, "LinkByName "+name)
	return l
}

// veth creates an up veth pair without IPv6 address autoconfiguration; the
// first end is returned.
func (ns *testNS) veth(name, peer string) netlink.Link {
	ns.t.Helper()
	ns.must(ns.h.LinkAdd(&netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: peer,
	}), "LinkAdd veth "+name)
	var out netlink.Link
	for _, n := range []string{name, peer} {
		l, err := ns.h.LinkByName(n)
		ns.must(err, "LinkByName "+n)
		ns.must(ns.h.LinkSetIP6AddrGenMode(l, 1 /* none */), "addrgenmode none")
		ns.must(ns.h.LinkSetUp(l), "LinkSetUp "+n)
		if out == nil {
			out = l
		}
	}
	return out
}

// addr adds an address; deprecated ones get preferred lifetime 0.
func (ns *testNS) addr(l netlink.Link, cidr, label string, deprecated bool) {
	ns.t.Helper()
	a, err := netlink.ParseAddr(cidr)
	ns.must(err, "ParseAddr "+cidr)
	a.Label = label
	if a.IP.To4() == nil {
		a.Flags = unix.IFA_F_NODAD
	}
	if deprecated {
		a.ValidLft = 3600
		a.PreferedLft = 0
	}
	ns.must(ns.h.AddrAdd(l, a), "AddrAdd "+cidr)
}

func ipnet(cidr string) *net.IPNet {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		panic(err)
	}
	return n
}

// route adds a route: gw "" means a device route (scope link).
func (ns *testNS) route(r netlink.Route) {
	ns.t.Helper()
	ns.must(ns.h.RouteAdd(&r), "RouteAdd "+r.String())
}

// template builds the host side: eth0 is the template, eth1 another
// interface whose routes must not be copied.
func template(host *testNS) (eth0, eth1 netlink.Link) {
	host.t.Helper()
	lo, err := host.h.LinkByName("lo")
	host.must(err, "LinkByName lo")
	host.must(host.h.LinkSetUp(lo), "lo up")

	eth0 = host.veth("eth0", "peer0")
	eth1 = host.veth("eth1", "peer1")
	i0, i1 := eth0.Attrs().Index, eth1.Attrs().Index

	host.addr(eth0, "192.0.2.2/24", "", false)
	host.addr(eth0, "198.51.100.2/24", "eth0:sec", false)
	host.addr(eth0, "203.0.113.9/24", "", true)
	host.addr(eth0, "fd00::2/64", "", false)
	host.addr(eth0, "fd00:dead::9/64", "", true)
	host.addr(eth0, "fe80::2/64", "", false)
	host.addr(eth1, "10.1.1.2/24", "", false)
	host.addr(eth1, "fd01::2/64", "", false)

	// Default routes, with a preferred source and a metric.
	host.route(netlink.Route{LinkIndex: i0, Dst: ipnet("0.0.0.0/0"),
		Gw: net.ParseIP("192.0.2.1"), Src: net.ParseIP("192.0.2.2"),
		Priority: 100, Protocol: unix.RTPROT_DHCP})
	host.route(netlink.Route{LinkIndex: i0, Dst: ipnet("::/0"),
		Gw: net.ParseIP("fd00::1"), Priority: 1024})
	// A /16 via another gateway on the subnet.
	host.route(netlink.Route{LinkIndex: i0, Dst: ipnet("10.0.0.0/16"),
		Gw: net.ParseIP("192.0.2.254")})
	// 100.80.0.0/16 via a gateway reachable only through the device route
	// 198.18.0.0/24, which the dump lists later: needs a second pass.
	host.route(netlink.Route{LinkIndex: i0, Dst: ipnet("198.18.0.0/24"),
		Scope: netlink.SCOPE_LINK})
	host.route(netlink.Route{LinkIndex: i0, Dst: ipnet("100.80.0.0/16"),
		Gw: net.ParseIP("198.18.0.1")})
	// Multipath, every nexthop on the template.
	host.route(netlink.Route{Dst: ipnet("192.168.100.0/24"), MultiPath: []*netlink.NexthopInfo{
		{LinkIndex: i0, Gw: net.ParseIP("192.0.2.10"), Hops: 0},
		{LinkIndex: i0, Gw: net.ParseIP("192.0.2.11"), Hops: 1},
	}})
	// Multipath with a nexthop elsewhere: not copied.
	host.route(netlink.Route{Dst: ipnet("192.168.200.0/24"), MultiPath: []*netlink.NexthopInfo{
		{LinkIndex: i0, Gw: net.ParseIP("192.0.2.10")},
		{LinkIndex: i1, Gw: net.ParseIP("10.1.1.1")},
	}})
	// IPv6 route via a link-local gateway.
	host.route(netlink.Route{LinkIndex: i0, Dst: ipnet("fd00:1::/64"),
		Gw: net.ParseIP("fe80::1")})
	// Routes on the other interface: not copied.
	host.route(netlink.Route{LinkIndex: i1, Dst: ipnet("100.64.0.0/10"),
		Gw: net.ParseIP("10.1.1.1")})
	host.route(netlink.Route{LinkIndex: i1, Dst: ipnet("fd02::/64"),
		Gw: net.ParseIP("fd01::1")})
	return eth0, eth1
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// state is what the test reads back from the namespace.
type state struct {
	link   netlink.Link
	lo     netlink.Link
	addrs  []netlink.Addr
	routes []netlink.Route
}

func readState(t *testing.T, ns *testNS) state {
	t.Helper()
	var s state
	var err error
	s.link, err = ns.h.LinkByName(tapName)
	ns.must(err, "LinkByName tap")
	s.lo, err = ns.h.LinkByName("lo")
	ns.must(err, "LinkByName lo")
	s.addrs, err = ns.h.AddrList(s.link, netlink.FAMILY_ALL)
	ns.must(err, "AddrList")
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := ns.h.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_TABLE)
		ns.must(err, "RouteListFiltered")
		s.routes = append(s.routes, rs...)
	}
	return s
}

func (s state) addr(cidr string) *netlink.Addr {
	p := netip.MustParsePrefix(cidr)
	for i, a := range s.addrs {
		ones, _ := a.Mask.Size()
		ip, _ := netip.AddrFromSlice(a.IP)
		if ip.Unmap() == p.Addr() && ones == p.Bits() {
			return &s.addrs[i]
		}
	}
	return nil
}

func (s state) globalAddrs() []string {
	var out []string
	for _, a := range s.addrs {
		if a.Scope != unix.RT_SCOPE_LINK {
			out = append(out, a.IPNet.String())
		}
	}
	slices.Sort(out)
	return out
}

func dstString(r netlink.Route) string {
	if r.Dst == nil {
		return "default"
	}
	if ones, _ := r.Dst.Mask.Size(); ones == 0 {
		return "default"
	}
	return r.Dst.String()
}

// routesTo returns the routes with that destination ("default" for /0).
func (s state) routesTo(dst string) []netlink.Route {
	var out []netlink.Route
	for _, r := range s.routes {
		if r.Type != unix.RTN_UNICAST {
			continue
		}
		if dstString(r) == dst {
			out = append(out, r)
		}
	}
	return out
}

// defaults returns the IPv4 and IPv6 default routes.
func (s state) defaults() (def4, def6 []netlink.Route) {
	for _, r := range s.routesTo("default") {
		if r.Family == netlink.FAMILY_V6 {
			def6 = append(def6, r)
		} else {
			def4 = append(def4, r)
		}
	}
	return def4, def6
}

func (s state) dump() string {
	var b strings.Builder
	for _, a := range s.addrs {
		fmt.Fprintf(&b, "addr %s flags %#x scope %d label %q brd %v\n",
			a.IPNet, a.Flags, a.Scope, a.Label, a.Broadcast)
	}
	for _, r := range s.routes {
		fmt.Fprintf(&b, "route %s\n", r)
	}
	return b.String()
}

func ifaceUp(l netlink.Link) bool { return l.Attrs().RawFlags&unix.IFF_UP != 0 }

// checkVia checks there is exactly one route to dst, through the tap, via gw.
func checkVia(t *testing.T, s state, dst, gw string) netlink.Route {
	t.Helper()
	rs := s.routesTo(dst)
	if len(rs) != 1 {
		t.Fatalf("routes to %s: %d, want 1\n%s", dst, len(rs), s.dump())
	}
	r := rs[0]
	if r.LinkIndex != s.link.Attrs().Index {
		t.Errorf("route to %s: output interface %d, want tap %d", dst, r.LinkIndex,
			s.link.Attrs().Index)
	}
	if gw == "" {
		if r.Gw != nil {
			t.Errorf("route to %s: gateway %v, want none", dst, r.Gw)
		}
	} else if !r.Gw.Equal(net.ParseIP(gw)) {
		t.Errorf("route to %s: gateway %v, want %s", dst, r.Gw, gw)
	}
	return r
}

func fullParams(mac *[6]byte, i4, i6 int) Params {
	return Params{
		Ifname:    tapName,
		MTU:       65520,
		MAC:       mac,
		ConfigNet: true,
		IP4: Family{Enabled: true, TemplateIndex: i4,
			Addr: mustAddr("192.0.2.2"), PrefixLen: 24, Gateway: mustAddr("192.0.2.1")},
		IP6: Family{Enabled: true, TemplateIndex: i6,
			Addr: mustAddr("fd00::2"), Gateway: mustAddr("fd00::1")},
	}
}

func TestConfigureCopy(t *testing.T) {
	host, ns := newNS(t), newNS(t)
	eth0, _ := template(host)
	ns.tap(tapName)

	mac := [6]byte{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
	p := fullParams(&mac, eth0.Attrs().Index, eth0.Attrs().Index)
	res, err := Apply(host.h, ns.h, p)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings: %q", res.Warnings)
	}
	if res.MAC != mac {
		t.Errorf("Result.MAC %x, want %x", res.MAC, mac)
	}

	s := readState(t, ns)
	t.Logf("namespace:\n%s", s.dump())

	a := s.link.Attrs()
	if a.MTU != 65520 {
		t.Errorf("MTU %d, want 65520", a.MTU)
	}
	if !slices.Equal(a.HardwareAddr, net.HardwareAddr(mac[:])) {
		t.Errorf("MAC %v, want %x", a.HardwareAddr, mac)
	}
	if !ifaceUp(s.link) {
		t.Error("tap not up")
	}
	if a.RawFlags&unix.IFF_NOARP != 0 {
		t.Error("tap still IFF_NOARP")
	}
	if !ifaceUp(s.lo) {
		t.Error("lo not up")
	}

	want := []string{"192.0.2.2/24", "198.51.100.2/24", "fd00::2/64"}
	if got := s.globalAddrs(); !slices.Equal(got, want) {
		t.Errorf("global addresses %v, want %v", got, want)
	}
	for _, ad := range s.addrs {
		if ad.Flags&unix.IFA_F_DEPRECATED != 0 {
			t.Errorf("%s deprecated", ad.IPNet)
		}
		if ad.IP.To4() != nil && ad.Label != tapName {
			t.Errorf("%s: label %q, want the default %q", ad.IPNet, ad.Label, tapName)
		}
		if ad.IP.To4() == nil && ad.Flags&unix.IFA_F_NODAD == 0 {
			t.Errorf("%s: no IFA_F_NODAD (flags %#x)", ad.IPNet, ad.Flags)
		}
		if ad.Flags&unix.IFA_F_PERMANENT == 0 {
			t.Errorf("%s: not permanent (flags %#x), lifetimes copied?", ad.IPNet, ad.Flags)
		}
	}
	if x := s.addr("192.0.2.2/24"); x != nil && !x.Broadcast.Equal(net.ParseIP("192.0.2.255")) {
		t.Errorf("192.0.2.2/24: broadcast %v, want the template's", x.Broadcast)
	}
	ll := false
	for _, ad := range s.addrs {
		if ad.Scope == unix.RT_SCOPE_LINK && ad.IP.To4() == nil {
			ll = true
			if ip, _ := netip.AddrFromSlice(ad.IP); ip != res.LinkLocal {
				t.Errorf("Result.LinkLocal %v, tap has %v", res.LinkLocal, ip)
			}
		}
	}
	if !ll {
		t.Error("no link-local address on the tap")
	}
	if s.addr("fe80::2/64") != nil {
		t.Error("the template's link-local address was copied")
	}

	def4, def6 := s.defaults()
	checkVia(t, state{link: s.link, routes: def4}, "default", "192.0.2.1")
	if len(def4) == 1 {
		if def4[0].Src != nil {
			t.Errorf("default route kept preferred source %v", def4[0].Src)
		}
		if def4[0].Priority != 100 || def4[0].Protocol != unix.RTPROT_DHCP {
			t.Errorf("default route: metric %d proto %d, want 100 dhcp",
				def4[0].Priority, def4[0].Protocol)
		}
	}
	checkVia(t, state{link: s.link, routes: def6}, "default", "fd00::1")
	checkVia(t, s, "10.0.0.0/16", "192.0.2.254")
	checkVia(t, s, "198.18.0.0/24", "")
	checkVia(t, s, "100.80.0.0/16", "198.18.0.1")
	checkVia(t, s, "fd00:1::/64", "fe80::1")

	mp := s.routesTo("192.168.100.0/24")
	if len(mp) != 1 || len(mp[0].MultiPath) != 2 {
		t.Errorf("multipath route: %v", mp)
	} else {
		for _, nh := range mp[0].MultiPath {
			if nh.LinkIndex != a.Index {
				t.Errorf("multipath nexthop %v not on the tap", nh)
			}
		}
	}
	for _, dst := range []string{"192.168.200.0/24", "100.64.0.0/10", "fd02::/64", "10.1.1.0/24"} {
		if rs := s.routesTo(dst); len(rs) != 0 {
			t.Errorf("route to %s copied from another interface: %v", dst, rs)
		}
	}
	// The prefix route: the kernel's (with preferred source) and the copy.
	if rs := s.routesTo("192.0.2.0/24"); len(rs) != 2 {
		t.Errorf("routes to 192.0.2.0/24: %d, want 2 (kernel + copy)", len(rs))
	}
}

func TestConfigureNoCopy(t *testing.T) {
	host, ns := newNS(t), newNS(t)
	eth0, _ := template(host)
	ns.tap(tapName)

	p := fullParams(nil, eth0.Attrs().Index, eth0.Attrs().Index)
	p.IP4.NoCopyAddrs, p.IP4.NoCopyRoutes = true, true
	p.IP6.NoCopyAddrs, p.IP6.NoCopyRoutes = true, true
	p.IP4.Addr, p.IP4.PrefixLen = mustAddr("192.0.2.77"), 24
	p.IP6.Addr, p.IP6.Gateway = mustAddr("fd00::77"), mustAddr("fe80::1")
	p.MTU = 1280
	before, err := ns.h.LinkByName(tapName)
	ns.must(err, "LinkByName")

	res, err := Apply(host.h, ns.h, p)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	s := readState(t, ns)
	t.Logf("namespace:\n%s", s.dump())
	if !slices.Equal(s.link.Attrs().HardwareAddr, before.Attrs().HardwareAddr) ||
		!slices.Equal(res.MAC[:], before.Attrs().HardwareAddr) {
		t.Errorf("MAC %v (reported %x), want the kernel's %v",
			s.link.Attrs().HardwareAddr, res.MAC, before.Attrs().HardwareAddr)
	}
	if s.link.Attrs().MTU != 1280 {
		t.Errorf("MTU %d, want 1280", s.link.Attrs().MTU)
	}
	want := []string{"192.0.2.77/24", "fd00::77/64"}
	if got := s.globalAddrs(); !slices.Equal(got, want) {
		t.Errorf("global addresses %v, want %v", got, want)
	}
	if x := s.addr("192.0.2.77/24"); x != nil && x.Broadcast != nil {
		t.Errorf("single IPv4 address got broadcast %v", x.Broadcast)
	}
	if x := s.addr("fd00::77/64"); x != nil && x.Flags&unix.IFA_F_NODAD == 0 {
		t.Errorf("fd00::77/64 without IFA_F_NODAD")
	}
	def4, def6 := s.defaults()
	checkVia(t, state{link: s.link, routes: def4}, "default", "192.0.2.1")
	checkVia(t, state{link: s.link, routes: def6}, "default", "fe80::1")
	for _, r := range s.routes {
		if r.Protocol != unix.RTPROT_KERNEL && dstString(r) != "default" {
			t.Errorf("unexpected route %v", r)
		}
	}
}

func TestConfigureLocalMode(t *testing.T) {
	ns := newNS(t)
	ns.tap(tapName)
	p := Params{
		Ifname: tapName, MTU: 65520, ConfigNet: true,
		IP4: Family{Enabled: true, Addr: mustAddr("169.254.2.1"), PrefixLen: 16,
			Gateway: mustAddr("169.254.2.2")},
		IP6: Family{Enabled: true, Gateway: mustAddr("fe80::1")},
	}
	res, err := Apply(nil, ns.h, p)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if res.IP4Disabled || res.IP6Disabled || len(res.Warnings) != 0 {
		t.Errorf("result %+v", res)
	}
	s := readState(t, ns)
	t.Logf("namespace:\n%s", s.dump())
	if got := s.globalAddrs(); !slices.Equal(got, []string{"169.254.2.1/16"}) {
		t.Errorf("global addresses %v", got)
	}
	def4, def6 := s.defaults()
	checkVia(t, state{link: s.link, routes: def4}, "default", "169.254.2.2")
	checkVia(t, state{link: s.link, routes: def6}, "default", "fe80::1")
}

func TestConfigureNoConfigNet(t *testing.T) {
	host, ns := newNS(t), newNS(t)
	eth0, _ := template(host)
	ns.tap(tapName)

	mac := [6]byte{0x02, 0, 0, 0, 0, 0x42}
	p := fullParams(&mac, eth0.Attrs().Index, eth0.Attrs().Index)
	p.ConfigNet = false
	w, err := Configure(host.h, ns.h, p)
	if err != nil || len(w) != 0 {
		t.Fatalf("Configure: %q, %v", w, err)
	}
	s := readState(t, ns)
	if !ifaceUp(s.lo) {
		t.Error("lo not up")
	}
	if ifaceUp(s.link) {
		t.Error("tap up without --config-net")
	}
	if len(s.addrs) != 0 {
		t.Errorf("tap has addresses: %v", s.addrs)
	}
	if s.link.Attrs().MTU == 65520 {
		t.Error("MTU set without --config-net")
	}
	if !slices.Equal(s.link.Attrs().HardwareAddr, net.HardwareAddr(mac[:])) {
		t.Errorf("MAC %v, want %x (set even without --config-net)",
			s.link.Attrs().HardwareAddr, mac)
	}
}

func TestLoopbackUp(t *testing.T) {
	ns := newNS(t)
	if err := LoopbackUp(ns.h); err != nil {
		t.Fatal(err)
	}
	lo, err := ns.h.LinkByName("lo")
	ns.must(err, "LinkByName lo")
	if !ifaceUp(lo) {
		t.Error("lo not up")
	}
}

func TestConfigureFailures(t *testing.T) {
	host, ns := newNS(t), newNS(t)
	eth0, _ := template(host)
	ns.tap(tapName)
	idx := eth0.Attrs().Index

	p := fullParams(nil, idx, idx)
	p.MTU = 100000
	_, err := Configure(host.h, ns.h, p)
	if err == nil || err.Error() != "Couldn't set MTU in namespace: Invalid argument" {
		t.Errorf("MTU 100000: %v", err)
	}
	if !errors.Is(err, unix.EINVAL) {
		t.Errorf("MTU error does not unwrap to EINVAL: %#v", err)
	}

	p = fullParams(nil, idx, idx)
	p.IP6.Enabled = false
	p.IP4.NoCopyAddrs, p.IP4.NoCopyRoutes = true, true
	p.IP4.Addr, p.IP4.Gateway = mustAddr("192.0.2.77"), mustAddr("10.99.99.1")
	_, err = Configure(host.h, ns.h, p)
	if err == nil || err.Error() != "Couldn't set IPv4 route(s) in guest: Network is unreachable" {
		t.Errorf("unreachable gateway: %v", err)
	}

	// The address is there now: adding it again fails like upstream.
	_, err = Configure(host.h, ns.h, p)
	if err == nil || err.Error() != "Couldn't set IPv4 address(es) in namespace: File exists" {
		t.Errorf("duplicate address: %v", err)
	}

	p = fullParams(nil, idx, idx)
	p.Ifname = "nonexistent0"
	if _, err = Configure(host.h, ns.h, p); err == nil ||
		!strings.HasPrefix(err.Error(), "Couldn't find interface nonexistent0 in namespace: ") {
		t.Errorf("missing tap: %v", err)
	}
}

func TestStrerror(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{unix.ENETUNREACH, "Network is unreachable"},
		{fmt.Errorf("x: %w", unix.EEXIST), "File exists"},
		{errors.New("plain"), "plain"},
	} {
		if got := errno.Text(c.err); got != c.want {
			t.Errorf("errno.Text(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestRetry(t *testing.T) {
	n := 0
	v, err := nlretry.Do(func() (int, error) {
		n++
		if n < 3 {
			return 0, netlink.ErrDumpInterrupted
		}
		return 7, nil
	})
	if v != 7 || err != nil || n != 3 {
		t.Errorf("retry: %d %v after %d calls", v, err, n)
	}
	n = 0
	_, err = nlretry.Do(func() (int, error) { n++; return 1, netlink.ErrDumpInterrupted })
	if !errors.Is(err, netlink.ErrDumpInterrupted) || n != nlretry.MaxTries {
		t.Errorf("bounded retry: %v after %d calls", err, n)
	}
}

// A template without carrier: the kernel flags its routes linkdown
// (RTNH_F_LINKDOWN) and refuses new routes carrying that flag, so the
// copies must have it cleared.
func TestConfigureLinkDownTemplate(t *testing.T) {
	host, ns := newNS(t), newNS(t)
	eth0 := host.veth("eth0", "peer0")
	peer, err := host.h.LinkByName("peer0")
	host.must(err, "LinkByName peer0")
	host.must(host.h.LinkSetDown(peer), "peer0 down")
	i0 := eth0.Attrs().Index
	host.addr(eth0, "192.0.2.2/24", "", false)
	host.route(netlink.Route{LinkIndex: i0, Dst: ipnet("0.0.0.0/0"),
		Gw: net.ParseIP("192.0.2.1")})
	host.route(netlink.Route{Dst: ipnet("192.168.100.0/24"), MultiPath: []*netlink.NexthopInfo{
		{LinkIndex: i0, Gw: net.ParseIP("192.0.2.10")},
		{LinkIndex: i0, Gw: net.ParseIP("192.0.2.11")},
	}})
	rs, err := host.h.RouteList(eth0, netlink.FAMILY_V4)
	host.must(err, "RouteList")
	flagged := false
	for _, r := range rs {
		if r.Flags&unix.RTNH_F_LINKDOWN != 0 {
			flagged = true
		}
	}
	if !flagged {
		t.Log("precondition: no linkdown flag on the template's routes")
	}

	ns.tap(tapName)
	p := fullParams(nil, i0, 0)
	p.IP6.Enabled = false
	if _, err := Configure(host.h, ns.h, p); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	s := readState(t, ns)
	t.Logf("namespace:\n%s", s.dump())
	checkVia(t, s, "default", "192.0.2.1")
	if mp := s.routesTo("192.168.100.0/24"); len(mp) != 1 || len(mp[0].MultiPath) != 2 {
		t.Errorf("multipath route: %v", mp)
	}
	for _, r := range s.routes {
		if r.Flags&unix.RTNH_F_LINKDOWN != 0 {
			t.Errorf("route %v flagged linkdown", r)
		}
	}
}
