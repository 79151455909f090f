// SPDX-License-Identifier: GPL-2.0-or-later

package hostinfo

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"passt/internal/errno"
	"passt/internal/nlretry"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// testNS is a fresh network namespace owned by one locked OS thread. The
// handle was created on that thread, so its socket lives in the namespace.
type testNS struct {
	t    *testing.T
	h    *netlink.Handle
	stop chan struct{}
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

	ns := &testNS{t: t, stop: make(chan struct{})}
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
		<-ns.stop
	}()
	if err := <-ready; err != nil {
		t.Fatalf("creating network namespace: %v", err)
	}
	t.Cleanup(func() {
		ns.h.Close()
		close(ns.stop)
	})
	return ns
}

func (ns *testNS) must(err error, what string) {
	ns.t.Helper()
	if err != nil {
		ns.t.Fatalf("%s: %v", what, err)
	}
}

// dummy creates an up link named name: the first end of a veth pair whose
// other end ("p-"+name) is up but unconfigured. (Veth rather than dummy
// links, because the dummy driver is not available everywhere.) IPv6
// link-local autoconfiguration is off so that tests control the link-local
// addresses.
func (ns *testNS) dummy(name string, mac string, mtu int) netlink.Link {
	ns.t.Helper()
	attrs := netlink.LinkAttrs{Name: name, MTU: mtu}
	if mac != "" {
		hw, err := net.ParseMAC(mac)
		ns.must(err, "ParseMAC")
		attrs.HardwareAddr = hw
	}
	ns.must(ns.h.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "p-" + name}),
		"LinkAdd "+name)
	var l netlink.Link
	for _, n := range []string{name, "p-" + name} {
		x, err := ns.h.LinkByName(n)
		ns.must(err, "LinkByName "+n)
		ns.must(ns.h.LinkSetIP6AddrGenMode(x, 1 /* IN6_ADDR_GEN_MODE_NONE */),
			"addrgenmode none")
		ns.must(ns.h.LinkSetUp(x), "LinkSetUp "+n)
		if l == nil {
			l = x
		}
	}
	return l
}

func (ns *testNS) veth(name, peer string) (netlink.Link, netlink.Link) {
	ns.t.Helper()
	ns.must(ns.h.LinkAdd(&netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: peer,
	}), "LinkAdd veth")
	var out [2]netlink.Link
	for i, n := range []string{name, peer} {
		l, err := ns.h.LinkByName(n)
		ns.must(err, "LinkByName "+n)
		ns.must(ns.h.LinkSetIP6AddrGenMode(l, 1), "addrgenmode none")
		ns.must(ns.h.LinkSetUp(l), "LinkSetUp "+n)
		out[i] = l
	}
	return out[0], out[1]
}

func (ns *testNS) lo() netlink.Link {
	ns.t.Helper()
	l, err := ns.h.LinkByName("lo")
	ns.must(err, "LinkByName lo")
	ns.must(ns.h.LinkSetUp(l), "LinkSetUp lo")
	return l
}

// addr adds an address; deprecated ones get preferred lifetime 0.
func (ns *testNS) addr(l netlink.Link, cidr string, deprecated bool) {
	ns.t.Helper()
	a, err := netlink.ParseAddr(cidr)
	ns.must(err, "ParseAddr "+cidr)
	if a.IP.To4() == nil {
		a.Flags = unix.IFA_F_NODAD
	}
	if deprecated {
		a.ValidLft = 3600
		a.PreferedLft = 0
	}
	ns.must(ns.h.AddrAdd(l, a), "AddrAdd "+cidr)
	if deprecated {
		list, err := ns.h.AddrList(l, netlink.FAMILY_ALL)
		ns.must(err, "AddrList")
		for _, x := range list {
			if x.IPNet.IP.Equal(a.IP) && x.Flags&unix.IFA_F_DEPRECATED == 0 {
				ns.t.Fatalf("precondition: %s not deprecated", cidr)
			}
		}
	}
}

