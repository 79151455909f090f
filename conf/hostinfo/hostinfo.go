// SPDX-License-Identifier: GPL-2.0-or-later

package hostinfo

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"passt/internal/errno"
	"passt/internal/nlretry"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Family is an IP address family.
type Family int

const (
	// V4 is IPv4.
	V4 Family = iota
	// V6 is IPv6.
	V6
)

// String returns "IPv4" or "IPv6", as used in passt's messages.
func (f Family) String() string {
	if f == V6 {
		return "IPv6"
	}
	return "IPv4"
}

func (f Family) netlinkFamily() int {
	if f == V6 {
		return netlink.FAMILY_V6
	}
	return netlink.FAMILY_V4
}

// Local-mode values (contract §6.5).
var (
	// LocalGuest4 is the guest address and prefix in IPv4 local mode.
	LocalGuest4 = netip.MustParsePrefix("169.254.2.1/16")
	// LocalGateway4 is the gateway (and passt's own address) in IPv4
	// local mode.
	LocalGateway4 = netip.MustParseAddr("169.254.2.2")
	// LocalGateway6 is the gateway and passt's link-local address in IPv6
	// local mode.
	LocalGateway6 = netip.MustParseAddr("fe80::1")
)

// ifNameSize is IFNAMSIZ: names must be shorter than this.
const ifNameSize = 16

// Request says what the command-line options fixed already.
type Request struct {
	// Ifname is -i: template interface for both families ("" = automatic).
	Ifname string
	// OutIf4 and OutIf6 are --outbound-if4/--outbound-if6: template for
	// that family unless Ifname is set.
	OutIf4, OutIf6 string

	// Addr4 and Addr6 are addresses given with -a (invalid if none). A
	// fixed address counts for usability; discovery still fills
	// Template.Addr with the host's address.
	Addr4, Addr6 netip.Addr
	// Gateway4 and Gateway6 are gateways given with -g (invalid if none):
	// no gateway lookup is made and Template.Gateway is set to them.
	Gateway4, Gateway6 netip.Addr

	// Disable4 and Disable6 skip a family entirely (-6 and -4): no
	// lookups and no warnings for it; its Template stays zero.
	Disable4, Disable6 bool
}

// Template is the discovery result for one family.
type Template struct {
	// Ifname and Ifindex identify the template interface (zero if none).
	Ifname  string
	Ifindex int
	// Addr is the chosen host address with its prefix length (longest
	// prefix, non-deprecated, IPv6 global scope only); invalid if none.
	Addr netip.Prefix
	// Gateway is the gateway of the first default route via the template
	// (multipath: highest-weight nexthop), or the -g value; invalid if
	// none.
	Gateway netip.Addr
	// LinkLocal (IPv6 only) is passt's link-local identity: the gateway if
	// that is link-local, else the template's link-local address; invalid
	// if none.
	LinkLocal netip.Addr
	// MAC and MTU of the template interface, for information. MAC is
	// zero if the link-layer address is not six bytes long.
	MAC [6]byte
	MTU int
	// Usable tells whether the family can use this template (§6.1);
	// otherwise the family runs in local mode.
	Usable bool
	// Err is the netlink error that made the template unusable, if any.
	Err error
}

// Host is the result of Discover.
type Host struct {
	V4, V6 Template
	// Warnings are the messages passt prints while choosing templates,
	// with the exact contract wording, in the order they arose.
	Warnings []string
}

// Discover chooses the template interface of each family (-i, then
// --outbound-ifN, then automatic as in contract §6.1) and looks up its
// address, gateway and link-local address (§6.2–§6.4).
//
// The only error is for a Request.Ifname that does not name an interface:
// "Invalid interface name NAME: <strerror>". Netlink failures during the
// lookups make the affected family unusable (Template.Err) instead.
func Discover(h *netlink.Handle, req Request) (*Host, error) {
	if h == nil {
		return nil, errors.New("hostinfo: nil netlink handle")
	}

	var fixed int
	if req.Ifname != "" {
		idx, err := ifNameToIndex(h, req.Ifname)
		if err != nil {
			return nil, fmt.Errorf("Invalid interface name %s: %s",
				req.Ifname, errno.Text(err))
		}
		fixed = idx
	}

	host := &Host{}
	for _, f := range []Family{V4, V6} {
		var (
			disabled bool
			outIf    string
			addr, gw netip.Addr
			tmpl     *Template
		)
		if f == V4 {
			disabled, outIf, addr, gw, tmpl = req.Disable4, req.OutIf4,
				req.Addr4, req.Gateway4, &host.V4
		} else {
			disabled, outIf, addr, gw, tmpl = req.Disable6, req.OutIf6,
				req.Addr6, req.Gateway6, &host.V6
		}
		if disabled {
			continue
		}

		ifi := fixed
		if ifi == 0 && outIf != "" {
			// Like if_nametoindex() in passt: failure means 0,
			// that is, automatic choice.
			ifi, _ = ifNameToIndex(h, outIf)
		}
		if ifi == 0 {
			var warns []string
			ifi, warns = externalIf(h, f)
			host.Warnings = append(host.Warnings, warns...)
		}
		if ifi == 0 {
			continue
		}
		*tmpl = fillTemplate(h, f, ifi, addr, gw)
	}
	return host, nil
}

