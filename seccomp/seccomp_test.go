// SPDX-License-Identifier: GPL-2.0-or-later

package seccomp

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/sys/unix"
)

// childEnv makes the test binary a child that loads a filter (which can
// never be removed again) and reports on stdout; its value is the role.
const childEnv = "SECCOMP_TEST_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		runChild(role)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestLists: every entry has a reason and a mode, no name is listed twice,
// and both lists resolve on x86_64 and arm64 (so that the filter
// assembles there too).
func TestLists(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range allowList {
		if strings.TrimSpace(s.Why) == "" || s.Modes == 0 {
			t.Errorf("%s: no reason or no mode", s.Name)
		}
		if seen[s.Name] {
			t.Errorf("%s listed twice", s.Name)
		}
		seen[s.Name] = true
	}
	for _, m := range []Mode{Passt, Pasta} {
		for _, a := range []*arch.Info{arch.X86_64, arch.AARCH64} {
			plain, threads, self, err := Names(m, a)
			if err != nil {
				t.Errorf("%s on %s: %v", m, a.Name, err)
				continue
			}
			if len(threads) != 1 || threads[0] != "clone" {
				t.Errorf("%s on %s: threads-only calls %v, want [clone]", m, a.Name, threads)
			}
			wantSelf := []string{"sched_setattr"}
			if m == Passt {
				wantSelf = nil
			}
			if !slices.Equal(self, wantSelf) {
				t.Errorf("%s on %s: calls on the calling thread only %v, want %v", m, a.Name, self, wantSelf)
			}
			t.Logf("%s on %s: %d calls", m, a.Name, len(plain)+len(threads)+len(self))
		}
		for _, a := range []Action{Kill, Trap, Errno, Log} {
			p, err := Policy(m, a)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Assemble(); err != nil {
				t.Errorf("%s, %s: %v", m, a, err)
			}
		}
	}
	// What the engine never does once running.
	for _, name := range []string{"execve", "execveat", "fork", "vfork", "clone3", "setns", "unshare",
		"mount", "pivot_root", "chroot", "ptrace", "open", "getdents64", "getppid"} {
		for _, m := range []Mode{Passt, Pasta} {
			for _, s := range List(m) {
				if s.Name == name {
					t.Errorf("%s is on the %s list", name, m)
				}
			}
		}
	}
	// pasta-only calls stay out of passt's list.
	for _, s := range List(Passt) {
		switch s.Name {
		case "openat", "splice", "pipe2", "waitid":
			t.Errorf("%s is on the passt list", s.Name)
		}
	}
}

func TestParseAction(t *testing.T) {
	for in, want := range map[string]Action{"": Kill, "kill": Kill, "trap": Trap, "errno": Errno, "log": Log} {
		got, err := ParseAction(in)
		if err != nil || got != want {
			t.Errorf("ParseAction(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"KILL", "allow", "eperm", " trap"} {
		if _, err := ParseAction(in); err == nil {
			t.Errorf("ParseAction(%q) accepted", in)
		}
	}
}

func TestField(t *testing.T) {
	status := []byte("Name:\tpasta\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n")
	for key, want := range map[string]string{"Seccomp:": "2", "NoNewPrivs:": "1", "Name:": "pasta", "Absent:": ""} {
		if got := field(status, key); got != want {
			t.Errorf("field(%q) = %q, want %q", key, got, want)
		}
	}
}

// child runs the test binary in a role and returns its output and wait
// status.
func child(t *testing.T, role string) (string, syscall.WaitStatus) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+role)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return out.String(), cmd.ProcessState.Sys().(syscall.WaitStatus)
}

