// SPDX-License-Identifier: GPL-2.0-or-later

// Package procnet finds the TCP and UDP ports bound on one side (the host or
// a network namespace) from the kernel's socket tables in procfs, for pasta's
// automatic port forwarding ("auto" in -t, -u, -T, -U): a port is forwarded
// only while something is bound to it on the other side.
//
// There are two ways to ask. Diag (diag.go) asks the kernel over
// NETLINK_SOCK_DIAG for the sockets in the right state only, which is what
// the scans use; the procfs tables described below are the fallback for
// kernels without the diag modules, and what upstream passt reads. A Source
// picks between the two for one side. Both give the same ports.
//
// Theory of operation. /proc/net/tcp, tcp6, udp and udp6 list one socket per
// line after a header line:
//
//	sl  local_address rem_address   st tx_queue rx_queue ...
//	 0: 0100007F:0277 00000000:0000 0A 00000000:00000000 ...
//
// The local address ends with the port in hexadecimal after the last colon,
// and st is the socket state from the kernel's tcp_states.h. A TCP socket
// accepting connections is in LISTEN (0A). A bound, unconnected UDP socket is
// in CLOSE (07); a connected one is ESTABLISHED (01) and, as in upstream
// passt, does not count: it only talks to its peer. The tables are those of
// the network namespace of whoever opens them: "/proc/net" for the calling
// process, "/proc/<pid>/net" (or /proc/<pid>/task/<tid>/net for one thread)
// for another one. A sandboxed process opens the directory beforehand and
// scans with ScanAt, which opens the tables relative to that descriptor.
//
// Parsing takes the column positions of local_address and st from the header
// (falling back to the historical positions, 1 and 3, if the header is not
// recognised), splits each line on blanks without copying, and skips any line
// that does not parse, whatever it contains. The columns up to st are the
// same in the header and in the data lines (later headers, such as
// "tx_queue rx_queue", name what the data shows as one field, so nothing
// after st is used). The file is read in chunks into a reused buffer until
// end of file, so it may be any length: a line cut at the end of the buffer
// is carried over to the next read, and a line longer than the whole buffer
// is dropped. The table may change between two reads (the kernel resumes by
// position, so a socket may be missed or seen twice); the next scan, a second
// later, catches up. A Scanner allocates nothing per scan once created.
//
// Results accumulate: Scan sets bits in a Ports bitmap and never clears any,
// so one bitmap can gather several tables (upstream forwards UDP ports that
// are bound as TCP listeners too, for protocols such as iperf3 that pair a
// TCP control connection with UDP data on the same port number). Ports that
// pasta itself listens on in the opposite direction are left out with
// Scanner.Exclude or Ports.AndNot, so a forwarded port never loops back.
package procnet

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Socket states (include/net/tcp_states.h) as shown in the st column.
const (
	StateEstablished = 0x01
	StateTimeWait    = 0x06
	StateClose       = 0x07 // unconnected bound UDP socket
	StateListen      = 0x0a // listening TCP socket
)

// Ports is a bitmap of the 65536 port numbers.
type Ports [65536 / 64]uint64

// Set adds port to p.
func (p *Ports) Set(port uint16) { p[port>>6] |= 1 << (port & 63) }

// Clear removes port from p.
func (p *Ports) Clear(port uint16) { p[port>>6] &^= 1 << (port & 63) }

// Has reports whether port is in p.
func (p *Ports) Has(port uint16) bool { return p[port>>6]&(1<<(port&63)) != 0 }

// Count returns the number of ports in p.
func (p *Ports) Count() int {
	n := 0
	for _, w := range p {
		n += bits.OnesCount64(w)
	}
	return n
}

// Equal reports whether p and q hold the same ports.
func (p *Ports) Equal(q *Ports) bool { return *p == *q }

// Zero removes all ports from p.
func (p *Ports) Zero() { *p = Ports{} }

// Or adds the ports of q to p.
func (p *Ports) Or(q *Ports) {
	for i := range p {
		p[i] |= q[i]
	}
}

// AndNot removes the ports of q from p.
func (p *Ports) AndNot(q *Ports) {
	for i := range p {
		p[i] &^= q[i]
	}
}

// Next returns the first port in p that is at least from, or -1 if none:
// for port := p.Next(0); port >= 0; port = p.Next(port + 1) { ... }
func (p *Ports) Next(from int) int {
	if from < 0 {
		from = 0
	}
	if from > 65535 {
		return -1
	}
	i := from >> 6
	w := p[i] >> (from & 63)
	if w != 0 {
		return from + bits.TrailingZeros64(w)
	}
	for i++; i < len(p); i++ {
		if p[i] != 0 {
			return i<<6 + bits.TrailingZeros64(p[i])
		}
	}
	return -1
}

