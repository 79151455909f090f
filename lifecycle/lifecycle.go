// SPDX-License-Identifier: GPL-2.0-or-later

// Package lifecycle runs the processes of passt and pasta: the launcher that
// the caller starts, and the engine that does the networking.
//
// Theory of operation. Go cannot fork, so daemonizing is a re-execution:
//
//   - The launcher (P0) has parsed and validated the options, discovered the
//     host configuration, and opened what needs the caller's credentials and
//     file system view: log file, PID file, passt's listening socket. It
//     re-executes /proc/self/exe with the same argument vector (so ps and
//     pgrep -f still show the command line the caller used), in a new
//     session, with the credentials it should run with (root switches to
//     nobody), stdin and stdout on /dev/null and stderr on a pipe. The
//     engine receives the resolved configuration as JSON on an inherited
//     pipe and the open files as inherited descriptors; the environment
//     variable EngineEnv says which descriptor is which.
//   - The engine (P1) finishes its setup, writing any message to its stderr
//     pipe, which the launcher copies to its own stderr. When it is ready
//     it writes one byte to the status pipe and points its stderr at
//     /dev/null, so it no longer holds anything of the caller's: podman and
//     rootlesskit read the launcher's output until EOF.
//   - The launcher copies the engine's stderr until EOF, then reads the
//     status pipe: with the ready byte it writes the engine's PID to the
//     PID file and exits 0; without it (the engine failed and exited) it
//     exits 1, the engine's error already printed.
//
// With -f there is no re-execution: the engine runs in the launcher's
// process, which writes its own PID to the PID file once ready.
//
// In both cases SIGTERM and SIGQUIT end the engine with status 0, and
// SIGPIPE is ignored (libvirt closes its end of our stderr early).
package lifecycle

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"passt/conf"
	"passt/log"
)

// EngineEnv marks a re-executed engine; its value lists the inherited
// descriptors as "config=N,status=N[,log=N][,socket=N]".
const EngineEnv = "PASST_GO_ENGINE"

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
}

// NewBackend builds the backend for a configuration and its files; set by
// the main package, which knows the modes.
type NewBackend func(c *conf.Config, f Files) (Backend, error)

// HandleSignals installs the signal dispositions of both processes:
// SIGPIPE ignored, SIGTERM and SIGQUIT a clean exit with status 0.
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
		return nil, fmt.Errorf("Couldn't open PID file %s: %s", path, strerror(err))
	}
	return f, nil
}

func writePID(f *os.File, pid int) error {
	if f == nil {
		return nil
	}
	defer f.Close()
	if _, err := f.WriteString(strconv.Itoa(pid) + "\n"); err != nil {
		return fmt.Errorf("Failed to write PID file: %s", strerror(err))
	}
	return nil
}

// Launch runs the launcher with an already validated configuration and the
// files it opened, and never returns. pid is the open PID file, or nil.
func Launch(c *conf.Config, files Files, pid *os.File, newBackend NewBackend) {
	if c.Foreground {
		foreground(c, files, pid, newBackend)
	}
	daemon(c, files, pid)
}

// foreground runs the engine in this process.
func foreground(c *conf.Config, files Files, pid *os.File, newBackend NewBackend) {
	if err := switchCredentials(c); err != nil {
		log.Die("%s", err)
	}
	b, err := newBackend(c, files)
	if err != nil {
		log.Die("%s", err)
	}
	if err := b.Setup(); err != nil {
		log.Die("%s", err)
	}
	if err := writePID(pid, os.Getpid()); err != nil {
		log.Die("%s", err)
	}
	log.Exit(b.Run())
}

// switchCredentials changes to the configured user and group, if they
// differ from the current ones, dropping supplementary groups.
func switchCredentials(c *conf.Config) error {
	if c.UID == os.Geteuid() && c.GID == os.Getegid() {
		return nil
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("Can't drop supplementary groups: %s", strerror(err))
	}
	if err := syscall.Setresgid(c.GID, c.GID, c.GID); err != nil {
		return fmt.Errorf("Can't set GID to %d: %s", c.GID, strerror(err))
	}
	if err := syscall.Setresuid(c.UID, c.UID, c.UID); err != nil {
		return fmt.Errorf("Can't set UID to %d: %s", c.UID, strerror(err))
	}
	return nil
}

