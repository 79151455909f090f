// SPDX-License-Identifier: GPL-2.0-or-later

// Package sandbox isolates the engine once its setup is done: it leaves
// the engine an empty, read-only file system, no capabilities (pasta keeps
// CAP_NET_BIND_SERVICE), no way to regain any, no core dumps, and a
// seccomp allow-list (package seccomp).
//
// Theory of operation. Go cannot unshare its mount, UTS, IPC or PID
// namespace once the runtime runs (the threads share one fs_struct and
// unshare moves only the calling thread), so the namespaces come with the
// process: package lifecycle starts the engine with clone flags for new
// mount, IPC and UTS namespaces (and a new PID namespace for a daemon), or
// the entry stub in package main unshares them before the runtime starts.
// What is left here acts on the whole process at once:
//
//  1. The file system: every mount is made unbindable (and so private: the
//     new mount namespace may have inherited shared mounts, and nothing we
//     mount may propagate back), an empty tmpfs is mounted read-only on
//     /tmp with room for no file, and pivot_root(".", ".") from there puts
//     it at / with the old root stacked on top, which umount2(MNT_DETACH)
//     then drops. The root and working directory are shared by all threads
//     (CLONE_FS), so they all lose the file system at once; descriptors
//     opened before keep working. With --chroot-fallback, a failed
//     pivot_root (an initramfs root cannot be pivoted) falls back to moving
//     the tmpfs onto / and chroot(), as upstream.
//  2. Capabilities, which Linux keeps per thread: the bounding set, the
//     ambient set and the inheritable set are cleared and the permitted
//     and effective sets reduced to what the mode keeps, on every thread
//     at once with syscall.AllThreadsSyscall (which works only without
//     cgo: the binary is built with CGO_ENABLED=0). Dropping the bounding
//     set needs CAP_SETPCAP; an engine without it (root switched to nobody
//     with a few ambient capabilities lacks it unless the launcher passed
//     it) leaves the bounding set alone, as upstream does.
//  3. PR_SET_DUMPABLE 0: no core dumps, and /proc/PID files owned by root.
//  4. seccomp with no_new_privs on every thread, verified by reading every
//     thread's status file, opened before the root went away.
//
// The engine reports readiness only after all of this, so a launcher that
// returned, or a command that started, means a sandboxed engine.
//
// Debugging: package seccomp's DebugEnv changes the filter's default
// action. With "trap" and a log file, the runtime's crash report (which
// includes the SIGSYS traceback) is copied to the log file too, since a
// daemon's stderr is /dev/null. ProbeEnv, honoured only when DebugEnv is
// set, makes the engine call getppid(2), which is on no list, once it has
// reported readiness (Probe, called by package lifecycle): the test of the
// filter's default action, at the point where a real denied call would
// happen. Without DebugEnv nothing reaches it.
package sandbox

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"passt/internal/errno"
	"passt/log"
	"passt/seccomp"
)

// ProbeEnv, set (to anything) together with seccomp.DebugEnv, makes the
// engine attempt one system call outside its list after loading the filter.
const ProbeEnv = "PASST_GO_SECCOMP_PROBE"

// Spec says how to isolate the engine.
type Spec struct {
	// Mode picks the seccomp allow-list.
	Mode seccomp.Mode
	// OwnMountNS: the engine runs in a mount namespace of its own, where
	// pivoting the root affects nobody else. Without one the file system
	// is left alone (with a warning).
	OwnMountNS bool
	// ChrootFallback: --chroot-fallback.
	ChrootFallback bool
	// KeepCaps are the capabilities kept in the effective and permitted
	// sets, as a bit mask (1 << CAP_...).
	KeepCaps uint64
	// Action is the filter's default action (seccomp.Kill normally).
	Action seccomp.Action
}

// Debug reads and removes the debug variables from the environment, so that
// a command pasta spawns does not inherit them: the filter's default action
// and whether to probe it.
func Debug() (action seccomp.Action, probe bool, err error) {
	v, set := os.LookupEnv(seccomp.DebugEnv)
	_, probe = os.LookupEnv(ProbeEnv)
	os.Unsetenv(seccomp.DebugEnv)
	os.Unsetenv(ProbeEnv)
	action, err = seccomp.ParseAction(v)
	return action, probe && set, err
}