// table is one procfs file: its name (NUL-terminated, for openat) and the
// state that counts as bound in it.
type table struct {
	name  string
	state uint8
}

var (
	tcpTables = [2]table{{"tcp\x00", StateListen}, {"tcp6\x00", StateListen}}
	udpTables = [2]table{{"udp\x00", StateClose}, {"udp6\x00", StateClose}}
)

func tables(proto string) (*[2]table, error) {
	switch proto {
	case "tcp":
		return &tcpTables, nil
	case "udp":
		return &udpTables, nil
	}
	return nil, fmt.Errorf("%w %q", ErrProto, proto)
}

// BufSize is the size of a Scanner's read buffer.
const BufSize = 64 << 10

// Scanner reads socket tables with a reused buffer. It is not safe for
// concurrent use.
type Scanner struct {
	// Exclude, if set, lists ports never to be reported.
	Exclude *Ports

	buf  []byte
	path []byte
}

// NewScanner returns a Scanner with its buffer allocated.
func NewScanner() *Scanner { return newScanner(BufSize) }

func newScanner(size int) *Scanner {
	return &Scanner{buf: make([]byte, size), path: make([]byte, 0, 256)}
}

// Scan adds to out the ports bound for proto ("tcp": listening; "udp":
// bound and not connected) in the IPv4 and IPv6 tables under the directory
// root, normally "/proc/net" or "/proc/<pid>/net". A table that does not
// exist (IPv6 disabled) is skipped; it is an error if neither does.
func (s *Scanner) Scan(root, proto string, out *Ports) error {
	return s.scan(unix.AT_FDCWD, root, proto, out)
}

// ScanAt is Scan with the tables opened relative to dirfd, a descriptor of
// the directory opened beforehand (for instance before entering a sandbox
// where /proc is not reachable).
func (s *Scanner) ScanAt(dirfd int, proto string, out *Ports) error {
	return s.scan(dirfd, "", proto, out)
}

func (s *Scanner) scan(dirfd int, root, proto string, out *Ports) error {
	tabs, err := tables(proto)
	if err != nil {
		return err
	}
	missing := 0
	var firstErr error
	for _, tab := range tabs {
		s.path = s.path[:0]
		if root != "" {
			s.path = append(s.path, root...)
			s.path = append(s.path, '/')
		}
		s.path = append(s.path, tab.name...)
		fd, errno := openat(dirfd, s.path)
		if errno == unix.ENOENT {
			missing++
			continue
		}
		if errno != 0 {
			if firstErr == nil {
				firstErr = s.pathError("open", errno)
			}
			continue
		}
		errno = s.readTable(fd, false, tab.state, out)
		unix.Close(fd)
		if errno != 0 && firstErr == nil {
			firstErr = s.pathError("read", errno)
		}
	}
	if firstErr != nil {
		return firstErr
	}
	if missing == len(tabs) {
		where := root
		if where == "" {
			where = fmt.Sprintf("directory fd %d", dirfd)
		}
		return fmt.Errorf("procnet: no %s tables in %s: %w", proto, where, unix.ENOENT)
	}
	return nil
}

func (s *Scanner) pathError(op string, errno unix.Errno) error {
	name := s.path
	if n := len(name); n > 0 && name[n-1] == 0 {
		name = name[:n-1]
	}
	return fmt.Errorf("procnet: %s %s: %w", op, name, errno)
}

// ScanFile adds to out the local ports of the sockets in state in the table
// open as fd, read from its start with pread(2): a table can be opened once
// (as upstream passt does) and scanned again and again. state is StateListen
// for TCP tables and StateClose for UDP ones.
func (s *Scanner) ScanFile(fd int, state uint8, out *Ports) error {
	if errno := s.readTable(fd, true, state, out); errno != 0 {
		return fmt.Errorf("procnet: read: %w", errno)
	}
	return nil
}

// openat opens the NUL-terminated path relative to dirfd, without
// allocating.
func openat(dirfd int, path []byte) (int, unix.Errno) {
	for {
		fd, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(&path[0])),
			unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
		if e != unix.EINTR {
			return int(fd), e
		}
	}
}

// readTable parses the table open as fd, with read(2) or, if pread is set,
// pread(2) from offset 0.
func (s *Scanner) readTable(fd int, pread bool, state uint8, out *Ports) unix.Errno {
	var off int64
	p := parser{want: state, out: out, exclude: s.Exclude}
	return s.run(&p, func(b []byte) (int, unix.Errno) {
		var r uintptr
		var e unix.Errno
		if pread {
			r, _, e = unix.Syscall6(unix.SYS_PREAD64, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(off), 0, 0)
		} else {
			r, _, e = unix.Syscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		}
		if e == 0 {
			off += int64(r)
		}
		return int(r), e
	})
}

