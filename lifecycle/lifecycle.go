// SPDX-License-Identifier: GPL-2.0-or-later

// Package lifecycle runs the processes of passt and pasta: the launcher that
// the caller starts, and the engine that does the networking.
//
// Theory of operation. Go cannot fork, and cannot change its own user or
// mount namespace once the runtime runs, so the engine is a re-execution:
//
//   - The launcher (P0) has parsed and validated the options, discovered the
//     host configuration, and opened what needs the caller's credentials and
//     file system view: log file, PID file, passt's listening socket, the
//     namespaces pasta attaches to. It re-executes /proc/self/exe with the
//     same argument vector (so ps and pgrep -f still show the command line
//     the caller used) and the namespaces and credentials the engine needs
//     (see plan). The engine receives the resolved configuration as JSON on
//     an inherited pipe and the open files as inherited descriptors; the
//     environment variable EngineEnv says which descriptor is which.
//   - The engine (P1) finishes its setup and, when ready, writes one byte to
//     the status pipe.
//   - Daemon mode (no -f): the engine runs in a new session with stdin and
//     stdout on /dev/null and stderr on a pipe that the launcher copies to
//     its own stderr. Once ready the engine points its stderr at /dev/null,
//     so it holds nothing of the caller's (podman and rootlesskit read the
//     launcher's output until EOF). The launcher copies until EOF, then
//     reads the status pipe: with the ready byte it writes the engine's PID
//     to the PID file and exits 0; without it (the engine failed and exited,
//     its error already printed) it exits 1.
//   - Foreground mode (-f, and pasta spawning a command): the engine shares
//     the launcher's standard streams. The launcher writes its own PID to
//     the PID file once the engine is ready, forwards termination signals,
//     and exits with the engine's status. passt with -f needs no other
//     namespace or credentials, so it runs the engine in the launcher's own
//     process instead.
//
// Joining an existing user namespace (pasta PID, --userns) is only possible
// before the runtime starts: the engine is started with argv[0] "@pjoinus"
// and the user namespace at descriptor 3, which the assembly entry point in
// package main joins; the engine then re-executes itself once more with the
// caller's argv[0], keeping its namespaces.
//
// The engine isolates itself (package sandbox) after its setup and before
// it reports readiness, so that a launcher that returned, or a command that
// started, means a sandboxed engine. The namespaces the sandbox needs come
// with the engine's process: the launcher starts it with new mount, IPC and
// UTS namespaces, and a new PID namespace for a daemon (isolationFlags); an
// engine that is not root in its user namespace gets the capabilities of
// the sandbox's steps as ambient ones (sandboxCaps), since execve would drop
// them otherwise.
//
// SIGTERM and SIGQUIT end the engine with status 0, and SIGPIPE is ignored
// (libvirt closes its end of our stderr early).
package lifecycle

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"passt/internal/errno"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"passt/conf"
	"passt/log"
	"passt/sandbox"
	"passt/seccomp"
)

// EngineEnv marks a re-executed engine; its value lists the inherited
// descriptors as "config=N,status=N[,log=N][,socket=N][,netns=N][,userns=N]".
const EngineEnv = "PASST_GO_ENGINE"

// argv0Env carries the caller's argv[0] across the user namespace join.
const argv0Env = "PASST_GO_ARGV0"

// JoinMarker is argv[0] for an engine that joins the user namespace at
// descriptor 3 before the runtime starts.
const JoinMarker = "@pjoinus"

// Backend is the networking side of the engine for one mode.
type Backend interface {
	// Setup finishes everything that must be in place before readiness
	// is reported; its error is fatal and reaches the caller.
	Setup() error
	// Run serves until the engine should exit, and returns the status.
	Run() int
}

// Files are what the launcher opened for the engine.
type Files struct {
	Log    *os.File // may be nil
	Socket *os.File // passt's listening socket, may be nil
	// SocketPath is where Socket is bound.
	SocketPath string
	// Netns is the network namespace pasta attaches to; nil when pasta
	// spawns a command (the engine creates the namespace).
	Netns *os.File
	// Userns is the user namespace the engine joins, or nil.
	Userns *os.File
	// Pcap is the capture file (--pcap), or nil.
	Pcap *os.File
	// Conn is the connected guest socket given with --fd, or nil.
	Conn *os.File
}

