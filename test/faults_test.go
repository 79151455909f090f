// SPDX-License-Identifier: GPL-2.0-or-later

package test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"passt/test/pattern"
)

// The fault tests (issue 8): the guest or the host peer goes away in the
// middle of a transfer, or the guest stops reading.

// gone waits up to limit for pid to end, reaping it when it is our child
// (we are a subreaper, so daemons end up as our children), and returns its
// exit status (-1 if it was not ours to reap) and how long it took.
func gone(t *testing.T, pid int, limit time.Duration) (int, time.Duration, bool) {
	t.Helper()
	start := time.Now()
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if got == pid {
			st := ws.ExitStatus()
			if ws.Signaled() {
				st = 128 + int(ws.Signal())
			}
			return st, time.Since(start), true
		}
		if err != nil { // not our child: watch /proc
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
				return -1, time.Since(start), true
			}
		}
		if time.Since(start) > limit {
			return 0, time.Since(start), false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// subreaper makes orphaned descendants (a daemonized engine) our children.
func subreaper(t *testing.T) {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
}

// portBound reports whether anything listens on TCP port on the host.
func portBound(port int) bool {
	out, _ := exec.Command("ss", "-Hltn", fmt.Sprintf("sport = :%d", port)).Output()
	return strings.Contains(string(out), "LISTEN")
}

// descendants lists the processes below pid.
func descendants(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var p int
		if _, err := fmt.Sscan(e.Name(), &p); err != nil {
			continue
		}
		for q, i := p, 0; q > 1 && i < 16; i++ {
			f, err := statFields(q)
			if err != nil || len(f) < 2 {
				break
			}
			if _, err := fmt.Sscan(f[1], &q); err != nil {
				break
			}
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// endlessSender serves host connections with the stream for key until the
// peer goes away, and reports how each ended.
func endlessSender(t *testing.T, key uint64) (int, <-chan error) {
	t.Helper()
	port, ch := acceptOne(t, "tcp4", "127.0.0.1:0")
	res := make(chan error, 1)
	go func() {
		c := <-ch
		if c == nil {
			res <- errors.New("no connection")
			return
		}
		defer c.Close()
		res <- pattern.Send(c, key, 1<<40, time.Minute)
	}()
	return port, res
}

// TestFaultPasstClientGone: passt's client (the VM) disappears in the
// middle of a download. Without --one-off passt stays, serves the next
// client within 2 s, and the next download works; the host peer of the
// dead guest's connection is reset, and the engine holds no more sockets
// than before. With --one-off passt exits 0 within 2 s and unbinds its
// forwarded port.
func TestFaultPasstClientGone(t *testing.T) {
	ns := netns(t)
	fwd := lowPort(t)
	sock, _, cmd := startPasst(t, "-4", "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2", "-t", fmt.Sprint(fwd))
	pid := cmd.Process.Pid
	shim := startShim(t, ns, sock)
	guestAddress(t, ns)
	// The baseline, once passt serves the guest: it announces itself
	// before its setup is done, and the client's connection waits in the
	// listening socket's backlog until then, while the engine still holds
	// its readiness pipe. A baseline taken then counted one socket less
	// (and one pipe more): the "socket left after the client switch" was
	// the client's connection, there in the baseline's place.
	engineServes(t, ns)
	before := engineUsage(t, pid)
	beforeList := socketsOf(pid)

	port, sent := endlessSender(t, 11)
	p := startStreamer(t, ns, "recv", fmt.Sprintf("10.0.2.2:%d", port), "11")
	time.Sleep(500 * time.Millisecond) // mid-transfer
	shim.Process.Kill()
	killedAt := time.Now()
	select {
	case err := <-sent:
		t.Logf("host peer of the lost guest: %v after %v", err, time.Since(killedAt).Round(time.Millisecond))
		if err == nil {
			t.Error("the host peer's transfer ended normally, though the guest was gone")
		}
	case <-time.After(2 * time.Second):
		t.Error("the host peer of the lost guest was not reset within 2 s")
	}
	p.wait(time.Second)

	// The next client, within 2 s.
	deadline := time.Now().Add(2 * time.Second)
	for !canConnect(sock) {
		if time.Now().After(deadline) {
			t.Fatal("passt does not accept a new client within 2 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	inNS(t, ns, "ip", "link", "del", "tap0")
	startShimAfterProbe(t, ns, sock)
	guestAddress(t, ns)
	const size = 8 << 20
	hp, ch := acceptOne(t, "tcp4", "127.0.0.1:0")
	p = startStreamer(t, ns, "recv", fmt.Sprintf("10.0.2.2:%d", hp), "12")
	hostSend(t, accepted(t, ch), 12, size)
	checkStreamer(t, p, "download after the client changed", size, time.Minute)
	if now := settle(t, pid, before, 5*time.Second); now.sockets != before.sockets || now.fds != before.fds {
		t.Errorf("engine holds %v, %v before the first client went away:\n%s\nbefore:\n%s", now, before, socketsOf(pid), beforeList)
	}
	if cmd.ProcessState != nil {
		t.Fatal("passt exited")
	}

	t.Run("one-off", func(t *testing.T) {
		ns := netns(t)
		fwd := lowPort(t)
		sock, _, cmd := startPasst(t, "-1", "-4", "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2", "-t", fmt.Sprint(fwd))
		shim := startShim(t, ns, sock)
		guestAddress(t, ns)
		waitHostListening(t, fwd)
		port, _ := endlessSender(t, 13)
		startStreamer(t, ns, "recv", fmt.Sprintf("10.0.2.2:%d", port), "13")
		time.Sleep(500 * time.Millisecond)
		shim.Process.Kill()
		st, took, ok := gone(t, cmd.Process.Pid, 2*time.Second)
		if !ok {
			t.Fatalf("passt --one-off still runs 2 s after its client went away")
		}
		if st != 0 && st != -1 {
			t.Errorf("passt --one-off exited with %d, want 0", st)
		}
		t.Logf("passt --one-off exited %v after its client went away", took.Round(time.Millisecond))
		if portBound(fwd) {
			t.Errorf("port %d still bound after passt exited", fwd)
		}
	})
}

// TestFaultPastaNetnsGone: the namespace pasta is attached to (--netns) is
// deleted in the middle of a transfer: pasta exits with status 0 within
// 2 s, and its forwarded port is free again.
func TestFaultPastaNetnsGone(t *testing.T) {
	subreaper(t)
	ns := netns(t)
	fwd := lowPort(t)
	pid := attachPasta(t, ns, "-t", fmt.Sprint(fwd), "-u", "none", "-T", "none", "-U", "none", "--no-splice")
	p := startStreamer(t, ns, "serve-recv", fmt.Sprint(fwd), "21")
	c := dialHost(t, fmt.Sprintf("127.0.0.1:%d", fwd))
	go pattern.Send(c, 21, 1<<40, time.Minute)
	time.Sleep(500 * time.Millisecond)
	if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del: %v: %s", err, out)
	}
	st, took, ok := gone(t, pid, 2*time.Second)
	if !ok {
		t.Fatal("pasta still runs 2 s after its namespace was deleted")
	}
	t.Logf("pasta exited with %d %v after the namespace was deleted", st, took.Round(time.Millisecond))
	if st != 0 && st != -1 {
		t.Errorf("pasta exited with %d, want 0", st)
	}
	if portBound(fwd) {
		t.Errorf("port %d still bound after pasta exited", fwd)
	}
	c.Close()
	p.cmd.Process.Kill()
}

// TestFaultPastaCommandKilled: the command pasta spawned is killed in the
// middle of a transfer: pasta exits within 2 s with 128+9, nothing it
// started is left running, and its forwarded port is free again.
func TestFaultPastaCommandKilled(t *testing.T) {
	subreaper(t)
	fwd := lowPort(t)
	cmd := exec.Command(pastaBin(t), "--config-net", "-t", fmt.Sprint(fwd), "-u", "none", "-T", "none", "-U", "none",
		"--", streamerBin, "serve-recv", fmt.Sprint(fwd), "31")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	readUntil(t, out, "ready")
	go io.Copy(io.Discard, out)
	c := dialHost(t, fmt.Sprintf("127.0.0.1:%d", fwd))
	go pattern.Send(c, 31, 1<<40, time.Minute)
	time.Sleep(500 * time.Millisecond)
	child := findDescendant(t, cmd.Process.Pid, "streamer", 2*time.Second)
	tree := descendants(cmd.Process.Pid)
	if child <= 0 {
		t.Fatal("no spawned command")
	}
	syscall.Kill(child, syscall.SIGKILL)
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Logf("pasta exited (%v) %v after its command was killed", err, time.Since(start).Round(time.Millisecond))
		if cmd.ProcessState.ExitCode() != 137 {
			t.Errorf("pasta exited with %d, want 137 (128+SIGKILL)", cmd.ProcessState.ExitCode())
		}
	case <-time.After(2 * time.Second):
		t.Fatal("pasta still runs 2 s after its command was killed")
	}
	deadline := time.Now().Add(time.Second)
	for _, p := range tree {
		for {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", p)); err != nil {
				break
			}
			var ws unix.WaitStatus
			unix.Wait4(p, &ws, unix.WNOHANG, nil)
			if time.Now().After(deadline) {
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p))
				t.Errorf("process %d (%s) of pasta's tree left running", p, strings.TrimSpace(string(comm)))
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if portBound(fwd) {
		t.Errorf("port %d still bound after pasta exited", fwd)
	}
}

// TestFaultHostReset: the host peer resets the connection in the middle of
// a download: the guest sees a reset within 2 s, through the tap and
// through the splice bypass.
func TestFaultHostReset(t *testing.T) {
	for _, mode := range []string{"tap", "splice"} {
		t.Run(mode, func(t *testing.T) {
			ns := netns(t)
			out := lowPort(t)
			args := []string{"-4", "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2", "-t", "none", "-T", fmt.Sprint(out), "-u", "none", "-U", "none"}
			dst := fmt.Sprintf("10.0.2.2:%d", out)
			if mode == "splice" {
				dst = fmt.Sprintf("127.0.0.1:%d", out)
			}
			attachPasta(t, ns, args...)
			_, ch := acceptOne(t, "tcp4", fmt.Sprintf("127.0.0.1:%d", out))
			p := startStreamer(t, ns, "recv", dst, "41")
			c := accepted(t, ch)
			if err := pattern.Send(c, 41, 4<<20, stallLimit); err != nil {
				t.Fatal(err)
			}
			c.SetLinger(0)
			c.Close()
			start := time.Now()
			_, err := p.wait(2 * time.Second)
			if err == nil || !strings.Contains(err.Error(), "connection reset by peer") {
				t.Errorf("guest after the host's reset: %v, want connection reset by peer", err)
			}
			t.Logf("guest saw %v after %v", err, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestFaultGuestWindowFull: the guest stops reading for 10 s (60 s under
// make soak) while the host keeps sending: the engine does not spin (under
// 5% of a CPU while the window is full), and the transfer then resumes and
// completes byte-exact, through the tap (MTU 65520 and 1500) and the splice
// bypass.
func TestFaultGuestWindowFull(t *testing.T) {
	pause := soakOr(10*time.Second, 60*time.Second)
	const size = 32 << 20
	for _, mode := range []string{"tap-65520", "tap-1500", "splice"} {
		t.Run(mode, func(t *testing.T) {
			ns := netns(t)
			fwd := lowPort(t)
			args := []string{"-4", "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2", "-t", fmt.Sprint(fwd), "-u", "none", "-T", "none", "-U", "none"}
			switch mode {
			case "tap-65520":
				args = append(args, "--no-splice")
			case "tap-1500":
				args = append(args, "--no-splice", "-m", "1500")
			}
			pid := attachPasta(t, ns, args...)
			p := startStreamer(t, ns, "serve-recv", fmt.Sprint(fwd), "51", fmt.Sprint(1<<20), pause.String())
			c := dialHost(t, fmt.Sprintf("127.0.0.1:%d", fwd))
			sent := make(chan error, 1)
			go func() {
				err := pattern.Send(c, 51, size, pause+10*time.Second)
				c.CloseWrite()
				sent <- err
			}()
			// Measure in the middle of the pause, once the window is full.
			time.Sleep(2 * time.Second)
			t0, c0 := time.Now(), cpuTicks(t, pid)
			time.Sleep(pause - 4*time.Second)
			used := float64(cpuTicks(t, pid)-c0) / clockTick / time.Since(t0).Seconds()
			t.Logf("engine CPU while the guest's window was full: %.2f%%", used*100)
			if used > 0.05 {
				t.Errorf("engine used %.1f%% of a CPU while the guest's window was full, want under 5%%", used*100)
			}
			if err := <-sent; err != nil {
				t.Errorf("host side: %v", err)
			}
			checkStreamer(t, p, "after the pause", size, time.Minute)
		})
	}
}

// engineServes waits until passt or pasta serves the guest in ns: a
// connection from it to a closed port on the host is refused (the engine
// connects, the host resets, the guest gets a reset), which leaves no
// flow behind.
func engineServes(t *testing.T, ns string) {
	t.Helper()
	port := freePort(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := inNS(t, ns, "timeout", "2", "bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/10.0.2.2/%d", port))
		if err != nil && strings.Contains(out, "Connection refused") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the engine does not serve the guest: a connection to a closed host port gave %v: %s", err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// socketsOf lists the sockets of pid, as ss shows them, and its
// descriptors.
func socketsOf(pid int) string {
	out, _ := exec.Command("ss", "-Htuxanp").Output()
	var b strings.Builder
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, e := range ents {
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
		fmt.Fprintf(&b, "fd %s -> %s\n", e.Name(), l)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, fmt.Sprintf("pid=%d,", pid)) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
