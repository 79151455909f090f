// SPDX-License-Identifier: GPL-2.0-or-later

package test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// testUserName is the unprivileged user the rootless tests run as.
const testUserName = "passt-test"

var (
	testUserOnce sync.Once
	testUserErr  error
	testUID      int
	testGID      int
)

// testUser makes sure the unprivileged test user exists, with subordinate
// IDs (for rootlesskit) and a world-usable /dev/net/tun (as on desktop
// distributions, where rootless pasta works), and returns its IDs.
func testUser(t *testing.T) (uid, gid int) {
	t.Helper()
	requireRoot(t)
	testUserOnce.Do(func() {
		if _, err := user.Lookup(testUserName); err != nil {
			out, err := exec.Command("useradd", "-m", "-s", "/bin/sh", testUserName).CombinedOutput()
			if err != nil {
				testUserErr = fmt.Errorf("useradd: %v: %s", err, out)
				return
			}
		}
		u, err := user.Lookup(testUserName)
		if err != nil {
			testUserErr = err
			return
		}
		testUID, _ = strconv.Atoi(u.Uid)
		testGID, _ = strconv.Atoi(u.Gid)
		for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
			b, _ := os.ReadFile(f)
			if !bytes.Contains(b, []byte(testUserName+":")) {
				line := testUserName + ":200000:65536\n"
				fh, err := os.OpenFile(f, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
				if err != nil {
					testUserErr = err
					return
				}
				fh.WriteString(line)
				fh.Close()
			}
		}
		if err := os.Chmod("/dev/net/tun", 0o666); err != nil {
			testUserErr = fmt.Errorf("chmod /dev/net/tun: %v", err)
		}
	})
	if testUserErr != nil {
		t.Fatalf("test user: %v", testUserErr)
	}
	return testUID, testGID
}

// asUser returns a command that runs as the test user, with a clean
// environment like a login would give.
func asUser(t *testing.T, name string, args ...string) *exec.Cmd {
	uid, gid := testUser(t)
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}},
	}
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/home/" + testUserName,
		"USER=" + testUserName,
		"SHELL=/bin/sh",
	}
	// The sandbox's debug switches (package seccomp), so that the whole
	// suite can run in trap or log mode.
	for _, name := range []string{"PASST_GO_SECCOMP", "PASST_GO_SECCOMP_PROBE"} {
		if v, ok := os.LookupEnv(name); ok {
			cmd.Env = append(cmd.Env, name+"="+v)
		}
	}
	cmd.Dir = "/"
	return cmd
}

// pastaBin returns the path of a "pasta" hard link to the binary under test.
func pastaBin(t *testing.T) string {
	p := filepath.Join(filepath.Dir(passtBin), "pasta")
	if _, err := os.Stat(p); err != nil {
		if err := os.Link(passtBin, p); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// leftovers lists processes still running the binary under test.
func leftovers() []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil {
			continue
		}
		if strings.HasPrefix(exe, filepath.Dir(passtBin)+"/") {
			stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if strings.Contains(string(stat), ") Z ") {
				continue
			}
			out = append(out, fmt.Sprintf("%d (%s)", pid, exe))
		}
	}
	return out
}
