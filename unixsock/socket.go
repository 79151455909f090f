// SPDX-License-Identifier: GPL-2.0-or-later

// Package unixsock is passt mode's listening side: the UNIX domain socket
// QEMU connects to (-s, or the first free /tmp/passt_N.socket).
//
// Theory of operation. The socket is bound and put in the listening state in
// one step, by the launcher, before it reports readiness: launchers such as
// libvirt and vhost-user VMMs connect as soon as the file exists or the
// launcher has exited, so there must be no window in which the path exists
// but refuses connections. A path counts as free when connecting to it fails
// with ENOENT, ECONNREFUSED or EACCES (a stale socket left by an earlier
// instance, which is then unlinked and reused); an explicit path that accepts
// connections belongs to a live instance and is refused. passt never unlinks
// its socket on exit: the client that chose the path (libvirt) does.
package unixsock

import (
	"errors"
	"fmt"
	"os"
	"passt/internal/errno"

	"golang.org/x/sys/unix"
)

// DefaultPattern is the default socket path, N from 1 to MaxN.
const DefaultPattern = "/tmp/passt_%d.socket"

// MaxN is the last N probed for the default socket path.
const MaxN = 99

// probe reports whether path is free: nothing accepts connections there.
func probe(path string) (free bool, err error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ECONNREFUSED), errors.Is(err, unix.EACCES):
		return true, nil
	}
	return false, err
}

// bindListen unlinks a stale path, binds a new socket there and listens.
func bindListen(path string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	_ = unix.Unlink(path)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.Listen(fd, 8); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

// Listen binds and listens on path or, when path is empty, on the first
// free default path. It returns the listening socket and the path used. The
// error texts are upstream's.
func Listen(path string) (*os.File, string, error) {
	if path != "" {
		free, err := probe(path)
		if err != nil {
			return nil, "", fmt.Errorf("Failed to probe UNIX domain socket %s: %s", path, errno.Text(err))
		}
		if !free {
			return nil, "", fmt.Errorf("Socket path %s already in use", path)
		}
		f, err := bindListen(path)
		if err != nil {
			return nil, "", fmt.Errorf("Failed to bind UNIX domain socket: %s", errno.Text(err))
		}
		return f, path, nil
	}
	var lastErr error = unix.EADDRINUSE
	for n := 1; n <= MaxN; n++ {
		p := fmt.Sprintf(DefaultPattern, n)
		if free, err := probe(p); err != nil || !free {
			continue
		}
		f, err := bindListen(p)
		if err != nil {
			lastErr = err
			continue
		}
		return f, p, nil
	}
	return nil, "", fmt.Errorf("Failed to bind UNIX domain socket: %s", errno.Text(lastErr))
}

// QEMUHint is the hint printed once passt listens on path.
func QEMUHint(path string) []string {
	return []string{
		"",
		"You can now start qemu (>= 7.2, with commit 13c6be96618c):",
		"    kvm ... -device virtio-net-pci,netdev=s -netdev stream,id=s,server=off,addr.type=unix,addr.path=" + path,
		"or qrap, for earlier qemu versions:",
		"    ./qrap 5 kvm ... -net socket,fd=5 -net nic,model=virtio",
	}
}
