// SPDX-License-Identifier: GPL-2.0-or-later

package procnet

import (
	"bytes"
	"errors"
	"net"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func portsOf(list ...int) *Ports {
	var p Ports
	for _, port := range list {
		p.Set(uint16(port))
	}
	return &p
}

func list(p *Ports) []int {
	var l []int
	for port := p.Next(0); port >= 0; port = p.Next(port + 1) {
		l = append(l, port)
	}
	return l
}

// The sample tables were captured on this kind of machine with: TCP
// listeners on 0.0.0.0:40001, 127.0.0.1:40002 (with an established
// connection), [::]:40003, [::1]:40004 (with an established connection),
// plus a service on port 2024 and hundreds of TIME_WAIT sockets (the IPv4
// table is longer than one read); UDP sockets bound on 0.0.0.0:40005 and
// [::]:40006, and connected ones on 40007 and 40008.
var (
	sampleTCP = portsOf(2024, 40001, 40002, 40003, 40004)
	sampleUDP = portsOf(40005, 40006)
)

func TestSample(t *testing.T) {
	for _, tc := range []struct {
		proto string
		want  *Ports
	}{{"tcp", sampleTCP}, {"udp", sampleUDP}} {
		var got Ports
		if err := Scan("testdata/sample", tc.proto, &got); err != nil {
			t.Fatal(err)
		}
		if !got.Equal(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.proto, list(&got), list(tc.want))
		}
	}
}

func TestSampleAt(t *testing.T) {
	d, err := os.Open("testdata/sample")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var got Ports
	if err := ScanAt(int(d.Fd()), "tcp", &got); err != nil {
		t.Fatal(err)
	}
	if !got.Equal(sampleTCP) {
		t.Errorf("got %v, want %v", list(&got), list(sampleTCP))
	}
	// Accumulates: UDP on top of TCP, as for upstream's UDP auto mode.
	if err := ScanAt(int(d.Fd()), "udp", &got); err != nil {
		t.Fatal(err)
	}
	want := *sampleTCP
	want.Or(sampleUDP)
	if !got.Equal(&want) {
		t.Errorf("got %v, want %v", list(&got), list(&want))
	}
}

