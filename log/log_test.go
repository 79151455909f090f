// SPDX-License-Identifier: GPL-2.0-or-later

package log

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"passt/internal/errno"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// syncBuffer is a goroutine-safe bytes.Buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// setup resets the logger to its initial state, with stderr captured and
// syslog pointed at a path nobody listens on.
func setup(t *testing.T, prog string) *syncBuffer {
	t.Helper()
	mu.Lock()
	if logFile != nil {
		logFile.Close()
		logFile = nil
	}
	syslogClose()
	syslogNoConnect = false
	exitFns = nil
	mu.Unlock()

	out := &syncBuffer{}
	stderr = out
	SyslogPath = filepath.Join(t.TempDir(), "nolog")
	level.Store(int32(Info))
	traceOn.Store(false)
	stderrOn.Store(true)
	configured.Store(false)
	fallocate = unix.Fallocate
	Init(prog)
	t.Cleanup(func() {
		Close()
		mu.Lock()
		syslogClose()
		mu.Unlock()
		stderr = os.Stderr
		osExit = os.Exit
		fallocate = unix.Fallocate
	})
	return out
}

// syslogListener binds a datagram socket and points the logger at it.
func syslogListener(t *testing.T) *os.File {
	t.Helper()
	dir, err := os.MkdirTemp("", "log") // short path: sun_path limit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "log")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), path)
	t.Cleanup(func() { f.Close() })
	SyslogPath = path
	return f
}

// recv returns the pending datagrams on the listener.
func recv(t *testing.T, f *os.File) []string {
	t.Helper()
	var out []string
	buf := make([]byte, 65536)
	for {
		n, _, err := unix.Recvfrom(int(f.Fd()), buf, unix.MSG_DONTWAIT)
		if err != nil {
			return out
		}
		out = append(out, string(buf[:n]))
	}
}

func TestEarlyMessagesAllToStderr(t *testing.T) {
	out := setup(t, "pasta")
	SetLevel(Warning)
	Debugf("early debug %d", 1)
	Infof("early info")
	if got := out.String(); got != "early debug 1\nearly info\n" {
		t.Fatalf("stderr before ConfigDone: %q", got)
	}
}

func TestLevelMasks(t *testing.T) {
	out := setup(t, "pasta")
	SetLevel(Warning) // -q
	ConfigDone()
	Errorf("e %d", 1)
	Warnf("w %s", "x")
	Infof("i")
	Debugf("d")
	Tracef("t")
	if got, want := out.String(), "e 1\nw x\n"; got != want {
		t.Fatalf("-q: got %q, want %q", got, want)
	}

	out = setup(t, "pasta")
	ConfigDone() // default: info
	Warnf("w")
	Infof("i")
	Debugf("d")
	if got, want := out.String(), "w\ni\n"; got != want {
		t.Fatalf("default: got %q, want %q", got, want)
	}

	// Trailing newlines are not doubled.
	out = setup(t, "pasta")
	ConfigDone()
	Infof("line\n")
	if got := out.String(); got != "line\n" {
		t.Fatalf("newline: got %q", got)
	}
}

func TestDetached(t *testing.T) {
	out := setup(t, "passt")
	ConfigDone()
	SetStderr(false)
	Errorf("gone")
	if got := out.String(); got != "" {
		t.Fatalf("detached stderr got %q", got)
	}
}

func TestDebugTimestamps(t *testing.T) {
	out := setup(t, "pasta")
	SetLevel(Debug)
	ConfigDone()
	Debugf("dbg %d", 42)
	Tracef("no trace")
	SetTrace(true)
	Tracef("trace %s", "on")
	Errorf("err")
	// In debug mode stderr is written even when detached.
	SetStderr(false)
	Infof("still")

	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []string{"dbg 42", "trace on", "err", "still"}
	if len(lines) != len(want) {
		t.Fatalf("got lines %q", lines)
	}
	for i, l := range lines {
		if !regexp.MustCompile(`^[0-9]+\.[0-9]{4}: ` +
			regexp.QuoteMeta(want[i]) + `$`).MatchString(l) {
			t.Errorf("line %q does not match timestamp + %q", l, want[i])
		}
	}

	// -q after --trace clears trace.
	SetLevel(Warning)
	if TraceEnabled() {
		t.Error("trace still enabled after SetLevel(Warning)")
	}
}

func TestTimeFormat(t *testing.T) {
	s0 := StartTime()
	defer SetStartTime(s0)
	SetStartTime(1000)
	for _, c := range []struct {
		now  int64
		want string
	}{
		{1000, "0.0000"},
		{1000 + 1234567890, "1.2345"},
		{1000 + 12*1e9 + 50*1e6, "12.0500"},
		{0, "0.0000"},
	} {
		if got := string(appendTime(nil, c.now)); got != c.want {
			t.Errorf("appendTime(%d) = %q, want %q", c.now, got, c.want)
		}
	}
}

