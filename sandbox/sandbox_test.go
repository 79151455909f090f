// SPDX-License-Identifier: GPL-2.0-or-later

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"passt/log"
	"passt/seccomp"
)

// childEnv makes the test binary a child, in new user and mount
// namespaces, that isolates itself and reports; the value is the role.
const childEnv = "SANDBOX_TEST_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		if err := runChild(role); err != nil {
			fmt.Println("FAIL:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child runs a role in new user (we are root there) and mount namespaces.
func child(t *testing.T, role string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+role)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) && os.Getenv("CI") != "true" {
			t.Skipf("can't create user namespace: %v", err)
		}
		t.Fatalf("child %s: %v\n%s", role, err, out)
	}
	return string(out)
}

// TestEmptyRootAndCapabilities: after emptyRoot and dropCapabilities the
// root is an empty read-only directory for every thread, and every thread
// has only the capability kept, with empty bounding, inheritable and
// ambient sets.
func TestEmptyRootAndCapabilities(t *testing.T) {
	out := child(t, "pivot")
	t.Logf("child:\n%s", out)
	if !strings.Contains(out, "PASS") {
		t.Fail()
	}
}

// TestChrootFallback: the --chroot-fallback path also leaves an empty
// read-only root.
func TestChrootFallback(t *testing.T) {
	out := child(t, "chroot")
	t.Logf("child:\n%s", out)
	if !strings.Contains(out, "PASS") {
		t.Fail()
	}
}

// TestEnterProbe: Enter in EPERM mode with the probe: the call outside the
// list fails, the process lives on, and the filter is on.
func TestEnterProbe(t *testing.T) {
	out := child(t, "enter")
	t.Logf("child:\n%s", out)
	for _, want := range []string{"seccomp probe: getppid() failed: Operation not permitted", "PASS"} {
		if !strings.Contains(out, want) {
			t.Errorf("child output lacks %q", want)
		}
	}
}

// statusFiles opens the status file of every thread, for reading after the
// file system is gone.
func statusFiles() (map[string]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	fds := map[string]int{}
	for _, e := range ents {
		fd, err := unix.Open("/proc/self/task/"+e.Name()+"/status", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		fds[e.Name()] = fd
	}
	return fds, nil
}

func statusField(fd int, key string) string {
	b := make([]byte, 4096)
	n, _ := unix.Pread(fd, b, 0)
	for _, l := range strings.Split(string(b[:max(n, 0)]), "\n") {
		if v, ok := strings.CutPrefix(l, key); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// checkRoot checks that / is empty and read-only and the old root gone.
func checkRoot() error {
	ents, err := os.ReadDir("/")
	if err != nil {
		return fmt.Errorf("reading /: %v", err)
	}
	if len(ents) != 0 {
		return fmt.Errorf("/ holds %d entries", len(ents))
	}
	if _, err := os.Stat("/etc/passwd"); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("/etc/passwd: %v, want ENOENT", err)
	}
	if err := os.WriteFile("/x", nil, 0o600); !errors.Is(err, syscall.EROFS) {
		return fmt.Errorf("creating /x: %v, want EROFS", err)
	}
	if wd, err := os.Getwd(); err != nil || wd != "/" {
		return fmt.Errorf("working directory %q (%v), want /", wd, err)
	}
	return nil
}

func checkCaps(fds map[string]int, keep uint64) error {
	want := fmt.Sprintf("%016x", keep)
	for tid, fd := range fds {
		for key, w := range map[string]string{"CapEff:": want, "CapPrm:": want, "CapInh:": "0000000000000000",
			"CapBnd:": "0000000000000000", "CapAmb:": "0000000000000000"} {
			if got := statusField(fd, key); got != w {
				return fmt.Errorf("thread %s: %s %s, want %s", tid, key, got, w)
			}
		}
	}
	fmt.Printf("%d threads: CapEff %s, bounding set empty\n", len(fds), want)
	return nil
}

func runChild(role string) error {
	fds, err := statusFiles()
	if err != nil {
		return err
	}
	keep := uint64(1) << unix.CAP_NET_BIND_SERVICE
	switch role {
	case "pivot":
		if err := emptyRoot(false); err != nil {
			return err
		}
	case "chroot":
		// The steps before pivot_root, then the fallback.
		if err := unix.Mount("", "/", "", unix.MS_UNBINDABLE|unix.MS_REC, ""); err != nil {
			return err
		}
		if err := unix.Mount("", tmpDir, "tmpfs", unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_NOSUID|unix.MS_RDONLY,
			"nr_inodes=2,nr_blocks=0"); err != nil {
			return err
		}
		if err := unix.Chdir(tmpDir); err != nil {
			return err
		}
		if err := moveRoot(); err != nil {
			return err
		}
	case "enter":
		log.Init("pasta")
		log.SetStderr(true)
		spec := Spec{Mode: seccomp.Pasta, OwnMountNS: true, KeepCaps: keep, Action: seccomp.Errno}
		if err := Enter(spec); err != nil {
			return err
		}
		Probe()
		for tid, fd := range fds {
			if s, n := statusField(fd, "Seccomp:"), statusField(fd, "NoNewPrivs:"); s != "2" || n != "1" {
				return fmt.Errorf("thread %s: Seccomp %s NoNewPrivs %s", tid, s, n)
			}
		}
		if err := checkCaps(fds, keep); err != nil {
			return err
		}
		// The root is gone (openat is on pasta's list; stat is not).
		if _, err := unix.Open("/etc/passwd", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != unix.ENOENT {
			return fmt.Errorf("/etc/passwd: %v, want ENOENT", err)
		}
		if d, _ := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0); d != 0 {
			return fmt.Errorf("dumpable %d", d)
		}
		fmt.Println("PASS")
		return nil
	}
	if err := checkRoot(); err != nil {
		return err
	}
	if err := dropCapabilities(keep); err != nil {
		return err
	}
	if err := checkCaps(fds, keep); err != nil {
		return err
	}
	fmt.Println("PASS")
	return nil
}