func TestScanFile(t *testing.T) {
	f, err := os.Open("testdata/sample/tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := NewScanner()
	for i := 0; i < 2; i++ { // the same descriptor, scanned again
		var got Ports
		if err := s.ScanFile(int(f.Fd()), StateListen, &got); err != nil {
			t.Fatal(err)
		}
		if want := portsOf(2024, 40001, 40002); !got.Equal(want) {
			t.Errorf("scan %d: got %v, want %v", i, list(&got), list(want))
		}
	}
}

func TestExclude(t *testing.T) {
	s := NewScanner()
	s.Exclude = portsOf(40001, 40003, 9)
	var got Ports
	if err := s.Scan("testdata/sample", "tcp", &got); err != nil {
		t.Fatal(err)
	}
	if want := portsOf(2024, 40002, 40004); !got.Equal(want) {
		t.Errorf("got %v, want %v", list(&got), list(want))
	}
}

// TestSmallBuffers: lines cut at the end of the buffer are carried over;
// lines longer than the buffer are dropped, without harm.
func TestSmallBuffers(t *testing.T) {
	for _, size := range []int{180, 257, 1000, 4096} {
		s := newScanner(size)
		var got Ports
		if err := s.Scan("testdata/sample", "tcp", &got); err != nil {
			t.Fatal(err)
		}
		if !got.Equal(sampleTCP) {
			t.Errorf("buffer %d: got %v, want %v", size, list(&got), list(sampleTCP))
		}
	}
	s := newScanner(100) // shorter than a line
	var got Ports
	if err := s.Scan("testdata/sample", "tcp", &got); err != nil {
		t.Fatal(err)
	}
	if got.Count() != 0 {
		t.Errorf("buffer 100: got %v, want nothing", list(&got))
	}
}

func TestErrors(t *testing.T) {
	var p Ports
	if err := Scan("testdata/sample", "sctp", &p); !errors.Is(err, ErrProto) {
		t.Errorf("sctp: %v", err)
	}
	if err := Scan("testdata/nonexistent", "tcp", &p); !errors.Is(err, unix.ENOENT) {
		t.Errorf("missing directory: %v", err)
	}
	if err := Scan("testdata/sample/tcp", "tcp", &p); err == nil {
		t.Errorf("file as directory: no error")
	}
}

// parseString parses one table given as a string, in chunks of at most
// chunk bytes per read, with a buffer of size bytes.
func parseString(data string, state uint8, chunk, size int) *Ports {
	var out Ports
	s := newScanner(size)
	p := parser{want: state, out: &out}
	rest := data
	s.run(&p, func(b []byte) (int, unix.Errno) {
		n := min(len(b), chunk, len(rest))
		copy(b, rest[:n])
		rest = rest[n:]
		return n, 0
	})
	return &out
}

func TestParseRobust(t *testing.T) {
	for _, tc := range []struct {
		name  string
		data  string
		state uint8
		want  []int
	}{
		{"no trailing newline", "  sl  local_address rem_address   st\n   0: 00000000:0016 00000000:0000 0A", StateListen, []int{22}},
		{"lower case", "sl local_address rem_address st\n0: 0100007f:00ff 00000000:0000 0a\n", StateListen, []int{255}},
		{"CRLF and tabs", "sl local_address rem_address st\r\n0:\t0100007F:0050\t00000000:0000\t0A\r\n", StateListen, []int{80}},
		{"no header", "   0: 00000000:0016 00000000:0000 0A 0\n   1: 00000000:0017 00000000:0000 0A 0\n", StateListen, []int{22, 23}},
		{"columns moved", "st sl local_address\n0A 0: 00000000:0019\n01 1: 00000000:001A\n", StateListen, []int{25}},
		{"header without st", "sl local_address rem_address x\n0: 00000000:0016 00000000:0000 0A\n", StateListen, []int{22}},
		{"empty", "", StateListen, nil},
		{"header only", "  sl  local_address rem_address   st tx_queue\n", StateListen, nil},
		{"malformed", strings.Join([]string{
			"  sl  local_address rem_address   st",
			"   0: 00000000:0016",                                          // short
			"   1: 00000000:1FFFF 00000000:0000 0A",                        // port too long
			"   2: 0000000G:0016 00000000:0000 0A",                         // bad address
			"   3: 00000000:00G6 00000000:0000 0A",                         // bad port
			"   4: 00000000:0016 00000000:0000 0AA",                        // bad state
			"   5: :0016 00000000:0000 0A",                                 // no address
			"   6: 00000000: 00000000:0000 0A",                             // no port
			"   7: 000000000016 00000000:0000 0A",                          // no colon
			"   8: 00000000:0000 00000000:0000 0A",                         // port 0
			"   9: 00000000:0015 00000000:0000 06",                         // TIME_WAIT
			"",                                                             // empty
			"garbage",                                                      // one field
			"  10: 00000000:0035 00000000:0000 0A extra",                   // fine
			"  11: " + strings.Repeat("0", 300) + ":0036 00000000:0000 0A", // long address
		}, "\n"), StateListen, []int{0x35, 0x36}},
		{"udp", "sl local_address rem_address st\n0: 00000000:0035 00000000:0000 07\n1: 0100007F:0036 0100007F:0035 01\n", StateClose, []int{53}},
	} {
		for _, chunk := range []int{1, 7, 4096} {
			got := parseString(tc.data, tc.state, chunk, 4096)
			if want := portsOf(tc.want...); !got.Equal(want) {
				t.Errorf("%s (chunks of %d): got %v, want %v", tc.name, chunk, list(got), tc.want)
			}
		}
	}
}

func TestPorts(t *testing.T) {
	var p Ports
	for _, port := range []uint16{0, 1, 63, 64, 65535, 1000} {
		p.Set(port)
	}
	if p.Count() != 6 || !p.Has(63) || !p.Has(65535) || p.Has(2) {
		t.Fatalf("Set/Has/Count: %v", list(&p))
	}
	if got := list(&p); len(got) != 6 || got[0] != 0 || got[3] != 64 || got[4] != 1000 || got[5] != 65535 {
		t.Fatalf("Next: %v", got)
	}
	if p.Next(65536) != -1 || p.Next(-5) != 0 || p.Next(1001) != 65535 {
		t.Fatal("Next bounds")
	}
	p.Clear(0)
	q := *portsOf(1, 63, 64, 65535, 1000)
	if !p.Equal(&q) {
		t.Fatalf("Clear/Equal: %v", list(&p))
	}
	p.AndNot(portsOf(63, 64, 7))
	if !p.Equal(portsOf(1, 1000, 65535)) {
		t.Fatalf("AndNot: %v", list(&p))
	}
	p.Or(portsOf(2))
	p.Zero()
	if p.Count() != 0 || p.Next(0) != -1 {
		t.Fatal("Zero")
	}
}

func localPort(t *testing.T, a net.Addr) int {
	t.Helper()
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.Port
	case *net.UDPAddr:
		return a.Port
	}
	t.Fatalf("address %v", a)
	return 0
}

