// SPDX-License-Identifier: GPL-2.0-or-later

package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ipLink is the part of "ip -j addr" output the tests look at.
type ipLink struct {
	Ifname    string   `json:"ifname"`
	Flags     []string `json:"flags"`
	MTU       int      `json:"mtu"`
	Operstate string   `json:"operstate"`
	Address   string   `json:"address"`
	AddrInfo  []struct {
		Family    string `json:"family"`
		Local     string `json:"local"`
		Prefixlen int    `json:"prefixlen"`
		Scope     string `json:"scope"`
	} `json:"addr_info"`
}

type ipRoute struct {
	Dst     string `json:"dst"`
	Gateway string `json:"gateway"`
	Dev     string `json:"dev"`
}

func (l ipLink) up() bool {
	for _, f := range l.Flags {
		if f == "UP" {
			return true
		}
	}
	return false
}

func (l ipLink) has(prefix string) bool {
	for _, a := range l.AddrInfo {
		if fmt.Sprintf("%s/%d", a.Local, a.Prefixlen) == prefix {
			return true
		}
	}
	return false
}

func (l ipLink) global(family string) []string {
	var out []string
	for _, a := range l.AddrInfo {
		if a.Family == family && a.Scope == "global" {
			out = append(out, fmt.Sprintf("%s/%d", a.Local, a.Prefixlen))
		}
	}
	return out
}

func findLink(links []ipLink, name string) *ipLink {
	for i := range links {
		if links[i].Ifname == name {
			return &links[i]
		}
	}
	return nil
}

// hostTemplate is what pasta should copy: the interface of the host's
// IPv4 default route, its global IPv4 addresses and the gateway; empty when
// the host has no default route (pasta then uses local mode).
type hostTemplate struct {
	ifname  string
	gateway string
	addrs   []string
}

func discoverHostTemplate(t *testing.T) hostTemplate {
	t.Helper()
	out, err := exec.Command("ip", "-j", "-4", "route", "show", "default").Output()
	if err != nil {
		t.Fatalf("ip route: %v", err)
	}
	var routes []ipRoute
	if err := json.Unmarshal(out, &routes); err != nil {
		t.Fatalf("ip route: %v: %s", err, out)
	}
	if len(routes) == 0 {
		return hostTemplate{}
	}
	ht := hostTemplate{ifname: routes[0].Dev, gateway: routes[0].Gateway}
	out, err = exec.Command("ip", "-j", "addr", "show", "dev", ht.ifname).Output()
	if err != nil {
		t.Fatal(err)
	}
	var links []ipLink
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		t.Fatalf("ip addr: %v: %s", err, out)
	}
	ht.addrs = links[0].global("inet")
	return ht
}

// splitJSON splits the output of several "ip -j" commands run in a row.
func splitJSON(t *testing.T, out []byte, vs ...any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(out))
	for _, v := range vs {
		if err := dec.Decode(v); err != nil {
			t.Fatalf("parsing %q: %v", out, err)
		}
	}
}

