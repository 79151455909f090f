// SPDX-License-Identifier: GPL-2.0-or-later

package tap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"passt/pcap"
	"passt/pkt"
	"unsafe"
)

var (
	tapAddr  = netip.MustParseAddr("192.0.2.1")
	peerAddr = netip.MustParseAddr("192.0.2.2")
	peerMAC  = [6]byte{0x02, 0, 0, 0, 0, 0x02}
)

// The main goroutine keeps the process's first thread for good. Go never
// ends that thread: a goroutine that exits while locked to it leaves it
// wedged instead. A namespace goroutine (newNS) that happened to start
// there then never let its thread exit, and TestNamespaceOrphaned, which
// waits for exactly that, failed once in about 30 runs.
func init() { runtime.LockOSThread() }

// requireRoot skips (or, in CI, fails) tests that need root and /dev/net/tun.
func requireRoot(t testing.TB) {
	t.Helper()
	missing := ""
	if os.Geteuid() != 0 {
		missing = "root"
	} else if _, err := os.Stat("/dev/net/tun"); err != nil {
		missing = "/dev/net/tun"
	}
	if missing == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("tap tests need %s (run as root on a host with the tun module)", missing)
	}
	t.Skipf("tap tests need %s", missing)
}

// nsThread is a goroutine locked to a thread in a fresh network namespace.
// It never unlocks: when the goroutine ends, the thread ends with it.
type nsThread struct {
	req chan func()
}

func newNS(t testing.TB) *nsThread {
	t.Helper()
	n := &nsThread{req: make(chan func())}
	ready := make(chan error)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ready <- err
			return
		}
		ready <- nil
		for f := range n.req {
			f()
		}
	}()
	if err := <-ready; err != nil {
		t.Fatalf("unshare(CLONE_NEWNET): %v", err)
	}
	t.Cleanup(n.stop)
	return n
}

// do runs f on the namespace thread and waits for it.
func (n *nsThread) do(f func()) {
	done := make(chan struct{})
	n.req <- func() { f(); close(done) }
	<-done
}

func (n *nsThread) stop() {
	defer func() { recover() }() // already stopped
	close(n.req)
}

// setup opens tap0 in a fresh namespace, gives it 192.0.2.1/24 and brings it
// up, with a netlink handle created on the namespace thread.
func setup(t testing.TB) (*nsThread, *Device, *netlink.Handle, netlink.Link) {
	t.Helper()
	requireRoot(t)
	ns := newNS(t)
	var (
		d    *Device
		h    *netlink.Handle
		link netlink.Link
		err  error
	)
	ns.do(func() {
		if d, err = Open("tap0"); err != nil {
			return
		}
		if h, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			return
		}
		if link, err = h.LinkByName("tap0"); err != nil {
			return
		}
		var a *netlink.Addr
		if a, err = netlink.ParseAddr("192.0.2.1/24"); err != nil {
			return
		}
		if err = h.AddrAdd(link, a); err != nil {
			return
		}
		if err = h.LinkSetUp(link); err != nil {
			return
		}
		link, err = h.LinkByName("tap0") // refresh: MAC, flags
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(); d.Close() })
	return ns, d, h, link
}

func newBufs(n int) ([][]byte, [][]byte) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, BufSize)
	}
	return bufs, make([][]byte, n)
}

// readUntil reads frames until match accepts one or the deadline passes.
func readUntil(t testing.TB, d *Device, what string, timeout time.Duration, match func([]byte) bool) []byte {
	t.Helper()
	bufs, out := newBufs(8)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := d.Wait(100 * time.Millisecond); err != nil {
			t.Fatalf("Wait: %v", err)
		}
		n, err := d.ReadBatch(bufs, out)
		if err != nil {
			t.Fatalf("ReadBatch: %v", err)
		}
		for _, f := range out[:n] {
			if match(f) {
				return append([]byte(nil), f...)
			}
		}
	}
	t.Fatalf("%s: not seen within %v", what, timeout)
	return nil
}

