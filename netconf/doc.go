// SPDX-License-Identifier: GPL-2.0-or-later

// Package netconf configures pasta's network namespace through rtnetlink
// (contract §6.8): the loopback link always, and with --config-net the tap
// link's MTU, MAC, link state, addresses and routes.
//
// # Handles and namespaces
//
// Everything goes through two *netlink.Handle values owned by the caller:
// one in the host's network namespace, the source of the template
// interface's addresses and routes, and one in pasta's namespace, created
// with netlink.NewHandle() on a thread that already sits in that namespace
// (never NewHandleAt, which can leak a thread into the wrong namespace,
// go-platform §4.2). A handle is bound to its namespace for its lifetime, so
// both can then be used from any goroutine. Dumps that the kernel flags as
// interrupted (netlink.ErrDumpInterrupted) are repeated a bounded number of
// times.
//
// # Order of operations (as upstream's pasta_ns_conf)
//
//  1. lo is brought up; failure is fatal ("Couldn't bring up loopback
//     interface in namespace: <strerror>"). LoopbackUp does only this, for
//     callers that have no tap (--splice-only).
//  2. The tap is looked up by name ("Couldn't find interface NAME in
//     namespace: ..." if it is missing). With --ns-mac-addr its MAC is set (even
//     without --config-net, like upstream); otherwise the kernel's random
//     MAC is read back and reported in Result.MAC.
//  3. Without --config-net nothing else happens: the tap stays down and
//     unaddressed, for a DHCP/SLAAC client inside to configure.
//  4. The MTU is set unless 0 ("Couldn't set MTU in namespace: ..."; upstream
//     ignores this failure, we report it).
//  5. The link goes up. With IPv6 enabled it first gets IFF_NOARP: the
//     kernel skips duplicate address detection on NOARP links, so the
//     link-local address it generates on link-up, and any address added
//     next, is usable at once. Failure is fatal ("Couldn't bring up tap
//     interface in namespace: ..."; upstream ignores it).
//  6. IPv4: addresses, then routes (below).
//  7. IPv6: the first link-local address of the tap is recorded
//     (Result.LinkLocal), every link-local address of the tap is re-set with
//     IFA_F_NODAD (so it never goes through DAD later), IFF_NOARP is cleared
//     again, then addresses and routes as for IPv4. Failing to read or to
//     re-flag the link-local address is only a warning.
//
// # Addresses
//
// Copy mode (the default when a template interface exists): every address of
// the template interface in the family is added to the tap, except
// link-scope and deprecated ones. The flags are kept with IFA_F_NODAD added;
// label and lifetimes (IFA_CACHEINFO) are dropped, so copies are permanent;
// an IPv4 broadcast address is copied if the template has one and otherwise
// none is set (the netlink library would compute one: it is explicitly
// suppressed). A point-to-point peer address is kept.
//
// Single-address mode (NoCopyAddrs, -a, or local mode): Addr is added with
// PrefixLen for IPv4 (no flags, no broadcast) and with prefix length 64 and
// IFA_F_NODAD for IPv6; an invalid or unspecified IPv6 Addr (IPv6 local
// mode) adds nothing.
//
// # Routes
//
// Copy mode: the main-table unicast routes of the family are dumped from the
// host and those that involve the template interface are kept: a route
// whose output interface, or any of whose multipath nexthops, is another
// interface is dropped. In the copies the output interface (and each
// nexthop's) becomes the tap, the preferred source address (RTA_PREFSRC,
// invalid with -a) and input interface are dropped, nexthop-object ids are
// dropped (the netlink library does not carry RTA_NH_ID at all), and the
// nexthop state flags that the kernel refuses on new routes (dead, linkdown,
// offload, trap: RTNH_COMPARE_MASK) are cleared. Routes are added with
// NLM_F_CREATE but without NLM_F_EXCL, as upstream does, so a copy that
// differs from a route the kernel created itself (say the prefix route, which
// has a preferred source) is added beside it. Routes can depend on each
// other (a gateway reachable only through another route), so the set is
// sent repeatedly: EEXIST counts as done, ENETUNREACH and EHOSTUNREACH leave
// the route for the next pass, and passes stop when everything is in or a
// pass makes no progress; routes still unreachable then are silently left
// out, as upstream does. Any other error is fatal. Attributes the netlink
// library does not model (IPv6 route expiry and router preference, for
// instance) are not copied.
//
// Single-route mode (NoCopyRoutes, -g, or local mode): a default route via
// Gateway on the tap, protocol "boot", added exclusively. Like upstream, no
// host route to the gateway is added first: a gateway outside the address's
// subnet fails with "Network is unreachable". An invalid or unspecified
// Gateway gives a device default route.
//
// # Local mode
//
// A family with TemplateIndex 0 has no template interface (contract §6.5):
// single-address and single-route mode are forced, and if the kernel
// refuses the family with EOPNOTSUPP the family is disabled with the warning
// "IPv4 not supported, disabling" (or IPv6) and Result.IP4Disabled (or
// IP6Disabled) set, instead of failing.
//
// # Errors
//
// Fatal errors are *Error values whose text is upstream's: "Couldn't set
// IPv4 address(es) in namespace: <strerror>", "Couldn't set IPv4 route(s)
// in guest: <strerror>" (and IPv6), "Couldn't set MAC address in namespace:
// <strerror>", with the errno rendered like C strerror(). They unwrap to the
// underlying error (a syscall.Errno for kernel refusals).
package netconf