// TestFilterErrno loads the pasta list with EPERM as default action in a
// child and checks, there, that: every thread has the filter and
// no_new_privs (Verify); threads created afterwards have it too; a call
// outside the list fails with EPERM and the process carries on; listed
// calls work; clone without CLONE_THREAD (a new process) and clone3 are
// refused.
func TestFilterErrno(t *testing.T) {
	out, ws := child(t, "errno")
	if ws.ExitStatus() != 0 || ws.Signaled() {
		t.Fatalf("child: %v\n%s", ws, out)
	}
	for _, want := range []string{"verified", "getppid: operation not permitted", "getpid: ok",
		"fork: operation not permitted", "clone3: operation not permitted",
		"new threads: seccomp 2", "survived"} {
		if !strings.Contains(out, want) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
}

// TestFilterKill: with the default action, a call outside the list kills
// the process with SIGSYS.
func TestFilterKill(t *testing.T) {
	out, ws := child(t, "kill")
	if !ws.Signaled() || ws.Signal() != syscall.SIGSYS {
		t.Fatalf("child not killed by SIGSYS: %v\n%s", ws, out)
	}
	if strings.Contains(out, "survived") {
		t.Errorf("child ran on after the denied call:\n%s", out)
	}
}

// TestFilterTrap: in trap mode the Go runtime reports the denied call with
// a traceback that names the caller.
func TestFilterTrap(t *testing.T) {
	out, ws := child(t, "trap")
	if ws.Signaled() || ws.ExitStatus() != 2 {
		t.Errorf("child status %v, want exit 2 (Go's fatal signal status)", ws)
	}
	for _, want := range []string{"SIGSYS: bad system call", "passt/seccomp.deniedCall"} {
		if !strings.Contains(out, want) {
			t.Errorf("trap report lacks %q:\n%s", want, out)
		}
	}
}

// TestFilterLog: in log mode the call goes through.
func TestFilterLog(t *testing.T) {
	out, ws := child(t, "log")
	if ws.ExitStatus() != 0 || !strings.Contains(out, "getppid: ok") {
		t.Fatalf("child: %v\n%s", ws, out)
	}
}

//go:noinline
func deniedCall() syscall.Errno {
	_, _, e := syscall.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	return e
}

func result(e syscall.Errno) string {
	if e == 0 {
		return "ok"
	}
	return e.Error()
}

func threadCount() int {
	b, _ := os.ReadFile("/proc/self/status")
	n, _ := strconv.Atoi(field(b, "Threads:"))
	return n
}

func runChild(role string) {
	action := map[string]Action{"errno": Errno, "kill": Kill, "trap": Trap, "log": Log}[role]
	taskDir, err := OpenTaskDir()
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	threads, err := OpenThreads(int(taskDir.Fd()))
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	before := threadCount()
	if err := Load(Pasta, action); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	if err := threads.Verify(); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Printf("verified %d threads\n", threads.Count())

	fmt.Printf("getppid: %s\n", result(deniedCall()))
	_, _, e := syscall.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
	fmt.Printf("getpid: %s\n", result(e))
	if role != "errno" {
		fmt.Println("survived")
		return
	}

	// clone(SIGCHLD) would be a fork; if it ever succeeded, the child
	// leaves at once.
	r, _, e := syscall.RawSyscall6(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if e == 0 && r == 0 {
		syscall.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	}
	fmt.Printf("fork: %s\n", result(e))
	_, _, e = syscall.RawSyscall(unix.SYS_CLONE3, 0, 0, 0)
	fmt.Printf("clone3: %s\n", result(e))

	// Goroutines locked to threads need threads of their own: the
	// runtime clones new ones, which must inherit the filter.
	const n = 8
	var wg sync.WaitGroup
	results := make(chan string, n)
	release := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			b, err := os.ReadFile("/proc/thread-self/status")
			if err != nil {
				results <- err.Error()
			} else {
				results <- field(b, "Seccomp:") + "/" + field(b, "NoNewPrivs:")
			}
			<-release
		}()
	}
	states := map[string]int{}
	for i := 0; i < n; i++ {
		states[<-results]++
	}
	after := threadCount()
	close(release)
	wg.Wait()
	if states["2/1"] == n && after > before {
		fmt.Printf("new threads: seccomp 2 (%d threads before, %d after)\n", before, after)
	} else {
		fmt.Printf("new threads: %v (%d threads before, %d after)\n", states, before, after)
	}
	fmt.Println("survived")
}

// FuzzField: any status text, well formed or not, gives a value without
// crashing, and a well-formed line is found.
func FuzzField(f *testing.F) {
	f.Add([]byte("Name:\tpasta\nSeccomp:\t2\n"), "Seccomp:")
	f.Add([]byte("Seccomp:"), "Seccomp:")
	f.Add([]byte("\n\n\x00Seccomp:\t\t 2 \r\n"), "Seccomp:")
	f.Fuzz(func(t *testing.T, status []byte, key string) {
		v := field(status, key)
		if strings.ContainsRune(key, '\n') || key == "" {
			return
		}
		line := append([]byte(key+"\t7\n"), status...)
		if got := field(line, key); got != "7" {
			t.Errorf("field(%q, %q) = %q, want 7 (and %q without the line)", line, key, got, v)
		}
	})
}