// TestLive binds sockets and checks that scans of this machine's tables see
// them, and stop seeing them once closed.
func TestLive(t *testing.T) {
	type sock struct {
		proto string
		port  int
		bound bool // expected in the scan
		close func() error
	}
	var socks []sock
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Logf("listen %s: %v (skipped)", addr, err)
			continue
		}
		socks = append(socks, sock{"tcp", localPort(t, ln.Addr()), true, ln.Close})
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		socks = append(socks, sock{"udp", localPort(t, pc.LocalAddr()), true, pc.Close})
		// A connected UDP socket is not a bound service.
		uc, err := net.Dial("udp", pc.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		socks = append(socks, sock{"udp", localPort(t, uc.LocalAddr()), false, uc.Close})
	}
	if len(socks) == 0 {
		t.Skip("no loopback")
	}
	d, err := os.Open("/proc/self/net")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	scans := map[string]func(proto string, p *Ports) error{
		"Scan /proc/net": func(proto string, p *Ports) error { return Scan("/proc/net", proto, p) },
		"ScanAt":         func(proto string, p *Ports) error { return ScanAt(int(d.Fd()), proto, p) },
	}
	for name, scan := range scans {
		var tcp, udp Ports
		if err := scan("tcp", &tcp); err != nil {
			t.Fatal(err)
		}
		if err := scan("udp", &udp); err != nil {
			t.Fatal(err)
		}
		for _, s := range socks {
			p := &tcp
			if s.proto == "udp" {
				p = &udp
			}
			if p.Has(uint16(s.port)) != s.bound {
				t.Errorf("%s: %s port %d: seen %v, want %v", name, s.proto, s.port, !s.bound, s.bound)
			}
		}
	}
	for _, s := range socks {
		s.close()
	}
	var tcp, udp Ports
	if err := Scan("/proc/net", "tcp", &tcp); err != nil {
		t.Fatal(err)
	}
	if err := Scan("/proc/net", "udp", &udp); err != nil {
		t.Fatal(err)
	}
	for _, s := range socks {
		p := &tcp
		if s.proto == "udp" {
			p = &udp
		}
		if s.bound && p.Has(uint16(s.port)) {
			t.Errorf("%s port %d still seen after close", s.proto, s.port)
		}
	}
}

func TestAllocs(t *testing.T) {
	s := NewScanner()
	var p Ports
	d, err := os.Open("testdata/sample")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	f, err := os.Open("testdata/sample/tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, fn := range map[string]func() error{
		"Scan":         func() error { return s.Scan("testdata/sample", "tcp", &p) },
		"Scan /proc":   func() error { return s.Scan("/proc/net", "udp", &p) },
		"ScanAt":       func() error { return s.ScanAt(int(d.Fd()), "tcp", &p) },
		"ScanFile":     func() error { return s.ScanFile(int(f.Fd()), StateListen, &p) },
		"package Scan": func() error { return Scan("testdata/sample", "udp", &p) },
	} {
		var ferr error
		n := testing.AllocsPerRun(20, func() {
			if err := fn(); err != nil {
				ferr = err
			}
		})
		if ferr != nil {
			t.Fatal(ferr)
		}
		if n != 0 {
			t.Errorf("%s: %v allocations per scan", name, n)
		}
	}
}

func BenchmarkScanSample(b *testing.B) {
	s := NewScanner()
	var p Ports
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := s.Scan("testdata/sample", "tcp", &p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScanProc(b *testing.B) {
	s := NewScanner()
	var p Ports
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := s.Scan("/proc/net", "tcp", &p); err != nil {
			b.Fatal(err)
		}
	}
}

// reference is a straightforward parser with the same rules, for the fuzz
// target to compare against.
func reference(data []byte, state uint8) *Ports {
	var out Ports
	blank := func(r rune) bool { return r < 0x80 && isBlank(byte(r)) }
	lines := bytes.Split(data, []byte("\n"))
	localCol, stCol := defLocalCol, defStateCol
	for i, line := range lines {
		fields := bytes.FieldsFunc(line, blank)
		if i == 0 {
			local, st := -1, -1
			for j, f := range fields {
				if string(f) == "local_address" && local < 0 {
					local = j
				}
				if string(f) == "st" && st < 0 {
					st = j
				}
			}
			if local >= 0 {
				if st >= 0 && st != local {
					localCol, stCol = local, st
				}
				continue
			}
		}
		if len(fields) <= max(localCol, stCol) {
			continue
		}
		s, ok := parseHex(fields[stCol], 2)
		if !ok || uint8(s) != state {
			continue
		}
		a := fields[localCol]
		c := bytes.LastIndexByte(a, ':')
		if c <= 0 || !isHex(a[:c]) {
			continue
		}
		port, ok := parseHex(a[c+1:], 4)
		if !ok || port == 0 {
			continue
		}
		out.Set(uint16(port))
	}
	return &out
}

// FuzzParse: any input, cut into reads of any size, parses without panic
// to what the reference parser finds (when every line fits the buffer).
func FuzzParse(f *testing.F) {
	for _, name := range []string{"tcp", "tcp6", "udp", "udp6"} {
		b, err := os.ReadFile("testdata/sample/" + name)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) > 4000 {
			b = b[:4000]
		}
		f.Add(b, uint8(StateListen), uint16(100))
		f.Add(b, uint8(StateClose), uint16(7))
	}
	f.Add([]byte("st local_address\n0A 1:2\n"), uint8(StateListen), uint16(1))
	f.Fuzz(func(t *testing.T, data []byte, state uint8, chunk uint16) {
		const size = 512
		c := int(chunk)%size + 1
		got := parseString(string(data), state, c, size)
		longest := 0
		for _, l := range bytes.Split(data, []byte("\n")) {
			longest = max(longest, len(l))
		}
		if longest >= size {
			return // overlong lines are dropped by the scanner only
		}
		if want := reference(data, state); !got.Equal(want) {
			t.Fatalf("chunks of %d: got %v, reference %v", c, list(got), list(want))
		}
	})
}
