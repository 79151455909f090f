// SPDX-License-Identifier: GPL-2.0-or-later

package log

import (
	"time"

	"golang.org/x/sys/unix"
)

// SyslogPath is the system logger's datagram socket. Tests point it
// elsewhere; change it before ConfigDone or the first message.
var SyslogPath = "/dev/log"

// logDaemon is the LOG_DAEMON facility, already shifted.
const logDaemon = 3 << 3

// Syslog socket state, protected by mu.
var (
	syslogFD        = -1
	syslogNoConnect bool // DisableReconnect called
)

// DisableReconnect forbids any further socket()/connect() for syslog: once
// the process is sandboxed, /dev/log is gone and a seccomp filter may kill
// the process on those system calls. An already connected socket is kept.
func DisableReconnect() {
	mu.Lock()
	syslogNoConnect = true
	mu.Unlock()
}

// syslogConnect opens and connects the syslog socket if needed; mu is held.
func syslogConnect() bool {
	if syslogFD >= 0 {
		return true
	}
	if syslogNoConnect {
		return false
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	if unix.Connect(fd, &unix.SockaddrUnix{Name: SyslogPath}) != nil {
		unix.Close(fd)
		return false
	}
	syslogFD = fd
	return true
}

// syslogClose closes the syslog socket, if open; mu is held.
func syslogClose() {
	if syslogFD >= 0 {
		unix.Close(syslogFD)
		syslogFD = -1
	}
}

// syslogFormat builds the datagram glibc's syslog() would send with
// openlog(ident, LOG_PID, LOG_DAEMON):
// "<PRI>Mmm dd hh:mm:ss IDENT[PID]: MSG", local time, no newline.
func syslogFormat(l Level, t time.Time, msg string) []byte {
	b := make([]byte, 0, 40+len(name)+len(msg))
	b = append(b, '<')
	b = appendInt(b, int64(logDaemon|int(l)))
	b = append(b, '>')
	b = t.AppendFormat(b, time.Stamp) // "Jan _2 15:04:05", like %h %e %T
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, '[')
	b = appendInt(b, int64(pid))
	b = append(b, "]: "...)
	b = append(b, msg...)
	if len(b) > maxEntry {
		b = b[:maxEntry]
	}
	return b
}

// syslogSend sends one message, silently dropping it on failure; mu is held.
func syslogSend(l Level, msg string) {
	if !syslogConnect() {
		return
	}
	b := syslogFormat(l, time.Now(), msg)
	flags := unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL
	for try := 0; ; try++ {
		err := unix.Send(syslogFD, b, flags)
		if err == unix.EINTR {
			continue
		}
		if try == 0 && (err == unix.ECONNREFUSED || err == unix.ENOTCONN) &&
			!syslogNoConnect {
			// The logger went away (restart?): reconnect once.
			syslogClose()
			if syslogConnect() {
				continue
			}
		}
		return
	}
}

// loadLocalTime makes the runtime load the local time zone now, while
// /etc/localtime is still reachable.
func loadLocalTime() {
	_ = time.Now().Local().Format(time.Stamp)
}
