// SPDX-License-Identifier: GPL-2.0-or-later

package getopt

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// pastaOpts is the short option string passt and pasta use.
const pastaOpts = "+dqfel:hs:c:F:I:p:P:m:a:n:M:g:i:o:D:S:H:461t:u:T:U:"

// testLongs exercises aliases (socket/socket-path share Arg and Val),
// exact-versus-prefix (netns/netns-only) and the "compare with the first
// candidate only" ambiguity rule (mix-a/mix-c share Arg and Val).
var testLongs = []LongOption{
	{"tcp-ports", RequiredArgument, 't'},
	{"one-off", NoArgument, 257},
	{"no-tcp", NoArgument, 258},
	{"no-udp", NoArgument, 259},
	{"netns-only", NoArgument, 260},
	{"socket", RequiredArgument, 's'},
	{"socket-path", RequiredArgument, 's'},
	{"opt", OptionalArgument, 261},
	{"netns", RequiredArgument, 262},
	{"mix-a", NoArgument, 300},
	{"mix-b", NoArgument, 301},
	{"mix-c", NoArgument, 300},
	{"version", NoArgument, 263},
}

// run parses everything and renders it the way the throw-away glibc
// oracle did: diagnostic lines (as glibc prints them on stderr), one
// "OPT <getopt_long return value> [ARG[optarg]]" line per call, and
// finally "REST" plus argv[optind:] after getopt_long returned -1.
func run(t testing.TB, prog string, args []string, optstring string, long []LongOption) string {
	t.Helper()
	var b strings.Builder
	p := New(prog, args, optstring, long)
	silent := strings.HasPrefix(strings.TrimLeft(optstring, "+-"), ":")
	limit := len(args) + 1
	for _, a := range args {
		limit += len(a)
	}
	for n := 0; ; n++ {
		if n > limit {
			t.Fatalf("parser does not terminate: %q", args)
		}
		opt, ok, err := p.Next()
		if !ok {
			if err != nil {
				t.Fatalf("ok=false with error %v", err)
			}
			break
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error", err)
			}
			if !strings.HasPrefix(err.Error(), prog+": ") {
				t.Fatalf("error %q does not start with prog", err)
			}
			if !silent {
				b.WriteString(err.Error() + "\n")
			}
		}
		fmt.Fprintf(&b, "OPT %d", opt.Val)
		if opt.HasArg {
			fmt.Fprintf(&b, " ARG[%s]", opt.Arg)
		} else if opt.Arg != "" {
			t.Fatalf("Arg %q without HasArg", opt.Arg)
		}
		b.WriteString("\n")
	}
	if _, ok, err := p.Next(); ok || err != nil {
		t.Fatalf("Next after the end: ok=%v err=%v", ok, err)
	}
	b.WriteString("REST")
	for _, a := range p.Rest() {
		fmt.Fprintf(&b, " [%s]", a)
	}
	b.WriteString("\n")
	return b.String()
}

