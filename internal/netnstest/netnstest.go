// SPDX-License-Identifier: GPL-2.0-or-later

// Package netnstest gives a test a network namespace of its own, so that it
// can change per-namespace settings (sysctls, addresses) without touching
// the host's. A namespace belongs to a thread: the test locks its goroutine
// to its thread, calls Enter, and never unlocks it, so the thread, and the
// namespace with it, end with the goroutine. Every socket the test opens
// from that goroutine lives in the namespace.
package netnstest

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RequireRoot skips t unless run as root, which a namespace of its own
// needs; under CI=true, where no test may skip, it fails it instead.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root for a network namespace of its own")
		}
		t.Skip("needs root for a network namespace of its own")
	}
}

// Enter moves the calling thread, locked to its goroutine
// (runtime.LockOSThread) for good, into a new network namespace. It sets
// sysctls there (keys are paths under /proc/sys/net, such as
// "ipv4/ping_group_range"), brings lo up with addrs on it, and returns once
// each address routes as local.
func Enter(sysctls map[string]string, addrs ...netip.Prefix) error {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
	}
	// /proc/sys/net shows the namespace of the thread that opens it.
	for key, value := range sysctls {
		if err := os.WriteFile(filepath.Join("/proc/sys/net", key), []byte(value), 0); err != nil {
			return fmt.Errorf("sysctl %s = %s: %w", key, value, err)
		}
	}
	nl, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer nl.Close()
	lo, err := nl.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := nl.LinkSetUp(lo); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	for _, p := range addrs {
		a, err := netlink.ParseAddr(p.String())
		if err != nil {
			return err
		}
		a.Flags = unix.IFA_F_NODAD
		if err := nl.AddrAdd(lo, a); err != nil {
			return fmt.Errorf("address %v on lo: %w", p, err)
		}
	}
	for _, p := range addrs {
		if err := waitLocalRoute(nl, p.Addr()); err != nil {
			return err
		}
	}
	return nil
}

// waitLocalRoute waits until addr routes as a local address. An IPv6
// address added with IFA_F_NODAD gets its prefix route at once but its
// local route only when the kernel's address work runs, which on a busy
// machine can be later: a socket connected before then caches the prefix
// route (a ping socket's echo requests then end in "destination
// unreachable").
func waitLocalRoute(nl *netlink.Handle, addr netip.Addr) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		routes, err := nl.RouteGet(addr.AsSlice())
		if err == nil && len(routes) > 0 && routes[0].Type == unix.RTN_LOCAL {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no local route to %v after 5 s (last lookup: %v, %v)", addr, routes, err)
		}
		time.Sleep(time.Millisecond)
	}
}
