// SPDX-License-Identifier: GPL-2.0-or-later

package log

import (
	"bytes"
	"fmt"
	"os"
	"passt/internal/errno"

	"golang.org/x/sys/unix"
)

// cutRatio is the share of the cap, in percent, dropped on rotation.
const cutRatio = 30

// cutAlign is the alignment of the rotation cut: FALLOC_FL_COLLAPSE_RANGE
// needs block-aligned ranges and a block can be as large as a page.
const cutAlign = 4096

// Log file state, protected by mu.
var (
	logFile    *os.File
	logFD      int
	logSize    int64  // cap
	logWritten int64  // current file size as far as we know
	logCut     int64  // bytes dropped on rotation
	logHeader  string // first line, without newline

	// fallocate is replaced by tests to exercise the fallback path.
	fallocate = unix.Fallocate
)

// filePrefix returns the entry prefix for level l.
func filePrefix(l Level) string {
	switch l {
	case Error:
		return "ERROR:   "
	case Warning:
		return "WARNING: "
	case Info:
		return "info:    "
	}
	return "         "
}

// OpenFile creates (or truncates) the log file at path with mode 0600 and
// O_APPEND, writes the header line "NAME VERSION: EXE (PID)" and makes it the
// only persistent sink: syslog is not used any more. size is the cap (0
// selects DefaultFileSize). The error text is the message upstream dies
// with, e.g. "Couldn't open log file /x/y: Permission denied".
func OpenFile(path string, size int64, version string) error {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return fmt.Errorf("Failed to read own /proc/self/exe link: %s",
			errno.Text(err))
	}

	fd, err := unix.Open(path, unix.O_CREAT|unix.O_TRUNC|unix.O_APPEND|
		unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("Couldn't open log file %s: %s", path,
			errno.Text(err))
	}
	f := os.NewFile(uintptr(fd), path)

	mu.Lock()
	defer mu.Unlock()

	header := fmt.Sprintf("%s %s: %s (%d)", name, version, exe, pid)
	if _, err := f.Write([]byte(header + "\n")); err != nil {
		f.Close()
		return fmt.Errorf("Couldn't write to log file: %s", errno.Text(err))
	}

	setFile(f, fd, size, header, int64(len(header)+1))
	return nil
}

// UseFD adopts f, a log file already opened (and headed) by OpenFile in
// another process, typically received through exec.Cmd.ExtraFiles by a
// re-executed process. No header is written: the existing first line is read
// back and reused on rotation. size is the cap (0 selects DefaultFileSize).
// The descriptor is set close-on-exec and O_APPEND.
func UseFD(f *os.File, size int64) error {
	fd := int(f.Fd())

	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("Couldn't use log file descriptor %d: %s", fd,
			errno.Text(err))
	}
	unix.CloseOnExec(fd)
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil {
		_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl|unix.O_APPEND)
	}

	buf := make([]byte, maxEntry)
	n, _ := unix.Pread(fd, buf, 0)
	if n < 0 {
		n = 0
	}
	header := ""
	if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
		header = string(buf[:i])
	}

	mu.Lock()
	defer mu.Unlock()
	if header == "" {
		header = name
	}
	setFile(f, fd, size, header, st.Size)
	return nil
}

// setFile installs the log file; mu is held.
func setFile(f *os.File, fd int, size int64, header string, written int64) {
	if logFile != nil && logFile != f {
		logFile.Close()
	}
	if size <= 0 {
		size = DefaultFileSize
	}
	logFile, logFD = f, fd
	logSize, logWritten, logHeader = size, written, header
	logCut = (size*cutRatio/100 + cutAlign - 1) / cutAlign * cutAlign
	syslogClose()
}

// File returns the open log file, or nil, e.g. to pass it to a re-executed
// process in exec.Cmd.ExtraFiles.
func File() *os.File {
	mu.Lock()
	defer mu.Unlock()
	return logFile
}

// Close syncs and closes the log file, if any.
func Close() {
	mu.Lock()
	defer mu.Unlock()
	if logFile == nil {
		return
	}
	_ = unix.Fsync(logFD)
	logFile.Close()
	logFile = nil
	logFD = -1
}