// NewBackend builds the backend for a configuration and its files; set by
// the main package, which knows the modes.
type NewBackend func(c *conf.Config, f Files) (Backend, error)

// HandleSignals installs the signal dispositions of the engine: SIGPIPE
// ignored, SIGTERM and SIGQUIT a clean exit with status 0.
func HandleSignals() {
	signal.Ignore(syscall.SIGPIPE)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGQUIT)
	go func() {
		<-ch
		log.Exit(0)
	}()
}

// PIDFile opens (creating or truncating, mode 0600) the PID file.
func PIDFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("Couldn't open PID file %s: %s", path, errno.Text(err))
	}
	return f, nil
}

func writePID(f *os.File, pid int) error {
	if f == nil {
		return nil
	}
	defer f.Close()
	if _, err := f.WriteString(strconv.Itoa(pid) + "\n"); err != nil {
		return fmt.Errorf("Failed to write PID file: %s", errno.Text(err))
	}
	return nil
}

// Launch runs the launcher with an already validated configuration and the
// files it opened, and never returns. pid is the open PID file, or nil.
func Launch(c *conf.Config, files Files, pid *os.File, newBackend NewBackend) {
	if c.Foreground && c.Mode != conf.ModePasta {
		inProcess(c, files, pid, newBackend)
	}
	p, err := plan(c, files)
	if err != nil {
		log.Die("%s", err)
	}
	if c.Foreground {
		foreground(p, pid)
	}
	daemon(p, pid)
}

// inProcess runs the engine in this process: passt in the foreground. To
// put it in a user namespace of its own, as upstream does (some launchers
// check), the process executes itself in place with NewUserMarker, which
// the entry stub turns into unshare(CLONE_NEWUSER) (with new mount, UTS and
// IPC namespaces for the sandbox) before the runtime starts; the PID and the
// open files stay. Where there is no stub, it stays in the caller's user and
// mount namespaces, and the sandbox leaves the file system alone. No PID
// namespace: a process cannot move into one, and the Go runtime cannot
// create threads once it has unshared one for its children.
func inProcess(c *conf.Config, files Files, pid *os.File, newBackend NewBackend) {
	HandleSignals()
	if err := switchCredentials(c); err != nil {
		log.Die("%s", err)
	}
	if c.Mode == conf.ModePasst && HaveEntryStub {
		if err := canCreateUserNS(); err != nil {
			log.Die("Couldn't create user namespace: %s", errno.Text(err))
		}
		execInPlace(c, files, pid)
	}
	action, probe, err := sandbox.Debug()
	if err != nil {
		log.Die("%s", err)
	}
	b, err := newBackend(c, files)
	if err != nil {
		log.Die("%s", err)
	}
	if err := b.Setup(); err != nil {
		log.Die("%s", err)
	}
	// Not re-executed: still in the caller's mount namespace.
	if err := sandbox.Enter(sandboxSpec(c, false, action)); err != nil {
		log.Die("%s", err)
	}
	if err := writePID(pid, os.Getpid()); err != nil {
		log.Die("%s", err)
	}
	if probe {
		sandbox.Probe()
	}
	log.Exit(b.Run())
}

// sandboxSpec is how the engine isolates itself for c; ownMountNS tells
// whether it has a mount namespace of its own.
func sandboxSpec(c *conf.Config, ownMountNS bool, action seccomp.Action) sandbox.Spec {
	spec := sandbox.Spec{
		Mode:           seccomp.Passt,
		OwnMountNS:     ownMountNS,
		ChrootFallback: c.ChrootFallback,
		Action:         action,
	}
	if c.Mode == conf.ModePasta {
		// As upstream: binding low ports in the namespace (-T, splice,
		// auto forwarding) once running. CAP_SYS_ADMIN, which upstream
		// keeps to enter the namespace at run time, is not needed: the
		// namespace thread stays there.
		spec.Mode = seccomp.Pasta
		spec.KeepCaps = 1 << unix.CAP_NET_BIND_SERVICE
	}
	return spec
}