// fillTemplate looks up gateway, address, link-local address and link
// attributes of interface ifi for family f.
func fillTemplate(h *netlink.Handle, f Family, ifi int,
	fixedAddr, fixedGw netip.Addr) Template {
	t := Template{Ifindex: ifi}

	link, err := nlretry.Do(func() (netlink.Link, error) {
		return h.LinkByIndex(ifi)
	})
	if err != nil {
		t.Err = fmt.Errorf("interface %d: %w", ifi, err)
		return t
	}
	attrs := link.Attrs()
	t.Ifname = attrs.Name
	t.MTU = attrs.MTU
	if len(attrs.HardwareAddr) == 6 {
		copy(t.MAC[:], attrs.HardwareAddr)
	}

	if fixedGw.IsValid() {
		t.Gateway = fixedGw
	} else {
		gw, err := defaultGateway(h, f, ifi)
		if err != nil {
			t.Err = fmt.Errorf("couldn't discover %s gateway address: %w",
				f, err)
			return t
		}
		t.Gateway = gw
	}

	global, ll, err := ifAddresses(h, f, link)
	if err != nil && (f == V6 || !fixedAddr.IsValid()) {
		t.Err = fmt.Errorf("couldn't discover %s address: %w", f, err)
		return t
	}
	t.Addr = global

	haveAddr := global.IsValid() || fixedAddr.IsValid()
	if f == V4 {
		t.Usable = haveAddr
		return t
	}

	t.LinkLocal = ll
	if t.Gateway.IsValid() && t.Gateway.IsLinkLocalUnicast() {
		t.LinkLocal = t.Gateway
	}
	t.Usable = haveAddr && t.LinkLocal.IsValid()
	return t
}

// ifNameToIndex resolves an interface name, failing like if_nametoindex().
func ifNameToIndex(h *netlink.Handle, name string) (int, error) {
	if len(name) >= ifNameSize {
		return 0, unix.ENODEV
	}
	link, err := nlretry.Do(func() (netlink.Link, error) {
		return h.LinkByName(name)
	})
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return 0, unix.ENODEV
		}
		return 0, err
	}
	return link.Attrs().Index, nil
}

