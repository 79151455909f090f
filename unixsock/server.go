// SPDX-License-Identifier: GPL-2.0-or-later

package unixsock

import (
	"os"

	"golang.org/x/sys/unix"

	"passt/log"
)

// Server holds passt's listening socket in the engine.
type Server struct {
	ln *os.File
}

// NewServer wraps a listening socket opened by Listen.
func NewServer(ln *os.File) *Server { return &Server{ln: ln} }

// Setup has nothing left to do: the socket already listens.
func (s *Server) Setup() error { return nil }

// Run accepts guest connections. Exchanging frames with the guest is not
// implemented yet: each connection is reported and closed, so that a guest
// never silently sees a dead link.
func (s *Server) Run() int {
	lfd := int(s.ln.Fd())
	for {
		fd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
		if err != nil {
			if err == unix.EINTR || err == unix.ECONNABORTED {
				continue
			}
			log.Errorf("accept() on UNIX domain socket failed: %s", strerror(err))
			return 1
		}
		if cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			log.Infof("accepted connection from PID %d", cred.Pid)
		}
		log.Errorf("Guest frame handling is not implemented yet, closing connection")
		unix.Close(fd)
	}
}