// Enter isolates the engine as spec says. Any error is fatal: the engine
// must not run half-isolated.
func Enter(spec Spec) error {
	warmUp()

	taskDir, err := seccomp.OpenTaskDir()
	if err != nil {
		return err
	}
	defer taskDir.Close()

	if spec.OwnMountNS {
		if err := emptyRoot(spec.ChrootFallback); err != nil {
			return err
		}
	} else {
		log.Warnf("No mount namespace of our own: file system left accessible")
	}
	if err := dropCapabilities(spec.KeepCaps); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("Couldn't disable core dumps: %s", errno.Text(err))
	}

	if spec.Action == seccomp.Trap {
		// The SIGSYS report goes to stderr, which a daemon no longer
		// has: copy it to the log file, if there is one.
		if f := log.File(); f != nil {
			_ = debug.SetCrashOutput(f, debug.CrashOptions{})
		}
	}
	threads, err := seccomp.OpenThreads(int(taskDir.Fd()))
	if err != nil {
		return err
	}
	if err := seccomp.Load(spec.Mode, spec.Action); err != nil {
		threads.Close()
		return err
	}
	if err := threads.Verify(); err != nil {
		return err
	}
	if spec.Action != seccomp.Kill {
		log.Warnf("seccomp: debug mode, calls outside the %s list: %s", spec.Mode, spec.Action)
	}
	log.Debugf("Sandbox: empty root, capabilities dropped, seccomp %s list (%d calls) on all threads",
		spec.Mode, len(seccomp.List(spec.Mode)))
	return nil
}

// warmUp makes the runtime and the standard library do, while they still
// can, what they would otherwise do lazily later against a missing file
// system or a denied call: load the local time zone (log and syslog
// timestamps).
func warmUp() {
	_, _ = time.Now().Zone()
}

// tmpDir is where the empty tmpfs is mounted before it becomes the root;
// upstream uses the same.
const tmpDir = "/tmp"

// emptyRoot replaces the root with an empty read-only tmpfs.
func emptyRoot(chrootFallback bool) error {
	if err := unix.Mount("", "/", "", unix.MS_UNBINDABLE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("Failed to remount /: %s", errno.Text(err))
	}
	if err := unix.Mount("", tmpDir, "tmpfs", unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_NOSUID|unix.MS_RDONLY,
		"nr_inodes=2,nr_blocks=0"); err != nil {
		return fmt.Errorf("Failed to mount empty tmpfs for sandboxing: %s", errno.Text(err))
	}
	if err := unix.Chdir(tmpDir); err != nil {
		return fmt.Errorf("Failed to change directory into empty tmpfs: %s", errno.Text(err))
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		if !chrootFallback {
			return fmt.Errorf("Failed to pivot_root() into empty tmpfs: %s", errno.Text(err))
		}
		log.Infof("Failed to pivot_root(), fallback to chroot()...")
		return moveRoot()
	}
	if err := unix.Unmount(".", unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW); err != nil {
		return fmt.Errorf("Failed to unmount original root filesystem: %s", errno.Text(err))
	}
	return nil
}

// moveRoot is the --chroot-fallback: the tmpfs (our working directory) is
// moved onto / and becomes the root with chroot(). The old root stays
// mounted underneath, out of reach.
func moveRoot() error {
	if err := unix.Mount(tmpDir, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("Failed to move root into empty tmpfs: %s", errno.Text(err))
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("Failed to chroot() into empty tmpfs: %s", errno.Text(err))
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("Failed to change directory into new root: %s", errno.Text(err))
	}
	return nil
}

// dropCapabilities clears the bounding, ambient and inheritable sets and
// keeps only keep in the permitted and effective sets, on every thread.
func dropCapabilities(keep uint64) error {
	for c := 0; c <= 63; c++ {
		_, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0)
		switch {
		case e == 0:
		case e == unix.EINVAL:
			// Not a capability this kernel has.
		case e == unix.EPERM:
			// No CAP_SETPCAP: the bounding set stays, as upstream.
			c = 64
		case e == unix.ENOTSUP:
			return errors.New("Couldn't drop capabilities: built with cgo (AllThreadsSyscall unsupported)")
		default:
			return fmt.Errorf("Couldn't drop cap %d from bounding set: %s", c, errno.Text(e))
		}
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); e != 0 && e != unix.EINVAL {
		return fmt.Errorf("Couldn't clear ambient capabilities: %s", errno.Text(e))
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("Couldn't get current capabilities: %s", errno.Text(err))
	}
	for i := range data {
		mask := uint32(keep >> (32 * i))
		data[i].Effective &= mask
		data[i].Permitted &= mask
		data[i].Inheritable = 0
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("Couldn't drop capabilities: %s", errno.Text(e))
	}
	return nil
}

// Probe calls getppid(2), which no list allows: with the default action
// the process dies of SIGSYS, with trap the runtime reports SIGSYS and
// exits, with errno the call fails with EPERM and the engine carries on,
// with log it succeeds and the kernel logs it. Only for tests (ProbeEnv).
func Probe() {
	r, _, e := syscall.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	if e != 0 {
		log.Warnf("seccomp probe: getppid() failed: %s", errno.Text(e))
		return
	}
	log.Warnf("seccomp probe: getppid() returned %d", r)
}
