// SPDX-License-Identifier: GPL-2.0-or-later

package unixsock

import (
	"errors"
	"io"
	"os"
	"passt/internal/errno"

	"golang.org/x/sys/unix"

	"passt/engine"
	"passt/log"
	"passt/loop"
	"passt/tap"
)

// Server serves one guest at a time on passt's listening socket (or on the
// single connection given with --fd), through the engine's loop. Further
// connections while a guest is connected are accepted and closed at once.
// When the guest leaves, passt waits for the next one, or exits with status
// 0 in one-off mode (--one-off, --fd).
type Server struct {
	e      *engine.Engine
	ln     *os.File
	conn   *tap.Stream
	oneOff bool
}

// NewServer serves on a listening socket (ln) or an inherited connected
// socket (conn, for --fd); oneOff makes the first client's departure end
// passt.
func NewServer(e *engine.Engine, ln *os.File, conn *os.File, oneOff bool) (*Server, error) {
	s := &Server{e: e, ln: ln, oneOff: oneOff}
	e.OnLinkError = s.linkError
	e.Handle(engine.KindListen, s.accept)
	if ln != nil {
		if err := e.Loop.Add(int(ln.Fd()), unix.EPOLLIN, loop.MakeRef(engine.KindListen, 0)); err != nil {
			return nil, err
		}
	}
	if conn != nil {
		fd, err := unix.Dup(int(conn.Fd()))
		if err != nil {
			return nil, err
		}
		conn.Close()
		unix.CloseOnExec(fd)
		if err := s.connect(fd); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Setup has nothing left to do: the socket already listens.
func (s *Server) Setup() error { return nil }

// Run serves until passt must exit.
func (s *Server) Run() int { return s.e.Run() }

func (s *Server) connect(fd int) error {
	st, err := tap.NewStream(fd)
	if err != nil {
		unix.Close(fd)
		return err
	}
	s.conn = st
	return s.e.SetLink(engine.StreamLink{S: st})
}

// accept takes a new connection: the guest, or one too many.
func (s *Server) accept(loop.Ref, uint32) {
	fd, _, err := unix.Accept4(int(s.ln.Fd()), unix.SOCK_CLOEXEC)
	if err != nil {
		if err != unix.EAGAIN && err != unix.EINTR && err != unix.ECONNABORTED {
			log.Errorf("accept() on UNIX domain socket failed: %s", errno.Text(err))
		}
		return
	}
	pid := int32(0)
	if cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
		pid = cred.Pid
	}
	if s.conn != nil {
		log.Infof("discarding connection from PID %d", pid)
		unix.Close(fd)
		return
	}
	log.Infof("accepted connection from PID %d", pid)
	if err := s.connect(fd); err != nil {
		log.Errorf("Couldn't set up guest connection: %s", errno.Text(err))
	}
}

// linkError handles the guest's departure or a broken stream.
func (s *Server) linkError(err error) {
	switch {
	case errors.Is(err, tap.ErrBadFrameLength):
		log.Errorf("%s", err)
	case errors.Is(err, io.EOF):
	default:
		log.Debugf("guest connection: %v", err)
	}
	_ = s.e.SetLink(nil)
	s.e.GuestGone()
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	if s.oneOff {
		log.Infof("Client connection closed, exiting")
		s.e.Exit(0)
		return
	}
	log.Infof("Client connection closed")
}
