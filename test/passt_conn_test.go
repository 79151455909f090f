// SPDX-License-Identifier: GPL-2.0-or-later

package test

import (
	"encoding/binary"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"passt/pkt"
)

var guestMAC = [6]byte{0x02, 0, 0, 0, 0, 0x42}

// arpRequest builds a framed (length-prefixed) ARP request from the guest
// asking for target.
func arpRequest(sender, target netip.Addr) []byte {
	f := make([]byte, 4+42)
	n := pkt.BuildEthernet(f[4:], [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, guestMAC, pkt.EtherTypeARP)
	n += pkt.BuildARP(f[4+n:], 1, guestMAC, sender, [6]byte{}, target)
	binary.BigEndian.PutUint32(f, uint32(n))
	return f[:4+n]
}

func dialUnix(t *testing.T, path string) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	return fd
}

// readFrame reads one length-prefixed frame, or fails after a timeout.
func readFrame(t *testing.T, fd int) ([]byte, error) {
	t.Helper()
	tv := unix.NsecToTimeval(int64(5 * time.Second))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	var hdr [4]byte
	if err := readFull(fd, hdr[:]); err != nil {
		return nil, err
	}
	f := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	return f, readFull(fd, f)
}

// readFull reads len(b) bytes. A read on a socket with a receive timeout
// is not restarted after a signal (signal(7)), and the Go runtime signals
// its threads (preemption), so EINTR means read again.
func readFull(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Read(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return syscall.ECONNRESET
		}
		b = b[n:]
	}
	return nil
}

// expectARPReply reads frames until an ARP reply for target arrives.
func expectARPReply(t *testing.T, fd int, target netip.Addr) {
	t.Helper()
	for i := 0; i < 10; i++ {
		f, err := readFrame(t, fd)
		if err != nil {
			t.Fatalf("waiting for ARP reply: %v", err)
		}
		if len(f) < 60 {
			t.Errorf("frame of %d bytes: not padded to 60", len(f))
		}
		if len(f) >= 42 && binary.BigEndian.Uint16(f[12:]) == pkt.EtherTypeARP && binary.BigEndian.Uint16(f[20:]) == 2 {
			if got := netip.AddrFrom4([4]byte(f[28:32])); got != target {
				t.Errorf("ARP reply for %v, want %v", got, target)
			}
			if [6]byte(f[0:6]) != guestMAC {
				t.Errorf("ARP reply to %x, want the guest's MAC", f[0:6])
			}
			return
		}
	}
	t.Fatal("no ARP reply")
}

func isClosed(t *testing.T, fd int) bool {
	t.Helper()
	tv := unix.NsecToTimeval(int64(3 * time.Second))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	var b [1]byte
	n, err := unix.Read(fd, b[:])
	for err == unix.EINTR {
		n, err = unix.Read(fd, b[:])
	}
	return n == 0 && err == nil || err == unix.ECONNRESET
}

func itoa(n int) string { return strconv.Itoa(n) }

var (
	guestIP = netip.MustParseAddr("10.0.2.15")
	gwIP    = netip.MustParseAddr("10.0.2.2")
)

// TestPasstClients: one guest at a time; extra clients are closed; the next
// client is served after the first leaves; a bad frame length resets only
// that connection.
func TestPasstClients(t *testing.T) {
	sock, _, _ := startPasst(t, "-a", guestIP.String(), "-n", "24", "-g", gwIP.String())

	c1 := dialUnix(t, sock)
	unix.Write(c1, arpRequest(guestIP, gwIP))
	expectARPReply(t, c1, gwIP)

	c2 := dialUnix(t, sock)
	if !isClosed(t, c2) {
		t.Error("second simultaneous client not closed")
	}
	unix.Close(c2)

	unix.Close(c1)
	time.Sleep(100 * time.Millisecond)
	c3 := dialUnix(t, sock)
	unix.Write(c3, arpRequest(guestIP, netip.MustParseAddr("10.0.2.77")))
	expectARPReply(t, c3, netip.MustParseAddr("10.0.2.77"))

	// A frame length out of range: this connection is reset...
	unix.Write(c3, []byte{0, 0, 0, 5, 1, 2, 3, 4, 5})
	if !isClosed(t, c3) {
		t.Error("connection with a bad frame length not reset")
	}
	unix.Close(c3)
	// ...and passt serves the next one.
	time.Sleep(100 * time.Millisecond)
	c4 := dialUnix(t, sock)
	defer unix.Close(c4)
	unix.Write(c4, arpRequest(guestIP, gwIP))
	expectARPReply(t, c4, gwIP)
}

// TestPasstOneOff: --one-off exits 0 when the client leaves.
func TestPasstOneOff(t *testing.T) {
	sock, _, cmd := startPasst(t, "--one-off", "-a", guestIP.String(), "-g", gwIP.String())
	c := dialUnix(t, sock)
	unix.Write(c, arpRequest(guestIP, gwIP))
	expectARPReply(t, c, gwIP)
	unix.Close(c)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("passt --one-off: %v, want status 0", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("passt --one-off did not exit after the client left")
	}
}

// TestPasstFD: --fd serves an inherited connected socket and exits 0 when
// it closes; passt runs in a user namespace of its own.
func TestPasstFD(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	theirs := os.NewFile(uintptr(fds[1]), "theirs")
	pidFile := tempDirFor(t, 65534) + "/pid"
	cmd := exec.Command(passtBin, "-q", "-P", pidFile, "--fd", "3", "-a", guestIP.String(), "-g", gwIP.String())
	cmd.Args[0] = "passt"
	cmd.ExtraFiles = []*os.File{theirs}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Run(); err != nil {
		t.Fatalf("passt --fd: %v: %s", err, stderr.String())
	}
	theirs.Close()
	pid := readPID(t, pidFile)
	own, _ := os.Readlink("/proc/self/ns/user")
	if ns, _ := os.Readlink("/proc/" + itoa(pid) + "/ns/user"); ns == own || ns == "" {
		t.Errorf("passt's user namespace %q is the caller's %q", ns, own)
	}
	unix.Write(fds[0], arpRequest(guestIP, gwIP))
	expectARPReply(t, fds[0], gwIP)
	unix.Close(fds[0])
	// The daemon was reparented to us: wait for it.
	if st := waitExit(t, pid, 5*time.Second); st != 0 {
		t.Errorf("passt --fd exited with %d", st)
	}
}