// mainRoutes dumps the main-table unicast routes of a family.
func mainRoutes(h *netlink.Handle, f Family) ([]netlink.Route, error) {
	rs, err := nlretry.Do(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(f.netlinkFamily(),
			&netlink.Route{Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return nil, err
	}
	out := rs[:0]
	for _, r := range rs {
		if r.Table == unix.RT_TABLE_MAIN && r.Type == unix.RTN_UNICAST {
			out = append(out, r)
		}
	}
	return out, nil
}

// dstLen is the destination prefix length of a route (0: default route).
func dstLen(r *netlink.Route) int {
	if r.Dst == nil {
		return 0
	}
	ones, _ := r.Dst.Mask.Size()
	return ones
}

// linkLocalDst tells whether a route goes to a link-local destination.
func linkLocalDst(f Family, r *netlink.Route) bool {
	if r.Dst == nil {
		return false
	}
	a, ok := netip.AddrFromSlice(r.Dst.IP)
	if !ok {
		return false
	}
	plen := dstLen(r)
	if f == V4 {
		a = a.Unmap()
		return a.Is4() && plen >= 16 &&
			netip.MustParsePrefix("169.254.0.0/16").Contains(a)
	}
	return a.Is6() && plen >= 10 && a.IsLinkLocalUnicast()
}

// outIf is the output interface of a route: RTA_OIF, or else the interface
// of its first nexthop (0 if none).
func outIf(r *netlink.Route) int {
	if r.LinkIndex != 0 {
		return r.LinkIndex
	}
	if len(r.MultiPath) > 0 && r.MultiPath[0] != nil {
		return r.MultiPath[0].LinkIndex
	}
	return 0
}

// externalIf chooses the template interface automatically (§6.1), returning
// 0 if there is none, and the warnings to print.
func externalIf(h *netlink.Handle, f Family) (int, []string) {
	var warns []string
	routes, err := mainRoutes(h, f)
	if err != nil {
		warns = append(warns, "netlink: RTM_GETROUTE failed: "+errno.Text(err))
	}

	var defIf, anyIf, nDef, nAny int
	multiAny := false
	for i := range routes {
		r := &routes[i]
		ifi := outIf(r)
		if ifi == 0 || ifi == 1 || linkLocalDst(f, r) {
			continue
		}
		if dstLen(r) == 0 {
			nDef++
			if defIf == 0 {
				defIf = ifi
			}
			continue
		}
		nAny++
		if anyIf == 0 {
			anyIf = ifi
		} else if anyIf != ifi {
			multiAny = true
		}
	}

	switch {
	case defIf != 0:
		if nDef > 1 {
			warns = append(warns, fmt.Sprintf(
				"Multiple default %s routes, picked first", f))
		}
		return defIf, warns
	case anyIf != 0:
		if multiAny {
			warns = append(warns, fmt.Sprintf(
				"Multiple interfaces with %s routes, picked first", f))
		}
		return anyIf, warns
	}
	warns = append(warns, fmt.Sprintf("No interfaces with usable %s routes", f))
	return 0, warns
}

// usesIf tells whether a route goes through interface ifi, directly or in
// any nexthop (the kernel's notion of a dump filtered by RTA_OIF).
func usesIf(r *netlink.Route, ifi int) bool {
	if r.LinkIndex == ifi {
		return true
	}
	for _, nh := range r.MultiPath {
		if nh != nil && nh.LinkIndex == ifi {
			return true
		}
	}
	return false
}

// ipToAddr converts a netlink IP of family f, invalid if empty or bad.
func ipToAddr(f Family, ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	if f == V4 {
		a = a.Unmap()
		if !a.Is4() {
			return netip.Addr{}
		}
	} else if !a.Is6() {
		return netip.Addr{}
	}
	return a
}

// defaultGateway returns the gateway of the first default route via ifi.
func defaultGateway(h *netlink.Handle, f Family, ifi int) (netip.Addr, error) {
	routes, err := mainRoutes(h, f)
	if err != nil {
		return netip.Addr{}, err
	}
	for i := range routes {
		r := &routes[i]
		if dstLen(r) != 0 || !usesIf(r, ifi) {
			continue
		}
		if len(r.MultiPath) > 0 {
			if gw := multipathGateway(f, r.MultiPath); gw.IsValid() {
				return gw, nil
			}
		}
		if gw := ipToAddr(f, r.Gw); gw.IsValid() {
			return gw, nil
		}
	}
	return netip.Addr{}, nil
}

// multipathGateway picks the gateway of the highest-weight nexthop: a
// nexthop with weight not below the best so far becomes the best, and its
// gateway (if any) replaces the choice.
func multipathGateway(f Family, nhs []*netlink.NexthopInfo) netip.Addr {
	var gw netip.Addr
	best := -1
	for _, nh := range nhs {
		if nh == nil || nh.Hops < best {
			continue
		}
		best = nh.Hops
		if a := ipToAddr(f, nh.Gw); a.IsValid() {
			gw = a
		}
	}
	return gw
}

// ifAddresses returns the chosen global address and the IPv6 link-local
// address of link for family f.
func ifAddresses(h *netlink.Handle, f Family, link netlink.Link) (
	netip.Prefix, netip.Addr, error) {
	addrs, err := nlretry.Do(func() ([]netlink.Addr, error) {
		return h.AddrList(link, f.netlinkFamily())
	})
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, err
	}

	var (
		global       netip.Prefix
		ll           netip.Addr
		bestG, bestL int
	)
	for i := range addrs {
		a := &addrs[i]
		if a.Flags&unix.IFA_F_DEPRECATED != 0 || a.IPNet == nil {
			continue
		}
		ip := ipToAddr(f, a.IPNet.IP)
		if !ip.IsValid() {
			continue
		}
		// Prefix length of the address message: for a point-to-point
		// address it is on the peer.
		mask := a.IPNet.Mask
		if a.Peer != nil {
			mask = a.Peer.Mask
		}
		plen, _ := mask.Size()

		if f == V4 || a.Scope < unix.RT_SCOPE_LINK {
			if plen > bestG {
				bestG = plen
				global = netip.PrefixFrom(ip, plen)
			}
		}
		if f == V6 && a.Scope == unix.RT_SCOPE_LINK && plen > bestL {
			bestL = plen
			ll = ip
		}
	}
	return global, ll, nil
}
