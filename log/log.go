// SPDX-License-Identifier: GPL-2.0-or-later

// Package log is the logger shared by passt and pasta.
//
// # Levels
//
// Messages carry one of four syslog severities: Error, Warning, Info and
// Debug (the numeric values are the syslog ones, 3, 4, 6 and 7). The level
// mask admits every message whose severity is at least as urgent as the
// configured level: Info by default, Warning with -q, Debug with -d. Trace
// messages (Tracef) are Debug messages that are only emitted when the trace
// flag (--trace) is also set. The option parser resolves the order of -d, -q
// and --trace and reports the outcome with SetLevel and SetTrace.
//
// # Configuration phases
//
// Until ConfigDone is called (the point where upstream passt sets
// log_conf_parsed), the configuration is not known yet: every message,
// whatever its level, is printed on standard error and nothing is sent to
// syslog. ConfigDone freezes the mask, connects the syslog socket (before any
// sandboxing can take /dev/log away) and from then on the rules below apply.
//
// # Sinks
//
//   - Standard error, while "attached": the process has not daemonized yet, or
//     runs in the foreground without having spawned a command. The caller
//     clears this with SetStderr(false) once stderr must not be used any more
//     (after daemonizing, or after pasta spawned its command, which then owns
//     the terminal). Each message is written as "MSG\n". In debug mode
//     without a log file, each line is prefixed by "SEC.FRAC: " (seconds and
//     four decimals since process start, monotonic clock) and messages are
//     written to stderr even once detached, as upstream does (the daemon's
//     stderr is /dev/null by then). With a log file set, stderr still gets
//     the messages while attached, without timestamps.
//   - A log file (-l), opened by OpenFile or inherited with UseFD. When a log
//     file is set, syslog is never used. The file starts with the header line
//     "NAME VERSION: EXE (PID)" and every entry is
//     "SEC.FRAC: PREFIX MSG\n" where PREFIX is "ERROR:   ", "WARNING: ",
//     "info:    " or nine spaces for debug messages.
//   - Syslog through the UNIX datagram socket at SyslogPath (/dev/log), with
//     facility LOG_DAEMON and ident "passt" or "pasta", in the RFC 3164 form
//     glibc's syslog(3) sends on Linux: "<PRI>Mmm dd hh:mm:ss IDENT[PID]: MSG"
//     (local time, no trailing newline). Syslog is not used in debug mode.
//     The socket is connected by ConfigDone, or lazily on first use; errors
//     are ignored; on ECONNREFUSED (the logger restarted) the socket is
//     reconnected once, unless DisableReconnect was called (to be done before
//     a seccomp filter forbidding socket/connect is installed). Sends never
//     block: a message is dropped if the logger's queue is full.
//
// # Log file rotation
//
// The file may not grow beyond the --log-size cap. When writing an entry
// would reach the cap, the oldest ~30% of the file is discarded (the cut size
// is 30% of the cap rounded up to a 4 KiB page, the largest block size
// FALLOC_FL_COLLAPSE_RANGE may require):
//
//   - If the filesystem supports fallocate(FALLOC_FL_COLLAPSE_RANGE), the
//     first cut bytes are collapsed away in place. The file then starts with
//     the tail of a partial line; the header plus " - log truncated at
//     SEC.FRAC" is written over the start of the file, padded with spaces up
//     to the first newline found at or after its end, so that the header line
//     replaces the partial line(s) and every following line is complete.
//   - Otherwise (tmpfs, for example) the header line with the truncation mark
//     is written at offset 0, everything after the first newline that follows
//     the cut point is moved down right after it, and the file is truncated.
//
// O_APPEND is dropped while rotating (positional writes are needed) and set
// again afterwards. Either way the size after rotation is roughly 70% of the
// cap, so the file stays between 50% and 100% of the cap.
//
// All functions are safe for concurrent use. Disabled levels cost one atomic
// load; see Tracef about argument boxing.
package log

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Level is a message severity, numbered like syslog priorities.
type Level int32