func arpFrame(op uint16, srcMAC, dstMAC [6]byte, sip, tip netip.Addr) []byte {
	f := make([]byte, pkt.EthernetHeaderLen+pkt.ARPLen)
	pkt.BuildEthernet(f, dstMAC, srcMAC, pkt.EtherTypeARP)
	pkt.BuildARP(f[pkt.EthernetHeaderLen:], op, srcMAC, sip, dstMAC, tip)
	return f
}

func echoRequest(dstMAC [6]byte, id, seq uint16) []byte {
	payload := []byte("passt tap test payload")
	l4 := pkt.ICMPHeaderLen + len(payload)
	f := make([]byte, pkt.EthernetHeaderLen+pkt.IPv4MinHeaderLen+l4)
	pkt.BuildEthernet(f, dstMAC, peerMAC, pkt.EtherTypeIPv4)
	pkt.BuildIPv4(f[pkt.EthernetHeaderLen:], peerAddr, tapAddr, pkt.ProtoICMP, l4, 64, id)
	m := f[pkt.EthernetHeaderLen+pkt.IPv4MinHeaderLen:]
	pkt.BuildICMP(m, pkt.ICMPv4EchoRequest, 0, id, seq)
	copy(m[pkt.ICMPHeaderLen:], payload)
	pkt.FinishICMPv4(pkt.ICMP(m))
	return f
}

func isEchoReply(f []byte, id, seq uint16) bool {
	var dec pkt.Decoded
	if pkt.Decode(f, &dec) != nil || dec.L4Proto != pkt.ProtoICMP || dec.Dst != peerAddr {
		return false
	}
	m := pkt.ICMP(f[dec.L4Off : dec.L4Off+dec.L4Len])
	return m.Type() == pkt.ICMPv4EchoReply && m.ID() == id && m.Seq() == seq
}