// TestPastaSpawnRootless: as an unprivileged user, pasta --config-net
// starts the command in a namespace configured like the host: the
// template's addresses, its default route, MTU 65520, lo up; the command
// runs as root of its user namespace, PID 1 of its PID namespace, with a
// hostname of its own.
func TestPastaSpawnRootless(t *testing.T) {
	requireCommands(t, "ip")
	ht := discoverHostTemplate(t)
	cmd := asUser(t, pastaBin(t), "--config-net", "--", "sh", "-c",
		"ip -j addr show; ip -j -4 route show; id -u; echo $$; hostname; cat /proc/sys/net/ipv4/ping_group_range; "+
			"cut -d' ' -f41 /proc/$$/stat")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pasta: %v\n%s", err, stderr.String())
	}
	var links []ipLink
	var routes []ipRoute
	splitJSON(t, out, &links, &routes)
	rest := strings.Fields(string(out[bytes.LastIndexByte(out[:bytes.Index(out, []byte("\n0\n"))+1], ']')+1:]))
	if len(rest) < 5 || rest[0] != "0" || rest[1] != "1" || !strings.HasPrefix(rest[2], "pasta-") || rest[3] != "0" || rest[4] != "0" {
		t.Errorf("uid, pid, hostname, ping_group_range in the namespace: %q", rest)
	}
	// pasta's loop runs as SCHED_BATCH (loop.ScheduleAsBatch); the command
	// keeps the default policy.
	if len(rest) < 6 || rest[5] != "0" {
		t.Errorf("command's scheduling policy (/proc/PID/stat field 41) after uid, pid, hostname, ping_group_range: %q, want 0 (SCHED_OTHER)", rest)
	}

	lo := findLink(links, "lo")
	if lo == nil || !lo.up() {
		t.Errorf("lo is not up: %+v", lo)
	}
	name := ht.ifname
	if name == "" {
		name = "tap0"
	}
	tap := findLink(links, name)
	if tap == nil {
		t.Fatalf("no tap %q in the namespace: %s", name, out)
	}
	if !tap.up() || tap.MTU != 65520 {
		t.Errorf("tap %s: flags %v MTU %d, want UP and 65520", name, tap.Flags, tap.MTU)
	}
	if ht.ifname == "" {
		if !tap.has("169.254.2.1/16") {
			t.Errorf("local mode address missing: %+v", tap.AddrInfo)
		}
		return
	}
	for _, a := range ht.addrs {
		if !tap.has(a) {
			t.Errorf("host address %s not copied: %+v", a, tap.AddrInfo)
		}
	}
	found := false
	for _, r := range routes {
		if r.Dst == "default" && r.Gateway == ht.gateway && r.Dev == name {
			found = true
		}
	}
	if !found {
		t.Errorf("no default route via %s dev %s: %+v", ht.gateway, name, routes)
	}
}

// TestPastaExitStatus: pasta exits with the command's status, 128 plus the
// signal if it was killed; without --config-net the tap exists, down and
// unaddressed.
func TestPastaExitStatus(t *testing.T) {
	for _, tc := range []struct {
		script string
		status int
	}{
		{"exit 7", 7},
		{"true", 0},
	} {
		cmd := asUser(t, pastaBin(t), "--config-net", "--", "sh", "-c", tc.script)
		out, err := cmd.CombinedOutput()
		status := 0
		if ee, ok := err.(*exec.ExitError); ok {
			status = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if status != tc.status {
			t.Errorf("%q: status %d, want %d (%s)", tc.script, status, tc.status, out)
		}
	}

	// A command killed by a signal: pasta exits with 128 + the signal.
	// (The command is PID 1 of its PID namespace and cannot be killed
	// from inside, so the test kills it.)
	killed := asUser(t, pastaBin(t), "--", "sleep", "30")
	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	if pid := findDescendant(t, killed.Process.Pid, "sleep", 5*time.Second); pid > 0 {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	err := killed.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 137 {
		t.Errorf("command killed by SIGKILL: %v, want status 137", err)
	}

	cmd := asUser(t, pastaBin(t), "--", "ip", "-j", "addr", "show")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pasta -- ip: %v", err)
	}
	var links []ipLink
	splitJSON(t, out, &links)
	if len(links) != 2 {
		t.Fatalf("want lo and the tap, got %s", out)
	}
	for _, l := range links {
		if l.Ifname == "lo" {
			if !l.up() {
				t.Errorf("lo down without --config-net")
			}
			continue
		}
		if l.up() || len(l.global("inet"))+len(l.global("inet6")) > 0 {
			t.Errorf("tap %s configured without --config-net: %+v", l.Ifname, l)
		}
	}
	if l := leftovers(); len(l) > 0 {
		t.Errorf("processes left running: %v", l)
	}
}

// findDescendant finds a process named comm below pid.
func findDescendant(t *testing.T, pid int, comm string, limit time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			var p int
			if _, err := fmt.Sscan(e.Name(), &p); err != nil {
				continue
			}
			c, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p))
			if strings.TrimSpace(string(c)) != comm {
				continue
			}
			for q, i := p, 0; q > 1 && i < 10; i++ {
				f, err := statFields(q)
				if err != nil || len(f) < 2 {
					break
				}
				if _, err := fmt.Sscan(f[1], &q); err != nil {
					break
				}
				if q == pid {
					return p
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("no %s process below %d", comm, pid)
	return 0
}

// waitGone waits until pid has exited (we must be its subreaper) and
// returns its status and how long it took.
func waitGone(t *testing.T, pid int, limit time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	st := waitExit(t, pid, limit)
	return st, time.Since(start)
}

// TestPastaAttachNetns: pasta --config-net --netns NAME configures the
// namespace before returning, and exits within 2 s once it is deleted.
func TestPastaAttachNetns(t *testing.T) {
	requireRoot(t)
	requireCommands(t, "ip")
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("pasta-test-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", name).Run()
	dir := tempDirFor(t, 65534)
	pidFile := filepath.Join(dir, "pasta.pid")

	cmd := exec.Command(pastaBin(t), "--config-net", "-q", "-a", "10.0.2.100", "-n", "24", "-g", "10.0.2.2",
		"-I", "tap9", "--ns-mac-addr", "02:00:00:00:00:09", "-P", pidFile, "--netns", name)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pasta: %v: %s", err, out)
	}
	// Ready on return: no waiting here.
	out, err := exec.Command("ip", "-n", name, "-j", "addr", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	var links []ipLink
	splitJSON(t, out, &links)
	tap := findLink(links, "tap9")
	if tap == nil || !tap.up() || !tap.has("10.0.2.100/24") || tap.Address != "02:00:00:00:00:09" || tap.MTU != 65520 {
		t.Errorf("namespace not configured on return: %s", out)
	}
	out, _ = exec.Command("ip", "-n", name, "-j", "-4", "route", "show", "default").Output()
	var routes []ipRoute
	splitJSON(t, out, &routes)
	if len(routes) != 1 || routes[0].Gateway != "10.0.2.2" {
		t.Errorf("default route: %s", out)
	}

	pid := readPID(t, pidFile)
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del: %v: %s", err, out)
	}
	st, took := waitGone(t, pid, 2*time.Second)
	if st != 0 {
		t.Errorf("pasta exited with %d after the namespace went away, want 0", st)
	}
	t.Logf("pasta exited %v after the namespace was deleted", took)
}