// Message levels, most urgent first.
const (
	Error   Level = 3 // LOG_ERR
	Warning Level = 4 // LOG_WARNING
	Info    Level = 6 // LOG_INFO
	Debug   Level = 7 // LOG_DEBUG
)

// String returns the level name.
func (l Level) String() string {
	switch l {
	case Error:
		return "error"
	case Warning:
		return "warning"
	case Info:
		return "info"
	case Debug:
		return "debug"
	}
	return fmt.Sprintf("level(%d)", int32(l))
}

// DefaultFileSize is the default log file size cap (--log-size).
const DefaultFileSize = 1024 * 1024

// MinFileSize is the smallest --log-size the option parser should accept:
// five times max(BUFSIZ, page size).
const MinFileSize = 5 * 8192

// maxEntry caps the length of a log file entry or syslog datagram, like the
// BUFSIZ buffer upstream formats into. It is smaller than the rotation cut,
// so a rotation always makes room for the entry that triggered it.
const maxEntry = 8192

var (
	// Fast-path state, read without the mutex.
	level      atomic.Int32 // current mask: levels <= this pass
	traceOn    atomic.Bool  // --trace
	stderrOn   atomic.Bool  // still attached to the caller's stderr
	configured atomic.Bool  // ConfigDone called

	mu      sync.Mutex // serialises output and the state below
	name    = "passt"  // ident and header name
	pid     = os.Getpid()
	exitFns []func()

	// stderr receives stderr output; tests replace it.
	stderr io.Writer = os.Stderr
	// osExit terminates the process; tests replace it.
	osExit = os.Exit
)

func init() {
	level.Store(int32(Info))
	stderrOn.Store(true)
}

// Init sets the program name, "passt" or "pasta": it is the syslog ident and
// the name in the log file header. It also loads the local time zone now,
// before any sandboxing hides /etc/localtime.
func Init(progName string) {
	mu.Lock()
	name = progName
	pid = os.Getpid()
	mu.Unlock()
	loadLocalTime()
}

// SetLevel sets the level mask: messages at l or more urgent are logged.
// Use Warning for -q, Info by default, Debug for -d. Setting a level other
// than Debug clears trace mode.
func SetLevel(l Level) {
	level.Store(int32(l))
	if l != Debug {
		traceOn.Store(false)
	}
}

// GetLevel returns the current level mask.
func GetLevel() Level { return Level(level.Load()) }

// SetTrace enables or disables trace messages. Enabling trace also sets the
// Debug level (--trace implies -d).
func SetTrace(on bool) {
	if on {
		level.Store(int32(Debug))
	}
	traceOn.Store(on)
}

// TraceEnabled reports whether Tracef would log anything. Hot paths can test
// it before building arguments.
func TraceEnabled() bool { return traceOn.Load() }

// Enabled reports whether a message at level l would be logged anywhere.
func Enabled(l Level) bool {
	return !configured.Load() || int32(l) <= level.Load()
}

// SetStderr tells whether standard error may still be used: true while
// attached (the default), false after daemonizing or once pasta spawned a
// command.
func SetStderr(on bool) { stderrOn.Store(on) }

// ConfigDone marks the end of option parsing: from now on the level mask
// applies and, unless a log file is set, the syslog socket is connected.
// Before ConfigDone every message goes to stderr only.
func ConfigDone() {
	mu.Lock()
	defer mu.Unlock()
	configured.Store(true)
	if logFile == nil {
		syslogConnect()
	}
}

// Errorf logs an error message.
func Errorf(format string, args ...any) {
	if Enabled(Error) {
		logf(Error, format, args)
	}
}

// Warnf logs a warning.
func Warnf(format string, args ...any) {
	if Enabled(Warning) {
		logf(Warning, format, args)
	}
}

// Infof logs an informational message.
func Infof(format string, args ...any) {
	if Enabled(Info) {
		logf(Info, format, args)
	}
}