var headerRe = regexp.MustCompile(`^pasta 1\.2\.3: .+ \(` +
	fmt.Sprint(os.Getpid()) + `\)$`)

func TestFileHeaderAndPrefixes(t *testing.T) {
	out := setup(t, "pasta")
	path := filepath.Join(t.TempDir(), "log")
	SetLevel(Debug)
	if err := OpenFile(path, 0, "1.2.3"); err != nil {
		t.Fatal(err)
	}
	ConfigDone()
	Errorf("an error")
	Warnf("a warning")
	Infof("some info")
	Debugf("debugging %d", 7)
	Close()

	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("lines: %q", lines)
	}
	if !headerRe.MatchString(lines[0]) {
		t.Errorf("header %q", lines[0])
	}
	exe, _ := os.Readlink("/proc/self/exe")
	if !strings.Contains(lines[0], ": "+exe+" (") {
		t.Errorf("header %q lacks exe %q", lines[0], exe)
	}
	for i, re := range []string{
		`ERROR:   an error`, `WARNING: a warning`, `info:    some info`,
		`         debugging 7`,
	} {
		r := regexp.MustCompile(`^[0-9]+\.[0-9]{4}: ` + re + `$`)
		if !r.MatchString(lines[i+1]) {
			t.Errorf("entry %q does not match %q", lines[i+1], r)
		}
	}

	// Attached, with a log file: stderr still gets messages, without
	// timestamps even in debug mode.
	if got := out.String(); !strings.HasPrefix(got, "an error\n") {
		t.Errorf("stderr with log file: %q", got)
	}
}

func TestFileTruncatedOnOpen(t *testing.T) {
	setup(t, "pasta")
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, bytes.Repeat([]byte("x\n"), 1000),
		0o644); err != nil {
		t.Fatal(err)
	}
	if err := OpenFile(path, 0, "1.2.3"); err != nil {
		t.Fatal(err)
	}
	Close()
	data, _ := os.ReadFile(path)
	if strings.Count(string(data), "\n") != 1 ||
		!headerRe.MatchString(strings.TrimSuffix(string(data), "\n")) {
		t.Fatalf("content after open: %q", data)
	}
}

func TestOpenFileError(t *testing.T) {
	setup(t, "pasta")
	path := filepath.Join(t.TempDir(), "missing", "log")
	err := OpenFile(path, 0, "1.2.3")
	want := "Couldn't open log file " + path + ": No such file or directory"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}

	if os.Geteuid() != 0 {
		dir := t.TempDir()
		os.Chmod(dir, 0o500)
		defer os.Chmod(dir, 0o700)
		path = filepath.Join(dir, "log")
		err = OpenFile(path, 0, "1.2.3")
		want = "Couldn't open log file " + path + ": Permission denied"
		if err == nil || err.Error() != want {
			t.Fatalf("got %v, want %q", err, want)
		}
	}
}

// checkRotated verifies size bounds, the header line, and that every other
// line is a complete entry, with non-decreasing timestamps.
func checkRotated(t *testing.T, path string, size int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := int64(len(data)); n <= size/2 || n >= size {
		t.Errorf("size %d not within (%d, %d)", n, size/2, size)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	sc.Scan()
	first := sc.Text()
	hdr := regexp.MustCompile(`^pasta 1\.2\.3: .+ \(` +
		fmt.Sprint(os.Getpid()) +
		`\) - log truncated at [0-9]+\.[0-9]{4} *$`)
	if !hdr.MatchString(first) {
		t.Errorf("first line %q does not match %q", first, hdr)
	}
	entry := regexp.MustCompile(`^([0-9]+)\.([0-9]{4}): info:    entry [0-9]+ x+$`)
	prev := int64(-1)
	for sc.Scan() {
		m := entry.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("bad line %q", sc.Text())
		}
		s, _ := strconv.ParseInt(m[1], 10, 64)
		f, _ := strconv.ParseInt(m[2], 10, 64)
		if ts := s*10000 + f; ts < prev {
			t.Fatalf("timestamps out of order at %q (prev %d)",
				sc.Text(), prev)
		} else {
			prev = ts
		}
	}
	if !bytes.HasSuffix(data, []byte("\n")) {
		t.Error("file does not end with a newline")
	}
}

