// SPDX-License-Identifier: GPL-2.0-or-later

package procnet

import (
	"encoding/binary"
	"net"
	"runtime"
	"slices"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"passt/internal/netnstest"
)

// inOwnNamespace moves the calling goroutine's thread into a new network
// namespace with lo up, and returns how to move it back. Moving back
// matters: the thread may be the process's main one, whose namespace is
// what /proc/self/net (and /proc/net) show to the other tests.
func inOwnNamespace() (restore func(), err error) {
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	restore = func() {
		// If this fails, the thread stays locked and ends with its
		// goroutine, namespace and all.
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		unix.Close(orig)
	}
	if err := netnstest.Enter(nil); err != nil {
		restore()
		return nil, err
	}
	return restore, nil
}

// scanBoth scans proto with d and with the namespace's procfs tables.
func scanBoth(t *testing.T, d *Diag, proto string) (diag, proc []int) {
	t.Helper()
	var pd, pp Ports
	if err := d.Scan(proto, &pd); err != nil {
		t.Fatal(err)
	}
	if err := Scan("/proc/thread-self/net", proto, &pp); err != nil {
		t.Fatal(err)
	}
	return list(&pd), list(&pp)
}

// TestDiagMatchesProc: in a namespace of its own, with listeners, bound and
// connected UDP sockets and established TCP connections on both families,
// Diag finds exactly what the procfs tables list, and sees a closed socket
// go.
func TestDiagMatchesProc(t *testing.T) {
	netnstest.RequireRoot(t)
	restore, err := inOwnNamespace()
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	d, err := OpenDiag()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if tcp, udp := scanBoth(t, d, "tcp"); len(tcp) != 0 || len(udp) != 0 {
		t.Fatalf("a new namespace has bound TCP ports: sock_diag %v, procfs %v", tcp, udp)
	}

	want := map[string][]int{}
	var closers []func() error
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0", "[::]:0"} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		closers = append(closers, ln.Close)
		want["tcp"] = append(want["tcp"], localPort(t, ln.Addr()))
		// An established connection (both ends) is not a listener.
		to := ln.Addr().String()
		if addr == "[::]:0" {
			to = net.JoinHostPort("127.0.0.1", strconv.Itoa(localPort(t, ln.Addr())))
		}
		c, err := net.Dial("tcp", to)
		if err != nil {
			t.Fatal(err)
		}
		closers = append(closers, c.Close)
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		closers = append(closers, s.Close)

		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		closers = append(closers, pc.Close)
		want["udp"] = append(want["udp"], localPort(t, pc.LocalAddr()))
		// A connected UDP socket is not a bound service.
		to = pc.LocalAddr().String()
		if addr == "[::]:0" {
			to = net.JoinHostPort("127.0.0.1", strconv.Itoa(localPort(t, pc.LocalAddr())))
		}
		uc, err := net.Dial("udp", to)
		if err != nil {
			t.Fatal(err)
		}
		closers = append(closers, uc.Close)
	}
	for _, proto := range []string{"tcp", "udp"} {
		diag, proc := scanBoth(t, d, proto)
		w := slices.Sorted(slices.Values(want[proto]))
		if !slices.Equal(diag, w) || !slices.Equal(proc, w) {
			t.Errorf("%s: sock_diag %v, procfs %v, want %v", proto, diag, proc, w)
		}
	}

	// Exclusions apply as in the procfs scan.
	d.Exclude = portsOf(want["tcp"][0])
	if diag, _ := scanBoth(t, d, "tcp"); slices.Contains(diag, want["tcp"][0]) || len(diag) != len(want["tcp"])-1 {
		t.Errorf("tcp with %d excluded: %v", want["tcp"][0], diag)
	}
	d.Exclude = nil

	for _, c := range closers {
		c()
	}
	for _, proto := range []string{"tcp", "udp"} {
		if diag, proc := scanBoth(t, d, proto); len(diag) != 0 || len(proc) != 0 {
			t.Errorf("%s after closing: sock_diag %v, procfs %v", proto, diag, proc)
		}
	}
}

// TestDiagOtherNamespace: a Diag answers for the namespace it was opened
// in, whichever thread scans with it.
func TestDiagOtherNamespace(t *testing.T) {
	type opened struct {
		d    *Diag
		port int
		err  error
	}
	ch := make(chan opened)
	release := make(chan struct{})
	netnstest.RequireRoot(t)
	go func() {
		restore, err := inOwnNamespace()
		if err != nil {
			ch <- opened{err: err}
			return
		}
		defer restore()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			ch <- opened{err: err}
			return
		}
		defer ln.Close()
		d, err := OpenDiag()
		ch <- opened{d, localPort(t, ln.Addr()), err}
		<-release
	}()
	o := <-ch
	defer close(release)
	if o.err != nil {
		t.Fatal(o.err)
	}
	defer o.d.Close()
	var p Ports
	if err := o.d.Scan("tcp", &p); err != nil {
		t.Fatal(err)
	}
	if got := list(&p); !slices.Equal(got, []int{o.port}) {
		t.Errorf("scanned from another thread: %v, want the namespace's listener %d only", got, o.port)
	}
}