// Expected outputs were recorded from glibc 2.36 getopt_long(3) (Debian
// 12) driven by a small C program with the same option tables.
var glibcTable = []struct {
	name      string
	optstring string
	long      []LongOption
	prog      string
	args      []string
	want      string
}{
	{"empty", pastaOpts, testLongs, "pasta", []string{},
		"REST\n"},
	{"grouped", pastaOpts, testLongs, "pasta", []string{"-46", "-fq"},
		"OPT 52\n" +
			"OPT 54\n" +
			"OPT 102\n" +
			"OPT 113\n" +
			"REST\n"},
	{"attached arg", pastaOpts, testLongs, "pasta", []string{"-t80"},
		"OPT 116 ARG[80]\n" +
			"REST\n"},
	{"separate arg", pastaOpts, testLongs, "pasta", []string{"-t", "80"},
		"OPT 116 ARG[80]\n" +
			"REST\n"},
	{"dash arg", pastaOpts, testLongs, "pasta", []string{"-t", "-5"},
		"OPT 116 ARG[-5]\n" +
			"REST\n"},
	{"dashdash as arg", pastaOpts, testLongs, "pasta", []string{"-t", "--", "x"},
		"OPT 116 ARG[--]\n" +
			"REST [x]\n"},
	{"group then arg", pastaOpts, testLongs, "pasta", []string{"-fqt", "8080", "-u53"},
		"OPT 102\n" +
			"OPT 113\n" +
			"OPT 116 ARG[8080]\n" +
			"OPT 117 ARG[53]\n" +
			"REST\n"},
	{"long eq", pastaOpts, testLongs, "pasta", []string{"--tcp-ports=80"},
		"OPT 116 ARG[80]\n" +
			"REST\n"},
	{"long sep", pastaOpts, testLongs, "pasta", []string{"--tcp-ports", "80"},
		"OPT 116 ARG[80]\n" +
			"REST\n"},
	{"long empty eq", pastaOpts, testLongs, "pasta", []string{"--tcp-ports="},
		"OPT 116 ARG[]\n" +
			"REST\n"},
	{"long dash arg", pastaOpts, testLongs, "pasta", []string{"--tcp-ports", "-x"},
		"OPT 116 ARG[-x]\n" +
			"REST\n"},
	{"long dashdash arg", pastaOpts, testLongs, "pasta", []string{"--tcp-ports", "--"},
		"OPT 116 ARG[--]\n" +
			"REST\n"},
	{"abbrev", pastaOpts, testLongs, "pasta", []string{"--netns-o", "--tcp=1", "--tcp", "2"},
		"OPT 260\n" +
			"OPT 116 ARG[1]\n" +
			"OPT 116 ARG[2]\n" +
			"REST\n"},
	{"exact beats prefix", pastaOpts, testLongs, "pasta", []string{"--netns", "ns", "--socket", "s"},
		"OPT 262 ARG[ns]\n" +
			"OPT 115 ARG[s]\n" +
			"REST\n"},
	{"alias prefix not ambiguous", pastaOpts, testLongs, "pasta", []string{"--sock", "/s", "--socket-p=/t"},
		"OPT 115 ARG[/s]\n" +
			"OPT 115 ARG[/t]\n" +
			"REST\n"},
	{"ambiguous", pastaOpts, testLongs, "pasta", []string{"--no"},
		"pasta: option '--no' is ambiguous; possibilities: '--no-tcp' '--no-udp'\n" +
			"OPT 63\n" +
			"REST\n"},
	{"ambiguous with value", pastaOpts, testLongs, "pasta", []string{"--no=3"},
		"pasta: option '--no=3' is ambiguous; possibilities: '--no-tcp' '--no-udp'\n" +
			"OPT 63\n" +
			"REST\n"},
	{"ambiguous lists differing only", pastaOpts, testLongs, "pasta", []string{"--mix"},
		"pasta: option '--mix' is ambiguous; possibilities: '--mix-a' '--mix-b'\n" +
			"OPT 63\n" +
			"REST\n"},
	{"ambiguous exact vs prefix", pastaOpts, testLongs, "pasta", []string{"--net", "x"},
		"pasta: option '--net' is ambiguous; possibilities: '--netns-only' '--netns'\n" +
			"OPT 63\n" +
			"REST [x]\n"},
	{"ambiguous empty name", pastaOpts, testLongs, "pasta", []string{"--=x"},
		"pasta: option '--=x' is ambiguous; possibilities: '--tcp-ports' '--one-off' '--no-tcp' '--no-udp' '--netns-only' '--socket' '--socket-path' '--opt' '--netns' '--mix-a' '--mix-b' '--mix-c' '--version'\n" +
			"OPT 63\n" +
			"REST\n"},
	{"unrecognized", pastaOpts, testLongs, "pasta", []string{"--foo"},
		"pasta: unrecognized option '--foo'\n" +
			"OPT 63\n" +
			"REST\n"},
	{"unrecognized with value", pastaOpts, testLongs, "pasta", []string{"--foo=bar"},
		"pasta: unrecognized option '--foo=bar'\n" +
			"OPT 63\n" +
			"REST\n"},
	{"invalid short", pastaOpts, testLongs, "pasta", []string{"-x"},
		"pasta: invalid option -- 'x'\n" +
			"OPT 63\n" +
			"REST\n"},
	{"invalid in group continues", pastaOpts, testLongs, "pasta", []string{"-dxq"},
		"OPT 100\n" +
			"pasta: invalid option -- 'x'\n" +
			"OPT 63\n" +
			"OPT 113\n" +
			"REST\n"},
	{"invalid then continue", pastaOpts, testLongs, "pasta", []string{"-d", "-x", "-q"},
		"OPT 100\n" +
			"pasta: invalid option -- 'x'\n" +
			"OPT 63\n" +
			"OPT 113\n" +
			"REST\n"},
	{"colon not an option", pastaOpts, testLongs, "pasta", []string{"-:"},
		"pasta: invalid option -- ':'\n" +
			"OPT 63\n" +
			"REST\n"},
	{"plus not an option", pastaOpts, testLongs, "pasta", []string{"-+"},
		"pasta: invalid option -- '+'\n" +
			"OPT 63\n" +
			"REST\n"},
	{"short missing arg", pastaOpts, testLongs, "pasta", []string{"-t"},
		"pasta: option requires an argument -- 't'\n" +
			"OPT 63\n" +
			"REST\n"},
	{"short missing arg in group", pastaOpts, testLongs, "pasta", []string{"-dt"},
		"OPT 100\n" +
			"pasta: option requires an argument -- 't'\n" +
			"OPT 63\n" +
			"REST\n"},
	{"long missing arg", pastaOpts, testLongs, "pasta", []string{"--tcp-ports"},
		"pasta: option '--tcp-ports' requires an argument\n" +
			"OPT 63\n" +
			"REST\n"},
	{"abbrev missing arg full name", pastaOpts, testLongs, "pasta", []string{"--tcp"},
		"pasta: option '--tcp-ports' requires an argument\n" +
			"OPT 63\n" +
			"REST\n"},
	{"no arg allowed", pastaOpts, testLongs, "pasta", []string{"--one-off=1"},
		"pasta: option '--one-off' doesn't allow an argument\n" +
			"OPT 63\n" +
			"REST\n"},
	{"no arg allowed abbrev empty", pastaOpts, testLongs, "pasta", []string{"--one="},
		"pasta: option '--one-off' doesn't allow an argument\n" +
			"OPT 63\n" +
			"REST\n"},
	{"optional long", pastaOpts, testLongs, "pasta", []string{"--opt", "x"},
		"OPT 261\n" +
			"REST [x]\n"},
	{"optional long eq", pastaOpts, testLongs, "pasta", []string{"--opt=", "--op=z"},
		"OPT 261 ARG[]\n" +
			"OPT 261 ARG[z]\n" +
			"REST\n"},
	{"argv0 verbatim", pastaOpts, testLongs, "/usr/bin/pasta.avx2", []string{"--foo", "-x"},
		"/usr/bin/pasta.avx2: unrecognized option '--foo'\n" +
			"OPT 63\n" +
			"/usr/bin/pasta.avx2: invalid option -- 'x'\n" +
			"OPT 63\n" +
			"REST\n"},
	{"plus stops at nonoption", pastaOpts, testLongs, "pasta", []string{"-d", "sh", "-c", "true"},
		"OPT 100\n" +
			"REST [sh] [-c] [true]\n"},
	{"plus dashdash", pastaOpts, testLongs, "pasta", []string{"-d", "--", "-q", "x"},
		"OPT 100\n" +
			"REST [-q] [x]\n"},
	{"plus lone dash", pastaOpts, testLongs, "pasta", []string{"-d", "-", "-q"},
		"OPT 100\n" +
			"REST [-] [-q]\n"},
	{"plus dashdash after nonoption", pastaOpts, testLongs, "pasta", []string{"a", "--", "b"},
		"REST [a] [--] [b]\n"},
	{"version stops nothing", pastaOpts, testLongs, "pasta", []string{"--host", "--version"},
		"pasta: unrecognized option '--host'\n" +
			"OPT 63\n" +
			"OPT 263\n" +
			"REST\n"},
	{"permute", "dqt:o::46", testLongs, "prog", []string{"a", "-d", "b", "--tcp-ports", "1", "c", "-t", "2"},
		"OPT 100\n" +
			"OPT 116 ARG[1]\n" +
			"OPT 116 ARG[2]\n" +
			"REST [a] [b] [c]\n"},
	{"permute dashdash", "dqt:o::46", testLongs, "prog", []string{"a", "-d", "--", "-q", "b"},
		"OPT 100\n" +
			"REST [a] [-q] [b]\n"},
	{"permute lone dash", "dqt:o::46", testLongs, "prog", []string{"-", "-q"},
		"OPT 113\n" +
			"REST [-]\n"},
	{"optional short", "dqt:o::46", testLongs, "prog", []string{"-ox", "-o", "y", "-do"},
		"OPT 111 ARG[x]\n" +
			"OPT 111\n" +
			"OPT 100\n" +
			"OPT 111\n" +
			"REST [y]\n"},
	{"in order", "-dqt:", testLongs, "prog", []string{"a", "-d", "b", "--", "-q"},
		"OPT 1 ARG[a]\n" +
			"OPT 100\n" +
			"OPT 1 ARG[b]\n" +
			"REST [-q]\n"},
	{"colon prefix", "+:dqt:", testLongs, "prog", []string{"-t", "--tcp-ports", "-x"},
		"OPT 116 ARG[--tcp-ports]\n" +
			"OPT 63\n" +
			"REST\n"},
	{"W semicolon attached", "dW;t:", testLongs, "prog", []string{"-Wtcp=1", "-Wno-t", "-Wopt"},
		"OPT 116 ARG[1]\n" +
			"OPT 258\n" +
			"OPT 261\n" +
			"REST\n"},
	{"W semicolon separate", "dW;t:", testLongs, "prog", []string{"-W", "netns-only", "-W", "tcp-ports", "9"},
		"OPT 260\n" +
			"OPT 116 ARG[9]\n" +
			"REST\n"},
	{"W semicolon errors", "dW;t:", testLongs, "prog", []string{"-Wfoo", "-Wno", "-Wone-off=2", "-W"},
		"prog: unrecognized option '-W foo'\n" +
			"OPT 63\n" +
			"prog: option '-W no' is ambiguous; possibilities: '-W no-tcp' '-W no-udp'\n" +
			"OPT 63\n" +
			"prog: option '-W one-off' doesn't allow an argument\n" +
			"OPT 63\n" +
			"prog: option requires an argument -- 'W'\n" +
			"OPT 63\n" +
			"REST\n"},
	{"no long table", "+dqt:", nil, "prog", []string{"--foo", "-d"},
		"prog: invalid option -- '-'\n" +
			"OPT 63\n" +
			"prog: invalid option -- 'f'\n" +
			"OPT 63\n" +
			"prog: invalid option -- 'o'\n" +
			"OPT 63\n" +
			"prog: invalid option -- 'o'\n" +
			"OPT 63\n" +
			"OPT 100\n" +
			"REST\n"},
	{"empty word is nonoption", "dq", testLongs, "prog", []string{"", "-d"},
		"OPT 100\n" +
			"REST []\n"},
}