func testRotation(t *testing.T, collapse bool) {
	setup(t, "pasta")
	collapsed := 0
	fallocate = func(fd int, mode uint32, off, n int64) error {
		if !collapse {
			return unix.EOPNOTSUPP
		}
		err := unix.Fallocate(fd, mode, off, n)
		if err == nil {
			collapsed++
		}
		return err
	}
	path := filepath.Join(t.TempDir(), "log")
	const size = 40960
	if err := OpenFile(path, size, "1.2.3"); err != nil {
		t.Fatal(err)
	}
	SetStderr(false)
	ConfigDone()

	pad := strings.Repeat("x", 50)
	var written int
	for i := 0; written < 1<<20; i++ {
		m := fmt.Sprintf("entry %d %s", i, pad[:10+i%40])
		Infof("%s", m)
		written += len(m) + 20
		if i%1000 == 999 {
			checkRotated(t, path, size)
		}
	}
	checkRotated(t, path, size)
	if collapse && collapsed == 0 {
		t.Error("FALLOC_FL_COLLAPSE_RANGE never used")
	}
	t.Logf("%d collapses", collapsed)

	// Bookkeeping matches the file.
	st, _ := os.Stat(path)
	mu.Lock()
	w := logWritten
	mu.Unlock()
	if w != st.Size() {
		t.Errorf("logWritten %d, file size %d", w, st.Size())
	}
}

func TestRotationCollapse(t *testing.T) {
	// Probe whether the test directory supports FALLOC_FL_COLLAPSE_RANGE.
	f, err := os.CreateTemp(t.TempDir(), "probe")
	if err != nil {
		t.Fatal(err)
	}
	f.Write(make([]byte, 3*cutAlign))
	err = unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_COLLAPSE_RANGE, 0,
		cutAlign)
	f.Close()
	if err != nil {
		t.Skipf("no FALLOC_FL_COLLAPSE_RANGE here: %v", err)
	}
	testRotation(t, true)
}

func TestRotationMove(t *testing.T) { testRotation(t, false) }

func TestUseFD(t *testing.T) {
	setup(t, "pasta")
	path := filepath.Join(t.TempDir(), "log")
	if err := OpenFile(path, 40960, "1.2.3"); err != nil {
		t.Fatal(err)
	}
	ConfigDone()
	Infof("first")
	// Hand over a duplicate, as exec.Cmd.ExtraFiles would.
	fd, err := unix.Dup(int(File().Fd()))
	if err != nil {
		t.Fatal(err)
	}
	Close()

	setup(t, "pasta")
	if err := UseFD(os.NewFile(uintptr(fd), "log"), 40960); err != nil {
		t.Fatal(err)
	}
	ConfigDone()
	Infof("second")
	mu.Lock()
	hdr := logHeader
	mu.Unlock()
	if !headerRe.MatchString(hdr) {
		t.Errorf("header read back: %q", hdr)
	}
	Close()

	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 3 || !headerRe.MatchString(lines[0]) ||
		!strings.HasSuffix(lines[1], "info:    first") ||
		!strings.HasSuffix(lines[2], "info:    second") {
		t.Fatalf("content %q", lines)
	}
}

var syslogRe = regexp.MustCompile(`^<([0-9]+)>[A-Z][a-z]{2} [ 1-3][0-9] ` +
	`[0-9]{2}:[0-9]{2}:[0-9]{2} pasta\[` + fmt.Sprint(os.Getpid()) +
	`\]: (.*)$`)

func TestSyslog(t *testing.T) {
	setup(t, "pasta")
	l := syslogListener(t)
	Errorf("before config") // not sent: not configured yet
	ConfigDone()
	Errorf("err %d", 1)
	Warnf("warn")
	Infof("info")
	Debugf("debug") // masked

	got := recv(t, l)
	want := [][2]string{{"27", "err 1"}, {"28", "warn"}, {"30", "info"}}
	if len(got) != len(want) {
		t.Fatalf("datagrams: %q", got)
	}
	for i, d := range got {
		m := syslogRe.FindStringSubmatch(d)
		if m == nil || m[1] != want[i][0] || m[2] != want[i][1] {
			t.Errorf("datagram %q, want PRI %s msg %q", d, want[i][0],
				want[i][1])
		}
	}
}

func TestSyslogNotInDebug(t *testing.T) {
	setup(t, "pasta")
	l := syslogListener(t)
	SetLevel(Debug)
	ConfigDone()
	Errorf("err")
	Debugf("dbg")
	if got := recv(t, l); len(got) != 0 {
		t.Fatalf("syslog in debug mode: %q", got)
	}
}

func TestSyslogNotWithFile(t *testing.T) {
	setup(t, "pasta")
	l := syslogListener(t)
	if err := OpenFile(filepath.Join(t.TempDir(), "log"), 0,
		"1"); err != nil {
		t.Fatal(err)
	}
	ConfigDone()
	Errorf("err")
	Infof("info")
	if got := recv(t, l); len(got) != 0 {
		t.Fatalf("syslog with log file: %q", got)
	}
}

