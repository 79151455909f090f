// SPDX-License-Identifier: GPL-2.0-or-later

package netconf

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

// ipv6SinglePrefix is the prefix length of a single IPv6 address: upstream
// always uses /64, whatever -a said.
const ipv6SinglePrefix = 64

// Family holds one IP family's settings, already resolved by the caller's
// configuration.
type Family struct {
	// Enabled says whether the family is in use at all.
	Enabled bool
	// TemplateIndex is the host template interface index (0: none,
	// local mode).
	TemplateIndex int
	// Addr is the address to set when not copying addresses.
	Addr netip.Addr
	// PrefixLen is the IPv4 prefix length of Addr; IPv6 always uses /64
	// when setting a single address.
	PrefixLen int
	// Gateway is the default route's gateway when not copying routes.
	Gateway netip.Addr
	// NoCopyAddrs sets only Addr instead of copying the template's
	// addresses.
	NoCopyAddrs bool
	// NoCopyRoutes sets only a default route via Gateway instead of
	// copying the template's routes.
	NoCopyRoutes bool
}

// Params says how to configure the namespace.
type Params struct {
	// Ifname is the tap's name in the namespace.
	Ifname string
	// MTU is the tap's MTU; 0 leaves the link MTU alone.
	MTU int
	// MAC is --ns-mac-addr; nil keeps the kernel's random one.
	MAC *[6]byte
	// ConfigNet is --config-net; false only brings lo up (and sets MAC
	// if given): the tap stays down and unaddressed.
	ConfigNet bool
	// IP4 and IP6 are the per-family settings.
	IP4, IP6 Family
}

// Result is what Apply found and did besides succeeding.
type Result struct {
	// Warnings are messages to log at warning level.
	Warnings []string
	// IP4Disabled and IP6Disabled report a local-mode family that the
	// kernel refused (EOPNOTSUPP): the caller must stop using it.
	IP4Disabled, IP6Disabled bool
	// MAC is the tap's MAC address: Params.MAC if given, else the one
	// the kernel picked (zero if it could not be read).
	MAC [6]byte
	// LinkLocal is the first IPv6 link-local address seen on the tap
	// after link-up (only with ConfigNet and IPv6; may be invalid).
	LinkLocal netip.Addr
}

// Error is a fatal configuration failure: Msg is upstream's text without
// the trailing error, Err the cause.
type Error struct {
	Msg string
	Err error
}

