// SPDX-License-Identifier: GPL-2.0-or-later

package dhcpv6

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// need skips the test when a prerequisite is missing, or fails it in CI.
func need(t *testing.T, what string, ok bool) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("this test needs %s", what)
	}
	t.Skipf("this test needs %s", what)
}

func findDhclient() string {
	if p, err := exec.LookPath("dhclient"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/dhclient", "/sbin/dhclient"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// guestNS is a fresh network namespace, held by a goroutine locked to its
// thread (it never unlocks, so the thread dies with it), with a tap device
// whose frames a relay goroutine passes through Handle.
type guestNS struct {
	nsPath string
	tap    *os.File
	stop   chan struct{}

	mu   sync.Mutex
	seen []uint8 // client message types answered
}

const tapName = "dh6tap0"

func newGuestNS(t *testing.T, c *Config) *guestNS {
	t.Helper()
	g := &guestNS{stop: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ready <- g.setup(c)
		<-g.stop
	}()
	if err := <-ready; err != nil {
		close(g.stop)
		t.Fatalf("namespace setup: %v", err)
	}
	t.Cleanup(func() { g.tap.Close(); close(g.stop) })
	go g.relay(c)
	return g
}

// setup runs on the locked thread.
func (g *guestNS) setup(c *Config) error {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	g.nsPath = fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())

	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(tapName)
	if err != nil {
		unix.Close(fd)
		return err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return fmt.Errorf("TUNSETIFF: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return err
	}
	g.tap = os.NewFile(uintptr(fd), tapName)

	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(tapName)
	if err != nil {
		return err
	}
	// No kernel-generated link-local (it would need DAD): our own, NODAD.
	if err := h.LinkSetIP6AddrGenMode(link, 1 /* IN6_ADDR_GEN_MODE_NONE */); err != nil {
		return fmt.Errorf("addr_gen_mode: %w", err)
	}
	if err := h.LinkSetUp(link); err != nil {
		return err
	}
	ll := &netlink.Addr{
		IPNet: &net.IPNet{IP: guestLL.AsSlice(), Mask: net.CIDRMask(64, 128)},
		Flags: unix.IFA_F_NODAD,
	}
	if err := h.AddrAdd(link, ll); err != nil {
		return fmt.Errorf("link-local: %w", err)
	}
	// The server's link-local needs no neighbour discovery.
	return h.NeighAdd(&netlink.Neigh{
		LinkIndex:    link.Attrs().Index,
		Family:       unix.AF_INET6,
		State:        netlink.NUD_PERMANENT,
		IP:           c.OurLinkLocal.AsSlice(),
		HardwareAddr: net.HardwareAddr(c.OurMAC[:]),
	})
}

// relay reads frames from the tap and writes Handle's replies back.
func (g *guestNS) relay(c *Config) {
	buf := make([]byte, 65536)
	for {
		n, err := g.tap.Read(buf)
		if err != nil {
			return
		}
		frame := buf[:n]
		out := Handle(c, frame)
		if out == nil {
			continue
		}
		if _, err := parseReply(out); err == nil {
			g.mu.Lock()
			g.seen = append(g.seen, frame[14+40+8])
			g.mu.Unlock()
		}
		if _, err := g.tap.Write(out); err != nil && !errors.Is(err, os.ErrClosed) {
			return
		}
	}
}

func (g *guestNS) answered() []uint8 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]uint8(nil), g.seen...)
}