func TestSyslogReconnect(t *testing.T) {
	setup(t, "pasta")
	l := syslogListener(t)
	ConfigDone()
	Infof("one")
	if got := recv(t, l); len(got) != 1 {
		t.Fatalf("datagrams: %q", got)
	}

	// The logger restarts: same path, new socket.
	l.Close()
	os.Remove(SyslogPath)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: SyslogPath}); err != nil {
		t.Fatal(err)
	}
	l2 := os.NewFile(uintptr(fd), SyslogPath)
	defer l2.Close()

	Infof("two")
	got := recv(t, l2)
	if len(got) != 1 || !strings.HasSuffix(got[0], "]: two") {
		t.Fatalf("after restart: %q", got)
	}
}

func TestSyslogNoListener(t *testing.T) {
	out := setup(t, "pasta")
	ConfigDone()
	SetStderr(false)
	Errorf("nobody listens") // must not fail or print
	if out.String() != "" {
		t.Fatalf("stderr: %q", out.String())
	}
}

func TestDie(t *testing.T) {
	out := setup(t, "pasta")
	path := filepath.Join(t.TempDir(), "log")
	if err := OpenFile(path, 0, "1"); err != nil {
		t.Fatal(err)
	}
	ConfigDone()
	var code = -1
	var hook bool
	osExit = func(c int) { code = c }
	OnExit(func() { hook = true })
	Die("fatal %s", "thing")
	if code != 1 || !hook {
		t.Fatalf("exit code %d, hook %v", code, hook)
	}
	if out.String() != "fatal thing\n" {
		t.Errorf("stderr %q", out.String())
	}
	data, _ := os.ReadFile(path)
	if !regexp.MustCompile(`(?m)^[0-9]+\.[0-9]{4}: ERROR:   fatal thing$`).
		Match(data) {
		t.Errorf("log file %q", data)
	}
}

func TestConcurrent(t *testing.T) {
	setup(t, "pasta")
	path := filepath.Join(t.TempDir(), "log")
	if err := OpenFile(path, 40960, "1.2.3"); err != nil {
		t.Fatal(err)
	}
	SetStderr(false)
	ConfigDone()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				Infof("entry %d xxxxxxxxxxxxxxxxxxxx", i)
				if i%100 == 0 {
					SetTrace(i%200 == 0)
					SetLevel(Info)
				}
			}
		}()
	}
	wg.Wait()
	data, _ := os.ReadFile(path)
	if n := len(data); n <= 40960/2 || n >= 40960 {
		t.Errorf("size %d", n)
	}
}

func TestStrerror(t *testing.T) {
	if got := errno.Text(unix.EACCES); got != "Permission denied" {
		t.Errorf("got %q", got)
	}
	if got := errno.Text(&os.PathError{Op: "open", Path: "x",
		Err: unix.ENOENT}); got != "No such file or directory" {
		t.Errorf("got %q", got)
	}
}

var sinkInt = 1000

func TestTracefDisabledAllocs(t *testing.T) {
	setup(t, "pasta")
	ConfigDone()
	n := sinkInt
	small := 7
	if a := testing.AllocsPerRun(1000, func() {
		Tracef("const %d %s", 1234, "x")
		Tracef("small %d", small)
		Debugf("debug %d", small)
	}); a != 0 {
		t.Errorf("disabled Tracef with constants/small ints: %v allocs", a)
	}
	if a := testing.AllocsPerRun(1000, func() {
		if TraceEnabled() {
			Tracef("guarded %d", n)
		}
	}); a != 0 {
		t.Errorf("guarded Tracef: %v allocs", a)
	}
}

func BenchmarkTracefDisabled(b *testing.B) {
	traceOn.Store(false)
	n := sinkInt
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		Tracef("packet %d len %d", 5, 60)
	}
	_ = n
}

func BenchmarkTracefDisabledVarInt(b *testing.B) {
	traceOn.Store(false)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		Tracef("packet %d", sinkInt+i)
	}
}

func BenchmarkTracefDisabledGuarded(b *testing.B) {
	traceOn.Store(false)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if TraceEnabled() {
			Tracef("packet %d", sinkInt+i)
		}
	}
}

func BenchmarkInfofFile(b *testing.B) {
	stderr = &bytes.Buffer{}
	defer func() { stderr = os.Stderr }()
	if err := OpenFile(filepath.Join(b.TempDir(), "log"), 1<<20,
		"1"); err != nil {
		b.Fatal(err)
	}
	defer Close()
	stderrOn.Store(false)
	defer stderrOn.Store(true)
	configured.Store(true)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		Infof("entry %d", i)
	}
}