// HaveEntryStub is set by package main when the binary has its assembly
// entry point.
var HaveEntryStub bool

// NewUserMarker is argv[0] for a process that the entry stub moves into a
// new user namespace.
const NewUserMarker = "@pnewusr"

// canCreateUserNS checks, with a throw-away child, that a new user
// namespace can be created, so that failing to would be reported rather
// than end the re-executed process silently.
func canCreateUserNS() error {
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = []string{probeEnv + "=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER}
	if err := cmd.Start(); err != nil {
		if pe, ok := err.(*os.PathError); ok {
			return pe.Err
		}
		return err
	}
	_ = cmd.Wait()
	return nil
}

// probeEnv marks the throw-away child of canCreateUserNS, which exits at
// once (see IsEngine).
const probeEnv = "PASST_GO_PROBE"

// execInPlace executes the engine in this process with the state and
// files it needs; it returns only on failure.
func execInPlace(c *conf.Config, files Files, pid *os.File) {
	state := engineState{Config: c, SocketPath: files.SocketPath, StartTime: log.StartTime(), OwnMountNS: true}
	js, err := json.Marshal(&state)
	if err != nil {
		log.Die("%s", err)
	}
	mfd, err := unix.MemfdCreate("passt-config", 0)
	if err != nil {
		log.Die("memfd_create(): %s", errno.Text(err))
	}
	if _, err := unix.Write(mfd, js); err != nil {
		log.Die("Couldn't write configuration: %s", errno.Text(err))
	}
	_, _ = unix.Seek(mfd, 0, 0)
	desc := []string{fmt.Sprintf("config=%d", mfd)}
	keep := func(name string, f *os.File) {
		if f == nil {
			return
		}
		// Keep the descriptor across execve: clear close-on-exec.
		fd := int(f.Fd())
		_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0)
		desc = append(desc, fmt.Sprintf("%s=%d", name, fd))
	}
	keep("log", files.Log)
	keep("socket", files.Socket)
	keep("pcap", files.Pcap)
	keep("conn", files.Conn)
	keep("pid", pid)
	args := append([]string{NewUserMarker}, c.Args[1:]...)
	env := append(os.Environ(), EngineEnv+"="+strings.Join(desc, ","), argv0Env+"="+c.Args[0])
	err = unix.Exec("/proc/self/exe", args, env)
	log.Die("Couldn't execute engine: %s", errno.Text(err))
}

// switchCredentials changes to the configured user and group, if they
// differ from the current ones, dropping supplementary groups.
func switchCredentials(c *conf.Config) error {
	if c.UID == os.Geteuid() && c.GID == os.Getegid() {
		return nil
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("Can't drop supplementary groups: %s", errno.Text(err))
	}
	if err := syscall.Setresgid(c.GID, c.GID, c.GID); err != nil {
		return fmt.Errorf("Can't set GID to %d: %s", c.GID, errno.Text(err))
	}
	if err := syscall.Setresuid(c.UID, c.UID, c.UID); err != nil {
		return fmt.Errorf("Can't set UID to %d: %s", c.UID, errno.Text(err))
	}
	return nil
}

// enginePlan is an engine process ready to start.
type enginePlan struct {
	cmd             *exec.Cmd
	state           engineState
	cfgW            *os.File // configuration pipe, our end
	statusR         *os.File // status pipe, our end
	errR            *os.File // engine's stderr pipe, our end (daemon mode)
	userns          string   // user namespace the engine joins, if any
	closeAfterStart []*os.File
}

// sandboxCaps are the capabilities the sandbox needs (package sandbox) and
// then drops: CAP_SYS_ADMIN to replace the root, CAP_SETPCAP to clear the
// bounding set, CAP_SYS_CHROOT for --chroot-fallback. An engine that is not
// root in its user namespace (passt's is unmapped; root switched to nobody)
// loses every capability when it is executed, so it gets these as ambient
// capabilities, which survive execve.
var sandboxCaps = []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_SETPCAP, unix.CAP_SYS_CHROOT}

