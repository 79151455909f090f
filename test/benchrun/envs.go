// SPDX-License-Identifier: GPL-2.0-or-later

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"passt/test/benchreport"
)

// An env is one tool connecting one guest (a network namespace) to the
// host, set up once and measured through many times: pasta attached to a
// namespace, slirp4netns attached to one, passt with the shim guest, or no
// tool at all (the host's loopback, where "guest" commands run on the host).
type env struct {
	tool string // benchreport.Ours, Upstream, Slirp, Loopback
	mode string // "pasta", "passt", "slirp4netns" or "loopback"
	mtu  int
	udp  bool // forwarding rules for UDP too (UDP phases)

	holder    *exec.Cmd   // its namespaces are the guest's; nil for the loopback
	daemonPID int         // a daemon (pasta) to end by PID
	memPID    int         // the tool's process, for memory figures
	procs     []*exec.Cmd // what we started and must end (shim, slirp4netns, passt)
	toolCmd   *exec.Cmd   // the tool, when it is our child (slirp4netns, passt)
	toolLog   *logBuffer  // its output
	dead      string      // how the tool died, once it has
	dir       string      // PID files, sockets; removed at the end

	gateway    string // where the guest reaches the host's loopback through the tap
	hostTarget string // where the host reaches the guest's -t port through the tap
	hostPort   int    // a host server port, reached through the tap
	fwdPort    int    // -t (and -u): host to guest
	nsFwdPort  int    // -T (and -U): guest loopback to host loopback

	err error // why the env could not be set up
}

func (e *env) String() string {
	return fmt.Sprintf("%s %s MTU %d", benchreport.ToolLabel(e.tool), e.mode, e.mtu)
}

// guest builds a command that runs in the guest's network namespace (as
// root: nsenter joins only the network namespace).
func (e *env) guest(ctx context.Context, argv ...string) *exec.Cmd {
	if e.holder == nil {
		return command(ctx, nil, argv...)
	}
	pre := []string{"nsenter", "-t", strconv.Itoa(e.holder.Process.Pid), "-n", "--"}
	return command(ctx, nil, append(pre, argv...)...)
}

// nsPID is a process in the guest's namespace (0 for the loopback).
func (e *env) nsPID() int {
	if e.holder == nil {
		return 0
	}
	return e.holder.Process.Pid
}

// close ends everything the env started.
func (e *env) close() {
	killPID(e.daemonPID)
	for i := len(e.procs) - 1; i >= 0; i-- {
		kill(e.procs[i])
	}
	kill(e.holder)
	if e.dir != "" {
		os.RemoveAll(e.dir)
	}
}

// toolGone says how the tool died, or "" while it runs. After a failed
// run this tells a tool that crashed (or was killed by its seccomp filter)
// from a run that failed on its own.
func (e *env) toolGone() string {
	if e.dead != "" || e.memPID == 0 || !procGone(e.memPID) {
		return e.dead
	}
	if e.toolCmd != nil {
		waitTimeout(e.toolCmd, time.Second)
		e.dead = fmt.Sprintf("%s exited (%v)%s", e, e.toolCmd.ProcessState, lastLine(e.toolLog.String()))
	} else {
		e.dead = fmt.Sprintf("%s (PID %d) exited", e, e.memPID)
	}
	return e.dead
}

// ports picks the env's ports, distinct from every other env's.
func (b *bench) ports(e *env) error {
	for _, p := range []*int{&e.hostPort, &e.fwdPort, &e.nsFwdPort} {
		for {
			port, err := freePort()
			if err != nil {
				return err
			}
			if !b.usedPorts[port] {
				b.usedPorts[port] = true
				*p = port
				break
			}
		}
	}
	return nil
}

// tempDir makes a directory the unprivileged user can write to.
func (b *bench) tempDir() (string, error) {
	dir, err := os.MkdirTemp("", "passt-bench-")
	if err != nil {
		return "", fmt.Errorf("temporary directory: %w", err)
	}
	if err := os.Chown(dir, int(b.user.uid), int(b.user.gid)); err != nil {
		return "", fmt.Errorf("temporary directory: %w", err)
	}
	return dir, nil
}