func ipnet(cidr string) *net.IPNet {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		panic(err)
	}
	return n
}

// route adds a route: dst "" is default; gw "" means a device route.
func (ns *testNS) route(l netlink.Link, dst, gw string, metric int) {
	ns.t.Helper()
	r := &netlink.Route{LinkIndex: l.Attrs().Index, Priority: metric}
	if dst != "" {
		r.Dst = ipnet(dst)
	}
	if gw != "" {
		r.Gw = net.ParseIP(gw)
	} else {
		r.Scope = netlink.SCOPE_LINK
	}
	if dst == "" && gw == "" {
		r.Dst = ipnet("0.0.0.0/0")
	}
	ns.must(ns.h.RouteAdd(r), "RouteAdd "+dst+" via "+gw)
}

func (ns *testNS) discover(req Request) *Host {
	ns.t.Helper()
	host, err := Discover(ns.h, req)
	if err != nil {
		ns.t.Fatalf("Discover(%+v): %v", req, err)
	}
	return host
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

func checkWarnings(t *testing.T, host *Host, want ...string) {
	t.Helper()
	if len(want) == 0 {
		want = nil
	}
	if !reflect.DeepEqual(host.Warnings, want) {
		t.Errorf("warnings = %q, want %q", host.Warnings, want)
	}
}

type wantT struct {
	ifname    string
	addr      netip.Prefix
	gw        netip.Addr
	linkLocal netip.Addr
	usable    bool
}

func checkTmpl(t *testing.T, fam string, got Template, w wantT) {
	t.Helper()
	if got.Ifname != w.ifname || got.Addr != w.addr || got.Gateway != w.gw ||
		got.LinkLocal != w.linkLocal || got.Usable != w.usable {
		t.Errorf("%s template = {if %q addr %v gw %v ll %v usable %v err %v}, "+
			"want {if %q addr %v gw %v ll %v usable %v}", fam,
			got.Ifname, got.Addr, got.Gateway, got.LinkLocal, got.Usable, got.Err,
			w.ifname, w.addr, w.gw, w.linkLocal, w.usable)
	}
	if w.ifname != "" && got.Ifindex == 0 {
		t.Errorf("%s template: Ifindex 0", fam)
	}
}

func TestDiscoverBasic(t *testing.T) {
	ns := newNS(t)
	eth := ns.dummy("eth0", "02:00:00:00:00:01", 1400)
	ns.addr(eth, "192.0.2.2/24", false)
	ns.addr(eth, "fd00::2/64", false)
	ns.addr(eth, "fe80::2/64", false)
	ns.route(eth, "", "192.0.2.1", 0)
	ns.route(eth, "::/0", "fd00::1", 0)

	host := ns.discover(Request{})
	checkWarnings(t, host)
	checkTmpl(t, "v4", host.V4, wantT{"eth0", pfx("192.0.2.2/24"), ip("192.0.2.1"),
		netip.Addr{}, true})
	checkTmpl(t, "v6", host.V6, wantT{"eth0", pfx("fd00::2/64"), ip("fd00::1"),
		ip("fe80::2"), true})
	if host.V4.MTU != 1400 || host.V4.MAC != [6]byte{2, 0, 0, 0, 0, 1} {
		t.Errorf("MTU/MAC = %d/%x, want 1400/020000000001", host.V4.MTU, host.V4.MAC)
	}
	if host.V4.Ifindex != eth.Attrs().Index {
		t.Errorf("Ifindex = %d, want %d", host.V4.Ifindex, eth.Attrs().Index)
	}
}

func TestDiscoverAddressChoice(t *testing.T) {
	ns := newNS(t)
	eth := ns.dummy("eth0", "", 0)
	ns.addr(eth, "10.0.0.1/24", false)
	ns.addr(eth, "10.1.0.1/24", false) // tie with the first: not chosen
	ns.addr(eth, "10.2.0.1/28", false) // longest non-deprecated
	ns.addr(eth, "10.3.0.1/30", true)  // deprecated: ignored
	ns.addr(eth, "fd00::2/64", false)  //
	ns.addr(eth, "fd01::2/80", false)  // longest non-deprecated
	ns.addr(eth, "fd02::2/96", true)   // deprecated: ignored
	ns.addr(eth, "fe80::5/64", false)  // link-local
	ns.addr(eth, "fe80::6/128", true)  // deprecated link-local: ignored
	ns.route(eth, "", "10.0.0.254", 0)
	ns.route(eth, "::/0", "fe80::1", 0) // link-local gateway

	host := ns.discover(Request{})
	checkWarnings(t, host)
	checkTmpl(t, "v4", host.V4, wantT{"eth0", pfx("10.2.0.1/28"), ip("10.0.0.254"),
		netip.Addr{}, true})
	// Link-local gateway becomes our link-local.
	checkTmpl(t, "v6", host.V6, wantT{"eth0", pfx("fd01::2/80"), ip("fe80::1"),
		ip("fe80::1"), true})

	// Ties: the first address in dump order wins.
	b := ns.dummy("b0", "", 0)
	ns.addr(b, "10.8.0.1/24", false)
	ns.addr(b, "10.9.0.1/24", false)
	host = ns.discover(Request{Ifname: "b0", Disable6: true})
	checkTmpl(t, "v4", host.V4, wantT{"b0", pfx("10.8.0.1/24"), netip.Addr{},
		netip.Addr{}, true})
}

func TestDiscoverMultipleDefaults(t *testing.T) {
	ns := newNS(t)
	a := ns.dummy("a0", "", 0)
	b := ns.dummy("b0", "", 0)
	ns.addr(a, "10.0.0.1/24", false)
	ns.addr(b, "10.1.0.1/24", false)
	ns.addr(a, "fd00::1/64", false)
	ns.addr(a, "fe80::1:1/64", false)
	ns.addr(b, "fd01::1/64", false)
	ns.addr(b, "fe80::2:1/64", false)
	ns.route(a, "", "10.0.0.254", 100)
	ns.route(b, "", "10.1.0.254", 200)
	ns.route(a, "::/0", "fd00::fe", 100)
	ns.route(b, "::/0", "fd01::fe", 200)

	host := ns.discover(Request{})
	checkWarnings(t, host,
		"Multiple default IPv4 routes, picked first",
		"Multiple default IPv6 routes, picked first")
	checkTmpl(t, "v4", host.V4, wantT{"a0", pfx("10.0.0.1/24"), ip("10.0.0.254"),
		netip.Addr{}, true})
	checkTmpl(t, "v6", host.V6, wantT{"a0", pfx("fd00::1/64"), ip("fd00::fe"),
		ip("fe80::1:1"), true})
}

// Two default routes on the same link still count as multiple, and the
// gateway comes from the first default route that has one.
func TestDiscoverDefaultWithoutGateway(t *testing.T) {
	ns := newNS(t)
	a := ns.dummy("a0", "", 0)
	ns.addr(a, "10.0.0.1/24", false)
	ns.route(a, "", "", 10) // default dev a0, no gateway
	ns.route(a, "", "10.0.0.254", 20)

	host := ns.discover(Request{Disable6: true})
	checkWarnings(t, host, "Multiple default IPv4 routes, picked first")
	checkTmpl(t, "v4", host.V4, wantT{"a0", pfx("10.0.0.1/24"), ip("10.0.0.254"),
		netip.Addr{}, true})
	if host.V6 != (Template{}) {
		t.Errorf("disabled IPv6 template = %+v, want zero", host.V6)
	}
}

func TestDiscoverOnlyNonDefaultRoutes(t *testing.T) {
	ns := newNS(t)
	a := ns.dummy("a0", "", 0)
	b := ns.dummy("b0", "", 0)
	ns.addr(a, "10.0.0.1/24", false) // prefix route 10.0.0.0/24 dev a0
	ns.addr(b, "10.1.0.1/24", false) // prefix route 10.1.0.0/24 dev b0
	ns.addr(b, "fd01::1/64", false)  // only b0 has IPv6 routes
	ns.addr(b, "fe80::b/64", false)

	host := ns.discover(Request{})
	checkWarnings(t, host, "Multiple interfaces with IPv4 routes, picked first")
	checkTmpl(t, "v4", host.V4, wantT{"a0", pfx("10.0.0.1/24"), netip.Addr{},
		netip.Addr{}, true})
	checkTmpl(t, "v6", host.V6, wantT{"b0", pfx("fd01::1/64"), netip.Addr{},
		ip("fe80::b"), true})
}

func TestDiscoverLinkLocalOnly(t *testing.T) {
	ns := newNS(t)
	a := ns.dummy("a0", "", 0)
	ns.addr(a, "169.254.7.1/16", false) // route to 169.254.0.0/16: ignored
	ns.addr(a, "fe80::a/64", false)     // route to fe80::/64: ignored

	host := ns.discover(Request{})
	checkWarnings(t, host,
		"No interfaces with usable IPv4 routes",
		"No interfaces with usable IPv6 routes")
	checkTmpl(t, "v4", host.V4, wantT{})
	checkTmpl(t, "v6", host.V6, wantT{})

	// With -i: IPv4 takes the link-local address (any scope), IPv6 has a
	// link-local address but no global one, so it is not usable.
	host = ns.discover(Request{Ifname: "a0"})
	checkWarnings(t, host)
	checkTmpl(t, "v4", host.V4, wantT{"a0", pfx("169.254.7.1/16"), netip.Addr{},
		netip.Addr{}, true})
	checkTmpl(t, "v6", host.V6, wantT{"a0", netip.Prefix{}, netip.Addr{},
		ip("fe80::a"), false})
}

// IPv6 needs a link-local address: a global address and a global gateway
// are not enough.
func TestDiscoverIPv6NoLinkLocal(t *testing.T) {
	ns := newNS(t)
	a := ns.dummy("a0", "", 0)
	ns.addr(a, "fd00::2/64", false)
	ns.route(a, "::/0", "fd00::1", 0)

	host := ns.discover(Request{Disable4: true})
	checkWarnings(t, host)
	checkTmpl(t, "v6", host.V6, wantT{"a0", pfx("fd00::2/64"), ip("fd00::1"),
		netip.Addr{}, false})

	// -g with a link-local gateway provides the link-local identity.
	host = ns.discover(Request{Disable4: true, Gateway6: ip("fe80::99")})
	checkTmpl(t, "v6", host.V6, wantT{"a0", pfx("fd00::2/64"), ip("fe80::99"),
		ip("fe80::99"), true})
}

func TestDiscoverMultipath(t *testing.T) {
	ns := newNS(t)
	a := ns.dummy("a0", "", 0)
	b := ns.dummy("b0", "", 0)
	ns.addr(a, "10.0.0.1/24", false)
	ns.addr(b, "10.1.0.1/24", false)
	ns.must(ns.h.RouteAdd(&netlink.Route{
		Dst: ipnet("0.0.0.0/0"),
		MultiPath: []*netlink.NexthopInfo{
			{LinkIndex: a.Attrs().Index, Gw: net.ParseIP("10.0.0.254"), Hops: 0},
			{LinkIndex: b.Attrs().Index, Gw: net.ParseIP("10.1.0.254"), Hops: 4},
			{LinkIndex: a.Attrs().Index, Gw: net.ParseIP("10.0.0.253"), Hops: 1},
		},
	}), "RouteAdd multipath")

	host := ns.discover(Request{Disable6: true})
	checkWarnings(t, host)
	// Template: first nexthop's interface; gateway: highest weight.
	checkTmpl(t, "v4", host.V4, wantT{"a0", pfx("10.0.0.1/24"), ip("10.1.0.254"),
		netip.Addr{}, true})

	// The same route also counts as the default route via b0.
	host = ns.discover(Request{Disable6: true, OutIf4: "b0"})
	checkTmpl(t, "v4", host.V4, wantT{"b0", pfx("10.1.0.1/24"), ip("10.1.0.254"),
		netip.Addr{}, true})
}

func TestDiscoverMultipathTie(t *testing.T) {
	ns := newNS(t)
	a := ns.dummy("a0", "", 0)
	ns.addr(a, "10.0.0.1/24", false)
	ns.must(ns.h.RouteAdd(&netlink.Route{
		Dst: ipnet("0.0.0.0/0"),
		MultiPath: []*netlink.NexthopInfo{
			{LinkIndex: a.Attrs().Index, Gw: net.ParseIP("10.0.0.252"), Hops: 2},
			{LinkIndex: a.Attrs().Index, Gw: net.ParseIP("10.0.0.253"), Hops: 2},
			{LinkIndex: a.Attrs().Index, Gw: net.ParseIP("10.0.0.254"), Hops: 1},
		},
	}), "RouteAdd multipath")
	host := ns.discover(Request{Disable6: true})
	checkTmpl(t, "v4", host.V4, wantT{"a0", pfx("10.0.0.1/24"), ip("10.0.0.253"),
		netip.Addr{}, true})
}

func TestDiscoverIgnoresLoopback(t *testing.T) {
	ns := newNS(t)
	lo := ns.lo()
	ns.route(lo, "", "", 0) // default dev lo: ignored
	ns.route(lo, "10.9.0.0/16", "", 0)
	a := ns.dummy("a0", "", 0)
	ns.addr(a, "10.0.0.1/24", false)

	host := ns.discover(Request{})
	// lo's ::1/128 route is in the main table, and ignored too.
	checkWarnings(t, host, "No interfaces with usable IPv6 routes")
	checkTmpl(t, "v4", host.V4, wantT{"a0", pfx("10.0.0.1/24"), netip.Addr{},
		netip.Addr{}, true})
	checkTmpl(t, "v6", host.V6, wantT{})
}

func TestDiscoverVeth(t *testing.T) {
	ns := newNS(t)
	v, p := ns.veth("veth0", "veth1")
	ns.addr(v, "198.51.100.2/24", false)
	ns.addr(p, "203.0.113.2/24", false)
	ns.route(p, "", "203.0.113.1", 0)

	host := ns.discover(Request{Disable6: true})
	checkWarnings(t, host)
	checkTmpl(t, "v4", host.V4, wantT{"veth1", pfx("203.0.113.2/24"),
		ip("203.0.113.1"), netip.Addr{}, true})
	if host.V4.MAC == ([6]byte{}) {
		t.Errorf("veth MAC not reported")
	}
}

func TestDiscoverExplicit(t *testing.T) {
	ns := newNS(t)
	a := ns.dummy("a0", "", 0)
	b := ns.dummy("b0", "", 0)
	ns.addr(a, "10.0.0.1/24", false)
	ns.addr(b, "10.1.0.1/24", false)
	ns.addr(a, "fd00::1/64", false)
	ns.addr(a, "fe80::a/64", false)
	ns.addr(b, "fd01::1/64", false)
	ns.addr(b, "fe80::b/64", false)
	ns.route(a, "", "10.0.0.254", 100)
	ns.route(b, "", "10.1.0.254", 200)
	ns.route(a, "::/0", "fd00::fe", 0)

	// -i: both families, no automatic choice, so no warnings.
	host := ns.discover(Request{Ifname: "b0", OutIf4: "a0"})
	checkWarnings(t, host)
	checkTmpl(t, "v4", host.V4, wantT{"b0", pfx("10.1.0.1/24"), ip("10.1.0.254"),
		netip.Addr{}, true})
	checkTmpl(t, "v6", host.V6, wantT{"b0", pfx("fd01::1/64"), netip.Addr{},
		ip("fe80::b"), true})

	// --outbound-if4 only changes IPv4; IPv6 stays automatic.
	host = ns.discover(Request{OutIf4: "b0"})
	checkWarnings(t, host)
	checkTmpl(t, "v4", host.V4, wantT{"b0", pfx("10.1.0.1/24"), ip("10.1.0.254"),
		netip.Addr{}, true})
	checkTmpl(t, "v6", host.V6, wantT{"a0", pfx("fd00::1/64"), ip("fd00::fe"),
		ip("fe80::a"), true})

	// --outbound-if6 b0.
	host = ns.discover(Request{OutIf6: "b0"})
	checkWarnings(t, host, "Multiple default IPv4 routes, picked first")
	checkTmpl(t, "v4", host.V4, wantT{"a0", pfx("10.0.0.1/24"), ip("10.0.0.254"),
		netip.Addr{}, true})
	checkTmpl(t, "v6", host.V6, wantT{"b0", pfx("fd01::1/64"), netip.Addr{},
		ip("fe80::b"), true})

	// A missing --outbound-if4 falls back to the automatic choice, as
	// passt's if_nametoindex() returning 0 does.
	host = ns.discover(Request{OutIf4: "nope0"})
	checkTmpl(t, "v4", host.V4, wantT{"a0", pfx("10.0.0.1/24"), ip("10.0.0.254"),
		netip.Addr{}, true})

	// -a counts for usability; -g skips the gateway lookup.
	c := ns.dummy("c0", "", 0)
	host = ns.discover(Request{Ifname: "c0", Addr4: ip("10.5.0.1"),
		Gateway4: ip("10.5.0.254")})
	checkTmpl(t, "v4", host.V4, wantT{"c0", netip.Prefix{}, ip("10.5.0.254"),
		netip.Addr{}, true})
	checkTmpl(t, "v6", host.V6, wantT{"c0", netip.Prefix{}, netip.Addr{},
		netip.Addr{}, false})
	_ = c
}

func TestDiscoverInvalidInterface(t *testing.T) {
	ns := newNS(t)
	for _, name := range []string{"nope0", "averyveryverylongname"} {
		_, err := Discover(ns.h, Request{Ifname: name})
		want := "Invalid interface name " + name + ": No such device"
		if err == nil || err.Error() != want {
			t.Errorf("Discover(-i %s) error = %v, want %q", name, err, want)
		}
	}
}

func TestDiscoverLocalMode(t *testing.T) {
	ns := newNS(t)
	host := ns.discover(Request{})
	checkWarnings(t, host,
		"No interfaces with usable IPv4 routes",
		"No interfaces with usable IPv6 routes")
	if host.V4.Usable || host.V6.Usable || host.V4.Ifindex != 0 || host.V6.Ifindex != 0 {
		t.Errorf("templates in empty namespace: %+v", host)
	}

	// A link with an IPv6 route but no address at all: template chosen,
	// not usable.
	a := ns.dummy("a0", "", 0)
	ns.route(a, "2001:db8::/32", "", 0)
	ns.route(a, "10.7.0.0/16", "", 0)
	host = ns.discover(Request{})
	checkWarnings(t, host)
	checkTmpl(t, "v4", host.V4, wantT{"a0", netip.Prefix{}, netip.Addr{},
		netip.Addr{}, false})
	checkTmpl(t, "v6", host.V6, wantT{"a0", netip.Prefix{}, netip.Addr{},
		netip.Addr{}, false})

	if LocalGuest4 != pfx("169.254.2.1/16") || LocalGateway4 != ip("169.254.2.2") ||
		LocalGateway6 != ip("fe80::1") {
		t.Errorf("local-mode constants changed")
	}
}

func TestDiscoverNilHandle(t *testing.T) {
	if _, err := Discover(nil, Request{}); err == nil {
		t.Fatal("Discover(nil) succeeded")
	}
}

func TestRetry(t *testing.T) {
	n := 0
	v, err := nlretry.Do(func() (int, error) {
		n++
		if n < 3 {
			return n, netlink.ErrDumpInterrupted
		}
		return 42, nil
	})
	if v != 42 || err != nil || n != 3 {
		t.Errorf("retry = %d, %v after %d calls", v, err, n)
	}

	n = 0
	v, err = nlretry.Do(func() (int, error) {
		n++
		return n, netlink.ErrDumpInterrupted
	})
	if v != 0 || !errors.Is(err, netlink.ErrDumpInterrupted) || n != nlretry.MaxTries {
		t.Errorf("endless interruption: %d, %v after %d calls", v, err, n)
	}

	other := errors.New("boom")
	n = 0
	_, err = nlretry.Do(func() (int, error) { n++; return 0, other })
	if err != other || n != 1 {
		t.Errorf("other error retried: %v after %d calls", err, n)
	}
}

func TestStrerror(t *testing.T) {
	if s := errno.Text(unix.ENODEV); s != "No such device" {
		t.Errorf("errno.Text(ENODEV) = %q", s)
	}
	if s := errno.Text(errors.New("x y")); s != "x y" {
		t.Errorf("errno.Text(other) = %q", s)
	}
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestParseResolvConf(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     string
		ns4    []netip.Addr
		ns6    []netip.Addr
		all4   []netip.Addr
		search []string
	}{
		{name: "empty"},
		{
			name: "basic",
			in:   "# comment\nnameserver 192.0.2.1\nnameserver 2001:db8::1\nsearch example.com\n",
			ns4:  addrs("192.0.2.1"), ns6: addrs("2001:db8::1"),
			all4:   addrs("192.0.2.1"),
			search: []string{"example.com"},
		},
		{
			name: "no trailing newline",
			in:   "nameserver 192.0.2.1",
			ns4:  addrs("192.0.2.1"), all4: addrs("192.0.2.1"),
		},
		{
			name: "tab after keyword is not a nameserver line",
			in:   "nameserver\t192.0.2.1\n",
		},
		{
			name: "leading space is not a nameserver line",
			in:   " nameserver 192.0.2.1\n",
		},
		{
			name: "value after last space",
			in:   "nameserver   192.0.2.1\nnameserver junk 192.0.2.2\n",
			ns4:  addrs("192.0.2.1", "192.0.2.2"), all4: addrs("192.0.2.1", "192.0.2.2"),
		},
		{
			name: "trailing space or tab spoils the value",
			in:   "nameserver 192.0.2.1 \nnameserver 192.0.2.2\t\nnameserver 192.0.2.3\r\n",
		},
		{
			name: "zone cut",
			in:   "nameserver fe80::1%eth0\nnameserver 192.0.2.9%x\n",
			ns4:  addrs("192.0.2.9"), all4: addrs("192.0.2.9"),
			ns6: addrs("fe80::1"),
		},
		{
			name: "more than three per family",
			in: "nameserver 127.0.0.53\nnameserver 192.0.2.1\nnameserver ::1\n" +
				"nameserver 192.0.2.2\nnameserver 192.0.2.3\nnameserver 2001:db8::1\n" +
				"nameserver 2001:db8::2\nnameserver 2001:db8::3\n",
			ns4:  addrs("127.0.0.53", "192.0.2.1", "192.0.2.2"),
			ns6:  addrs("::1", "2001:db8::1", "2001:db8::2"),
			all4: addrs("127.0.0.53", "192.0.2.1", "192.0.2.2", "192.0.2.3"),
		},
		{
			name: "garbage skipped",
			in: "nameserver 300.1.1.1\nnameserver 01.2.3.4\nnameserver banana\n" +
				"nameserver \nnameserver 1.2.3\nnameserver 192.0.2.7\n\x00\x01\xff\n" +
				"nameservers 192.0.2.8\n",
			ns4: addrs("192.0.2.7"), all4: addrs("192.0.2.7"),
		},
		{
			name: "v4-mapped stays IPv6",
			in:   "nameserver ::ffff:192.0.2.1\n",
			ns6:  addrs("::ffff:192.0.2.1"),
		},
		{
			name: "NUL ends the line",
			in:   "nameserver 192.0.2.1\x00 192.0.2.2\n",
			ns4:  addrs("192.0.2.1"), all4: addrs("192.0.2.1"),
		},
		{
			name:   "search with seven domains, tabs and spaces",
			in:     "search a.example\tb.example  c.example \t d e f g\n",
			search: []string{"a.example", "b.example", "c.example", "d", "e"},
		},
		{
			name:   "second search line ignored, domain ignored",
			in:     "domain corp.example\nsearch one.example\nsearch two.example\n",
			search: []string{"one.example"},
		},
		{
			name:   "empty search line does not count",
			in:     "search \t \nsearch x.example\n",
			search: []string{"x.example"},
		},
		{
			name: "search needs a space",
			in:   "search\tx.example\nsearchx y\n",
		},
		{
			name: "comments and options",
			in: "; nameserver 192.0.2.1\n#nameserver 192.0.2.2\noptions edns0\n" +
				"nameserver 192.0.2.3 # trailing comment\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseResolvConf(strings.NewReader(tc.in))
			if !reflect.DeepEqual(got.Nameservers4, tc.ns4) {
				t.Errorf("Nameservers4 = %v, want %v", got.Nameservers4, tc.ns4)
			}
			if !reflect.DeepEqual(got.Nameservers6, tc.ns6) {
				t.Errorf("Nameservers6 = %v, want %v", got.Nameservers6, tc.ns6)
			}
			if !reflect.DeepEqual(got.All4, tc.all4) {
				t.Errorf("All4 = %v, want %v", got.All4, tc.all4)
			}
			if !reflect.DeepEqual(got.Search, tc.search) {
				t.Errorf("Search = %q, want %q", got.Search, tc.search)
			}
		})
	}
}