// Debugf logs a debug message.
func Debugf(format string, args ...any) {
	if Enabled(Debug) {
		logf(Debug, format, args)
	}
}

// Tracef logs a debug message only if trace mode is enabled. When disabled it
// only loads an atomic flag and returns.
//
// Caveat: as for any variadic ...any function, the caller converts the
// arguments to interfaces before the call, and since they may reach fmt
// they are considered escaping: an argument that needs a heap box (say an
// int variable >= 256, a string variable, a struct) costs one allocation even
// when tracing is off. Constants, small integers and pointers are free. On
// hot paths, guard with TraceEnabled:
//
//	if log.TraceEnabled() {
//		log.Tracef("seq %d", seq)
//	}
func Tracef(format string, args ...any) {
	if traceOn.Load() {
		logf(Debug, format, args)
	}
}

// Logf logs a message at level l.
func Logf(l Level, format string, args ...any) {
	if Enabled(l) {
		logf(l, format, args)
	}
}

// Die logs an error message and exits with status 1, see Exit.
func Die(format string, args ...any) {
	logf(Error, format, args)
	Exit(1)
}

// OnExit registers fn to be run by Exit (and Die) before the log file is
// synced, e.g. to flush a capture file. Functions run in registration order.
func OnExit(fn func()) {
	mu.Lock()
	exitFns = append(exitFns, fn)
	mu.Unlock()
}

// Exit runs the OnExit functions, syncs the log file and terminates the
// process with the given status, like upstream's passt_exit().
func Exit(status int) {
	mu.Lock()
	fns := exitFns
	exitFns = nil
	mu.Unlock()
	for _, fn := range fns {
		fn()
	}
	mu.Lock()
	if logFile != nil {
		_ = unix.Fsync(logFD)
	}
	mu.Unlock()
	osExit(status)
}

// logf formats the message and dispatches it to the sinks.
func logf(l Level, format string, args []any) {
	msg := fmt.Sprintf(format, args...)
	if n := len(msg); n > 0 && msg[n-1] == '\n' {
		msg = msg[:n-1]
	}
	now := monoNow()

	mu.Lock()
	defer mu.Unlock()

	done := configured.Load()
	mask := Level(level.Load())
	inMask := !done || l <= mask
	debugPrint := done && mask >= Debug && logFile == nil

	if inMask && done {
		if logFile != nil {
			fileWrite(l, now, msg)
		} else if mask < Debug {
			syslogSend(l, msg)
		}
	}

	if debugPrint || !done || (inMask && stderrOn.Load()) {
		var b []byte
		if debugPrint {
			b = appendTime(b, now)
			b = append(b, ": "...)
		}
		b = append(b, msg...)
		b = append(b, '\n')
		_, _ = stderr.Write(b)
	}
}

// monoNow returns CLOCK_MONOTONIC in nanoseconds.
func monoNow() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return 0
	}
	return ts.Nano()
}

// start is the reference for relative timestamps: process start by default.
var start atomic.Int64

func init() { start.Store(monoNow()) }

// StartTime returns the reference for log timestamps, CLOCK_MONOTONIC
// nanoseconds, so that a launcher can pass it to a re-executed process.
func StartTime() int64 { return start.Load() }

// SetStartTime sets the reference for log timestamps (CLOCK_MONOTONIC
// nanoseconds, as returned by StartTime in the original process).
func SetStartTime(ns int64) { start.Store(ns) }

// appendTime appends "SEC.FRAC" (four decimals) for now relative to start.
func appendTime(b []byte, now int64) []byte {
	us := (now - start.Load()) / 1000
	if us < 0 {
		us = 0
	}
	sec, frac := us/1000000, (us/100)%10000
	b = appendInt(b, sec)
	b = append(b, '.')
	b = append(b, byte('0'+frac/1000), byte('0'+frac/100%10),
		byte('0'+frac/10%10), byte('0'+frac%10))
	return b
}

func appendInt(b []byte, v int64) []byte {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}
