// SPDX-License-Identifier: GPL-2.0-or-later

package test

import (
	"bytes"
	"context"
	"encoding/binary"
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

	"passt/pkt"
)

// The sandbox is on for every engine the other tests start: they all run
// under the seccomp filter with the default action (kill), so a call
// missing from a list fails them. These tests check the sandbox itself.

// statusFields reads the "Key:\tvalue" lines of a /proc status file.
func statusFields(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// checkSandboxed checks what an isolated engine shows from outside: every
// thread with the seccomp filter and no_new_privs, no capability but those
// in keep (bounding, inheritable and ambient sets empty), an empty root,
// and namespaces of its own for mounts, IPC and UTS (and PID when newPID).
func checkSandboxed(t *testing.T, pid int, keep uint64, newPID bool) {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		st := statusFields(t, fmt.Sprintf("/proc/%d/task/%s/status", pid, task.Name()))
		if st["Seccomp"] != "2" || st["NoNewPrivs"] != "1" {
			t.Errorf("thread %s: Seccomp %q NoNewPrivs %q, want 2 and 1", task.Name(), st["Seccomp"], st["NoNewPrivs"])
		}
		for _, key := range []string{"CapEff", "CapPrm"} {
			v, err := strconv.ParseUint(st[key], 16, 64)
			if err != nil || v&^keep != 0 {
				t.Errorf("thread %s: %s %s, want nothing beyond %016x", task.Name(), key, st[key], keep)
			}
		}
		for _, key := range []string{"CapBnd", "CapInh", "CapAmb"} {
			if st[key] != "0000000000000000" {
				t.Errorf("thread %s: %s %s, want empty", task.Name(), key, st[key])
			}
		}
	}
	st := statusFields(t, fmt.Sprintf("/proc/%d/status", pid))
	t.Logf("engine %d: %d threads, Seccomp %s, NoNewPrivs %s, CapEff %s, CapBnd %s, Uid %s",
		pid, len(tasks), st["Seccomp"], st["NoNewPrivs"], st["CapEff"], st["CapBnd"], st["Uid"])

	root, err := os.ReadDir(fmt.Sprintf("/proc/%d/root/", pid))
	if err != nil {
		t.Errorf("engine's root: %v", err)
	} else if len(root) != 0 {
		t.Errorf("engine's root has %d entries, want none", len(root))
	}
	nss := []string{"mnt", "ipc", "uts"}
	if newPID {
		nss = append(nss, "pid")
	}
	for _, n := range nss {
		own, _ := os.Readlink("/proc/self/ns/" + n)
		theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, n))
		if err != nil || theirs == own {
			t.Errorf("engine's %s namespace %q (%v) is ours", n, theirs, err)
		}
	}
	if !newPID {
		return
	}
	// PID 1 of its own PID namespace.
	if st["NSpid"] == "" || !strings.HasSuffix(st["NSpid"], "\t1") {
		t.Errorf("engine's NSpid %q, want it to be PID 1 in its namespace", st["NSpid"])
	}
}

// checkNotDumpable: a non-dumpable process's /proc files belong to root,
// whatever its own user.
func checkNotDumpable(t *testing.T, pid int) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/status", pid), &st); err != nil {
		t.Fatal(err)
	}
	uid := statusFields(t, fmt.Sprintf("/proc/%d/status", pid))["Uid"]
	if !strings.HasPrefix(uid, "65534") {
		t.Fatalf("engine runs as %q, want nobody", uid)
	}
	if st.Uid != 0 {
		t.Errorf("/proc/%d/status belongs to %d, want root (not dumpable)", pid, st.Uid)
	}
}

const netBindService = uint64(1) << unix.CAP_NET_BIND_SERVICE

// TestSandboxPastaAttach: pasta attached to a namespace, as root (switched
// to nobody), daemonized.
func TestSandboxPastaAttach(t *testing.T) {
	ns := netns(t)
	pid := attachPasta(t, ns)
	checkSandboxed(t, pid, netBindService, true)
	checkNotDumpable(t, pid)
}