func TestDiagAllocs(t *testing.T) {
	d, err := OpenDiag()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var p Ports
	var ferr error
	n := testing.AllocsPerRun(20, func() {
		if err := d.Scan("tcp", &p); err != nil {
			ferr = err
		}
		if err := d.Scan("udp", &p); err != nil {
			ferr = err
		}
	})
	if ferr != nil {
		t.Fatal(ferr)
	}
	if n != 0 {
		t.Errorf("%v allocations per scan", n)
	}
}

// TestDiagErrors: an error answer ends the dump with its code, and
// Unsupported tells a missing module from a passing failure.
func TestDiagErrors(t *testing.T) {
	d, err := OpenDiag()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Scan("sctp", new(Ports)); err == nil {
		t.Error("unknown protocol accepted")
	}
	// Protocol 254 (for experiments) has no inet_diag handler: the
	// kernel says ENOENT, as for TCP or UDP without their modules.
	errno := d.dump(unix.AF_INET, 254, tcpListen, new(Ports))
	if errno == 0 {
		t.Fatal("dump of protocol 254 succeeded")
	}
	if !Unsupported(&DiagError{Proto: "x", Family: unix.AF_INET, Errno: errno}) {
		t.Errorf("%v: not taken as unsupported", errno)
	}
	if Unsupported(&DiagError{Proto: "tcp", Family: unix.AF_INET, Errno: unix.ENOBUFS}) || Unsupported(unix.ENOENT) {
		t.Error("a passing failure, or another error, taken as unsupported")
	}
	// The socket is still usable after the error.
	if err := d.Scan("tcp", new(Ports)); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Error(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// diagMsg builds one netlink message: a reply of type typ carrying an
// inet_diag_msg (family, state, local port), padded to its alignment.
func diagMsg(typ uint16, seq uint32, family, state uint8, port uint16) []byte {
	m := make([]byte, nlHdrLen+72)
	ne := binary.NativeEndian
	ne.PutUint32(m[0:], uint32(len(m)))
	ne.PutUint16(m[4:], typ)
	ne.PutUint32(m[8:], seq)
	m[nlHdrLen] = family
	m[nlHdrLen+1] = state
	binary.BigEndian.PutUint16(m[nlHdrLen+4:], port)
	return m
}

func TestParseDiag(t *testing.T) {
	done := make([]byte, nlHdrLen+4)
	binary.NativeEndian.PutUint32(done, uint32(len(done)))
	binary.NativeEndian.PutUint16(done[4:], unix.NLMSG_DONE)
	binary.NativeEndian.PutUint32(done[8:], 7)
	var b []byte
	b = append(b, diagMsg(unix.SOCK_DIAG_BY_FAMILY, 7, unix.AF_INET, tcpListen, 80)...)
	b = append(b, diagMsg(unix.SOCK_DIAG_BY_FAMILY, 6, unix.AF_INET, tcpListen, 81)...)  // stale
	b = append(b, diagMsg(unix.SOCK_DIAG_BY_FAMILY, 7, unix.AF_INET6, tcpListen, 82)...) // other family
	b = append(b, diagMsg(unix.SOCK_DIAG_BY_FAMILY, 7, unix.AF_INET, 1, 83)...)          // other state
	b = append(b, diagMsg(unix.SOCK_DIAG_BY_FAMILY, 7, unix.AF_INET, tcpListen, 0)...)   // no port
	b = append(b, diagMsg(unix.SOCK_DIAG_BY_FAMILY, 7, unix.AF_INET, tcpListen, 443)...)
	b = append(b, done...)
	var p Ports
	fin, errno := parseDiag(b, 7, unix.AF_INET, tcpListen, nil, &p)
	if !fin || errno != 0 {
		t.Errorf("done %v errno %v, want done", fin, errno)
	}
	if got := list(&p); !slices.Equal(got, []int{80, 443}) {
		t.Errorf("ports %v, want [80 443]", got)
	}

	// An error message for our sequence number.
	e := make([]byte, nlHdrLen+4)
	binary.NativeEndian.PutUint32(e, uint32(len(e)))
	binary.NativeEndian.PutUint16(e[4:], unix.NLMSG_ERROR)
	binary.NativeEndian.PutUint32(e[8:], 7)
	code := -int32(unix.ENOENT)
	binary.NativeEndian.PutUint32(e[nlHdrLen:], uint32(code))
	if fin, errno := parseDiag(e, 7, unix.AF_INET, tcpListen, nil, &p); !fin || errno != unix.ENOENT {
		t.Errorf("error message: done %v errno %v, want ENOENT", fin, errno)
	}

	// A dump that failed: NLMSG_DONE carries the error.
	binary.NativeEndian.PutUint32(done[nlHdrLen:], uint32(code))
	if fin, errno := parseDiag(done, 7, unix.AF_INET, tcpListen, nil, &p); !fin || errno != unix.ENOENT {
		t.Errorf("NLMSG_DONE with an error: done %v errno %v, want ENOENT", fin, errno)
	}

	// A length past the end stops parsing without a verdict.
	cut := diagMsg(unix.SOCK_DIAG_BY_FAMILY, 7, unix.AF_INET, tcpListen, 8080)
	binary.NativeEndian.PutUint32(cut, uint32(len(cut)+1))
	p.Zero()
	if fin, errno := parseDiag(cut, 7, unix.AF_INET, tcpListen, nil, &p); fin || errno != 0 || p.Count() != 0 {
		t.Errorf("overlong message: done %v errno %v ports %v", fin, errno, list(&p))
	}
}

// FuzzParseDiag: any bytes parse without panic, and a port is reported
// only from a well-formed reply for the sequence number, family and state.
func FuzzParseDiag(f *testing.F) {
	f.Add(append(diagMsg(unix.SOCK_DIAG_BY_FAMILY, 1, unix.AF_INET, tcpListen, 22), diagMsg(unix.NLMSG_DONE, 1, 0, 0, 0)...))
	f.Add(diagMsg(unix.SOCK_DIAG_BY_FAMILY, 1, unix.AF_INET, tcpListen, 22)[:30])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Ports
		parseDiag(b, 1, unix.AF_INET, tcpListen, nil, &p)
		// Every port found is in some message with the right header.
		for port := p.Next(0); port >= 0; port = p.Next(port + 1) {
			found := false
			for i := 0; i+nlHdrLen+diagMsgMinLen <= len(b); i++ {
				m := b[i:]
				ne := binary.NativeEndian
				if ne.Uint16(m[4:]) == unix.SOCK_DIAG_BY_FAMILY && ne.Uint32(m[8:]) == 1 &&
					m[nlHdrLen] == unix.AF_INET && m[nlHdrLen+1] == tcpListen &&
					int(binary.BigEndian.Uint16(m[nlHdrLen+4:])) == port {
					found = true
					break
				}
			}
			if !found {
				t.Fatalf("port %d reported from no reply in %x", port, b)
			}
		}
	})
}