// startHolder starts a process in new namespaces (unshare's flags) that
// does nothing until killed, and waits until it is in them.
func (b *bench) startHolder(ctx context.Context, as *account, flags string) (*exec.Cmd, error) {
	cmd := command(ctx, as, "unshare", flags, "sleep", "infinity")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("unshare: %w", err)
	}
	own, _ := os.Readlink("/proc/self/ns/net")
	deadline := time.Now().Add(5 * time.Second)
	for {
		ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid))
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", cmd.Process.Pid))
		if ns != "" && ns != own && strings.HasSuffix(exe, "/sleep") {
			return cmd, nil
		}
		if time.Now().After(deadline) {
			kill(cmd)
			return nil, fmt.Errorf("unshare %s: no new namespace after 5s", flags)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// defaultGateway reads the guest's IPv4 default gateway: the address that
// the tool maps to the host's loopback.
func (e *env) defaultGateway(ctx context.Context) (string, error) {
	deadline := time.Now().Add(3 * time.Second)
	for {
		out, err := output(ctx, nil, "nsenter", "-t", strconv.Itoa(e.nsPID()), "-n", "--", "ip", "-4", "route", "show", "default")
		if err != nil {
			return "", fmt.Errorf("reading the namespace's routes: %w", err)
		}
		if f := strings.Fields(out); len(f) >= 3 && f[0] == "default" && f[1] == "via" {
			return f[2], nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no IPv4 default route in the namespace (%q)", strings.TrimSpace(out))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newPasta attaches pasta (ours or Debian's) to a fresh user and network
// namespace, as podman and rootlesskit do: pasta PID --config-net.
func (b *bench) newPasta(ctx context.Context, tool, bin string, mtu int, udp bool) *env {
	e := &env{tool: tool, mode: "pasta", mtu: mtu, udp: udp}
	e.err = b.setupPasta(ctx, e, bin)
	return e
}

func (b *bench) setupPasta(ctx context.Context, e *env, bin string) error {
	if err := b.ports(e); err != nil {
		return err
	}
	var err error
	if e.dir, err = b.tempDir(); err != nil {
		return err
	}
	if e.holder, err = b.startHolder(ctx, b.user, "-Urn"); err != nil {
		return err
	}
	u, U := "none", "none"
	if e.udp {
		u, U = strconv.Itoa(e.fwdPort), strconv.Itoa(e.nsFwdPort)
	}
	pidFile := filepath.Join(e.dir, "pasta.pid")
	if _, err := output(ctx, b.user, bin, "--config-net", "-q", "-P", pidFile, "-m", strconv.Itoa(e.mtu),
		"-t", strconv.Itoa(e.fwdPort), "-T", strconv.Itoa(e.nsFwdPort), "-u", u, "-U", U,
		strconv.Itoa(e.holder.Process.Pid)); err != nil {
		return err
	}
	if e.daemonPID, err = readPIDFile(pidFile, 5*time.Second); err != nil {
		return fmt.Errorf("pasta: %w", err)
	}
	e.memPID = e.daemonPID
	if e.gateway, err = e.defaultGateway(ctx); err != nil {
		return err
	}
	e.hostTarget = b.hostAddr
	return nil
}

// newSlirp attaches slirp4netns to a fresh user and network namespace, as
// rootlesskit does, with its API socket for the forwarded ports. Without
// --disable-host-loopback, its gateway 10.0.2.2 reaches the host's
// loopback, as pasta's gateway address does.
func (b *bench) newSlirp(ctx context.Context, mtu int, udp bool) *env {
	e := &env{tool: benchreport.Slirp, mode: "slirp4netns", mtu: mtu, udp: udp}
	e.err = b.setupSlirp(ctx, e)
	return e
}

func (b *bench) setupSlirp(ctx context.Context, e *env) error {
	if err := b.ports(e); err != nil {
		return err
	}
	var err error
	if e.dir, err = b.tempDir(); err != nil {
		return err
	}
	if e.holder, err = b.startHolder(ctx, b.user, "-Urn"); err != nil {
		return err
	}
	api := filepath.Join(e.dir, "slirp.sock")
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("slirp4netns: %w", err)
	}
	defer r.Close()
	cmd := command(ctx, b.user, b.cfg.slirp, "--configure", fmt.Sprintf("--mtu=%d", e.mtu), "--ready-fd=3",
		"--api-socket="+api, strconv.Itoa(e.holder.Process.Pid), "tap0")
	cmd.ExtraFiles = []*os.File{w}
	stderr := &logBuffer{}
	cmd.Stderr = stderr
	e.toolCmd, e.toolLog = cmd, stderr
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("slirp4netns: %w", err)
	}
	w.Close()
	e.procs = append(e.procs, cmd)
	e.memPID = cmd.Process.Pid
	ready := make(chan error, 1)
	go func() {
		buf := make([]byte, 1)
		_, err := r.Read(buf)
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			return fmt.Errorf("slirp4netns never ready: %v%s", err, lastLine(stderr.String()))
		}
	case <-time.After(10 * time.Second):
		return fmt.Errorf("slirp4netns not ready after 10s%s", lastLine(stderr.String()))
	}
	protos := []string{"tcp"}
	if e.udp {
		protos = append(protos, "udp")
	}
	for _, proto := range protos {
		if err := slirpForward(api, proto, e.fwdPort); err != nil {
			return err
		}
	}
	if e.gateway, err = e.defaultGateway(ctx); err != nil {
		return err
	}
	e.hostTarget = b.hostAddr
	return nil
}

// slirpForward adds a port forward through slirp4netns's API socket.
func slirpForward(api, proto string, port int) error {
	c, err := net.DialTimeout("unix", api, 3*time.Second)
	if err != nil {
		return fmt.Errorf("slirp4netns API: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	req := map[string]any{"execute": "add_hostfwd", "arguments": map[string]any{
		"proto": proto, "host_addr": "0.0.0.0", "host_port": port, "guest_port": port}}
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return fmt.Errorf("slirp4netns API: %w", err)
	}
	var resp struct {
		Return map[string]any `json:"return"`
		Error  map[string]any `json:"error"`
	}
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return fmt.Errorf("slirp4netns API reply: %w", err)
	}
	if resp.Error != nil || resp.Return == nil {
		return fmt.Errorf("slirp4netns add_hostfwd %s %d: %v", proto, port, resp.Error)
	}
	return nil
}

