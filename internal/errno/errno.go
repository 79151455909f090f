// SPDX-License-Identifier: GPL-2.0-or-later

// Package errno turns errors into the texts upstream prints: the C
// library's strerror() wording, which starts with a capital letter ("No
// such file or directory"), where Go's syscall.Errno starts in lower case.
package errno

import (
	"errors"
	"strings"
	"syscall"
)

// Text returns strerror() of the errno wrapped in err, or err's own text
// when it wraps none; "Success" for nil, as strerror(0).
func Text(err error) string {
	if err == nil {
		return "Success"
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		s := en.Error()
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return err.Error()
}