// runDhclient runs ISC dhclient -6 in the namespace until its script is
// called with one of the wanted reasons, and returns that environment.
func runDhclient(t *testing.T, g *guestNS, dhclient, conf string, extra []string, reasons ...string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nenv > \""+dir+"/tmp.$reason\" && mv \""+dir+"/tmp.$reason\" \""+dir+"/env.$reason\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cf := filepath.Join(dir, "dhclient.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--net=" + g.nsPath, dhclient, "-6", "-d", "-v", "-1",
		"-cf", cf, "-lf", filepath.Join(dir, "leases"), "-pf", filepath.Join(dir, "pid"), "-sf", script}
	args = append(append(args, extra...), tapName)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", args...)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()

	// scan returns the environment of the first wanted script call found.
	scan := func() map[string]string {
		for _, r := range reasons {
			b, err := os.ReadFile(filepath.Join(dir, "env."+r))
			if err != nil {
				continue
			}
			env := map[string]string{}
			for line := range strings.SplitSeq(string(b), "\n") {
				if k, v, ok := strings.Cut(line, "="); ok {
					env[k] = v
				}
			}
			return env
		}
		return nil
	}
	for {
		if env := scan(); env != nil {
			return env
		}
		select {
		case err := <-exited:
			exited <- err
			if env := scan(); env != nil { // the script ran just before exit
				return env
			}
			called, _ := filepath.Glob(filepath.Join(dir, "env.*"))
			t.Fatalf("dhclient exited (%v) before %v (script calls: %v); output:\n%s", err, reasons, called, log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if ctx.Err() != nil {
			t.Fatalf("dhclient: no %v within the timeout; output:\n%s", reasons, log.String())
		}
	}
}

func TestDhclient(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	_, tunErr := os.Stat("/dev/net/tun")
	need(t, "root", os.Geteuid() == 0)
	need(t, "/dev/net/tun", tunErr == nil)
	dhclient := findDhclient()
	need(t, "ISC dhclient (apt-get install isc-dhcp-client)", dhclient != "")
	_, nsErr := exec.LookPath("nsenter")
	need(t, "nsenter (util-linux)", nsErr == nil)

	c := testConfig()
	c.DUIDTime = DUIDTimeFrom(time.Now())
	g := newGuestNS(t, c)

	const request = "request dhcp6.name-servers, dhcp6.domain-search, dhcp6.fqdn;\n"
	check := func(t *testing.T, env map[string]string, stateful bool) {
		t.Helper()
		dump := func() string {
			var s []string
			for k, v := range env {
				if strings.HasPrefix(k, "new_") || k == "reason" {
					s = append(s, k+"="+v)
				}
			}
			return strings.Join(s, "\n")
		}
		if stateful && env["new_ip6_address"] != guestAddr.String() {
			t.Errorf("new_ip6_address %q, want %v; env:\n%s", env["new_ip6_address"], guestAddr, dump())
		}
		if got, want := env["new_dhcp6_name_servers"], dns1.String()+" "+dns2.String(); got != want {
			t.Errorf("new_dhcp6_name_servers %q, want %q; env:\n%s", got, want, dump())
		}
		if got, want := env["new_dhcp6_domain_search"], "example.com. lab.example.org."; got != want {
			t.Errorf("new_dhcp6_domain_search %q, want %q; env:\n%s", got, want, dump())
		}
		// Option 39 with flags 0, then guest.example.com in wire format.
		if got, want := env["new_dhcp6_fqdn"], "0:5:67:75:65:73:74:7:65:78:61:6d:70:6c:65:3:63:6f:6d:0"; got != want {
			t.Errorf("new_dhcp6_fqdn %q, want %q; env:\n%s", got, want, dump())
		}
		if got := env["new_fqdn_fqdn"]; got != "guest.example.com" {
			t.Errorf("new_fqdn_fqdn %q, want guest.example.com; env:\n%s", got, dump())
		}
		if got := env["new_dhcp6_server_id"]; !strings.Contains(got, "9a:55:9a:55:9a:55") {
			t.Errorf("new_dhcp6_server_id %q, want our MAC in it; env:\n%s", got, dump())
		}
	}

	t.Run("stateful", func(t *testing.T) {
		env := runDhclient(t, g, dhclient, request, nil, "BOUND6")
		check(t, env, true)
		seen := g.answered()
		if !containsType(seen, MsgSolicit) || !containsType(seen, MsgRequest) {
			t.Errorf("answered message types %v, want SOLICIT and REQUEST", seen)
		}
	})
	t.Run("rapid-commit", func(t *testing.T) {
		before := len(g.answered())
		env := runDhclient(t, g, dhclient, request+"send dhcp6.rapid-commit;\n", nil, "BOUND6")
		check(t, env, true)
		seen := g.answered()[before:]
		if containsType(seen, MsgRequest) || !containsType(seen, MsgSolicit) {
			t.Errorf("answered message types %v, want SOLICIT only (rapid commit)", seen)
		}
	})
	t.Run("stateless", func(t *testing.T) {
		before := len(g.answered())
		// dhclient reports a stateless reply with reason RENEW6.
		env := runDhclient(t, g, dhclient, request, []string{"-S"}, "RENEW6")
		check(t, env, false)
		if seen := g.answered()[before:]; !containsType(seen, MsgInfoRequest) {
			t.Errorf("answered message types %v, want INFORMATION-REQUEST", seen)
		}
	})
}

func containsType(s []uint8, typ uint8) bool {
	for _, x := range s {
		if x == typ {
			return true
		}
	}
	return false
}
