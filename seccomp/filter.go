// SPDX-License-Identifier: GPL-2.0-or-later

package seccomp

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"unsafe"

	bpfseccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/sys/unix"
)

// DebugEnv names the environment variable that replaces the default
// action: "kill" (the default), "trap", "errno" or "log".
const DebugEnv = "PASST_GO_SECCOMP"

// Action is what happens to a call outside the list.
type Action uint8

// Actions for calls outside the list.
const (
	// Kill ends the process with SIGSYS (SECCOMP_RET_KILL_PROCESS), as
	// upstream's filter does.
	Kill Action = iota
	// Trap raises SIGSYS in the calling thread (SECCOMP_RET_TRAP): the Go
	// runtime prints "SIGSYS: bad system call" and the traceback.
	Trap
	// Errno makes the call fail with EPERM (SECCOMP_RET_ERRNO).
	Errno
	// Log allows the call and has the kernel log it (SECCOMP_RET_LOG).
	Log
)

var actionNames = [...]string{Kill: "kill", Trap: "trap", Errno: "errno", Log: "log"}

// String is the action's name, as DebugEnv spells it.
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "unknown"
}

// ParseAction parses a DebugEnv value; "" is Kill.
func ParseAction(s string) (Action, error) {
	if s == "" {
		return Kill, nil
	}
	for a, name := range actionNames {
		if s == name {
			return Action(a), nil
		}
	}
	return Kill, fmt.Errorf("invalid %s value %q (kill, trap, errno or log)", DebugEnv, s)
}

func (a Action) bpf() bpfseccomp.Action {
	switch a {
	case Trap:
		return bpfseccomp.ActionTrap
	case Errno:
		return bpfseccomp.ActionErrno // EPERM
	case Log:
		return bpfseccomp.ActionLog
	}
	return bpfseccomp.ActionKillProcess
}

// Names resolves the list of mode m for an architecture's system call
// table: a name the architecture lacks is replaced by its Alt (dropped when
// the Alt is listed already). It fails on a name neither resolves.
func Names(m Mode, a *arch.Info) (plain, threadsOnly, selfOnly []string, err error) {
	seen := map[string]bool{}
	for _, s := range List(m) {
		name := s.Name
		if _, ok := a.SyscallNames[name]; !ok {
			if _, ok := a.SyscallNames[s.Alt]; s.Alt == "" || !ok {
				return nil, nil, nil, fmt.Errorf("seccomp: no system call %s on %s", name, a.Name)
			}
			name = s.Alt
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		switch {
		case s.ThreadsOnly:
			threadsOnly = append(threadsOnly, name)
		case s.SelfOnly:
			selfOnly = append(selfOnly, name)
		default:
			plain = append(plain, name)
		}
	}
	return plain, threadsOnly, selfOnly, nil
}

// Policy is the filter program of mode m with default action a, for the
// architecture we run on.
func Policy(m Mode, a Action) (bpfseccomp.Policy, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return bpfseccomp.Policy{}, fmt.Errorf("seccomp: %w", err)
	}
	names, threads, self, err := Names(m, info)
	if err != nil {
		return bpfseccomp.Policy{}, err
	}
	var cond []bpfseccomp.NameWithConditions
	for _, group := range []struct {
		names []string
		first bpfseccomp.Condition // on the first argument
	}{
		{threads, bpfseccomp.Condition{Argument: 0, Operation: bpfseccomp.BitsSet, Value: unix.CLONE_THREAD}},
		{self, bpfseccomp.Condition{Argument: 0, Operation: bpfseccomp.Equal, Value: 0}},
	} {
		for _, name := range group.names {
			cond = append(cond, bpfseccomp.NameWithConditions{Name: name, Conditions: []bpfseccomp.Condition{group.first}})
		}
	}
	return bpfseccomp.Policy{
		DefaultAction: a.bpf(),
		Syscalls: []bpfseccomp.SyscallGroup{{
			Action:             bpfseccomp.ActionAllow,
			Names:              names,
			NamesWithCondtions: cond, // sic
		}},
	}, nil
}