// namespaceCaps are the capabilities an engine switched from root to nobody
// keeps to attach to a namespace owned by the initial user namespace, as
// upstream keeps them (setns needs CAP_SYS_ADMIN, configuring the tap
// CAP_NET_ADMIN), plus the sandbox's. The sandbox drops them all but
// CAP_NET_BIND_SERVICE.
var namespaceCaps = append([]uintptr{unix.CAP_NET_ADMIN, unix.CAP_NET_BIND_SERVICE}, sandboxCaps...)

// raiseAmbient makes caps ambient on the calling thread, so that they
// survive its next execve: they must be permitted, and are added to the
// inheritable set first.
func raiseAmbient(caps []uintptr) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	for _, c := range caps {
		data[c/32].Inheritable |= 1 << (c % 32)
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return err
	}
	for _, c := range caps {
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, c, 0, 0); err != nil {
			return err
		}
	}
	return nil
}

// isolationFlags are the namespaces every engine gets for its sandbox: a
// mount namespace where it replaces its root with an empty one, and IPC
// and UTS namespaces of its own. A daemon also gets a PID namespace (it is
// PID 1 there), as upstream's; an engine in the foreground does not, as
// upstream's pasta does not (a command it spawns must not die with it).
func isolationFlags(c *conf.Config) uintptr {
	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS)
	if !c.Foreground {
		flags |= unix.CLONE_NEWPID
	}
	return flags
}

// plan builds the engine process for the mode:
//
//   - passt: a new, unmapped user namespace and a new session (daemon);
//     credentials switched first if needed.
//   - pasta spawning a command: new user (mapping 0 to our ids, setgroups
//     denied), mount, IPC and UTS namespaces; root has switched to nobody
//     in this process first, so the user namespace belongs to nobody.
//   - pasta attaching: the user namespace stays, or is joined through the
//     entry stub (which also unshares mount, UTS and IPC namespaces); root
//     switching to nobody keeps the namespace capabilities as ambient ones.
//
// Every engine also gets the namespaces of its sandbox (isolationFlags),
// except a PID namespace where the user namespace is joined: only the
// entry stub could create it, and the runtime could then start no thread.
func plan(c *conf.Config, files Files) (*enginePlan, error) {
	p := &enginePlan{}
	var extra []*os.File
	var desc []string
	add := func(name string, f *os.File) {
		extra = append(extra, f)
		desc = append(desc, fmt.Sprintf("%s=%d", name, 2+len(extra)))
	}
	if files.Userns != nil {
		add("userns", files.Userns) // fd 3, for the entry stub
	}
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("Couldn't create pipe: %s", errno.Text(err))
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("Couldn't create pipe: %s", errno.Text(err))
	}
	add("config", cfgR)
	add("status", statusW)
	p.cfgW, p.statusR = cfgW, statusR
	p.closeAfterStart = append(p.closeAfterStart, cfgR, statusW)
	if files.Log != nil {
		add("log", files.Log)
	}
	if files.Socket != nil {
		add("socket", files.Socket)
	}
	if files.Netns != nil {
		add("netns", files.Netns)
	}
	if files.Pcap != nil {
		add("pcap", files.Pcap)
	}
	if files.Conn != nil {
		add("conn", files.Conn)
	}

	env := append(os.Environ(), EngineEnv+"="+strings.Join(desc, ","))
	args := append([]string(nil), c.Args...)
	if files.Userns != nil {
		env = append(env, argv0Env+"="+args[0])
		args[0] = JoinMarker
		p.userns = c.Userns
	}
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        args,
		Env:         env,
		ExtraFiles:  extra,
		SysProcAttr: &syscall.SysProcAttr{},
	}
	sys := cmd.SysProcAttr

	if c.Foreground {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		sys.Pdeathsig = syscall.SIGTERM
	} else {
		devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("Couldn't open %s: %s", os.DevNull, errno.Text(err))
		}
		errR, errW, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("Couldn't create pipe: %s", errno.Text(err))
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, errW
		p.errR = errR
		p.closeAfterStart = append(p.closeAfterStart, devnull, errW)
		sys.Setsid = true
	}

	switching := c.UID != os.Geteuid() || c.GID != os.Getegid()
	switch {
	case c.Mode == conf.ModePasta && c.Spawn():
		if switching {
			// The user namespace must belong to the target user:
			// switch here, then make ourselves dumpable again so
			// that we may write the child's ID maps.
			if err := switchCredentials(c); err != nil {
				return nil, err
			}
			if err := unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0); err != nil {
				return nil, fmt.Errorf("Couldn't set dumpable: %s", errno.Text(err))
			}
		}
		sys.Cloneflags = unix.CLONE_NEWUSER | isolationFlags(c)
		sys.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: c.UID, Size: 1}}
		sys.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: c.GID, Size: 1}}
		sys.GidMappingsEnableSetgroups = false
	case c.Mode == conf.ModePasta && files.Userns != nil:
		// The entry stub joins the user namespace and unshares the
		// sandbox's namespaces in it.
	case c.Mode == conf.ModePasta:
		sys.Cloneflags = isolationFlags(c)
		if switching {
			sys.Credential = &syscall.Credential{Uid: uint32(c.UID), Gid: uint32(c.GID), Groups: []uint32{}}
			sys.AmbientCaps = namespaceCaps
		}
	default:
		// passt runs in a new user namespace of its own, unmapped: it
		// needs no identity there. Credentials change first, here.
		if err := switchCredentials(c); err != nil {
			return nil, err
		}
		sys.Cloneflags = unix.CLONE_NEWUSER | isolationFlags(c)
		sys.AmbientCaps = sandboxCaps
	}
	p.cmd = cmd
	p.state = engineState{Config: c, SocketPath: files.SocketPath, StartTime: log.StartTime(), OwnMountNS: true}
	return p, nil
}

