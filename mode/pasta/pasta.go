// SPDX-License-Identifier: GPL-2.0-or-later

// Package pasta is the engine side of pasta mode: it gets hold of the
// target network namespace (spawning the user's command in new namespaces,
// or using the one the launcher opened), creates and configures the tap
// device there, and serves until the command exits, the namespace goes away
// or the tap fails.
//
// Theory of operation. Everything that must happen inside the namespace
// (opening /dev/net/tun, the namespace's netlink socket) runs on one
// ns.Thread, a goroutine locked to an OS thread that has joined the
// namespace; the descriptors it opens stay bound to the namespace and are
// used from any goroutine afterwards. Host-side work uses ordinary threads.
// Setup runs to completion before the engine reports readiness, so the
// launcher returns (or the command starts) only once lo is up, the tap
// exists and, with --config-net, carries its addresses, routes and MTU.
// Run releases the command and runs the engine with the tap as its guest
// link until whichever comes first: the command's exit (its status), the
// namespace's disappearance (status 0), or the tap's failure (status 1).
package pasta

import (
	"fmt"
	"os"
	"passt/internal/errno"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"passt/conf"
	"passt/engine"
	"passt/lifecycle"
	"passt/log"
	"passt/netconf"
	"passt/ns"
	"passt/pcap"
	"passt/tap"
)

// Backend is pasta's engine.
type Backend struct {
	c       *conf.Config
	files   lifecycle.Files
	pcap    *pcap.Writer
	spawned *ns.Spawned
	thread  *ns.Thread
	netns   *os.File
	tap     *tap.Device
	gone    chan string
	engine  *engine.Engine
}

// New returns pasta's engine for c, with the files the launcher opened and
// the capture (nil without --pcap).
func New(c *conf.Config, files lifecycle.Files, capture *pcap.Writer) *Backend {
	return &Backend{c: c, files: files, pcap: capture, gone: make(chan string, 1)}
}

// hostname is the spawned namespace's hostname: -H, or "pasta-" and ours.
func (b *Backend) hostname() string {
	if b.c.Hostname != "" {
		return b.c.Hostname
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "pasta"
	}
	return "pasta-" + unix.ByteSliceToString(u.Nodename[:])
}

// Setup gets into the namespace and configures it.
func (b *Backend) Setup() error {
	c := b.c
	if c.Spawn() {
		sp, err := ns.StartCommand(ns.SpawnSpec{Command: c.Command, Hostname: b.hostname()})
		if err != nil {
			return fmt.Errorf("Failed to clone process with detached namespaces: %s", errno.Text(err))
		}
		b.spawned = sp
		f, err := os.Open(sp.NetnsPath())
		if err != nil {
			sp.Kill()
			return fmt.Errorf("Couldn't open network namespace %s: %s", sp.NetnsPath(), errno.Text(err))
		}
		b.netns = f
	} else {
		b.netns = b.files.Netns
	}
	if err := b.setupNamespace(); err != nil {
		if b.spawned != nil {
			b.spawned.Kill()
		}
		return err
	}
	if err := b.startEngine(); err != nil {
		if b.spawned != nil {
			b.spawned.Kill()
		}
		return err
	}
	if !c.Spawn() && !c.NoNetnsQuit {
		if err := ns.WatchGone(c.Netns, b.gone); err != nil {
			return err
		}
	}
	// The loop runs on this thread (main is locked to it): SCHED_BATCH
	// but while UDP flows (loop.ScheduleAsBatch says why). Here, before
	// the sandbox, which allows sched_setattr(2) but not sched_getattr.
	if changed, err := b.engine.Loop.ScheduleAsBatch(); err != nil {
		log.Debugf("Scheduling policy: %s", err)
	} else if changed {
		log.Debugf("Scheduling policy: SCHED_BATCH for the event loop, SCHED_OTHER while UDP flows")
	}
	return nil
}