func TestOpenName(t *testing.T) {
	requireRoot(t)
	ns := newNS(t)
	var (
		d   *Device
		err error
		hdr int
		idx int
	)
	ns.do(func() {
		d, err = Open("pst%d")
		if err == nil {
			hdr, _ = unix.IoctlGetInt(d.Fd(), unix.TUNGETVNETHDRSZ)
			if i, e := net.InterfaceByName(d.Name()); e == nil {
				idx = i.Index
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Name() != "pst0" {
		t.Errorf("name %q, want pst0", d.Name())
	}
	if hdr != VnetHdrLen {
		t.Errorf("vnet header size %d, want %d", hdr, VnetHdrLen)
	}
	if d.Index() == 0 || d.Index() != idx {
		t.Errorf("index %d, want %d", d.Index(), idx)
	}
	fl, err := unix.FcntlInt(uintptr(d.Fd()), unix.F_GETFL, 0)
	if err != nil || fl&unix.O_NONBLOCK == 0 {
		t.Errorf("fd not non-blocking: %#x %v", fl, err)
	}
	fdf, err := unix.FcntlInt(uintptr(d.Fd()), unix.F_GETFD, 0)
	if err != nil || fdf&unix.FD_CLOEXEC == 0 {
		t.Errorf("fd not close-on-exec: %#x %v", fdf, err)
	}
	ifr, _ := unix.NewIfreq("")
	if err := unix.IoctlIfreq(d.Fd(), unix.TUNGETIFF, ifr); err != nil {
		t.Fatal(err)
	}
	if f := ifr.Uint16(); f&(unix.IFF_TAP|unix.IFF_NO_PI|unix.IFF_VNET_HDR) != unix.IFF_TAP|unix.IFF_NO_PI|unix.IFF_VNET_HDR {
		t.Errorf("flags %#x", f)
	}
}

func TestOpenErrors(t *testing.T) {
	requireRoot(t)
	ns := newNS(t)
	var errLo, errLong error
	ns.do(func() {
		_, errLo = Open("lo") // exists and is not a tap
		_, errLong = Open(strings.Repeat("x", 20))
	})
	want := "TUNSETIFF ioctl on /dev/net/tun failed: Invalid argument"
	for _, err := range []error{errLo, errLong} {
		if err == nil || err.Error() != want {
			t.Errorf("got %v, want %q", err, want)
		}
	}
	if !errors.Is(errLo, unix.EINVAL) {
		t.Errorf("%v does not wrap EINVAL", errLo)
	}
}

// TestKernelFrames makes the namespace's stack emit ARP requests, answers
// them with a hand-built ARP reply, then pings the tap's address with a
// hand-built echo request and reads the reply.
func TestKernelFrames(t *testing.T) {
	ns, d, h, link := setup(t)
	mac := [6]byte(link.Attrs().HardwareAddr)

	// A UDP datagram to a neighbour makes the kernel resolve it with ARP.
	var serr error
	ns.do(func() {
		s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			serr = err
			return
		}
		defer unix.Close(s)
		serr = unix.Sendto(s, []byte("hello"), 0, &unix.SockaddrInet4{Port: 9, Addr: peerAddr.As4()})
	})
	if serr != nil {
		t.Fatal(serr)
	}
	req := readUntil(t, d, "ARP request", 5*time.Second, func(f []byte) bool {
		return pkt.Ethernet(f).EtherType() == pkt.EtherTypeARP
	})
	e := pkt.Ethernet(req)
	if e.Src() != mac || e.Dst() != pkt.Broadcast {
		t.Fatalf("ARP request %x -> %x, want %x -> broadcast", e.Src(), e.Dst(), mac)
	}
	a, err := pkt.ParseARP(e.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if a.Op() != pkt.ARPRequest || a.SenderMAC() != mac || a.SenderIP() != tapAddr || a.TargetIP() != peerAddr {
		t.Fatalf("unexpected ARP request %x", []byte(a))
	}

	// Answer it: the neighbour entry resolves and the queued datagram
	// leaves towards the peer's MAC.
	if err := d.Write(arpFrame(pkt.ARPReply, peerMAC, mac, peerAddr, tapAddr)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	udp := readUntil(t, d, "queued UDP datagram", 5*time.Second, func(f []byte) bool {
		var dec pkt.Decoded
		return pkt.Decode(f, &dec) == nil && dec.L4Proto == pkt.ProtoUDP && dec.Dst == peerAddr
	})
	if e := pkt.Ethernet(udp); e.Dst() != peerMAC || e.Src() != mac {
		t.Errorf("UDP frame %x -> %x", e.Src(), e.Dst())
	}
	if !strings.HasSuffix(string(udp), "hello") {
		t.Errorf("UDP payload: %q", udp)
	}
	neighs, err := h.NeighList(link.Attrs().Index, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range neighs {
		if n.IP.Equal(net.IP(peerAddr.AsSlice())) && [6]byte(n.HardwareAddr) == peerMAC {
			found = true
		}
	}
	if !found {
		t.Errorf("no neighbour entry %v lladdr %x: %v", peerAddr, peerMAC, neighs)
	}

	// Ping the tap's address; WriteBatch with two requests.
	n, err := d.WriteBatch([][]byte{echoRequest(mac, 0x1234, 1), echoRequest(mac, 0x1234, 2)})
	if n != 2 || err != nil {
		t.Fatalf("WriteBatch: %d, %v", n, err)
	}
	var seen [3]bool
	readUntil(t, d, "echo replies", 5*time.Second, func(f []byte) bool {
		for seq := uint16(1); seq <= 2; seq++ {
			if isEchoReply(f, 0x1234, seq) {
				if e := pkt.Ethernet(f); e.Src() != mac || e.Dst() != peerMAC {
					t.Errorf("echo reply %x -> %x", e.Src(), e.Dst())
				}
				seen[seq] = true
			}
		}
		return seen[1] && seen[2]
	})
}

// TestBadChecksumDropped checks that a zero virtio-net header does not mark
// checksums as valid: an echo request with a broken ICMP checksum gets no
// reply, so the kernel verified it.
func TestBadChecksumDropped(t *testing.T) {
	_, d, h, link := setup(t)
	mac := [6]byte(link.Attrs().HardwareAddr)
	if err := h.NeighAdd(&netlink.Neigh{LinkIndex: link.Attrs().Index, State: netlink.NUD_PERMANENT,
		IP: net.IP(peerAddr.AsSlice()), HardwareAddr: net.HardwareAddr(peerMAC[:])}); err != nil {
		t.Fatal(err)
	}
	bad := echoRequest(mac, 7, 1)
	bad[len(bad)-1] ^= 0xff
	if err := d.Write(bad); err != nil {
		t.Fatal(err)
	}
	if err := d.Write(echoRequest(mac, 7, 2)); err != nil {
		t.Fatal(err)
	}
	rep := readUntil(t, d, "echo reply", 5*time.Second, func(f []byte) bool { return isEchoReply(f, 7, 2) || isEchoReply(f, 7, 1) })
	if isEchoReply(rep, 7, 1) {
		t.Fatal("echo request with a bad checksum was answered")
	}
}

// TestServeDelete checks Serve's error when the interface is deleted under
// an open descriptor: poll reports POLLERR, reads fail with EBADFD.
func TestServeDelete(t *testing.T) {
	_, d, h, link := setup(t)
	mac := [6]byte(link.Attrs().HardwareAddr)
	pcapPath := filepath.Join(t.TempDir(), "tap.pcap")
	pw, err := pcap.Open(pcapPath)
	if err != nil {
		t.Fatal(err)
	}
	var replies atomic.Int32
	res := make(chan error, 1)
	go func() {
		res <- d.Serve(make(chan struct{}), pw, func(frames [][]byte) {
			for _, f := range frames {
				if isEchoReply(f, 9, 1) {
					replies.Add(1)
				}
			}
		})
	}()
	if err := h.NeighAdd(&netlink.Neigh{LinkIndex: link.Attrs().Index, State: netlink.NUD_PERMANENT,
		IP: net.IP(peerAddr.AsSlice()), HardwareAddr: net.HardwareAddr(peerMAC[:])}); err != nil {
		t.Fatal(err)
	}
	if err := d.Write(echoRequest(mac, 9, 1)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); replies.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if replies.Load() == 0 {
		t.Fatal("Serve did not pass the echo reply to the handler")
	}
	if err := h.LinkDel(link); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-res:
		if !errors.Is(err, ErrDisconnect) || err.Error() != "Disconnect event on /dev/net/tun device, exiting" {
			t.Fatalf("Serve returned %v", err)
		}
		if !errors.Is(err, unix.EBADFD) {
			t.Errorf("Serve error does not wrap EBADFD: %v", errors.Unwrap(err))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the interface was deleted")
	}
	// Afterwards reads and writes fail with EBADFD; Wait reports it too.
	bufs, out := newBufs(1)
	if _, err := d.ReadBatch(bufs, out); err != unix.EBADFD {
		t.Errorf("ReadBatch after delete: %v", err)
	}
	if err := d.Write(echoRequest(mac, 9, 2)); err != unix.EBADFD {
		t.Errorf("Write after delete: %v", err)
	}
	if _, err := d.Wait(time.Second); !errors.Is(err, ErrDisconnect) {
		t.Errorf("Wait after delete: %v", err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(pcapPath); err != nil || st.Size() <= pcap.FileHeaderLen {
		t.Errorf("pcap file not written by Serve: %v %v", st, err)
	}
}

// TestServeStop checks that closing stop ends Serve with a nil error.
func TestServeStop(t *testing.T) {
	_, d, _, _ := setup(t)
	stop := make(chan struct{})
	res := make(chan error, 1)
	go func() { res <- d.Serve(stop, nil, func([][]byte) {}) }()
	time.Sleep(50 * time.Millisecond)
	close(stop)
	select {
	case err := <-res:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after stop")
	}
}

// TestNamespaceOrphaned documents that a tap descriptor keeps its namespace
// alive: after the last thread in the namespace is gone (and no other
// descriptor refers to it), the device still answers a ping, and Wait sees
// no error event.
func TestNamespaceOrphaned(t *testing.T) {
	ns, d, h, link := setup(t)
	mac := [6]byte(link.Attrs().HardwareAddr)
	if err := h.NeighAdd(&netlink.Neigh{LinkIndex: link.Attrs().Index, State: netlink.NUD_PERMANENT,
		IP: net.IP(peerAddr.AsSlice()), HardwareAddr: net.HardwareAddr(peerMAC[:])}); err != nil {
		t.Fatal(err)
	}
	var tid int
	ns.do(func() { tid = unix.Gettid() })
	h.Close()
	ns.stop() // the locked goroutine returns: its thread exits
	taskDir := "/proc/self/task/" + itoa(tid)
	for deadline := time.Now().Add(20 * time.Second); ; {
		if _, err := os.Stat(taskDir); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("namespace thread did not exit")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := d.Write(echoRequest(mac, 11, 1)); err != nil {
		t.Fatal(err)
	}
	readUntil(t, d, "echo reply from orphaned namespace", 5*time.Second, func(f []byte) bool { return isEchoReply(f, 11, 1) })
}

func itoa(v int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

func TestAllocs(t *testing.T) {
	_, d, h, link := setup(t)
	mac := [6]byte(link.Attrs().HardwareAddr)
	if err := h.NeighAdd(&netlink.Neigh{LinkIndex: link.Attrs().Index, State: netlink.NUD_PERMANENT,
		IP: net.IP(peerAddr.AsSlice()), HardwareAddr: net.HardwareAddr(peerMAC[:])}); err != nil {
		t.Fatal(err)
	}
	req := echoRequest(mac, 13, 1)
	batch := [][]byte{req, req}
	bufs, out := newBufs(4)
	drain := func() {
		for {
			n, err := d.ReadBatch(bufs, out)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
		}
	}
	got := 0
	roundTrip := func() {
		if err := d.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := d.WriteBatch(batch); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for seen := 0; seen < 3; {
			if time.Now().After(deadline) {
				t.Fatal("echo replies not seen within 5s")
			}
			if _, err := d.Wait(100 * time.Millisecond); err != nil {
				t.Fatal(err)
			}
			n, err := d.ReadBatch(bufs, out)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range out[:n] {
				if isEchoReply(f, 13, 1) {
					seen++
					got++
				}
			}
		}
	}
	roundTrip() // warm-up
	drain()
	if a := testing.AllocsPerRun(100, roundTrip); a != 0 {
		t.Errorf("Write/WriteBatch/Wait/ReadBatch: %v allocs per round trip", a)
	}
	if a := testing.AllocsPerRun(100, drain); a != 0 { // EAGAIN path
		t.Errorf("ReadBatch (empty): %v allocs", a)
	}
	if got == 0 {
		t.Fatal("no echo replies")
	}
}

// BenchmarkEcho writes an echo request and reads the reply: two tap
// syscalls, a poll, and the kernel's ICMP path in between.
func BenchmarkEcho(b *testing.B) {
	_, d, h, link := setup(b)
	mac := [6]byte(link.Attrs().HardwareAddr)
	if err := h.NeighAdd(&netlink.Neigh{LinkIndex: link.Attrs().Index, State: netlink.NUD_PERMANENT,
		IP: net.IP(peerAddr.AsSlice()), HardwareAddr: net.HardwareAddr(peerMAC[:])}); err != nil {
		b.Fatal(err)
	}
	req := echoRequest(mac, 15, 1)
	bufs, out := newBufs(4)
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Write(req); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for done := false; !done; {
			if time.Now().After(deadline) {
				b.Fatal("echo reply not seen within 5s")
			}
			if _, err := d.Wait(100 * time.Millisecond); err != nil {
				b.Fatal(err)
			}
			n, _ := d.ReadBatch(bufs, out)
			for _, f := range out[:n] {
				if len(f) > 34 && binary.BigEndian.Uint16(f[12:]) == pkt.EtherTypeIPv4 && f[23] == pkt.ProtoICMP {
					done = true
				}
			}
		}
	}
}

// TestUDPSegmentation writes UDP super-frames (GSO_UDP_L4) whose payloads
// after the first are separate pieces of one write, as the UDP handler does,
// and checks that a socket in the namespace receives each datagram whole
// and in order, the last one shorter; and that too many pieces are refused.
func TestUDPSegmentation(t *testing.T) {
	ns, d, nl, link := setup(t)
	if err := d.EnableOffload(); err != nil {
		t.Fatal(err)
	}
	if !d.UDPSegmentation() {
		var uts unix.Utsname
		_ = unix.Uname(&uts)
		t.Fatalf("kernel %s: no UDP segmentation offload on the tap (Linux 6.2 has it)", unix.ByteSliceToString(uts.Release[:]))
	}
	mac := [6]byte(link.Attrs().HardwareAddr)
	var s int
	var serr error
	ns.do(func() {
		s, serr = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if serr == nil {
			serr = unix.Bind(s, &unix.SockaddrInet4{Port: 7000, Addr: tapAddr.As4()})
		}
	})
	if serr != nil {
		t.Fatal(serr)
	}
	defer unix.Close(s)
	_ = unix.SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5})

	// Five datagrams of 1000 bytes and one of 300, each filled with its
	// number; the first in the frame, the others as pieces.
	const size, last, count = 1000, 300, 6
	payloads := make([][]byte, count)
	total := 0
	for i := range payloads {
		n := size
		if i == count-1 {
			n = last
		}
		payloads[i] = bytes.Repeat([]byte{byte('a' + i)}, n)
		total += n
	}
	f := make([]byte, pkt.EthernetHeaderLen+20+8+size)
	n := pkt.BuildEthernet(f, mac, peerMAC, pkt.EtherTypeIPv4)
	n += pkt.BuildIPv4(f[n:], peerAddr, tapAddr, pkt.ProtoUDP, 8+total, 64, 0)
	pkt.BuildUDP(f[n:], 6000, 7000, total)
	binary.BigEndian.PutUint16(f[n+6:], pkt.Fold(pkt.PseudoHeaderSum(peerAddr, tapAddr, pkt.ProtoUDP, uint32(8+total))))
	copy(f[n+8:], payloads[0])
	o := []OffloadAt{{Index: 0, Offload: Offload{GSOSize: size, Partial: true, Tail: payloads[1:]}}}
	if w, err := d.WriteOffload([][]byte{f}, o); w != 1 || err != nil {
		t.Fatalf("WriteOffload: %d, %v", w, err)
	}
	buf := make([]byte, 4000)
	for i := range payloads {
		m, _, err := unix.Recvfrom(s, buf, 0)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if !bytes.Equal(buf[:m], payloads[i]) {
			t.Fatalf("datagram %d: %d bytes %q..., want %d of %q", i, m, buf[:min(m, 8)], len(payloads[i]), payloads[i][:1])
		}
	}

	o[0].Tail = make([][]byte, MaxTail+1)
	if _, err := d.WriteOffload([][]byte{f}, o); err != unix.EINVAL {
		t.Errorf("%d pieces: %v, want EINVAL", MaxTail+1, err)
	}

	// The other way, the namespace's kernel cuts what a socket sends
	// with UDP_SEGMENT before the tap: three frames of one datagram each
	// (the UDP handler takes a frame for one datagram).
	ns.do(func() {
		serr = nl.NeighSet(&netlink.Neigh{LinkIndex: link.Attrs().Index, State: netlink.NUD_PERMANENT,
			IP: net.IP(peerAddr.AsSlice()), HardwareAddr: net.HardwareAddr(peerMAC[:])})
		if serr != nil {
			return
		}
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			serr = err
			return
		}
		defer unix.Close(c)
		if serr = unix.Connect(c, &unix.SockaddrInet4{Port: 7001, Addr: peerAddr.As4()}); serr != nil {
			return
		}
		oob := make([]byte, unix.CmsgSpace(2))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
		h.SetLen(unix.CmsgLen(2))
		binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], 1000)
		serr = unix.Sendmsg(c, bytes.Repeat([]byte("s"), 3000), oob, nil, 0)
	})
	if serr != nil {
		t.Fatal(serr)
	}
	seen := 0
	readUntil(t, d, "three datagrams", 5*time.Second, func(f []byte) bool {
		var dec pkt.Decoded
		if pkt.Decode(f, &dec) != nil || dec.L4Proto != pkt.ProtoUDP || dec.Dst != peerAddr {
			return false
		}
		if dec.L4Len != 8+1000 {
			t.Fatalf("a UDP frame from the namespace of %d bytes: a super-frame", dec.L4Len)
		}
		seen++
		return seen == 3
	})
}