func TestReadResolvConf(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(p, []byte("nameserver 192.0.2.53\nsearch lan\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := ReadResolvConf(p)
	if err != nil || !reflect.DeepEqual(r.Nameservers4, addrs("192.0.2.53")) ||
		!reflect.DeepEqual(r.Search, []string{"lan"}) {
		t.Errorf("ReadResolvConf = %+v, %v", r, err)
	}
	if _, err := ReadResolvConf(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestSearchDomainTruncated(t *testing.T) {
	long := strings.Repeat("a", 2000)
	r := ParseResolvConf(strings.NewReader("search " + long + "\n"))
	if len(r.Search) != 1 || len(r.Search[0]) != maxDomainLen {
		t.Errorf("long domain: %d entries, len %d", len(r.Search), len(r.Search[0]))
	}
}

func FuzzParseResolvConf(f *testing.F) {
	f.Add([]byte("nameserver 192.0.2.1\nsearch a b c\n"))
	f.Add([]byte("nameserver fe80::1%eth0\nnameserver ::1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := ParseResolvConf(strings.NewReader(string(data)))
		if len(r.Nameservers4) > MaxNameservers || len(r.Nameservers6) > MaxNameservers {
			t.Fatalf("too many nameservers: %v %v", r.Nameservers4, r.Nameservers6)
		}
		if len(r.Search) > MaxSearchResolv {
			t.Fatalf("too many search domains: %q", r.Search)
		}
		for _, a := range r.Nameservers4 {
			if !a.Is4() {
				t.Fatalf("non-IPv4 %v in Nameservers4", a)
			}
		}
		for _, a := range r.Nameservers6 {
			if !a.Is6() || a.Zone() != "" {
				t.Fatalf("bad IPv6 %v in Nameservers6", a)
			}
		}
		for _, s := range r.Search {
			if s == "" || strings.ContainsAny(s, " \t\n\x00") {
				t.Fatalf("bad search entry %q", s)
			}
		}
		if len(r.All4) < len(r.Nameservers4) || len(r.All6) < len(r.Nameservers6) {
			t.Fatalf("All lists shorter than capped lists")
		}
	})
}