// setupNamespace joins the namespace with the ns thread, brings lo up,
// creates the tap and applies --config-net.
func (b *Backend) setupNamespace() error {
	c := b.c
	t, err := ns.NewThread(int(b.netns.Fd()))
	if err != nil {
		return fmt.Errorf("Couldn't switch to pasta namespaces: %s", errno.Text(err))
	}
	b.thread = t

	host, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("Couldn't open netlink socket: %s", errno.Text(err))
	}
	defer host.Close()

	var setupErr error
	var warnings []string
	t.Do(func() {
		nsh, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			setupErr = fmt.Errorf("Couldn't open netlink socket in namespace: %s", errno.Text(err))
			return
		}
		defer nsh.Close()
		if err := netconf.LoopbackUp(nsh); err != nil {
			setupErr = err
			return
		}
		if c.SpliceOnly {
			return
		}
		dev, err := tap.Open(c.PastaIfname)
		if err != nil {
			setupErr = err
			return
		}
		b.tap = dev
		warnings, setupErr = netconf.Configure(host, nsh, b.params())
	})
	for _, w := range warnings {
		log.Warnf("%s", w)
	}
	return setupErr
}

// params translates the configuration for netconf.
func (b *Backend) params() netconf.Params {
	c := b.c
	p := netconf.Params{
		Ifname:    c.PastaIfname,
		MTU:       c.MTU,
		ConfigNet: c.ConfigNet,
		IP4:       family(&c.IP4),
		IP6:       family(&c.IP6),
	}
	if c.GuestMACSet {
		mac := c.GuestMAC
		p.MAC = &mac
	}
	return p
}

func family(f *conf.Family) netconf.Family {
	return netconf.Family{
		Enabled:       f.Enabled,
		TemplateIndex: f.Ifindex,
		Addr:          f.Addr,
		PrefixLen:     f.PrefixLen,
		Gateway:       f.Gateway,
		NoCopyAddrs:   f.NoCopyAddrs,
		NoCopyRoutes:  f.NoCopyRoutes,
	}
}

// Run starts the command, if any, and serves until the engine must exit.
func (b *Backend) Run() int {
	e := b.engine
	if b.spawned != nil {
		if err := b.spawned.Release(); err != nil {
			log.Errorf("Couldn't start command: %s", errno.Text(err))
			return 1
		}
		go func() {
			status := b.spawned.Wait()
			e.Loop.Post(func() { e.Exit(status) })
		}()
	}
	go func() {
		name := <-b.gone
		e.Loop.Post(func() {
			log.Infof("Namespace %s is gone, exiting", name)
			e.Exit(0)
		})
	}()
	return e.Run()
}

// startEngine creates the engine with the tap as its guest link and opens
// the forwarding rules' listening sockets: all before readiness.
func (b *Backend) startEngine() error {
	e, err := engine.New(b.c, b.pcap)
	if err != nil {
		return err
	}
	b.engine = e
	if b.tap != nil {
		// Checksum offload and TSO both ways: 64 KiB steps across the
		// tap whatever the MTU (tap/offload.go). Without them (an old
		// kernel), frames simply stay within the MTU.
		if err := b.tap.EnableOffload(); err != nil {
			log.Debugf("%v", err)
		} else {
			e.EnableOffload(b.tap.UDPSegmentation())
		}
		if err := e.SetLink(engine.NewTapLink(b.tap)); err != nil {
			return err
		}
	}
	e.EnableSplice(b.thread)
	if err := e.ListenSpliceTCP(b.c.Outbound.Rules); err != nil {
		return err
	}
	if err := e.ListenSpliceUDP(b.c.Outbound.Rules); err != nil {
		return err
	}
	if err := e.ListenTCP(b.c.Inbound.Rules); err != nil {
		return err
	}
	if err := e.ListenUDP(b.c.Inbound.Rules); err != nil {
		return err
	}
	return e.EnableAutoScan(b.thread, b.c.Inbound.Rules, b.c.Outbound.Rules)
}