// TestSandboxPastaSpawn: pasta spawning a command as an unprivileged user
// (foreground: no PID namespace of its own).
func TestSandboxPastaSpawn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The command runs until we close its input.
	cmd := asUser(t, pastaBin(t), "--config-net", "--", "cat")
	cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	uid, gid := testUser(t)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}},
	}
	cmd.Dir = "/"
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("pasta: %v\n%s", err, out.String())
		}
	}()
	engine := findDescendant(t, cmd.Process.Pid, "pasta", 10*time.Second)
	if engine == 0 {
		t.Fatalf("no engine: %s", out.String())
	}
	// The engine is ready (and sandboxed) once the command runs.
	if findDescendant(t, engine, "cat", 10*time.Second) == 0 {
		t.Fatalf("command not started: %s", out.String())
	}
	checkSandboxed(t, engine, netBindService, false)
}

// TestSandboxPasst: passt daemonized (a PID namespace of its own) and in
// the foreground; passt keeps no capability at all.
func TestSandboxPasst(t *testing.T) {
	requireRoot(t)
	dir := tempDirFor(t, 65534)
	pidFile := filepath.Join(dir, "passt.pid")
	cmd := exec.Command(passtBin, "-q", "-s", filepath.Join(dir, "passt.socket"), "-P", pidFile)
	cmd.Args[0] = "passt"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("passt: %v: %s", err, out)
	}
	pid := readPID(t, pidFile)
	defer syscall.Kill(pid, syscall.SIGTERM)
	checkSandboxed(t, pid, 0, true)
	checkNotDumpable(t, pid)

	_, fg := startPasstReady(t)
	checkSandboxed(t, fg, 0, false)
}