// TestPastaAttachPID: an unprivileged user attaches pasta to a process of
// theirs in its own user and network namespaces (joining the user
// namespace before the Go runtime starts), and pasta exits once that
// process is gone.
func TestPastaAttachPID(t *testing.T) {
	requireCommands(t, "unshare", "ip", "nsenter")
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	holder := asUser(t, "unshare", "-rn", "sleep", "60")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	// Wait until the holder is in its namespaces.
	self, _ := os.Readlink("/proc/self/ns/net")
	for i := 0; ; i++ {
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid))
		if l != "" && l != self {
			break
		}
		if i > 200 {
			t.Fatal("holder never entered its namespace")
		}
		time.Sleep(10 * time.Millisecond)
	}
	dir := tempDirFor(t, 65534)
	pidFile := filepath.Join(dir, "pasta.pid")
	cmd := asUser(t, pastaBin(t), "--config-net", "-q", "-P", pidFile, fmt.Sprint(holder.Process.Pid))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pasta PID: %v: %s", err, out)
	}
	pid := readPID(t, pidFile)
	out, err := exec.Command("nsenter", "-t", fmt.Sprint(holder.Process.Pid), "-n", "ip", "-j", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	var links []ipLink
	splitJSON(t, out, &links)
	if len(links) != 2 {
		t.Errorf("no tap in the holder's namespace: %s", out)
	}
	for _, l := range links {
		if !l.up() {
			t.Errorf("%s down after --config-net", l.Ifname)
		}
	}
	// The engine runs in the holder's user namespace, with the
	// command line the caller used.
	u1, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", pid))
	u2, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", holder.Process.Pid))
	if u1 != u2 {
		t.Errorf("engine in user namespace %s, holder in %s", u1, u2)
	}
	if cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); !bytes.HasPrefix(cl, []byte(pastaBin(t)+"\x00")) {
		t.Errorf("engine command line %q", cl)
	}
	// Its loop runs as SCHED_BATCH (loop.ScheduleAsBatch).
	if p := schedPolicy(t, pid); p != unix.SCHED_BATCH {
		t.Errorf("pasta's scheduling policy %d, want %d (SCHED_BATCH)", p, unix.SCHED_BATCH)
	}
	// Sandboxed like any engine, but without a PID namespace: only the
	// entry stub could create one, and the runtime could then start no
	// thread.
	checkSandboxed(t, pid, netBindService, false)

	_ = holder.Process.Kill()
	_ = holder.Wait()
	st, took := waitGone(t, pid, 5*time.Second)
	if st != 0 {
		t.Errorf("pasta exited with %d after its namespace's process died, want 0", st)
	}
	t.Logf("pasta exited %v after the process died", took)
}