// Error returns "Msg: <strerror>".
func (e *Error) Error() string { return e.Msg + ": " + errno.Text(e.Err) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func fail(msg string, err error) error { return &Error{Msg: msg, Err: err} }

// LoopbackUp brings lo up in the namespace of ns.
func LoopbackUp(ns *netlink.Handle) error {
	lo, err := nlretry.Do(func() (netlink.Link, error) { return ns.LinkByName("lo") })
	if err == nil {
		err = ns.LinkSetUp(lo)
	}
	if err != nil {
		return fail("Couldn't bring up loopback interface in namespace", err)
	}
	return nil
}

// Configure applies p: see the package documentation. host is a handle in
// the host's network namespace (only used to copy the template's addresses
// and routes; it may be nil otherwise), ns a handle created on a thread in
// the target namespace. It returns warnings to log, and a fatal *Error.
func Configure(host, ns *netlink.Handle, p Params) (warnings []string, err error) {
	r, err := Apply(host, ns, p)
	return r.Warnings, err
}

// Apply is Configure returning everything the caller may need besides the
// warnings: families disabled in local mode, the tap's MAC and link-local
// address.
func Apply(host, ns *netlink.Handle, p Params) (Result, error) {
	var r Result

	if err := LoopbackUp(ns); err != nil {
		return r, err
	}

	tap, err := nlretry.Do(func() (netlink.Link, error) { return ns.LinkByName(p.Ifname) })
	if err != nil {
		return r, fail(fmt.Sprintf("Couldn't find interface %s in namespace", p.Ifname), err)
	}

	if p.MAC != nil {
		if err := ns.LinkSetHardwareAddr(tap, net.HardwareAddr(p.MAC[:])); err != nil {
			return r, fail("Couldn't set MAC address in namespace", err)
		}
		r.MAC = *p.MAC
	} else if hw := tap.Attrs().HardwareAddr; len(hw) == len(r.MAC) {
		copy(r.MAC[:], hw)
	}

	if !p.ConfigNet {
		return r, nil
	}

	if p.MTU != 0 {
		if err := ns.LinkSetMTU(tap, p.MTU); err != nil {
			return r, fail("Couldn't set MTU in namespace", err)
		}
	}

	if p.IP6.Enabled {
		// Avoid duplicate address detection on link up
		if err := ns.LinkSetARPOff(tap); err != nil {
			return r, fail("Couldn't bring up tap interface in namespace", err)
		}
	}
	if err := ns.LinkSetUp(tap); err != nil {
		return r, fail("Couldn't bring up tap interface in namespace", err)
	}

	tapIdx := tap.Attrs().Index

	if p.IP4.Enabled {
		disabled, err := configureFamily(host, ns, tapIdx, netlink.FAMILY_V4, p.IP4)
		if err != nil {
			return r, err
		}
		if disabled {
			r.Warnings = append(r.Warnings, "IPv4 not supported, disabling")
			r.IP4Disabled = true
		}
	}

	if p.IP6.Enabled {
		ll, err := firstLinkLocal(ns, tapIdx)
		if err != nil {
			r.Warnings = append(r.Warnings,
				"Can't get LL address from namespace: "+errno.Text(err))
		}
		r.LinkLocal = ll

		if err := linkLocalNoDAD(ns, tapIdx); err != nil {
			r.Warnings = append(r.Warnings,
				"Can't set nodad for LL in namespace: "+errno.Text(err))
		}

		// DAD dodged: neighbour solicitations are fine again.
		if err := ns.LinkSetARPOn(tap); err != nil {
			r.Warnings = append(r.Warnings,
				"Can't re-enable ARP/NDP on tap in namespace: "+errno.Text(err))
		}

		disabled, err := configureFamily(host, ns, tapIdx, netlink.FAMILY_V6, p.IP6)
		if err != nil {
			return r, err
		}
		if disabled {
			r.Warnings = append(r.Warnings, "IPv6 not supported, disabling")
			r.IP6Disabled = true
		}
	}

	return r, nil
}

func familyName(fam int) string {
	if fam == netlink.FAMILY_V6 {
		return "IPv6"
	}
	return "IPv4"
}

// configureFamily sets the addresses and routes of one family. disabled
// reports a local-mode family refused by the kernel.
func configureFamily(host, ns *netlink.Handle, tap, fam int, f Family) (disabled bool, err error) {
	local := f.TemplateIndex == 0
	refused := func(err error) bool {
		return local && errors.Is(err, unix.EOPNOTSUPP)
	}

	if local || f.NoCopyAddrs {
		err = setAddr(ns, tap, fam, f)
	} else {
		err = copyAddrs(host, ns, f.TemplateIndex, tap, fam)
	}
	if refused(err) {
		return true, nil
	}
	if err != nil {
		return false, fail(fmt.Sprintf("Couldn't set %s address(es) in namespace",
			familyName(fam)), err)
	}

	if local || f.NoCopyRoutes {
		err = setDefaultRoute(ns, tap, fam, f.Gateway)
	} else {
		err = copyRoutes(host, ns, f.TemplateIndex, tap, fam)
	}
	if refused(err) {
		return true, nil
	}
	if err != nil {
		return false, fail(fmt.Sprintf("Couldn't set %s route(s) in guest",
			familyName(fam)), err)
	}
	return false, nil
}

// ipOf converts an address to the representation of its family.
func ipOf(a netip.Addr) net.IP {
	return net.IP(a.Unmap().AsSlice())
}

// setAddr adds the single address of a family.
func setAddr(ns *netlink.Handle, tap, fam int, f Family) error {
	a := f.Addr.Unmap()
	if fam == netlink.FAMILY_V6 {
		if !a.IsValid() || a.IsUnspecified() || !a.Is6() {
			return nil // IPv6 local mode: nothing to set
		}
		return ns.AddrAdd(nil, &netlink.Addr{
			IPNet:     &net.IPNet{IP: ipOf(a), Mask: net.CIDRMask(ipv6SinglePrefix, 128)},
			Flags:     unix.IFA_F_NODAD, // strictly speaking, it is duplicated
			LinkIndex: tap,
		})
	}
	if !a.Is4() {
		return unix.EINVAL
	}
	if f.PrefixLen < 0 || f.PrefixLen > 32 {
		return unix.EINVAL
	}
	return ns.AddrAdd(nil, &netlink.Addr{
		IPNet:     &net.IPNet{IP: ipOf(a), Mask: net.CIDRMask(f.PrefixLen, 32)},
		Broadcast: net.IPv4zero, // none, not a computed one
		LinkIndex: tap,
	})
}

// listAddrs dumps the addresses of one family on one interface.
func listAddrs(h *netlink.Handle, ifi, fam int) ([]netlink.Addr, error) {
	all, err := nlretry.Do(func() ([]netlink.Addr, error) { return h.AddrList(nil, fam) })
	if err != nil {
		return nil, err
	}
	var out []netlink.Addr
	for _, a := range all {
		if a.LinkIndex == ifi && a.IPNet != nil {
			out = append(out, a)
		}
	}
	return out, nil
}

// copyAddrs copies the template's non-link-local, non-deprecated addresses.
func copyAddrs(host, ns *netlink.Handle, tmpl, tap, fam int) error {
	if host == nil {
		return errors.New("no host netlink handle to copy addresses with")
	}
	addrs, err := listAddrs(host, tmpl, fam)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if a.Scope == unix.RT_SCOPE_LINK || a.Flags&unix.IFA_F_DEPRECATED != 0 {
			continue
		}
		c := netlink.Addr{
			IPNet:     a.IPNet,
			Peer:      a.Peer,
			Scope:     a.Scope,
			Flags:     a.Flags | unix.IFA_F_NODAD,
			LinkIndex: tap,
			// Label, PreferedLft and ValidLft stay empty: stripped.
		}
		if fam == netlink.FAMILY_V4 {
			c.Broadcast = a.Broadcast
			if c.Broadcast == nil {
				c.Broadcast = net.IPv4zero // none, not a computed one
			}
		}
		if err := ns.AddrAdd(nil, &c); err != nil {
			return err
		}
	}
	return nil
}