// startPasstReady starts passt -f (see startPasst) for a guest at guestIP
// with gateway gwIP, and waits until it is ready (its PID file is
// written); it returns the socket and passt's PID.
func startPasstReady(t *testing.T, args ...string) (string, int) {
	t.Helper()
	pidFile := filepath.Join(tempDirFor(t, 65534), "passt.pid")
	args = append([]string{"-a", guestIP.String(), "-n", "24", "-g", gwIP.String(), "-P", pidFile}, args...)
	sock, _, cmd := startPasst(t, args...)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, _ := os.ReadFile(pidFile); len(b) > 0 {
			if pid := readPID(t, pidFile); pid != cmd.Process.Pid {
				t.Fatalf("PID file holds %d, want %d", pid, cmd.Process.Pid)
			}
			return sock, cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			t.Fatal("passt not ready within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// arpExchange asks passt, as the guest, for the gateway's MAC address.
func arpExchange(t *testing.T, fd int) {
	t.Helper()
	if _, err := unix.Write(fd, arpRequest(guestIP, gwIP)); err != nil {
		t.Fatal(err)
	}
	expectARPReply(t, fd, gwIP)
}

// sendMalformed sends n frames that the engine drops as malformed (an IPv4
// header cut short), each logged at debug level.
func sendMalformed(t *testing.T, fd, n int) {
	t.Helper()
	f := make([]byte, 4+14+8)
	binary.BigEndian.PutUint32(f, uint32(len(f)-4))
	pkt.BuildEthernet(f[4:], [6]byte{0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55}, guestMAC, pkt.EtherTypeIPv4)
	f[4+14] = 0x45
	batch := bytes.Repeat(f, 100)
	for i := 0; i < n; i += 100 {
		if _, err := unix.Write(fd, batch); err != nil {
			t.Fatalf("writing frames: %v", err)
		}
	}
}

// TestSandboxLogRotation: the log file is rotated under the filter (the
// calls log rotation makes are on the list): passt with -d and the
// smallest --log-size gets thousands of debug lines from a guest, keeps
// running, keeps its log within the size, and still answers the guest.
func TestSandboxLogRotation(t *testing.T) {
	requireRoot(t)
	dir := tempDirFor(t, 65534)
	logFile := filepath.Join(dir, "passt.log")
	sock, pid := startPasstReady(t, "-d", "-l", logFile, "--log-size", "40960")
	fd := dialUnix(t, sock)
	defer unix.Close(fd)
	sendMalformed(t, fd, 3000)
	// The guest is still served once the frames are through.
	arpExchange(t, fd)
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("passt died: %v", err)
	}
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 40960 {
		t.Errorf("log file holds %d bytes, more than --log-size 40960", len(b))
	}
	if !regexp.MustCompile(`^passt .* - log truncated at \d+\.\d{4}`).Match(b) {
		t.Errorf("log not rotated (no truncation mark); starts with %q", firstLine(string(b)))
	}
	if n := bytes.Count(b, []byte("dropping malformed frame")); n < 100 {
		t.Errorf("only %d debug lines in the log", n)
	}
	checkSandboxed(t, pid, 0, false)
}

// TestSandboxDeniedCallSurvives: in EPERM mode (PASST_GO_SECCOMP=errno), a
// call outside the list (the probe: getppid, once ready) fails with EPERM
// and the engine lives on and keeps serving its guest.
func TestSandboxDeniedCallSurvives(t *testing.T) {
	requireRoot(t)
	dir := tempDirFor(t, 65534)
	logFile := filepath.Join(dir, "passt.log")
	t.Setenv("PASST_GO_SECCOMP", "errno")
	t.Setenv("PASST_GO_SECCOMP_PROBE", "1")
	sock, pid := startPasstReady(t, "-l", logFile)
	fd := dialUnix(t, sock)
	defer unix.Close(fd)
	arpExchange(t, fd)
	b, _ := os.ReadFile(logFile)
	if !bytes.Contains(b, []byte("seccomp probe: getppid() failed: Operation not permitted")) {
		t.Errorf("no failed probe in the log:\n%s", b)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("passt died: %v", err)
	}
	checkSandboxed(t, pid, 0, false)
}

// TestSandboxDeniedCallReported: in trap mode a call outside the list is
// reported by the Go runtime as SIGSYS with the traceback of the caller,
// on stderr and, for a daemon (whose stderr is /dev/null by then), in its
// log file; in kill mode (the default, spelled out so that the probe runs)
// the engine dies of SIGSYS, which pasta in the foreground passes on.
func TestSandboxDeniedCallReported(t *testing.T) {
	requireRoot(t)
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PASST_GO_SECCOMP_PROBE", "1")

	t.Setenv("PASST_GO_SECCOMP", "trap")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, pastaBin(t), "--config-net", "--", "sleep", "10").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("pasta in trap mode: %v, want exit status 2 (the runtime's)", err)
	}
	for _, want := range []string{"SIGSYS: bad system call", "passt/sandbox.Probe", "goroutine "} {
		if !strings.Contains(string(out), want) {
			t.Errorf("trap report lacks %q:\n%s", want, out)
		}
	}

	dir := tempDirFor(t, 65534)
	logFile := filepath.Join(dir, "passt.log")
	pidFile := filepath.Join(dir, "passt.pid")
	cmd := exec.CommandContext(ctx, passtBin, "-s", filepath.Join(dir, "passt.socket"), "-l", logFile, "-P", pidFile)
	cmd.Args[0] = "passt"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("passt: %v\n%s", err, out)
	}
	if st := waitExit(t, readPID(t, pidFile), 10*time.Second); st != 2 {
		t.Errorf("passt daemon in trap mode exited with %d, want 2 (the runtime's)", st)
	}
	b, _ := os.ReadFile(logFile)
	if !bytes.Contains(b, []byte("SIGSYS: bad system call")) || !bytes.Contains(b, []byte("passt/sandbox.Probe")) {
		t.Errorf("no trap report in the daemon's log file:\n%s", b)
	}

	t.Setenv("PASST_GO_SECCOMP", "kill")
	cmd = exec.CommandContext(ctx, pastaBin(t), "--config-net", "--", "sleep", "10")
	out, err = cmd.CombinedOutput()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if err == nil || !ws.Signaled() || ws.Signal() != syscall.SIGSYS {
		t.Errorf("pasta in kill mode: %v (%v), want killed by SIGSYS\n%s", err, ws, out)
	}
}
