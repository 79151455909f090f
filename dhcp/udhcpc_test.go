// SPDX-License-Identifier: GPL-2.0-or-later

package dhcp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// need skips the test, or fails it when CI=true, if what is missing.
func need(t *testing.T, missing, hint string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("udhcpc test needs %s (%s)", missing, hint)
	}
	t.Skipf("udhcpc test needs %s (%s)", missing, hint)
}

// tapNS is a tap device, tap0, in a fresh network namespace owned by a
// goroutine locked to its thread. The goroutine never unlocks: when it
// returns, its thread ends and the namespace goes with it.
type tapNS struct {
	path string   // /proc/PID/task/TID/ns/net
	tap  *os.File // non-blocking, through the runtime poller
	done chan struct{}
}

func newTapNS(t *testing.T) *tapNS {
	t.Helper()
	n := &tapNS{done: make(chan struct{})}
	ready := make(chan error)
	go func() {
		runtime.LockOSThread()
		ready <- n.setup()
		<-n.done
	}()
	if err := <-ready; err != nil {
		close(n.done)
		t.Fatal(err)
	}
	t.Cleanup(func() { n.tap.Close(); close(n.done) })
	return n
}

// setup runs on the locked thread.
func (n *tapNS) setup() error {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
	}
	n.path = fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq("tap0")
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
	n.tap = os.NewFile(uintptr(fd), "tap0")
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	link, err := h.LinkByName("tap0")
	if err != nil {
		return err
	}
	return h.LinkSetUp(link)
}

// relay answers every frame from the tap with Handle until the tap is
// closed, counting the replies.
func (n *tapNS) relay(c *Config, replies, broadcast *atomic.Int32) {
	buf := make([]byte, 65536)
	for {
		k, err := n.tap.Read(buf)
		if err != nil {
			return
		}
		if out := Handle(c, buf[:k]); out != nil {
			replies.Add(1)
			if [6]byte(out[:6]) == [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff} {
				broadcast.Add(1)
			}
			if _, err := n.tap.Write(out); err != nil {
				return
			}
		}
	}
}

// udhcpcScript prints, for the "bound" event, the variables udhcpc derives
// from the options it received.
const udhcpcScript = `#!/bin/sh
[ "$1" = bound ] || exit 0
for v in ip subnet mask router dns mtu hostname search domain staticroutes serverid lease; do
	eval "echo \"ENV $v=\$$v\""
done
`

// TestUdhcpc runs busybox udhcpc against Handle over a real tap device in a
// network namespace and checks what the client understood.
func TestUdhcpc(t *testing.T) {
	if os.Geteuid() != 0 {
		need(t, "root", "run as root")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		need(t, "/dev/net/tun", "load the tun module")
	}
	busybox, err := exec.LookPath("busybox")
	if err == nil {
		err = exec.Command(busybox, "udhcpc", "--help").Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = nil // usage exits non-zero; the applet exists
		}
	}
	if err != nil {
		need(t, "busybox with udhcpc", "apt-get install busybox-static")
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		need(t, "nsenter", "apt-get install util-linux")
	}
	script := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(script, []byte(udhcpcScript), 0o755); err != nil {
		t.Fatal(err)
	}

	base := map[string]string{
		"ip":       "10.0.2.15",
		"subnet":   "255.255.255.0",
		"mask":     "24",
		"dns":      "10.0.2.3 192.0.2.53",
		"mtu":      "65520",
		"hostname": "guest",
		"search":   "example.com sub.example.com example.org",
		"serverid": "10.0.2.2",
		"lease":    "4294967295",
		"domain":   "",
	}
	for _, tc := range []struct {
		name   string
		router string
		args   []string // -B: the client sets the broadcast flag
		routes string
	}{
		{"on-subnet", "10.0.2.2", nil, ""},
		{"broadcast", "10.0.2.2", []string{"-B"}, ""},
		{"off-subnet", "10.0.3.1", nil, "10.0.3.1/32 0.0.0.0 0.0.0.0/0 10.0.3.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			c.Router = netip.MustParseAddr(tc.router)
			ns := newTapNS(t)
			var replies, broadcast atomic.Int32
			go ns.relay(c, &replies, &broadcast)

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			args := []string{"--net=" + ns.path, busybox, "udhcpc",
				"-f", "-q", "-n", "-t", "5", "-T", "1", "-i", "tap0", "-s", script}
			cmd := exec.CommandContext(ctx, nsenter, append(args, tc.args...)...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("udhcpc: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
			}
			got := map[string]string{}
			sc := bufio.NewScanner(strings.NewReader(string(out)))
			for sc.Scan() {
				if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "ENV "), "="); ok && strings.HasPrefix(sc.Text(), "ENV ") {
					got[k] = strings.TrimSpace(v)
				}
			}
			if len(got) == 0 {
				t.Fatalf("script never ran for bound\nstdout:\n%s\nstderr:\n%s", out, stderr.String())
			}
			want := map[string]string{"router": tc.router, "staticroutes": tc.routes}
			for k, v := range base {
				want[k] = v
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s=%q, want %q", k, got[k], v)
				}
			}
			if replies.Load() < 2 {
				t.Errorf("%d replies, want an offer and an ack", replies.Load())
			}
			if wantB := len(tc.args) > 0; (broadcast.Load() == replies.Load()) != wantB || (broadcast.Load() == 0) == wantB {
				t.Errorf("%d of %d replies broadcast, want all: %v", broadcast.Load(), replies.Load(), wantB)
			}
			t.Logf("udhcpc: %v", got)
		})
	}
}