// fileWrite writes one entry, rotating first if it would reach the cap; mu
// is held.
func fileWrite(l Level, now int64, msg string) {
	b := make([]byte, 0, 32+len(msg))
	b = appendTime(b, now)
	b = append(b, ": "...)
	b = append(b, filePrefix(l)...)
	b = append(b, msg...)
	if len(b) > maxEntry-1 {
		b = b[:maxEntry-1]
	}
	b = append(b, '\n')

	if logWritten+int64(len(b)) >= logSize && rotate(now) != nil {
		return
	}
	n, err := writeAll(logFD, b)
	if err == nil || n > 0 {
		logWritten += int64(n)
	}
}

func writeAll(fd int, b []byte) (int, error) {
	done := 0
	for done < len(b) {
		n, err := unix.Write(fd, b[done:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		if n == 0 {
			return done, unix.EIO
		}
		done += n
	}
	return done, nil
}

func pwriteAll(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pwrite(fd, b, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return unix.EIO
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// truncMark returns the header line with the truncation mark, no newline.
func truncMark(now int64) []byte {
	b := append([]byte(logHeader), " - log truncated at "...)
	return appendTime(b, now)
}

// rotate drops the oldest part of the log file; mu is held.
func rotate(now int64) error {
	fl, err := unix.FcntlInt(uintptr(logFD), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	// Positional writes on an O_APPEND descriptor would append: drop it.
	if _, err := unix.FcntlInt(uintptr(logFD), unix.F_SETFL,
		fl&^unix.O_APPEND); err != nil {
		return err
	}

	if logCut < logWritten &&
		fallocate(logFD, unix.FALLOC_FL_COLLAPSE_RANGE, 0, logCut) == nil {
		rotateCollapsed(now)
	} else {
		rotateMove(now)
	}

	_, err = unix.FcntlInt(uintptr(logFD), unix.F_SETFL, fl|unix.O_APPEND)
	return err
}

// rotateCollapsed rewrites the start of the file after the first logCut
// bytes were collapsed away: the header and truncation mark, padded with
// spaces, replace the partial line(s) now at the beginning.
func rotateCollapsed(now int64) {
	var st unix.Stat_t
	if unix.Fstat(logFD, &st) == nil {
		logWritten = st.Size
	} else {
		logWritten -= logCut
	}

	mark := truncMark(now)
	buf := make([]byte, len(mark)+maxEntry)
	n, err := unix.Pread(logFD, buf, 0)
	if err != nil || n < 0 {
		n = 0
	}
	buf = buf[:n]

	if n > len(mark) {
		if i := bytes.IndexByte(buf[len(mark):], '\n'); i >= 0 {
			line := buf[:len(mark)+i]
			copy(line, mark)
			for j := len(mark); j < len(line); j++ {
				line[j] = ' '
			}
			_ = pwriteAll(logFD, line, 0)
			return
		}
	}

	// No line end in reach (only possible with a pathological file):
	// start over with just the header line.
	line := append(mark, '\n')
	if pwriteAll(logFD, line, 0) == nil && unix.Ftruncate(logFD,
		int64(len(line))) == nil {
		logWritten = int64(len(line))
	}
}

// rotateMove is the fallback without FALLOC_FL_COLLAPSE_RANGE: write the
// header line with the truncation mark at the start, move the lines after
// the cut right after it, truncate.
func rotateMove(now int64) {
	line := append(truncMark(now), '\n')
	hl := int64(len(line))

	// Find the first line starting at or after the cut point (and after
	// the new header line, so that moving data never overlaps forward).
	from := logCut
	if from < hl {
		from = hl
	}
	buf := make([]byte, 64*1024)
	keep := int64(-1)
	for off := from; ; {
		n, err := unix.Pread(logFD, buf, off)
		if err != nil || n <= 0 {
			break
		}
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			keep = off + int64(i) + 1
			break
		}
		off += int64(n)
	}

	if pwriteAll(logFD, line, 0) != nil {
		return
	}
	end := hl
	if keep >= 0 {
		for src, dst := keep, hl; ; {
			n, err := unix.Pread(logFD, buf, src)
			if err == unix.EINTR {
				continue
			}
			if err != nil || n <= 0 {
				break
			}
			if pwriteAll(logFD, buf[:n], dst) != nil {
				break
			}
			src, dst = src+int64(n), dst+int64(n)
			end = dst
		}
	}
	if unix.Ftruncate(logFD, end) == nil {
		logWritten = end
	}
}