func BenchmarkScanDiag(b *testing.B) {
	d, err := OpenDiag()
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	var p Ports
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := d.Scan("tcp", &p); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSource: a Source scans over sock_diag, and falls back for good to
// the procfs tables for a protocol the kernel cannot dump (here: a Diag
// asking for a protocol without a diag module), finding the same ports.
func TestSource(t *testing.T) {
	netnstest.RequireRoot(t)
	restore, err := inOwnNamespace()
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pc, err := net.ListenPacket("udp", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	want := map[string]int{"tcp": localPort(t, ln.Addr()), "udp": localPort(t, pc.LocalAddr())}

	dir, err := unix.Open("/proc/thread-self/net", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dir)
	d, err := OpenDiag()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.protos[1] = 254 // "UDP" has no diag module
	src := NewSource(d, dir, NewScanner())
	for _, proto := range []string{"tcp", "udp", "tcp", "udp"} {
		var p Ports
		if err := src.Scan(proto, &p); err != nil {
			t.Fatal(err)
		}
		if got := list(&p); !slices.Equal(got, []int{want[proto]}) {
			t.Errorf("%s: %v, want [%d]", proto, got, want[proto])
		}
	}
	if !src.UsesDiag("tcp") || src.UsesDiag("udp") {
		t.Errorf("uses sock_diag: tcp %v, udp %v; want true, false", src.UsesDiag("tcp"), src.UsesDiag("udp"))
	}
	// Without a Diag at all, the tables.
	var p Ports
	if err := NewSource(nil, dir, NewScanner()).Scan("tcp", &p); err != nil || !p.Has(uint16(want["tcp"])) {
		t.Errorf("procfs only: %v, err %v", list(&p), err)
	}
	// A passing failure is reported, not papered over.
	d.Close()
	if err := NewSource(d, dir, NewScanner()).Scan("tcp", new(Ports)); err == nil {
		t.Error("scan with a closed sock_diag socket succeeded")
	}
}
