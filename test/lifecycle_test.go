// SPDX-License-Identifier: GPL-2.0-or-later

package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// waitExit waits for pid, which must be our child (or reparented to us as
// subreaper), and returns its exit status.
func waitExit(t *testing.T, pid int, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if err != nil {
			t.Fatalf("wait4(%d): %v", pid, err)
		}
		if got == pid {
			if ws.Signaled() {
				t.Fatalf("process %d killed by signal %v", pid, ws.Signal())
			}
			return ws.ExitStatus()
		}
		if time.Now().After(deadline) {
			_ = unix.Kill(pid, unix.SIGKILL)
			t.Fatalf("process %d did not exit within %v", pid, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("PID file: %v", err)
	}
	if !bytes.HasSuffix(b, []byte("\n")) {
		t.Fatalf("PID file %q does not end with a newline", b)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		t.Fatalf("PID file holds %q", b)
	}
	return pid
}

func canConnect(path string) bool {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.Connect(fd, &unix.SockaddrUnix{Name: path}) == nil
}

// TestDaemonReadiness starts passt without -f, the way libvirt, podman and
// QEMU do, and checks the contract of §4.1 and §4.5: the launcher returns
// only once the engine is ready, with stdout and stderr closed (a
// CombinedOutput-style read returns), the PID file names the live engine,
// and SIGTERM ends the engine with status 0.
func TestDaemonReadiness(t *testing.T) {
	// Become the subreaper so the detached engine is reparented to us and
	// we can collect its exit status.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	dir := tempDirFor(t, 65534)
	sock := filepath.Join(dir, "passt.socket")
	pidFile := filepath.Join(dir, "passt.pid")
	logFile := filepath.Join(dir, "passt.log")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, passtBin, "-s", sock, "-P", pidFile, "-l", logFile, "--one-off")
	cmd.Args[0] = "passt"
	start := time.Now()
	out, err := cmd.CombinedOutput() // returns only at EOF on stdout and stderr
	if err != nil {
		t.Fatalf("launcher failed: %v\n%s", err, out)
	}
	t.Logf("launcher returned after %v; output:\n%s", time.Since(start), out)
	if !strings.Contains(string(out), "UNIX domain socket bound at "+sock) {
		t.Errorf("no socket message in output")
	}
	if !strings.Contains(string(out), "addr.path="+sock) {
		t.Errorf("no qemu hint in output")
	}

	// Ready means: the PID file names the engine, alive, right as the
	// launcher returns, and the socket accepts connections (probed last:
	// with --one-off the probe is the engine's client, and the engine
	// exits once it leaves).
	pid := readPID(t, pidFile)
	if pid == cmd.Process.Pid {
		t.Errorf("PID file holds the launcher's PID %d, not the engine's", pid)
	}
	if err := unix.Kill(pid, 0); err != nil {
		t.Fatalf("engine %d not alive: %v", pid, err)
	}

	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); string(comm) != "passt\n" {
		t.Errorf("engine process name %q, want passt", comm)
	}
	// The engine keeps the command line the caller used.
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if want := "passt\x00-s\x00" + sock; !bytes.HasPrefix(cmdline, []byte(want)) {
		t.Errorf("engine command line %q, want prefix %q", cmdline, want)
	}
	// It runs detached, in its own session, with nothing of the caller's
	// stdio: fds 0-2 point to /dev/null.
	if sid, _ := unix.Getsid(pid); sid != pid {
		t.Errorf("engine session %d, want its own (%d)", sid, pid)
	}
	for fd := 0; fd <= 2; fd++ {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))
		if err != nil || target != "/dev/null" {
			t.Errorf("engine fd %d -> %q (%v), want /dev/null", fd, target, err)
		}
	}
	// passt's loop, on the main thread, keeps the default policy (pasta's
	// runs as SCHED_BATCH: see loop.ScheduleAsBatch and TestPastaAttachPID).
	if p := schedPolicy(t, pid); p != unix.SCHED_NORMAL {
		t.Errorf("passt's scheduling policy %d, want %d (SCHED_OTHER)", p, unix.SCHED_NORMAL)
	}
	// Root in the initial user namespace switches to nobody.
	if os.Geteuid() == 0 {
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if !regexp.MustCompile(`(?m)^Uid:\s+65534\s+65534\s+65534\s+65534$`).Match(status) {
			t.Errorf("engine did not switch to nobody:\n%s", status)
		}
		if !strings.Contains(string(out), "Started as root, will change to nobody.") {
			t.Errorf("no warning about switching to nobody")
		}
	}
	// The log file starts with the header line.
	lb, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^passt .*: .* \(\d+\)\n`).Match(lb) {
		t.Errorf("log file header: %q", firstLine(string(lb)))
	}

	if !canConnect(sock) {
		t.Errorf("socket %s does not accept connections after the launcher returned", sock)
	}
	if err := unix.Kill(pid, unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st := waitExit(t, pid, 5*time.Second); st != 0 {
		t.Errorf("engine exited with status %d after SIGTERM, want 0", st)
	}
	// passt never unlinks its socket: the client that chose the path does.
	if _, err := os.Lstat(sock); err != nil {
		t.Errorf("socket file removed on exit: %v", err)
	}
}

// statFields returns the fields of /proc/PID/stat after the command name:
// f[0] is field 3 (the state), f[n-3] field n (proc(5)).
func statFields(pid int) ([]string, error) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(st, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name in %q", pid, st)
	}
	return strings.Fields(string(st[i+1:])), nil
}

// schedPolicy returns the scheduling policy of a process's main thread:
// field 41 of /proc/PID/stat (-1 if it cannot be read).
func schedPolicy(t *testing.T, pid int) int {
	t.Helper()
	f, err := statFields(pid)
	if err != nil {
		t.Errorf("stat of %d: %v", pid, err)
		return -1
	}
	if len(f) < 41-2 {
		t.Errorf("stat of %d: %d fields after the name", pid, len(f))
		return -1
	}
	p, err := strconv.Atoi(f[41-3])
	if err != nil {
		t.Errorf("stat of %d: policy %q", pid, f[41-3])
		return -1
	}
	return p
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// tempDirFor returns a temporary directory that uid may also use.
func tempDirFor(t *testing.T, uid int) string {
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		// t.TempDir's parent is private too.
		if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestForeground: with -f the PID file holds the foreground process's own
// PID once it is ready, SIGTERM and SIGQUIT end it with status 0.
func TestForeground(t *testing.T) {
	for _, sig := range []syscall.Signal{unix.SIGTERM, unix.SIGQUIT} {
		dir := tempDirFor(t, 65534)
		sock := filepath.Join(dir, "s")
		pidFile := filepath.Join(dir, "pid")
		cmd := exec.Command(passtBin, "-f", "-q", "-s", sock, "-P", pidFile)
		cmd.Args[0] = "passt"
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if b, _ := os.ReadFile(pidFile); len(b) > 0 {
				break
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				t.Fatalf("PID file never written; stderr: %s", stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		if pid := readPID(t, pidFile); pid != cmd.Process.Pid {
			t.Errorf("PID file %d, want foreground PID %d", pid, cmd.Process.Pid)
		}
		// passt runs in a user namespace of its own (muvm checks this
		// on the process it started), under its own name.
		own, _ := os.Readlink("/proc/self/ns/user")
		if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid)); ns == own {
			t.Errorf("passt -f shares our user namespace %s", own)
		}
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid)); string(comm) != "passt\n" {
			t.Errorf("process name %q, want passt", comm)
		}
		if !canConnect(sock) {
			t.Errorf("socket not listening when the PID file was written")
		}
		_ = cmd.Process.Signal(sig)
		err := cmd.Wait()
		if err != nil {
			t.Errorf("after %v: %v (stderr %q)", sig, err, stderr.String())
		}
	}
}

// TestSocketPaths: a stale socket is reclaimed, a live one refused with
// upstream's message and status 1, before anything is daemonized.
func TestSocketPaths(t *testing.T) {
	dir := tempDirFor(t, 65534)
	stale := filepath.Join(dir, "stale.socket")
	fd, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: stale}); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd) // the file stays, nothing listens: stale

	cmd := exec.Command(passtBin, "-f", "-q", "-s", stale)
	cmd.Args[0] = "passt"
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for !canConnect(stale) {
		if time.Now().After(deadline) {
			t.Fatal("stale socket path not reclaimed")
		}
		time.Sleep(10 * time.Millisecond)
	}

	second := exec.Command(passtBin, "-f", "-s", stale)
	second.Args[0] = "passt"
	out, err := second.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("second instance on a live path: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Socket path "+stale+" already in use") {
		t.Errorf("output %q", out)
	}
}

// TestCommandLine runs the binary for the command-line contract that
// clients probe: exit statuses and streams.
func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		argv0          string
		args           []string
		status         int
		stdout, stderr string
	}{
		{"passt", []string{"--version"}, 0, "passt ", ""},
		{"pasta", []string{"--version"}, 0, "pasta ", ""},
		{"pasta", []string{"--host-lo-to-ns-lo", "--version"}, 0, "pasta ", ""},
		{"pasta", []string{"--help"}, 0, "Usage: pasta", ""},
		{"passt", []string{"--print-capabilities"}, 0, "", "\"type\": \"net\""},
		{"pasta", []string{"--config-net", "--map-guest-addr", "169.254.1.2", "--bogus"}, 1, "", "pasta: unrecognized option '--bogus'"},
		{"/usr/bin/passt", []string{"-t"}, 1, "", "/usr/bin/passt: option requires an argument -- 't'"},
		{"passt", []string{"-m", "70000"}, 1, "", "MTU 70000 too large (max 65521)"},
		{"pasta", []string{"-e", "--version"}, 0, "pasta ", "--stderr will be dropped soon"},
		{"passt", []string{"-q", "--vhost-user"}, 1, "", "vhost-user mode is not supported yet"},
		{"pasta", []string{"-q", "--netns", "/nonexistent"}, 1, "", "Couldn't open network namespace /nonexistent: No such file or directory"},
		{"pasta", []string{"-q", "-U", "8080", "--", "true"}, 0, "", ""},
	} {
		cmd := exec.Command(passtBin, tc.args...)
		cmd.Args[0] = tc.argv0
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		status := 0
		if ee, ok := err.(*exec.ExitError); ok {
			status = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if status != tc.status || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("%s %q: status %d, stdout %q, stderr %q", tc.argv0, tc.args, status, firstLine(stdout.String()), stderr.String())
		}
		if tc.stdout == "" && stdout.Len() > 0 {
			t.Errorf("%s %q: unexpected stdout %q", tc.argv0, tc.args, stdout.String())
		}
	}
}
