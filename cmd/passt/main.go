// SPDX-License-Identifier: GPL-2.0-or-later

// Command passt is passt and pasta: one executable whose mode comes from the
// name it is invoked by (argv[0] containing "pasta" or "passt"), or
// vhost-user when --vhost-user appears anywhere on the command line.
//
// The same binary also runs as the engine process: the launcher re-executes
// it with the environment variable lifecycle.EngineEnv set (see package
// lifecycle).
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"passt/internal/errno"
	"runtime"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"passt/conf"
	"passt/conf/hostinfo"
	"passt/engine"
	"passt/lifecycle"
	"passt/log"
	"passt/mode/pasta"
	"passt/ns"
	"passt/pcap"
	"passt/unixsock"
	"passt/version"
)

// The main goroutine stays on the main thread: children started with a
// parent-death signal are tied to the thread that started them, and the
// runtime clones new threads from a clean one.
func init() { runtime.LockOSThread() }

func main() {
	signal.Ignore(syscall.SIGPIPE)
	if ns.IsStub() {
		err := ns.RunStub()
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lifecycle.HaveEntryStub = haveEntryStub
	if lifecycle.IsEngine() {
		lifecycle.RunEngine(newBackend)
	}
	prepareProcess()

	mode, err := conf.ModeFromArgs(os.Args)
	if err != nil {
		exit(err)
	}
	log.Init(mode.Name())
	log.SetStderr(true)

	c, err := conf.Parse(os.Args, mode, conf.SystemEnv(discover, interfaceExists))
	if c != nil {
		lifecycle.SetupLogging(c)
	}
	if err != nil {
		printMessages(c)
		exit(err)
	}
	if c.LogFile != "" {
		if err := log.OpenFile(c.LogFile, c.LogSize, version.Version); err != nil {
			printMessages(c)
			log.Die("%s", err)
		}
	}
	log.ConfigDone()
	printMessages(c)

	if err := unsupported(c); err != nil {
		log.Die("%s", err)
	}

	var pid *os.File
	if c.PIDFile != "" {
		if pid, err = lifecycle.PIDFile(c.PIDFile); err != nil {
			log.Die("%s", err)
		}
	}
	files := lifecycle.Files{Log: log.File()}
	if c.Mode == conf.ModePasta && !c.Spawn() {
		if err := openNamespaces(c, &files); err != nil {
			log.Die("%s", err)
		}
	}
	if c.Pcap != "" {
		f, err := os.OpenFile(c.Pcap, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_CLOEXEC, 0o600)
		if err != nil {
			// Not fatal, as upstream.
			log.Errorf("Failed to open pcap file %s: %s", c.Pcap, errno.Text(err))
			c.Pcap = ""
		} else {
			files.Pcap = f
		}
	}
	if c.FD >= 0 {
		if _, err := unix.FcntlInt(uintptr(c.FD), unix.F_GETFD, 0); err != nil {
			log.Die("Invalid --fd: %d: %s", c.FD, errno.Text(err))
		}
		files.Conn = os.NewFile(uintptr(c.FD), "guest")
	} else if c.Mode != conf.ModePasta {
		ln, path, err := unixsock.Listen(c.SocketPath)
		if err != nil {
			log.Die("%s", err)
		}
		files.Socket, files.SocketPath = ln, path
		log.Infof("UNIX domain socket bound at %s", path)
	}
	if !c.Quiet {
		for _, l := range c.Summary() {
			log.Infof("%s", l)
		}
	}
	if files.Socket != nil && c.Mode == conf.ModePasst {
		for _, l := range unixsock.QEMUHint(files.SocketPath) {
			log.Infof("%s", l)
		}
	}
	lifecycle.Launch(c, files, pid, newBackend)
}

// newBackend builds the engine's backend for the mode.
func newBackend(c *conf.Config, f lifecycle.Files) (lifecycle.Backend, error) {
	var capture *pcap.Writer
	if f.Pcap != nil {
		w, err := pcap.New(f.Pcap)
		if err != nil {
			log.Errorf("%s", err)
		} else {
			capture = w
			log.OnExit(func() { _ = w.Close() })
		}
	}
	switch {
	case c.Mode == conf.ModePasta:
		return pasta.New(c, f, capture), nil
	case c.Mode == conf.ModePasst:
		e, err := engine.New(c, capture)
		if err != nil {
			return nil, err
		}
		if err := e.ListenTCP(c.Inbound.Rules); err != nil {
			return nil, err
		}
		if err := e.ListenUDP(c.Inbound.Rules); err != nil {
			return nil, err
		}
		return unixsock.NewServer(e, f.Socket, f.Conn, c.OneOff)
	}
	return nil, fmt.Errorf("%s mode is not supported yet", c.Mode)
}

// openNamespaces opens, with the caller's credentials, the network
// namespace pasta attaches to and the user namespace it joins (none when it
// is the one we are in already).
func openNamespaces(c *conf.Config, files *lifecycle.Files) error {
	nf, err := os.OpenFile(c.Netns, os.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("Couldn't open network namespace %s: %s", c.Netns, errno.Text(err))
	}
	files.Netns = nf
	if c.NetnsOnly || c.Userns == "" {
		return nil
	}
	uf, err := os.OpenFile(c.Userns, os.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("Couldn't open user namespace %s: %s", c.Userns, errno.Text(err))
	}
	var self, target unix.Stat_t
	if unix.Stat("/proc/self/ns/user", &self) == nil && unix.Fstat(int(uf.Fd()), &target) == nil &&
		self.Ino == target.Ino && self.Dev == target.Dev {
		uf.Close() // already there
		return nil
	}
	if !haveEntryStub {
		uf.Close()
		return fmt.Errorf("Couldn't enter user namespace %s: not supported on this architecture", c.Userns)
	}
	files.Userns = uf
	return nil
}

// unsupported fails loudly for what parses but has no machinery yet.
func unsupported(c *conf.Config) error {
	switch {
	case c.Mode == conf.ModeVhostUser:
		return errors.New("vhost-user mode is not supported yet")
	case c.ConfPath != "":
		return errors.New("--conf-path is not supported yet")
	case c.Stats != 0:
		return errors.New("--stats is not supported yet")
	}
	return nil
}

// printMessages logs what option parsing printed.
func printMessages(c *conf.Config) {
	if c == nil {
		return
	}
	for _, m := range c.Messages {
		switch m.Level {
		case conf.LevelWarn:
			log.Warnf("%s", m.Text)
		case conf.LevelInfo:
			log.Infof("%s", m.Text)
		default:
			log.Debugf("%s", m.Text)
		}
	}
}

// exit prints an early exit (help, version, errors) and exits.
func exit(err error) {
	var ex *conf.Exit
	if errors.As(err, &ex) {
		os.Stdout.WriteString(ex.Stdout)
		os.Stderr.WriteString(ex.Stderr)
		log.Exit(ex.Code)
	}
	log.Die("%s", err)
}

// discover runs host discovery through a netlink handle in the current
// (host) network namespace.
func discover(req hostinfo.Request) (*hostinfo.Host, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("Failed to open netlink socket: %w", err)
	}
	defer h.Close()
	return hostinfo.Discover(h, req)
}

// interfaceExists checks an interface name given with -i.
func interfaceExists(name string) error {
	if len(name) == 0 || len(name) > 15 {
		return unix.ENODEV
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return unix.ENODEV
	}
	return unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr)
}

// prepareProcess does what upstream does first: make sure descriptors 0-2
// exist, keep inherited descriptors from leaking into the processes we
// start, and raise the open-files limit.
func prepareProcess() {
	for fd := 0; fd <= 2; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			if f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0); err == nil {
				if int(f.Fd()) != fd {
					_ = unix.Dup3(int(f.Fd()), fd, 0)
					f.Close()
				}
			}
		}
	}
	_ = unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = unix.Setrlimit(unix.RLIMIT_NOFILE, &rl)
	}
}