// TestPastaBadInput: each a clear message, status 1, nothing left running.
func TestPastaBadInput(t *testing.T) {
	requireRoot(t)
	gone := exec.Command("true")
	_ = gone.Run()
	gonePID := gone.Process.Pid

	// A user namespace owned by root: the test user may not open it.
	rootNS := exec.Command("unshare", "-U", "sleep", "30")
	if err := rootNS.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rootNS.Process.Kill(); _ = rootNS.Wait() }()
	time.Sleep(100 * time.Millisecond)
	// A user-owned holder, to attach to with a file that is not a user
	// namespace.
	holder := asUser(t, "unshare", "-rn", "sleep", "30")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	time.Sleep(100 * time.Millisecond)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--netns", "/nonexistent/netns"}, "Couldn't open network namespace /nonexistent/netns: No such file or directory"},
		{[]string{"--netns", "no-such-netns-here"}, "Couldn't open network namespace /run/netns/no-such-netns-here: No such file or directory"},
		{[]string{fmt.Sprint(gonePID)}, fmt.Sprintf("Couldn't open network namespace /proc/%d/ns/net: No such file or directory", gonePID)},
		{[]string{"-I", "a-very-long-name0", "--", "true"}, "Invalid interface name: a-very-long-name0"},
		{[]string{"--userns", fmt.Sprintf("/proc/%d/ns/user", rootNS.Process.Pid), "--netns", fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid)},
			fmt.Sprintf("Couldn't open user namespace /proc/%d/ns/user: Permission denied", rootNS.Process.Pid)},
		{[]string{"--userns", fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid), "--netns", fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid)},
			fmt.Sprintf("Couldn't enter user namespace /proc/%d/ns/net: Invalid argument", holder.Process.Pid)},
	} {
		cmd := asUser(t, pastaBin(t), append([]string{"-q"}, tc.args...)...)
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 1 {
			t.Errorf("%q: %v, want status 1: %s", tc.args, err, out)
			continue
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%q: output %q, want %q", tc.args, out, tc.want)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if l := leftovers(); len(l) > 0 {
		t.Errorf("processes left running: %v", l)
	}
}

// TestPcap: frames the namespace sends are captured in a file that
// tcpdump reads.
func TestPcap(t *testing.T) {
	requireCommands(t, "tcpdump", "ping")
	dir := tempDirFor(t, 65534)
	file := filepath.Join(dir, "cap.pcap")
	cmd := asUser(t, pastaBin(t), "--config-net", "--pcap", file, "-a", "10.200.0.2", "-n", "24", "-g", "10.200.0.1",
		"--", "ping", "-c", "1", "-W", "1", "10.200.0.77")
	out, _ := cmd.CombinedOutput() // ping fails: nobody answers
	st, err := os.Stat(file)
	if err != nil {
		t.Fatalf("no capture: %v (%s)", err, out)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("capture mode %v, want 0600", st.Mode().Perm())
	}
	dump, err := exec.Command("tcpdump", "-nn", "-r", file).CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -r: %v: %s", err, dump)
	}
	if !bytes.Contains(dump, []byte("Request who-has 10.200.0.77")) {
		t.Errorf("capture lacks the namespace's ARP request:\n%s", dump)
	}
}

