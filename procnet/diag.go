// SPDX-License-Identifier: GPL-2.0-or-later

package procnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Diag lists bound ports over NETLINK_SOCK_DIAG (sock_diag(7)) instead of
// the procfs tables, for the same answer at a fraction of the cost.
//
// Reading /proc/net/tcp walks every bucket of the kernel's established-
// connection hash, empty or not, and of every network namespace's table at
// once (the hash is shared): on a machine with 24 GiB it takes about 4 ms
// for a table of four lines, tcp and tcp6 each, on each side, every second,
// with pasta's loop stalled meanwhile. A sock_diag dump asking for
// listening sockets only skips that hash and walks the listeners' (the
// kernel's inet_diag does so whenever LISTEN is the only state asked for),
// so the same scan takes tens of microseconds and does not grow with the
// number of connections.
//
// A Diag holds one netlink socket, which answers for the network namespace
// it was created in, whatever thread uses it later: open it on the
// namespace's thread and scan from the loop. One Scan sends a dump request
// (SOCK_DIAG_BY_FAMILY, inet_diag_req_v2) per address family with the
// states that count as bound (LISTEN for TCP, CLOSE for UDP, as in the
// procfs tables) and reads the replies into a reused buffer until
// NLMSG_DONE, taking the local port of each inet_diag_msg. Replies to an
// earlier request (a scan cut short by an error) are told apart by their
// sequence number and skipped. A Diag allocates nothing per scan.
//
// Kernels without the inet_diag, tcp_diag or udp_diag modules answer with
// an error (ENOENT, EPROTONOSUPPORT, EOPNOTSUPP, EINVAL): Unsupported
// reports those, and the caller falls back to the procfs tables.
type Diag struct {
	// Exclude, if set, lists ports never to be reported.
	Exclude *Ports

	fd     int
	seq    uint32
	protos [2]uint8 // what to ask for TCP and UDP (a test asks for others)
	req    [diagReqLen]byte
	buf    []byte
}

// Netlink and inet_diag layout (linux/netlink.h, linux/inet_diag.h).
const (
	nlHdrLen      = 16 // struct nlmsghdr
	diagReqLen    = nlHdrLen + 56
	diagMsgMinLen = 8 // family, state, timer, retrans, sport, dport: all we read of inet_diag_msg
	diagBufSize   = 64 << 10

	tcpListen = 10 // TCP_LISTEN in include/net/tcp_states.h
	tcpClose  = 7  // TCP_CLOSE: a bound, unconnected UDP socket
)

// OpenDiag opens a sock_diag socket in the calling thread's network
// namespace.
func OpenDiag() (*Diag, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("procnet: sock_diag socket: %w", err)
	}
	// A dump is answered as the replies are read, so reads never wait for
	// long; the timeout only bounds a kernel that stops answering.
	tv := unix.Timeval{Sec: 1}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("procnet: sock_diag socket: SO_RCVTIMEO: %w", err)
	}
	return &Diag{fd: fd, protos: [2]uint8{unix.IPPROTO_TCP, unix.IPPROTO_UDP}, buf: make([]byte, diagBufSize)}, nil
}

// Close closes the socket.
func (d *Diag) Close() error {
	if d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}

// Scan adds to out the ports bound for proto ("tcp": listening; "udp":
// bound and not connected), IPv4 and IPv6 (a kernel without IPv6 simply
// has no IPv6 sockets to list).
func (d *Diag) Scan(proto string, out *Ports) error {
	var ipproto uint8
	var state uint8
	switch proto {
	case "tcp":
		ipproto, state = d.protos[0], tcpListen
	case "udp":
		ipproto, state = d.protos[1], tcpClose
	default:
		return fmt.Errorf("%w %q", ErrProto, proto)
	}
	for _, family := range [2]uint8{unix.AF_INET, unix.AF_INET6} {
		if errno := d.dump(family, ipproto, state, out); errno != 0 {
			return &DiagError{Proto: proto, Family: family, Errno: errno}
		}
	}
	return nil
}

// DiagError is a failed sock_diag dump.
type DiagError struct {
	Proto  string
	Family uint8 // AF_INET or AF_INET6
	Errno  unix.Errno
}

func (e *DiagError) Error() string {
	v := "IPv4"
	if e.Family == unix.AF_INET6 {
		v = "IPv6"
	}
	return fmt.Sprintf("procnet: sock_diag %s (%s): %v", e.Proto, v, e.Errno)
}

func (e *DiagError) Unwrap() error { return e.Errno }

// Unsupported reports whether err from Diag.Scan means that this kernel
// cannot dump these sockets at all (a module missing, an old kernel), so
// that the procfs tables are the way to go, rather than a passing failure.
func Unsupported(err error) bool {
	var de *DiagError
	if !errors.As(err, &de) {
		return false
	}
	switch de.Errno {
	case unix.ENOENT, unix.EPROTONOSUPPORT, unix.EOPNOTSUPP, unix.EINVAL:
		return true
	}
	return false
}