// run feeds the parser line by line with what read returns until read
// returns 0 (end of file) or an error other than EINTR.
func (s *Scanner) run(p *parser, read func([]byte) (int, unix.Errno)) unix.Errno {
	buf := s.buf
	filled := 0
	skip := false // dropping the rest of an overlong line
	for {
		n, e := read(buf[filled:])
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		if n <= 0 {
			if filled > 0 && !skip {
				p.line(buf[:filled])
			}
			return 0
		}
		filled += n
		start := 0
		for {
			i := bytes.IndexByte(buf[start:filled], '\n')
			if i < 0 {
				break
			}
			if skip {
				skip = false
			} else {
				p.line(buf[start : start+i])
			}
			start += i + 1
		}
		copy(buf, buf[start:filled])
		filled -= start
		if filled == len(buf) {
			skip = true
			filled = 0
		}
	}
}

// Default columns of the local address and the state.
const (
	defLocalCol = 1
	defStateCol = 3
)

// parser parses one table, line by line.
type parser struct {
	want    uint8
	out     *Ports
	exclude *Ports

	started            bool // header seen
	localCol, stateCol int
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' }

// field returns the next blank-separated field of b from i, and where the
// search continues; empty if none is left.
func field(b []byte, i int) (tok []byte, next int) {
	for i < len(b) && isBlank(b[i]) {
		i++
	}
	j := i
	for j < len(b) && !isBlank(b[j]) {
		j++
	}
	return b[i:j], j
}

func (p *parser) line(b []byte) {
	if !p.started {
		p.started = true
		if p.header(b) {
			return
		}
		// Not a header: read this line as data, at the usual columns.
	}
	p.data(b)
}

// header takes the columns from a header line; it reports false if the line
// is not one.
func (p *parser) header(b []byte) bool {
	p.localCol, p.stateCol = defLocalCol, defStateCol
	local, st := -1, -1
	i := 0
	for col := 0; ; col++ {
		tok, next := field(b, i)
		if len(tok) == 0 {
			break
		}
		i = next
		switch string(tok) {
		case "local_address":
			if local < 0 {
				local = col
			}
		case "st":
			if st < 0 {
				st = col
			}
		}
	}
	if local < 0 {
		return false
	}
	if st >= 0 && st != local {
		p.localCol, p.stateCol = local, st
	}
	return true
}

func (p *parser) data(b []byte) {
	var local, st []byte
	i := 0
	last := max(p.localCol, p.stateCol)
	for col := 0; col <= last; col++ {
		tok, next := field(b, i)
		if len(tok) == 0 {
			return
		}
		i = next
		switch col {
		case p.localCol:
			local = tok
		case p.stateCol:
			st = tok
		}
	}
	state, ok := parseHex(st, 2)
	if !ok || uint8(state) != p.want {
		return
	}
	c := bytes.LastIndexByte(local, ':')
	if c <= 0 {
		return
	}
	if !isHex(local[:c]) {
		return
	}
	port, ok := parseHex(local[c+1:], 4)
	if !ok || port == 0 {
		return
	}
	if p.exclude != nil && p.exclude.Has(uint16(port)) {
		return
	}
	p.out.Set(uint16(port))
}

func hexVal(c byte) (uint32, bool) {
	switch {
	case c >= '0' && c <= '9':
		return uint32(c - '0'), true
	case c >= 'a' && c <= 'f':
		return uint32(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return uint32(c-'A') + 10, true
	}
	return 0, false
}

func isHex(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if _, ok := hexVal(c); !ok {
			return false
		}
	}
	return true
}

// parseHex parses 1 to maxDigits (at most 8) hexadecimal digits.
func parseHex(b []byte, maxDigits int) (uint32, bool) {
	if len(b) == 0 || len(b) > maxDigits {
		return 0, false
	}
	var v uint32
	for _, c := range b {
		d, ok := hexVal(c)
		if !ok {
			return 0, false
		}
		v = v<<4 | d
	}
	return v, true
}

var (
	defaultMu      sync.Mutex
	defaultScanner *Scanner
)

func withDefault(f func(s *Scanner) error) error {
	defaultMu.Lock()
	defer defaultMu.Unlock()
	if defaultScanner == nil {
		defaultScanner = NewScanner()
	}
	return f(defaultScanner)
}

// Scan is Scanner.Scan with a shared Scanner (no exclusions).
func Scan(root, proto string, out *Ports) error {
	return withDefault(func(s *Scanner) error { return s.Scan(root, proto, out) })
}

// ScanAt is Scanner.ScanAt with a shared Scanner (no exclusions).
func ScanAt(dirfd int, proto string, out *Ports) error {
	return withDefault(func(s *Scanner) error { return s.ScanAt(dirfd, proto, out) })
}

// ErrProto is returned for a protocol other than "tcp" or "udp".
var ErrProto = errors.New("procnet: unknown protocol")