// daemon starts the engine as a detached process and waits for it to be
// ready.
func daemon(c *conf.Config, files Files, pid *os.File) {
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		log.Die("Couldn't create pipe: %s", strerror(err))
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		log.Die("Couldn't create pipe: %s", strerror(err))
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		log.Die("Couldn't create pipe: %s", strerror(err))
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		log.Die("Couldn't open %s: %s", os.DevNull, strerror(err))
	}

	extra := []*os.File{cfgR, statusW}
	desc := []string{"config=3", "status=4"}
	if files.Log != nil {
		extra = append(extra, files.Log)
		desc = append(desc, fmt.Sprintf("log=%d", 2+len(extra)))
	}
	if files.Socket != nil {
		extra = append(extra, files.Socket)
		desc = append(desc, fmt.Sprintf("socket=%d", 2+len(extra)))
	}

	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       c.Args,
		Env:        append(os.Environ(), EngineEnv+"="+strings.Join(desc, ",")),
		Stdin:      devnull,
		Stdout:     devnull,
		Stderr:     errW,
		ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{
			Setsid: true,
		},
	}
	if c.UID != os.Geteuid() || c.GID != os.Getegid() {
		cmd.SysProcAttr.Credential = &syscall.Credential{
			Uid: uint32(c.UID), Gid: uint32(c.GID), Groups: []uint32{},
		}
	}
	if err := cmd.Start(); err != nil {
		log.Die("Couldn't start engine process: %s", strerror(err))
	}
	cfgR.Close()
	statusW.Close()
	errW.Close()
	devnull.Close()

	state := engineState{Config: c, SocketPath: files.SocketPath, StartTime: log.StartTime()}
	go func() {
		// The engine reads all of it before setting up: no deadlock.
		_ = json.NewEncoder(cfgW).Encode(&state)
		cfgW.Close()
	}()

	_, _ = io.Copy(os.Stderr, errR)
	var b [1]byte
	n, _ := statusR.Read(b[:])
	if n == 1 && b[0] == readyByte {
		if err := writePID(pid, cmd.Process.Pid); err != nil {
			log.Errorf("%s", err)
			_ = cmd.Process.Kill()
			log.Exit(1)
		}
		log.Exit(0)
	}
	_ = cmd.Wait()
	log.Exit(1)
}

const readyByte = 'R'

// engineState is what the launcher sends the engine.
type engineState struct {
	Config     *conf.Config
	SocketPath string
	StartTime  int64
}

// IsEngine reports whether this process is a re-executed engine.
func IsEngine() bool {
	_, ok := os.LookupEnv(EngineEnv)
	return ok
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
	os.Unsetenv(EngineEnv)

	var state engineState
	cfgFile := os.NewFile(uintptr(fds["config"]), "config")
	if err := json.NewDecoder(cfgFile).Decode(&state); err != nil {
		fmt.Fprintf(os.Stderr, "Couldn't read configuration from launcher: %v\n", err)
		os.Exit(1)
	}
	cfgFile.Close()
	c := state.Config
	status := os.NewFile(uintptr(fds["status"]), "status")

	log.SetStartTime(state.StartTime)
	setupLogging(c)
	var files Files
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
	log.ConfigDone()
	HandleSignals()

	b, err := newBackend(c, files)
	if err != nil {
		log.Die("%s", err)
	}
	if err := b.Setup(); err != nil {
		log.Die("%s", err)
	}

	// Ready: tell the launcher, then let go of its stderr.
	if _, err := status.Write([]byte{readyByte}); err != nil {
		log.Die("Couldn't report readiness: %s", strerror(err))
	}
	status.Close()
	log.SetStderr(false)
	if devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0); err == nil {
		_ = unix.Dup3(int(devnull.Fd()), 2, 0)
		devnull.Close()
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

func strerror(err error) string {
	var en syscall.Errno
	if pe, ok := err.(*os.PathError); ok {
		err = pe.Err
	}
	if e, ok := err.(*os.SyscallError); ok {
		err = e.Err
	}
	if e, ok := err.(syscall.Errno); ok {
		en = e
		s := en.Error()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return err.Error()
}