// dump asks for the sockets of one family and protocol in state and adds
// their local ports to out.
func (d *Diag) dump(family, ipproto, state uint8, out *Ports) unix.Errno {
	d.seq++
	if d.seq == 0 {
		d.seq = 1
	}
	r := d.req[:]
	clear(r)
	ne := binary.NativeEndian
	ne.PutUint32(r[0:], diagReqLen)
	ne.PutUint16(r[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(r[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(r[8:], d.seq)
	// inet_diag_req_v2: family, protocol, ext, pad, states; the socket
	// id (all zero) selects nothing more.
	r[nlHdrLen+0] = family
	r[nlHdrLen+1] = ipproto
	ne.PutUint32(r[nlHdrLen+4:], 1<<state)
	if errno := d.write(r); errno != 0 {
		return errno
	}
	for {
		n, errno := d.read()
		if errno != 0 {
			return errno
		}
		if n == 0 {
			return unix.EIO
		}
		done, errno := parseDiag(d.buf[:n], d.seq, family, state, d.Exclude, out)
		if done || errno != 0 {
			return errno
		}
	}
}

func (d *Diag) write(b []byte) unix.Errno {
	for {
		_, _, e := unix.Syscall(unix.SYS_WRITE, uintptr(d.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if e != unix.EINTR {
			return e
		}
	}
}

func (d *Diag) read() (int, unix.Errno) {
	for {
		n, _, e := unix.Syscall(unix.SYS_READ, uintptr(d.fd), uintptr(unsafe.Pointer(&d.buf[0])), uintptr(len(d.buf)))
		if e != unix.EINTR {
			return int(n), e
		}
	}
}

// parseDiag takes the messages of one read: the local ports of the
// inet_diag_msg replies with sequence number seq, family and state go to
// out. It reports done at NLMSG_DONE for seq, with the error it carries
// (a dump that failed on its way) or that of an NLMSG_ERROR; messages with another sequence number (left over from an earlier
// dump) are skipped, and so is anything malformed: a length that does not
// fit stops the read's parsing, a reply too short for its fields is passed
// over.
func parseDiag(b []byte, seq uint32, family, state uint8, exclude, out *Ports) (done bool, errno unix.Errno) {
	ne := binary.NativeEndian
	for len(b) >= nlHdrLen {
		l := int(ne.Uint32(b[0:]))
		if l < nlHdrLen || l > len(b) {
			return false, 0
		}
		typ := ne.Uint16(b[4:])
		msgSeq := ne.Uint32(b[8:])
		payload := b[nlHdrLen:l]
		if next := (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1); next < len(b) {
			b = b[next:]
		} else {
			b = b[len(b):]
		}
		if msgSeq != seq {
			continue
		}
		switch typ {
		case unix.NLMSG_DONE:
			// A dump that failed says so here: its error code
			// (negative) is the payload.
			if len(payload) >= 4 {
				if code := int32(ne.Uint32(payload)); code < 0 {
					return true, unix.Errno(-code)
				}
			}
			return true, 0
		case unix.NLMSG_ERROR:
			if len(payload) < 4 {
				return true, unix.EIO
			}
			code := int32(ne.Uint32(payload))
			if code == 0 { // an acknowledgement, not an error
				continue
			}
			return true, unix.Errno(-code)
		case unix.SOCK_DIAG_BY_FAMILY:
			if len(payload) < diagMsgMinLen || payload[0] != family || payload[1] != state {
				continue
			}
			port := binary.BigEndian.Uint16(payload[4:])
			if port == 0 || (exclude != nil && exclude.Has(port)) {
				continue
			}
			out.Set(port)
		}
	}
	return false, 0
}

// Source scans one side's bound ports: over sock_diag while the kernel
// answers it for the protocol, from the procfs tables under a directory
// opened beforehand otherwise (a kernel without the diag modules). The
// choice is made per protocol, at the first Scan that tells: a kernel may
// have tcp_diag and lack udp_diag. A Source allocates nothing per scan.
type Source struct {
	diag     *Diag
	dirfd    int
	scanner  *Scanner
	procOnly [2]bool // [0] TCP, [1] UDP: sock_diag is not supported
}

// NewSource scans with diag (nil: never) and falls back to the tables in
// the directory dirfd (such as /proc/thread-self/net of the side's
// thread), read with scanner.
func NewSource(diag *Diag, dirfd int, scanner *Scanner) *Source {
	return &Source{diag: diag, dirfd: dirfd, scanner: scanner}
}

// Scan adds to out the ports bound for proto, as Scanner.Scan does.
func (s *Source) Scan(proto string, out *Ports) error {
	i := 0
	if proto == "udp" {
		i = 1
	}
	if s.diag != nil && !s.procOnly[i] {
		s.diag.Exclude = s.scanner.Exclude
		err := s.diag.Scan(proto, out)
		if err == nil || !Unsupported(err) {
			return err
		}
		// Ports found before the failure are bound all the same:
		// they stay in out, and the tables add the rest.
		s.procOnly[i] = true
	}
	return s.scanner.ScanAt(s.dirfd, proto, out)
}

// UsesDiag reports whether Scan goes through sock_diag for proto.
func (s *Source) UsesDiag(proto string) bool {
	i := 0
	if proto == "udp" {
		i = 1
	}
	return s.diag != nil && !s.procOnly[i]
}