// rootlesskitBin finds rootlesskit (make check installs it into GOPATH/bin).
func rootlesskitBin(t *testing.T) string {
	if p, err := exec.LookPath("rootlesskit"); err == nil {
		return p
	}
	out, _ := exec.Command("go", "env", "GOPATH").Output()
	p := filepath.Join(strings.TrimSpace(string(out)), "bin", "rootlesskit")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	msg := "rootlesskit not found: make check installs it (go install github.com/rootless-containers/rootlesskit/v2/cmd/rootlesskit)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestRootlesskit runs rootlesskit --net=pasta as an unprivileged user with
// subordinate IDs: it probes pasta, runs it against its child and expects
// the child's namespace fully configured: tap0 with 10.0.2.100/24, a
// default route via 10.0.2.2, MTU 65520.
func TestRootlesskit(t *testing.T) {
	requireCommands(t, "newuidmap", "newgidmap", "ip")
	rk := rootlesskitBin(t)
	// rootlesskit runs "pasta" from PATH; the binary must be reachable by
	// the test user.
	dir := filepath.Dir(pastaBin(t))
	bin := filepath.Join(tempDirFor(t, 65534), "rootlesskit")
	data, err := os.ReadFile(rk)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := asUser(t, bin, "--net=pasta", "--port-driver=none", "--copy-up=/etc",
		"sh", "-c", "ip -j addr show tap0; ip -j -4 route show default")
	for i, e := range cmd.Env {
		if strings.HasPrefix(e, "PATH=") {
			cmd.Env[i] = "PATH=" + dir + ":" + strings.TrimPrefix(e, "PATH=")
		}
	}
	cmd.Dir = "/tmp"
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rootlesskit: %v\n%s", err, stderr.String())
	}
	var links []ipLink
	var routes []ipRoute
	splitJSON(t, out, &links, &routes)
	if len(links) != 1 || !links[0].has("10.0.2.100/24") || links[0].MTU != 65520 || !links[0].up() {
		t.Errorf("tap0 in rootlesskit's namespace: %s", out)
	}
	if len(routes) != 1 || routes[0].Gateway != "10.0.2.2" || routes[0].Dev != "tap0" {
		t.Errorf("default route: %+v", routes)
	}
}

// TestPastaTapGoneAndNoNetnsQuit: deleting the tap ends pasta with status
// 1; with --no-netns-quit pasta outlives its namespace's file until SIGTERM.
func TestPastaTapGoneAndNoNetnsQuit(t *testing.T) {
	requireRoot(t)
	requireCommands(t, "ip")
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	for _, noQuit := range []bool{false, true} {
		name := fmt.Sprintf("pasta-tq-%d-%v", os.Getpid(), noQuit)
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add: %v: %s", err, out)
		}
		pidFile := filepath.Join(tempDirFor(t, 65534), "pid")
		args := []string{"-q", "--config-net", "-I", "tapq", "-P", pidFile, "--netns", name}
		if noQuit {
			args = append(args, "--no-netns-quit")
		}
		if out, err := exec.Command(pastaBin(t), args...).CombinedOutput(); err != nil {
			t.Fatalf("pasta: %v: %s", err, out)
		}
		pid := readPID(t, pidFile)
		if !noQuit {
			_ = exec.Command("ip", "-n", name, "link", "del", "tapq").Run()
			if st, _ := waitGone(t, pid, 2*time.Second); st != 1 {
				t.Errorf("tap deleted: status %d, want 1", st)
			}
			_ = exec.Command("ip", "netns", "del", name).Run()
			continue
		}
		_ = exec.Command("ip", "netns", "del", name).Run()
		time.Sleep(1500 * time.Millisecond)
		if err := unix.Kill(pid, 0); err != nil {
			t.Fatalf("--no-netns-quit: pasta exited when the namespace file went away")
		}
		_ = unix.Kill(pid, unix.SIGTERM)
		if st, _ := waitGone(t, pid, 2*time.Second); st != 0 {
			t.Errorf("SIGTERM: status %d, want 0", st)
		}
	}
}
