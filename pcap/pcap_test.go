// SPDX-License-Identifier: GPL-2.0-or-later

package pcap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type record struct {
	sec, usec uint32
	origLen   uint32
	data      []byte
}

// readPcap parses a classic pcap file written in host byte order.
func readPcap(t *testing.T, path string) []record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < FileHeaderLen {
		t.Fatalf("file too short: %d bytes", len(b))
	}
	ne := binary.NativeEndian
	if m := ne.Uint32(b[0:]); m != 0xa1b2c3d4 {
		t.Fatalf("magic %#x", m)
	}
	if ma, mi := ne.Uint16(b[4:]), ne.Uint16(b[6:]); ma != 2 || mi != 4 {
		t.Fatalf("version %d.%d", ma, mi)
	}
	if z, s := ne.Uint32(b[8:]), ne.Uint32(b[12:]); z != 0 || s != 0 {
		t.Fatalf("thiszone %d sigfigs %d", z, s)
	}
	if sl := ne.Uint32(b[16:]); sl != 65535 {
		t.Fatalf("snaplen %d", sl)
	}
	if lt := ne.Uint32(b[20:]); lt != 1 {
		t.Fatalf("linktype %d", lt)
	}
	b = b[FileHeaderLen:]
	var recs []record
	for len(b) > 0 {
		if len(b) < RecordHeaderLen {
			t.Fatalf("truncated record header (%d bytes left)", len(b))
		}
		r := record{sec: ne.Uint32(b[0:]), usec: ne.Uint32(b[4:]), origLen: ne.Uint32(b[12:])}
		caplen := int(ne.Uint32(b[8:]))
		if caplen > 65535 || caplen > int(r.origLen) {
			t.Fatalf("bad caplen %d (len %d)", caplen, r.origLen)
		}
		b = b[RecordHeaderLen:]
		if len(b) < caplen {
			t.Fatalf("truncated record data: %d < %d", len(b), caplen)
		}
		r.data = b[:caplen]
		b = b[caplen:]
		recs = append(recs, r)
	}
	return recs
}

// arpRequest builds who-has 192.0.2.2 tell 192.0.2.1 from 02:00:00:00:00:01.
func arpRequest() []byte {
	f := make([]byte, 42)
	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:12], []byte{2, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(f[12:], 0x0806)
	a := f[14:]
	binary.BigEndian.PutUint16(a[0:], 1)      // Ethernet
	binary.BigEndian.PutUint16(a[2:], 0x0800) // IPv4
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], 1) // request
	copy(a[8:14], []byte{2, 0, 0, 0, 0, 1})
	copy(a[14:18], []byte{192, 0, 2, 1})
	copy(a[24:28], []byte{192, 0, 2, 2})
	return f
}

func TestWriteAndParse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.pcap")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	t0 := time.Unix(1700000000, 123456789)
	big := make([]byte, 70000)
	for i := range big {
		big[i] = byte(i)
	}
	frames := [][]byte{arpRequest(), {1, 2, 3}, {}, big}
	if err := w.WriteFrame(frames[0], t0); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrames(frames[1:], t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(frames[0], t0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("write after close: %v", err)
	}
	recs := readPcap(t, path)
	if len(recs) != len(frames) {
		t.Fatalf("%d records, want %d", len(recs), len(frames))
	}
	for i, r := range recs {
		want := frames[i]
		if len(want) > 65535 {
			want = want[:65535]
		}
		if !bytes.Equal(r.data, want) || int(r.origLen) != len(frames[i]) {
			t.Errorf("record %d: %d/%d bytes, want %d/%d", i, len(r.data), r.origLen, len(want), len(frames[i]))
		}
		sec, usec := uint32(1700000000), uint32(123456)
		if i > 0 {
			sec++
		}
		if r.sec != sec || r.usec != usec {
			t.Errorf("record %d: time %d.%06d, want %d.%06d", i, r.sec, r.usec, sec, usec)
		}
	}
}

func TestLargeBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "batch.pcap")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for i := 0; i < 1500; i++ { // more than one writev (IOV_MAX)
		frames = append(frames, []byte(fmt.Sprintf("frame %d", i)))
	}
	if err := w.WriteFrames(frames, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs := readPcap(t, path)
	if len(recs) != len(frames) {
		t.Fatalf("%d records, want %d", len(recs), len(frames))
	}
	for i, r := range recs {
		if !bytes.Equal(r.data, frames[i]) {
			t.Fatalf("record %d: %q", i, r.data)
		}
	}
}

func TestNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fd.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(arpRequest(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if recs := readPcap(t, path); len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
}

func TestOpenError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "x.pcap")
	_, err := Open(path)
	want := "Failed to open pcap file " + path + ": No such file or directory"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

func TestNilWriter(t *testing.T) {
	var w *Writer
	if err := w.WriteFrame([]byte{1}, time.Now()); err != nil {
		t.Error(err)
	}
	if err := w.WriteFrames([][]byte{{1}}, time.Now()); err != nil {
		t.Error(err)
	}
	if err := w.Close(); err != nil {
		t.Error(err)
	}
	if w.File() != nil {
		t.Error("File() of nil writer")
	}
}

func TestConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conc.pcap")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			f := bytes.Repeat([]byte{byte(g)}, 100+g)
			for i := 0; i < 200; i++ {
				w.WriteFrame(f, time.Now())
				w.WriteFrames([][]byte{f, f}, time.Now())
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
	w.Close()
	recs := readPcap(t, path)
	if len(recs) != 4*200*3 {
		t.Fatalf("%d records", len(recs))
	}
	for _, r := range recs {
		g := len(r.data) - 100
		if g < 0 || g > 3 || !bytes.Equal(r.data, bytes.Repeat([]byte{byte(g)}, 100+g)) {
			t.Fatalf("interleaved record %v", r.data[:min(len(r.data), 8)])
		}
	}
}

func TestAllocs(t *testing.T) {
	w, err := Open(filepath.Join(t.TempDir(), "a.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f := arpRequest()
	batch := [][]byte{f, f, f, f, f, f, f, f, f, f}
	now := time.Now()
	if a := testing.AllocsPerRun(1000, func() { w.WriteFrame(f, now) }); a != 0 {
		t.Errorf("WriteFrame: %v allocs", a)
	}
	if a := testing.AllocsPerRun(200, func() { w.WriteFrames(batch, now) }); a != 0 {
		t.Errorf("WriteFrames: %v allocs", a)
	}
}

func TestTcpdump(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tcpdump not found: install it (apt-get install tcpdump)")
		}
		t.Skip("tcpdump not installed")
	}
	path := filepath.Join(t.TempDir(), "dump.pcap")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrames([][]byte{arpRequest(), arpRequest()}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tcpdump, "-nn", "-r", path).CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "ARP, Request who-has 192.0.2.2 tell 192.0.2.1"); n != 2 {
		t.Fatalf("tcpdump listed %d ARP requests:\n%s", n, out)
	}
	if !strings.Contains(string(out), "EN10MB") {
		t.Errorf("link type not Ethernet:\n%s", out)
	}
}

func BenchmarkWriteFrame(b *testing.B) {
	w, err := Open(filepath.Join(b.TempDir(), "b.pcap"))
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	f := make([]byte, 1514)
	now := time.Now()
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	for b.Loop() {
		w.WriteFrame(f, now)
	}
}