// Load installs the filter of mode m with default action a on every thread
// of the process, with no_new_privs. It fails, and nothing is installed, if
// any thread cannot take it.
func Load(m Mode, a Action) error {
	policy, err := Policy(m, a)
	if err != nil {
		return err
	}
	f := bpfseccomp.Filter{
		NoNewPrivs: true,
		Flag:       bpfseccomp.FilterFlagTSync | bpfseccomp.FilterFlag(unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH),
		Policy:     policy,
	}
	if err := bpfseccomp.LoadFilter(f); err != nil {
		return fmt.Errorf("Failed to apply seccomp filter: %w", err)
	}
	return nil
}

// Threads holds the status files of the process's threads, opened before
// the file system goes away, for Verify.
type Threads struct {
	tids  []int
	files []int
}

// OpenThreads opens the status file of every thread listed in the task
// directory open at taskDir (/proc/self/task).
func OpenThreads(taskDir int) (*Threads, error) {
	// A fresh descriptor reads the directory from its start.
	dfd, err := unix.Openat(taskDir, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("Couldn't open task directory: %w", err)
	}
	defer unix.Close(dfd)
	t := &Threads{}
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(dfd, buf)
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("Couldn't list threads: %w", err)
		}
		if n == 0 {
			break
		}
		for off := 0; off+19 <= n; {
			// struct linux_dirent64: ino 8, off 8, reclen 2, type 1, name.
			reclen := int(*(*uint16)(unsafe.Pointer(&buf[off+16])))
			if reclen == 0 || off+reclen > n {
				break
			}
			name := unix.ByteSliceToString(buf[off+19 : off+reclen])
			off += reclen
			tid, err := strconv.Atoi(name)
			if err != nil {
				continue // . and ..
			}
			fd, err := unix.Openat(taskDir, name+"/status", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				continue // the thread ended meanwhile
			}
			t.tids = append(t.tids, tid)
			t.files = append(t.files, fd)
		}
	}
	if len(t.tids) == 0 {
		return nil, errors.New("Couldn't list threads: none found")
	}
	return t, nil
}

// Close closes the status files.
func (t *Threads) Close() {
	for _, fd := range t.files {
		unix.Close(fd)
	}
	t.files = nil
}

// Verify checks that every thread opened by OpenThreads runs with the filter
// (Seccomp: 2) and no_new_privs (NoNewPrivs: 1), then closes the files. A
// thread that ended in between is skipped.
func (t *Threads) Verify() error {
	defer t.Close()
	buf := make([]byte, 4096)
	checked := 0
	for i, fd := range t.files {
		n, err := unix.Pread(fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.ESRCH) {
				continue
			}
			return fmt.Errorf("seccomp: reading status of thread %d: %w", t.tids[i], err)
		}
		status := buf[:n]
		if v := field(status, "Seccomp:"); v != "2" {
			return fmt.Errorf("seccomp: thread %d has Seccomp: %q after loading the filter, want 2", t.tids[i], v)
		}
		if v := field(status, "NoNewPrivs:"); v != "1" {
			return fmt.Errorf("seccomp: thread %d has NoNewPrivs: %q after loading the filter, want 1", t.tids[i], v)
		}
		checked++
	}
	if checked == 0 {
		return errors.New("seccomp: no thread left to verify")
	}
	return nil
}

// Count is how many threads Verify checks at most.
func (t *Threads) Count() int { return len(t.tids) }

// field returns the value of the "Key:\tvalue" line of a status file.
func field(status []byte, key string) string {
	for len(status) > 0 {
		line := status
		if i := bytes.IndexByte(status, '\n'); i >= 0 {
			line, status = status[:i], status[i+1:]
		} else {
			status = nil
		}
		if v, ok := bytes.CutPrefix(line, []byte(key)); ok {
			return string(bytes.TrimSpace(v))
		}
	}
	return ""
}

// OpenTaskDir opens /proc/self/task, for OpenThreads.
func OpenTaskDir() (*os.File, error) {
	f, err := os.OpenFile("/proc/self/task", os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("Couldn't open /proc/self/task: %w", err)
	}
	return f, nil
}
