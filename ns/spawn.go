// SPDX-License-Identifier: GPL-2.0-or-later

package ns

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"passt/internal/errno"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// SpawnEnv marks the re-executed command stub; its value is the JSON of a
// SpawnSpec. The stub removes it before executing the command.
const SpawnEnv = "PASST_GO_SPAWN"

// SpawnSpec is what the stub needs to know.
type SpawnSpec struct {
	// Command and arguments; empty: $SHELL (or /bin/sh) as a login shell.
	Command []string
	// Hostname for the new UTS namespace.
	Hostname string
}

// Spawned is a command stub started by StartCommand.
type Spawned struct {
	cmd     *exec.Cmd
	release *os.File
}

// StartCommand starts the stub in new network, UTS, mount, PID and IPC
// namespaces, blocked until Release. The stub inherits the caller's
// standard streams.
func StartCommand(spec SpawnSpec) (*Spawned, error) {
	js, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{os.Args[0]},
		Env:        append(os.Environ(), SpawnEnv+"="+string(js)),
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		ExtraFiles: []*os.File{r},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: unix.CLONE_NEWNET | unix.CLONE_NEWUTS | unix.CLONE_NEWNS |
				unix.CLONE_NEWPID | unix.CLONE_NEWIPC,
			Pdeathsig: syscall.SIGKILL,
		},
	}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	r.Close()
	return &Spawned{cmd: cmd, release: w}, nil
}

// Pid is the stub's process ID.
func (s *Spawned) Pid() int { return s.cmd.Process.Pid }

// NetnsPath is the path of the stub's network namespace.
func (s *Spawned) NetnsPath() string { return fmt.Sprintf("/proc/%d/ns/net", s.Pid()) }

// Release lets the stub execute the command.
func (s *Spawned) Release() error {
	_, err := s.release.Write([]byte{1})
	s.release.Close()
	return err
}

// Kill ends the stub (setup failed before Release).
func (s *Spawned) Kill() {
	s.release.Close()
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// Wait waits for the command and returns the exit status pasta exits with:
// the command's, or 128 plus the signal that killed it.
func (s *Spawned) Wait() int {
	err := s.cmd.Wait()
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return 1
}

// IsStub reports whether this process is the command stub.
func IsStub() bool {
	_, ok := os.LookupEnv(SpawnEnv)
	return ok
}

// RunStub is the stub's main: it prepares the namespaces, waits to be
// released and executes the command. It returns only on failure, with the
// message to print.
func RunStub() error {
	var spec SpawnSpec
	if err := json.Unmarshal([]byte(os.Getenv(SpawnEnv)), &spec); err != nil {
		return fmt.Errorf("bad spawn specification: %w", err)
	}
	os.Unsetenv(SpawnEnv)

	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		fmt.Fprintf(os.Stderr, "Couldn't mount /proc in namespace: %s\n", errno.Text(err))
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ping_group_range", []byte("0 0"), 0); err != nil {
		fmt.Fprintf(os.Stderr, "Couldn't set ping_group_range, ICMP echo requests won't work\n")
	}
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			fmt.Fprintf(os.Stderr, "Unable to set pasta hostname: %s\n", errno.Text(err))
		}
	}

	// Wait for the engine: a byte means go, EOF means it died.
	release := os.NewFile(3, "release")
	var b [1]byte
	if n, _ := release.Read(b[:]); n != 1 {
		os.Exit(1)
	}
	release.Close()

	argv := spec.Command
	var path string
	if len(argv) == 0 {
		shell := os.Getenv("SHELL")
		if shell == "" {
			shell = "/bin/sh"
		}
		path, argv = shell, []string{"-" + shell}
	} else {
		p, err := exec.LookPath(argv[0])
		if err != nil {
			var ee *exec.Error
			if errors.As(err, &ee) {
				err = ee.Err
			}
			return fmt.Errorf("Failed to start command or shell: %s", errno.Text(err))
		}
		path = p
		if !filepath.IsAbs(path) {
			path, _ = filepath.Abs(path)
		}
	}
	// The parent-death signal protected us only until now.
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0)
	err := unix.Exec(path, argv, os.Environ())
	return fmt.Errorf("Failed to start command or shell: %s", errno.Text(err))
}