// Addresses of the shim guest, as QEMU's user-mode defaults.
const (
	shimGuestAddr = "10.0.2.15"
	shimGateway   = "10.0.2.2"
)

// newPasst starts passt (ours or Debian's) in the foreground on a socket in
// a fresh directory, and the shim as its guest: a network namespace whose
// tap0 the shim relays to passt's socket in QEMU's framing.
func (b *bench) newPasst(ctx context.Context, tool, bin string, mtu int) *env {
	e := &env{tool: tool, mode: "passt", mtu: mtu}
	e.err = b.setupPasst(ctx, e, bin)
	return e
}

func (b *bench) setupPasst(ctx context.Context, e *env, bin string) error {
	if err := b.ports(e); err != nil {
		return err
	}
	var err error
	if e.dir, err = b.tempDir(); err != nil {
		return err
	}
	if e.holder, err = b.startHolder(ctx, nil, "-n"); err != nil {
		return err
	}
	sock := filepath.Join(e.dir, "passt.socket")
	cmd := command(ctx, b.user, bin, "-f", "-q", "-s", sock, "-4", "-a", shimGuestAddr, "-n", "24", "-g", shimGateway,
		"-m", strconv.Itoa(e.mtu), "-t", strconv.Itoa(e.fwdPort), "-u", "none")
	cmd.Args[0] = "passt"
	stderr := &logBuffer{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	e.toolCmd, e.toolLog = cmd, stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("passt: %w", err)
	}
	e.procs = append(e.procs, cmd)
	e.memPID = cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if procGone(cmd.Process.Pid) || time.Now().After(deadline) {
			return fmt.Errorf("passt: no socket at %s%s", sock, lastLine(stderr.String()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	var shimErr error
	for try := 0; try < 5; try++ {
		if shimErr = e.startShim(ctx, b.cfg.shim, sock); shimErr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if shimErr != nil {
		return shimErr
	}
	for _, c := range [][]string{
		{"ip", "link", "set", "tap0", "up"},
		{"ip", "addr", "add", shimGuestAddr + "/24", "dev", "tap0"},
		{"ip", "route", "add", "default", "via", shimGateway},
	} {
		if _, err := output(ctx, nil, append([]string{"nsenter", "-t", strconv.Itoa(e.nsPID()), "-n", "--"}, c...)...); err != nil {
			return fmt.Errorf("configuring the shim guest: %w", err)
		}
	}
	// Any frame from the guest tells passt its MAC address; ping's ARP
	// request is one (whether the ping is answered does not matter).
	_, _ = output(ctx, nil, "nsenter", "-t", strconv.Itoa(e.nsPID()), "-n", "--", "ping", "-c", "1", "-W", "1", shimGateway)
	e.gateway, e.hostTarget = shimGateway, "127.0.0.1"
	return nil
}

// procGone reports whether a process has exited (a zombie counts).
func procGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// State is the field after the command name in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}

// startShim runs the shim in the guest's namespace and waits for "ready".
// It merges TCP segments to the guest as a virtio-net guest's GRO does
// (-gro, test/shim/gro.go): without it, each 1514-byte frame took the
// guest's whole receive path in its own tap write, and the shim, at a full
// CPU, held host→guest at MTU 1500 near 3 Gbit/s with either passt. It
// takes the guest's TCP data as super-frames and cuts them itself (-gso,
// test/shim/gso.go), so that each frame costs it one write to passt, as
// it costs QEMU, and not a tap read besides: at MTU 1500 that read was a
// third of the shim's time, and guest→host ran at 1.2-1.6 Gbit/s with
// either passt, the shim's figure, not passt's.
func (e *env) startShim(ctx context.Context, shim, sock string) error {
	cmd := e.guest(ctx, shim, "-gro", "-gso", sock, "tap0", strconv.Itoa(e.mtu))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr := &logBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("shim: %w", err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ok := sc.Scan() && sc.Text() == "ready"
		ready <- ok
		for sc.Scan() {
		}
	}()
	select {
	case ok := <-ready:
		if ok {
			e.procs = append(e.procs, cmd)
			return nil
		}
	case <-time.After(5 * time.Second):
	}
	kill(cmd)
	return fmt.Errorf("shim not ready%s", lastLine(stderr.String()))
}

// loopbackEnv is the host itself: "guest" commands run on the host and
// every address is 127.0.0.1.
func (b *bench) loopbackEnv() *env {
	e := &env{tool: benchreport.Loopback, mode: "loopback", gateway: "127.0.0.1", hostTarget: "127.0.0.1"}
	e.err = b.ports(e)
	e.fwdPort, e.nsFwdPort = e.hostPort, e.hostPort
	return e
}
