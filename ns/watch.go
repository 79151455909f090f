// SPDX-License-Identifier: GPL-2.0-or-later

package ns

import (
	"errors"
	"fmt"
	"os"
	"passt/internal/errno"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PollInterval is how often a /proc (or sysfs, devpts) path is checked.
var PollInterval = time.Second

// WatchGone watches the namespace file at path and sends a message on gone
// once it disappears. It returns an error if the watch cannot be set up.
func WatchGone(path string, gone chan<- string) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("Failed to inspect %s: %s", dir, errno.Text(err))
	}
	switch st.Type {
	case unix.PROC_SUPER_MAGIC, unix.SYSFS_MAGIC, unix.DEVPTS_SUPER_MAGIC:
		// The engine loses its file system to the sandbox: keep the
		// directory open and look the entry up relative to it.
		dirfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("Failed to open %s: %s", dir, errno.Text(err))
		}
		go poll(dirfd, base, path, gone)
		return nil
	}

	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("inotify_init1(): %s", errno.Text(err))
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_DELETE); err != nil {
		unix.Close(fd)
		return fmt.Errorf("Failed to watch %s: %s", dir, errno.Text(err))
	}
	f := os.NewFile(uintptr(fd), "inotify")
	go func() {
		buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				nameStart := off + unix.SizeofInotifyEvent
				nameEnd := nameStart + int(ev.Len)
				if nameEnd > n {
					break
				}
				name := strings.TrimRight(string(buf[nameStart:nameEnd]), "\x00")
				if ev.Mask&unix.IN_DELETE != 0 && name == base {
					gone <- base
					return
				}
				off = nameEnd
			}
		}
	}()
	return nil
}

// poll re-opens base in the directory open at dirfd every PollInterval
// until that fails with anything but EACCES, then reports path gone.
func poll(dirfd int, base, path string, gone chan<- string) {
	defer unix.Close(dirfd)
	for {
		time.Sleep(PollInterval)
		fd, err := unix.Openat(dirfd, base, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
			continue
		}
		if errors.Is(err, unix.EACCES) {
			continue
		}
		gone <- path
		return
	}
}
