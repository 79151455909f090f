// SPDX-License-Identifier: GPL-2.0-or-later

package conf

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary command lines (words separated by NUL bytes)
// to both modes: parsing never panics, every failure is an *Exit with
// status 0 or 1, and failures other than --help/--version print something.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"-t\x0080",
		"--config-net\x00--netns\x00x",
		"-a\x0010.0.2.100\x00-n\x0024\x00-g\x0010.0.2.2",
		"--map-guest-addr\x00169.254.1.2\x00-t\x00127.0.0.1/8080-8080:80-80",
		"-D\x00none\x00-S\x00none\x00--dns-forward\x00169.254.1.1",
		"-fq\x00--stats\x001",
		"--no\x00x",
		"1234",
		"--\x00sh\x00-c\x00exit 7",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	te := defaultEnv()
	f.Fuzz(func(t *testing.T, args string, pasta bool) {
		prog := "passt"
		if pasta {
			prog = "pasta"
		}
		argv := append([]string{prog}, strings.Split(args, "\x00")...)
		mode, err := ModeFromArgs(argv)
		if err != nil {
			return
		}
		_, err = Parse(argv, mode, te.env(t))
		if err == nil {
			return
		}
		var ex *Exit
		if !errors.As(err, &ex) {
			t.Fatalf("%q: error %v is not *Exit", argv, err)
		}
		if ex.Code != 0 && ex.Code != 1 {
			t.Fatalf("%q: status %d", argv, ex.Code)
		}
		if ex.Code == 1 && ex.Stderr == "" {
			t.Fatalf("%q: failure without a message", argv)
		}
	})
}