// start starts the engine and sends it the configuration.
func (p *enginePlan) start() {
	if err := p.cmd.Start(); err != nil {
		log.Die("Couldn't start engine process: %s", errno.Text(err))
	}
	for _, f := range p.closeAfterStart {
		f.Close()
	}
	go func() {
		_ = json.NewEncoder(p.cfgW).Encode(&p.state)
		p.cfgW.Close()
	}()
}

// ready waits for the engine's ready byte.
func (p *enginePlan) ready() bool {
	var b [1]byte
	n, _ := p.statusR.Read(b[:])
	return n == 1 && b[0] == readyByte
}

// joinFailure explains the exit status of an engine whose entry stub could
// not join the user namespace (see entry_amd64.s), or returns "".
func (p *enginePlan) joinFailure(status int) string {
	if p.userns == "" {
		return ""
	}
	switch {
	case status == 255:
		return fmt.Sprintf("Couldn't create namespaces in user namespace %s", p.userns)
	case status > 64 && status < 255:
		return fmt.Sprintf("Couldn't enter user namespace %s: %s", p.userns, errno.Text(syscall.Errno(status-64)))
	}
	return ""
}

// failed reports an engine that exited before it was ready, and exits.
func (p *enginePlan) failed() {
	err := p.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		if msg := p.joinFailure(ee.ExitCode()); msg != "" {
			log.Errorf("%s", msg)
		}
	}
	log.Exit(1)
}

// daemon starts the engine as a detached process and waits for it to be
// ready.
func daemon(p *enginePlan, pid *os.File) {
	HandleSignals()
	p.start()
	_, _ = io.Copy(os.Stderr, p.errR)
	if p.ready() {
		if err := writePID(pid, p.cmd.Process.Pid); err != nil {
			log.Errorf("%s", err)
			_ = p.cmd.Process.Kill()
			log.Exit(1)
		}
		log.Exit(0)
	}
	p.failed()
}