func TestGlibcTable(t *testing.T) {
	for _, tc := range glibcTable {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, tc.prog, tc.args, tc.optstring, tc.long)
			if got != tc.want {
				t.Errorf("args %q\ngot:\n%s\nwant:\n%s", tc.args, got, tc.want)
			}
		})
	}
}

func TestNilArgs(t *testing.T) {
	p := New("passt", nil, pastaOpts, testLongs)
	if _, ok, err := p.Next(); ok || err != nil {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	if r := p.Rest(); len(r) != 0 {
		t.Fatalf("Rest() = %q", r)
	}
}

func TestOptionFields(t *testing.T) {
	args := []string{"-46", "-t80", "--tcp", "22", "--sock=/x", "--opt", "--op=", "--netns-o", "-dxq", "--", "-a"}
	want := []Option{
		{Val: '4', Name: "-4"},
		{Val: '6', Name: "-6"},
		{Val: 't', Arg: "80", HasArg: true, Name: "-t"},
		{Val: 't', Arg: "22", HasArg: true, Name: "--tcp-ports"},
		{Val: 's', Arg: "/x", HasArg: true, Name: "--socket"},
		{Val: 261, Name: "--opt"},
		{Val: 261, HasArg: true, Name: "--opt"},
		{Val: 260, Name: "--netns-only"},
		{Val: 'd', Name: "-d"},
		{Val: '?', Name: "-x"},
		{Val: 'q', Name: "-q"},
	}
	p := New("pasta", args, pastaOpts, testLongs)
	var got []Option
	for {
		opt, ok, _ := p.Next()
		if !ok {
			break
		}
		got = append(got, opt)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if r := p.Rest(); !reflect.DeepEqual(r, []string{"-a"}) {
		t.Errorf("Rest() = %q", r)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		opt     Option
		wantMsg string
	}{
		{[]string{"--foo"}, Option{Val: '?', Name: "--foo"}, "unrecognized option '--foo'"},
		{[]string{"-x"}, Option{Val: '?', Name: "-x"}, "invalid option -- 'x'"},
		{[]string{"-t"}, Option{Val: '?', Name: "-t"}, "option requires an argument -- 't'"},
		{[]string{"--tcp"}, Option{Val: '?', Name: "--tcp-ports"}, "option '--tcp-ports' requires an argument"},
		{[]string{"--one=x"}, Option{Val: '?', Name: "--one-off"}, "option '--one-off' doesn't allow an argument"},
		{[]string{"--no"}, Option{Val: '?', Name: "--no"}, "option '--no' is ambiguous; possibilities: '--no-tcp' '--no-udp'"},
	} {
		opt, ok, err := New("./pasta", tc.args, pastaOpts, testLongs).Next()
		var e *Error
		if !ok || !errors.As(err, &e) {
			t.Fatalf("%q: ok=%v err=%v", tc.args, ok, err)
		}
		if e.Prog != "./pasta" || e.Msg != tc.wantMsg || err.Error() != "./pasta: "+tc.wantMsg {
			t.Errorf("%q: got %+v", tc.args, e)
		}
		if opt != tc.opt {
			t.Errorf("%q: opt %+v, want %+v", tc.args, opt, tc.opt)
		}
	}

	// With a ':' prefix a missing argument is reported with Val ':'.
	opt, _, err := New("p", []string{"-t"}, "+:t:", nil).Next()
	if err == nil || opt.Val != ':' {
		t.Errorf("colon mode: opt %+v err %v", opt, err)
	}
}

func TestRestBeforeEnd(t *testing.T) {
	p := New("p", []string{"a", "-d", "b"}, "d", nil)
	if r := p.Rest(); !reflect.DeepEqual(r, []string{"a", "-d", "b"}) {
		t.Errorf("Rest() before parsing = %q", r)
	}
	if opt, ok, _ := p.Next(); !ok || opt.Val != 'd' {
		t.Fatalf("Next() = %+v %v", opt, ok)
	}
	if r := p.Rest(); !reflect.DeepEqual(r, []string{"a", "b"}) {
		t.Errorf("Rest() in the middle = %q", r)
	}
}

func TestArgsNotModified(t *testing.T) {
	args := []string{"a", "-d", "--", "b"}
	p := New("p", args, "d", nil)
	for {
		if _, ok, _ := p.Next(); !ok {
			break
		}
	}
	args[0] = "changed"
	if r := p.Rest(); !reflect.DeepEqual(r, []string{"a", "b"}) {
		t.Errorf("Rest() = %q", r)
	}
}

var fuzzOptstrings = []string{pastaOpts, "dqt:o::46W;", "-:dqt:o::"}

// FuzzParse feeds NUL-separated argument lists through every ordering
// mode: the parser must terminate without panicking, and every
// diagnostic must start with the program name.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"-46\x00-t80\x00--tcp-ports\x00x",
		"--no\x00--sock=/x\x00--",
		"-t\x00-5\x00sh\x00-c\x00true",
		"--=\x00-\x00-Wopt=1",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var args []string
		if len(data) > 0 {
			args = strings.Split(string(data), "\x00")
		}
		for i, os := range fuzzOptstrings {
			long := testLongs
			if i == 2 {
				long = nil
			}
			run(t, "./pasta", args, os, long)
		}
	})
}
