// SPDX-License-Identifier: GPL-2.0-or-later

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// logBuffer keeps the last output of a process, and can be read while the
// process writes to it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const logKeep = 64 << 10

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len()+len(p) > 2*logKeep {
		tail := append([]byte(nil), l.buf.Bytes()[max(0, l.buf.Len()-logKeep):]...)
		l.buf.Reset()
		l.buf.Write(tail)
	}
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// account is the unprivileged user the tools run as, as podman and
// rootlesskit run them (Debian's 2023 pasta also needs that).
type account struct {
	name     string
	uid, gid uint32
	home     string
}

// command builds a command; with as set, it runs as that user. Every
// command dies with benchrun (except daemons, which are killed by PID).
func command(ctx context.Context, as *account, argv ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if as != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: as.uid, Gid: as.gid, Groups: []uint32{}}
		cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=" + as.home,
			"USER=" + as.name, "LOGNAME=" + as.name}
	}
	cmd.WaitDelay = time.Second
	return cmd
}

// output runs a command and returns its standard output; the error carries
// the standard error's last line.
func output(ctx context.Context, as *account, argv ...string) (string, error) {
	cmd := command(ctx, as, argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("%s: %w%s", filepath.Base(argv[0]), err, lastLine(stderr.String()))
	}
	return stdout.String(), nil
}

// lastLine is ": " and the last non-empty line of s, or nothing.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return ": " + l
	}
	return ""
}

// kill ends a process we started and reaps it.
func kill(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// waitTimeout reaps a process, killing it if it has not exited in time.
func waitTimeout(cmd *exec.Cmd, d time.Duration) {
	t := time.AfterFunc(d, func() { _ = cmd.Process.Kill() })
	_ = cmd.Wait()
	t.Stop()
}

// killPID ends a daemon by PID and waits until it is gone.
func killPID(pid int) {
	if pid <= 0 {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 50; i++ {
		if procGone(pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// listening reports whether a socket of the process's network namespace
// listens on (TCP) or is bound to (UDP) port. /proc/PID/net shows the
// namespace of PID, so no process needs to be started to look.
func listening(pid int, proto string, port int) bool {
	state := "0A" // TCP_LISTEN
	if proto == "udp" {
		state = "07" // TCP_CLOSE, what unconnected UDP sockets show
	}
	want := fmt.Sprintf(":%04X", port)
	for _, f := range []string{proto, proto + "6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(l)
			if len(fs) > 3 && strings.HasSuffix(fs[1], want) && fs[3] == state {
				return true
			}
		}
	}
	return false
}

// waitListening waits until the process listens on port, or fails if it
// exits or the time is up. nsPID, if not 0, is a process already in the
// network namespace the command enters (the env's holder): its view of the
// sockets is the one to read. The command's own is not, until nsenter has
// joined the namespace: before that it shows the host's sockets, where the
// tool under test listens on the same port for its -t rule, and a client
// started then was reset by the tool, which found nothing listening in the
// namespace yet (1 to 3 of 5 runs of some host→ns figures failed so).
func waitListening(cmd *exec.Cmd, nsPID int, proto string, port int, timeout time.Duration) error {
	pid := cmd.Process.Pid
	if nsPID != 0 {
		pid = nsPID
	}
	deadline := time.Now().Add(timeout)
	for !listening(pid, proto, port) {
		if procGone(cmd.Process.Pid) {
			return fmt.Errorf("%s exited before listening on %d", cmd.Args[0], port)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening on %s port %d after %v", cmd.Args[0], proto, port, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// linkBytes is the sum of the bytes received and sent by the interfaces
// other than lo in the network namespace of pid.
func linkBytes(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/dev", pid))
	if err != nil {
		return 0, fmt.Errorf("interface counters: %w", err)
	}
	defer f.Close()
	var sum int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(name) == "lo" {
			continue
		}
		fs := strings.Fields(rest)
		if len(fs) < 9 {
			continue
		}
		rx, err1 := strconv.ParseInt(fs[0], 10, 64)
		tx, err2 := strconv.ParseInt(fs[8], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		sum += rx + tx
	}
	return sum, sc.Err()
}

// memoryMiB reads a field of /proc/PID/status ("VmRSS", "VmHWM") in MiB.
func memoryMiB(pid int, field string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("memory of PID %d: %w", pid, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			fs := strings.Fields(v)
			kib, err := strconv.ParseFloat(fs[0], 64)
			if err != nil || len(fs) < 2 || fs[1] != "kB" {
				return 0, fmt.Errorf("memory of PID %d: bad %s line %q", pid, field, l)
			}
			return kib / 1024, nil
		}
	}
	return 0, fmt.Errorf("memory of PID %d: no %s", pid, field)
}

// freePort returns a port free for both TCP and UDP on the host.
func freePort() (int, error) {
	for i := 0; i < 100; i++ {
		ln, err := net.Listen("tcp4", ":0")
		if err != nil {
			return 0, fmt.Errorf("finding a free port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp4", fmt.Sprintf(":%d", port))
		ln.Close()
		if err == nil {
			pc.Close()
			return port, nil
		}
	}
	return 0, errors.New("finding a free port: none free for both TCP and UDP")
}

// readPIDFile waits for a PID file written by a daemon.
func readPIDFile(path string, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				return pid, nil
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no PID in %s after %v", path, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// treeMemoryMiB sums a /proc/PID/status field over a process and its
// descendants: a tool that re-executes itself into a child (a namespace
// of its own) costs both processes.
func treeMemoryMiB(pid int, field string) (float64, error) {
	children := map[int][]int{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		child, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fs := strings.Fields(s[i+1:])
		if len(fs) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(fs[1]); err == nil {
			children[ppid] = append(children[ppid], child)
		}
	}
	total, err := memoryMiB(pid, field)
	if err != nil {
		return 0, err
	}
	queue := children[pid]
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if m, err := memoryMiB(p, field); err == nil {
			total += m
		}
		queue = append(queue, children[p]...)
	}
	return total, nil
}

// machineBusy is the CPU time all CPUs have spent so far on anything but
// idling (user, nice, system, irq, softirq and steal in /proc/stat's "cpu"
// line; guest time is counted in user already).
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseBusy(string(b))
}

// parseBusy reads the busy time from the text of /proc/stat, whose times
// are in USER_HZ (100 a second on Linux, whatever the kernel's HZ).
func parseBusy(stat string) (time.Duration, error) {
	for line := range strings.Lines(stat) {
		f := strings.Fields(line)
		if len(f) < 9 || f[0] != "cpu" {
			continue
		}
		var ticks uint64
		for i, name := range []string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"} {
			v, err := strconv.ParseUint(f[1+i], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/stat: %s: %w", name, err)
			}
			if name != "idle" && name != "iowait" {
				ticks += v
			}
		}
		return time.Duration(ticks) * (time.Second / 100), nil
	}
	return 0, errors.New("/proc/stat: no cpu line")
}