// foreground starts the engine, writes our PID once it is ready, and exits
// as the engine does.
func foreground(p *enginePlan, pid *os.File) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGINT, syscall.SIGHUP)
	p.start()
	go func() {
		for s := range sigs {
			_ = p.cmd.Process.Signal(s)
		}
	}()
	if !p.ready() {
		p.failed()
	}
	if err := writePID(pid, os.Getpid()); err != nil {
		log.Errorf("%s", err)
	}
	err := p.cmd.Wait()
	if err == nil {
		log.Exit(0)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			// Die the same way, so that a shell sees the signal.
			log.Close()
			dieBySignal(ws.Signal())
			log.Exit(128 + int(ws.Signal()))
		}
		log.Exit(ee.ExitCode())
	}
	log.Exit(1)
}

const readyByte = 'R'

// dieBySignal ends the process by sig, the way the engine ended. The
// default action is restored in the kernel directly: os/signal cannot
// reset the signals the runtime treats as crashes (an engine killed by
// its seccomp filter dies of SIGSYS, which the runtime would turn into a
// traceback and exit status 2). Like the engine, the launcher dumps no
// core.
func dieBySignal(sig syscall.Signal) {
	signal.Reset(sig)
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	var dfl [4]uint64 // struct sigaction: SIG_DFL, no flags, no restorer, empty mask
	_, _, _ = unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl[0])), 0, 8, 0, 0)
	_ = unix.Kill(os.Getpid(), sig)
}

// engineState is what the launcher sends the engine.
type engineState struct {
	Config     *conf.Config
	SocketPath string
	StartTime  int64
	// OwnMountNS: the engine runs in a mount namespace of its own, where
	// the sandbox may replace the root.
	OwnMountNS bool
}

// IsEngine reports whether this process is a re-executed engine. The
// throw-away child of canCreateUserNS exits here.
func IsEngine() bool {
	if os.Getenv(probeEnv) != "" {
		os.Exit(0)
	}
	_, ok := os.LookupEnv(EngineEnv)
	return ok
}

// finishJoin completes the user namespace join of an engine started with
// JoinMarker: check that the entry stub did join, then execute ourselves
// again under the caller's argv[0], keeping namespaces and descriptors.
func finishJoin(fds map[string]int) {
	if len(os.Args) == 0 || (os.Args[0] != JoinMarker && os.Args[0] != NewUserMarker) {
		return
	}
	if os.Args[0] == NewUserMarker {
		// The stub created the namespaces; only argv[0] is left to
		// restore. We are nobody in the new user namespace (it has no
		// mapping), so executing drops every capability: keep the
		// sandbox's.
		if err := raiseAmbient(sandboxCaps); err != nil {
			fmt.Fprintf(os.Stderr, "Couldn't keep capabilities for the sandbox: %s\n", errno.Text(err))
			os.Exit(1)
		}
		reexec()
	}
	var self, target unix.Stat_t
	if err := unix.Stat("/proc/self/ns/user", &self); err != nil {
		fmt.Fprintf(os.Stderr, "Couldn't inspect own user namespace: %s\n", errno.Text(err))
		os.Exit(1)
	}
	if err := unix.Fstat(fds["userns"], &target); err != nil || self.Ino != target.Ino || self.Dev != target.Dev {
		fmt.Fprintln(os.Stderr, "Couldn't enter user namespace: this binary was built without its entry point (-ldflags=-E=main.pastaEntry) or for an architecture that lacks it")
		os.Exit(1)
	}
	reexec()
}

// setComm names the process after argv[0], as if started from the file it
// was invoked as rather than from /proc/self/exe ("exe"): ps, pgrep and
// killall look for "passt" and "pasta". The main goroutine runs on the
// main thread (package main locks it), whose name is the process's.
func setComm() {
	name := filepath.Base(os.Args[0])
	if len(name) > 15 {
		name = name[:15]
	}
	b := append([]byte(name), 0)
	_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0)
}

// reexec executes ourselves again under the caller's argv[0], keeping
// namespaces and descriptors.
func reexec() {
	args := append([]string{os.Getenv(argv0Env)}, os.Args[1:]...)
	os.Unsetenv(argv0Env)
	err := unix.Exec("/proc/self/exe", args, os.Environ())
	fmt.Fprintf(os.Stderr, "Couldn't execute engine: %s\n", errno.Text(err))
	os.Exit(1)
}