// firstLinkLocal returns the first link-scope IPv6 address on the tap.
func firstLinkLocal(ns *netlink.Handle, tap int) (netip.Addr, error) {
	addrs, err := listAddrs(ns, tap, netlink.FAMILY_V6)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		if a.Scope != unix.RT_SCOPE_LINK {
			continue
		}
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			return ip.Unmap(), nil
		}
	}
	return netip.Addr{}, nil
}

// linkLocalNoDAD re-sets every link-scope IPv6 address of the tap with
// IFA_F_NODAD, so that no DAD happens once IFF_NOARP is cleared.
func linkLocalNoDAD(ns *netlink.Handle, tap int) error {
	addrs, err := listAddrs(ns, tap, netlink.FAMILY_V6)
	if err != nil {
		return err
	}
	var first error
	for _, a := range addrs {
		if a.Scope != unix.RT_SCOPE_LINK {
			continue
		}
		c := netlink.Addr{
			IPNet:     a.IPNet,
			Peer:      a.Peer,
			Scope:     a.Scope,
			Flags:     a.Flags | unix.IFA_F_NODAD,
			LinkIndex: tap,
		}
		if err := ns.AddrReplace(nil, &c); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// setDefaultRoute adds a default route via gw on the tap.
func setDefaultRoute(ns *netlink.Handle, tap, fam int, gw netip.Addr) error {
	bits := 32
	if fam == netlink.FAMILY_V6 {
		bits = 128
	}
	r := &netlink.Route{
		LinkIndex: tap,
		Dst:       zeroPrefix(fam),
		Table:     unix.RT_TABLE_MAIN,
		Protocol:  unix.RTPROT_BOOT,
		Scope:     netlink.SCOPE_UNIVERSE,
		Type:      unix.RTN_UNICAST,
	}
	if g := gw.Unmap(); g.IsValid() && !g.IsUnspecified() {
		if g.BitLen() != bits {
			return unix.EINVAL
		}
		r.Gw = ipOf(g)
	}
	return ns.RouteAdd(r)
}

func zeroPrefix(fam int) *net.IPNet {
	if fam == netlink.FAMILY_V6 {
		return &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
	}
	return &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}
}

// templateRoutes dumps the main-table unicast routes of the family that use
// the template interface, and only it, rewritten for the tap.
func templateRoutes(host *netlink.Handle, tmpl, tap, fam int) ([]netlink.Route, error) {
	rs, err := nlretry.Do(func() ([]netlink.Route, error) {
		return host.RouteListFiltered(fam,
			&netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return nil, err
	}
	var out []netlink.Route
	for _, r := range rs {
		if r.Table != unix.RT_TABLE_MAIN || r.Type != unix.RTN_UNICAST {
			continue
		}
		if len(r.MultiPath) > 0 {
			if r.LinkIndex != 0 && r.LinkIndex != tmpl {
				continue
			}
			ours := true
			for _, nh := range r.MultiPath {
				if nh.LinkIndex != tmpl {
					ours = false
					break
				}
			}
			if !ours {
				continue
			}
			hops := make([]*netlink.NexthopInfo, len(r.MultiPath))
			for i, nh := range r.MultiPath {
				c := *nh
				c.LinkIndex = tap
				c.Flags &^= unix.RTNH_COMPARE_MASK
				hops[i] = &c
			}
			r.MultiPath = hops
			if r.LinkIndex != 0 {
				r.LinkIndex = tap
			}
		} else {
			if r.LinkIndex != tmpl {
				continue
			}
			r.LinkIndex = tap
		}
		r.ILinkIndex = 0
		r.Src = nil // RTA_PREFSRC: a host address, maybe not ours
		r.Flags &^= unix.RTNH_COMPARE_MASK
		if r.Dst == nil {
			r.Dst = zeroPrefix(fam)
		}
		out = append(out, r)
	}
	return out, nil
}

// copyRoutes copies the template's routes to the tap, in as many passes as
// the dependencies between them need.
func copyRoutes(host, ns *netlink.Handle, tmpl, tap, fam int) error {
	if host == nil {
		return errors.New("no host netlink handle to copy routes with")
	}
	pending, err := templateRoutes(host, tmpl, tap, fam)
	if err != nil {
		return err
	}
	for len(pending) > 0 {
		var retryLater []netlink.Route
		for i := range pending {
			// NLM_F_CREATE without NLM_F_EXCL, like upstream.
			err := ns.RouteAddEcmp(&pending[i])
			switch {
			case err == nil, errors.Is(err, unix.EEXIST):
			case errors.Is(err, unix.ENETUNREACH), errors.Is(err, unix.EHOSTUNREACH):
				retryLater = append(retryLater, pending[i])
			default:
				return err
			}
		}
		if len(retryLater) == len(pending) {
			break // no progress: these can't be reached, skip them
		}
		pending = retryLater
	}
	return nil
}
