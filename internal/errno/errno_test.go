// SPDX-License-Identifier: GPL-2.0-or-later

package errno

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
)

func TestText(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "Success"},
		{syscall.ENOENT, "No such file or directory"},
		{&os.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, "Permission denied"},
		{fmt.Errorf("wrapped: %w", syscall.EINVAL), "Invalid argument"},
		{errors.New("plain"), "plain"},
	} {
		if got := Text(tc.err); got != tc.want {
			t.Errorf("Text(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