// RunEngine is the re-executed engine's main; it never returns.
func RunEngine(newBackend NewBackend) {
	fds := map[string]int{}
	for _, kv := range strings.Split(os.Getenv(EngineEnv), ",") {
		k, v, _ := strings.Cut(kv, "=")
		if n, err := strconv.Atoi(v); err == nil {
			fds[k] = n
		}
	}
	finishJoin(fds)
	os.Unsetenv(EngineEnv)
	setComm()

	var state engineState
	cfgFile := os.NewFile(uintptr(fds["config"]), "config")
	if err := json.NewDecoder(cfgFile).Decode(&state); err != nil {
		fmt.Fprintf(os.Stderr, "Couldn't read configuration from launcher: %v\n", err)
		os.Exit(1)
	}
	cfgFile.Close()
	c := state.Config
	var status, pidFile *os.File
	if n, ok := fds["status"]; ok {
		status = os.NewFile(uintptr(n), "status")
	}
	if n, ok := fds["pid"]; ok {
		pidFile = os.NewFile(uintptr(n), c.PIDFile)
	}

	log.SetStartTime(state.StartTime)
	setupLogging(c)
	files := Files{}
	if n, ok := fds["log"]; ok {
		files.Log = os.NewFile(uintptr(n), c.LogFile)
		if err := log.UseFD(files.Log, c.LogSize); err != nil {
			log.Die("Couldn't use log file: %s", err)
		}
	}
	if n, ok := fds["socket"]; ok {
		files.Socket = os.NewFile(uintptr(n), state.SocketPath)
		files.SocketPath = state.SocketPath
	}
	if n, ok := fds["netns"]; ok {
		files.Netns = os.NewFile(uintptr(n), c.Netns)
	}
	if n, ok := fds["userns"]; ok {
		files.Userns = os.NewFile(uintptr(n), c.Userns)
	}
	if n, ok := fds["pcap"]; ok {
		files.Pcap = os.NewFile(uintptr(n), c.Pcap)
	}
	if n, ok := fds["conn"]; ok {
		files.Conn = os.NewFile(uintptr(n), "guest")
	}
	log.ConfigDone()
	HandleSignals()
	// Before anything spawns a command, which must not inherit them.
	action, probe, err := sandbox.Debug()
	if err != nil {
		log.Die("%s", err)
	}

	b, err := newBackend(c, files)
	if err != nil {
		log.Die("%s", err)
	}
	if err := b.Setup(); err != nil {
		log.Die("%s", err)
	}
	if err := sandbox.Enter(sandboxSpec(c, state.OwnMountNS, action)); err != nil {
		log.Die("%s", err)
	}

	// Ready: tell the launcher (or, run in place, write our PID); a
	// daemon lets go of its stderr.
	if status != nil {
		if _, err := status.Write([]byte{readyByte}); err != nil {
			log.Die("Couldn't report readiness: %s", errno.Text(err))
		}
		status.Close()
	}
	if err := writePID(pidFile, os.Getpid()); err != nil {
		log.Die("%s", err)
	}
	if !c.Foreground {
		// The launcher gave a daemon /dev/null as stdout (see plan):
		// the sandbox has no /dev to open it from.
		log.SetStderr(false)
		_ = unix.Dup3(1, 2, 0)
	}
	if probe {
		sandbox.Probe()
	}
	log.Exit(b.Run())
}

// SetupLogging applies the configuration's log level (the log file is
// opened separately, by whoever has the credentials to).
func SetupLogging(c *conf.Config) { setupLogging(c) }

func setupLogging(c *conf.Config) {
	log.Init(c.Mode.Name())
	switch {
	case c.Debug:
		log.SetLevel(log.Debug)
	case c.Quiet:
		log.SetLevel(log.Warning)
	default:
		log.SetLevel(log.Info)
	}
	log.SetTrace(c.Trace)
	log.SetStderr(true)
}
