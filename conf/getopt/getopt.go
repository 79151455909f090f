// SPDX-License-Identifier: GPL-2.0-or-later

// Package getopt is a command-line parser compatible with GNU getopt_long(3)
// as implemented by glibc, including its exact diagnostic texts. passt and
// pasta parse their command line with it.
//
// # Theory of operation
//
// A Parser walks the argument words (argv[1:]) left to right. Each call to
// Next returns one option:
//
//   - A word that does not start with '-', and the lone word "-", is a
//     non-option. What happens to it depends on the ordering mode, chosen
//     by the first character of the optstring:
//     '+' (REQUIRE_ORDER, what passt uses): scanning stops at the first
//     non-option; it and everything after it are returned by Rest.
//     '-' (RETURN_IN_ORDER): each non-option is returned as an Option with
//     Val 1 and the word as its argument.
//     Otherwise (PERMUTE, the GNU default): non-options are set aside and
//     scanning continues; Rest returns them, in their original order,
//     followed by whatever came after a "--". The environment
//     (POSIXLY_CORRECT) is never consulted.
//   - The word "--" ends option scanning; it is consumed, never returned.
//   - A word starting with "--" is a long option (if a long option table
//     was given, even an empty one; with a nil table it is read as a group
//     of short options, the first of which is '-', like getopt(3)). The name
//     runs up to the first '='. An exact match with a table entry wins;
//     otherwise every entry of which the name is a prefix is a candidate.
//     The first candidate is taken, unless a later candidate differs from
//     that first one in Arg or Val: then the abbreviation is ambiguous and
//     the diagnostic lists the first candidate plus every later one that
//     differs from it (glibc's rule: aliases with identical Arg and Val,
//     like --socket and --socket-path, do not make a prefix ambiguous).
//     An argument is given as "--name=value" (any Arg kind but
//     NoArgument, where it is an error) or, for RequiredArgument only, as
//     the next word, whatever it looks like (even "--").
//   - Any other word starting with '-' is a group of short options, looked
//     up in the optstring one character (byte) at a time. A character
//     followed by ':' in the optstring takes a required argument: the rest
//     of the word if non-empty ("-t80"), else the next word, whatever it
//     looks like ("-t -5"). A character followed by "::" takes an optional
//     argument, only when attached. ':' and ';' are never valid option
//     characters. If the optstring contains "W;", "-W name" and "-Wname"
//     are read as the long option --name, like glibc does.
//
// Errors do not stop the parser: like glibc, after reporting a diagnostic
// Next carries on with the following character or word. A leading ':' in
// the optstring (after any '+' or '-') selects the Val returned with a
// missing-argument error (':' instead of '?'); since diagnostics are
// returned rather than printed, it has no other effect.
package getopt

import (
	"strings"
)

// ArgKind tells whether an option takes an argument.
type ArgKind int

// Argument kinds, as has_arg in struct option.
const (
	NoArgument ArgKind = iota
	RequiredArgument
	OptionalArgument
)

// LongOption describes one --name option. Val is what Next returns in
// Option.Val (for options with a short equivalent, use the short letter's
// rune value; for long-only options the caller uses values >= 256).
type LongOption struct {
	Name string
	Arg  ArgKind
	Val  int
}

// Option is one parsed option.
type Option struct {
	Val    int    // Val of the long option, or the short option character
	Arg    string // argument, if any
	HasArg bool   // an argument was present (matters for OptionalArgument)
	Name   string // how it was spelled for messages: "--tcp-ports" (full long name) or "-t"
}

// Error is a getopt diagnostic. Error() returns the glibc text, e.g.
// "pasta: unrecognized option '--foo'" (Prog + ": " + message), without a
// trailing newline.
type Error struct {
	Prog string
	Msg  string
}

func (e *Error) Error() string { return e.Prog + ": " + e.Msg }

type ordering int

const (
	permute ordering = iota
	requireOrder
	returnInOrder
)

// Parser holds the scanning state. Create it with New.
type Parser struct {
	prog   string
	args   []string
	shorts string // optstring without the ordering prefix
	order  ordering
	colon  bool
	long   []LongOption

	optind   int    // next word to look at
	nextchar string // unprocessed rest of the current short option group
	skipped  []string
	done     bool
	rest     []string
}

// New returns a parser. prog is argv[0] exactly as invoked (used verbatim
// in diagnostics, like glibc), args are argv[1:], optstring like
// "+dqfel:hs:c:F:I:p:P:m:a:n:M:g:i:o:D:S:H:461t:u:T:U:". A nil long table
// disables long options; a non-nil empty one makes every "--name"
// unrecognized.
func New(prog string, args []string, optstring string, long []LongOption) *Parser {
	p := &Parser{prog: prog, args: append([]string(nil), args...), long: long}
	switch {
	case strings.HasPrefix(optstring, "+"):
		p.order = requireOrder
		optstring = optstring[1:]
	case strings.HasPrefix(optstring, "-"):
		p.order = returnInOrder
		optstring = optstring[1:]
	}
	p.colon = strings.HasPrefix(optstring, ":")
	p.shorts = optstring
	return p
}

// Rest returns the words left after option scanning, with a "--"
// terminator consumed. It is meaningful once Next has returned ok=false.
func (p *Parser) Rest() []string {
	if !p.done {
		return append(append([]string(nil), p.skipped...), p.args[p.optind:]...)
	}
	return p.rest
}

func (p *Parser) fail(opt Option, val int, format ...string) (Option, bool, error) {
	opt.Val = val
	return opt, true, &Error{Prog: p.prog, Msg: strings.Join(format, "")}
}

func (p *Parser) finish(rest []string) (Option, bool, error) {
	p.done = true
	p.rest = append(append([]string(nil), p.skipped...), rest...)
	p.optind = len(p.args)
	return Option{}, false, nil
}

func (p *Parser) missingVal() int {
	if p.colon {
		return ':'
	}
	return '?'
}

// Next returns the next option; ok=false when options are exhausted (then
// Rest() gives the remaining non-option words, with a "--" terminator
// consumed). err != nil is a *Error: then ok is true, opt.Val is '?' (or
// ':' for a missing argument with a ':' optstring prefix), opt.Name tells
// the offending option where known, and parsing may go on like glibc's.
func (p *Parser) Next() (opt Option, ok bool, err error) {
	if p.nextchar == "" {
		for {
			if p.done {
				return Option{}, false, nil
			}
			if p.optind >= len(p.args) {
				return p.finish(nil)
			}
			w := p.args[p.optind]
			if w == "--" {
				return p.finish(p.args[p.optind+1:])
			}
			if len(w) < 2 || w[0] != '-' {
				switch p.order {
				case requireOrder:
					return p.finish(p.args[p.optind:])
				case returnInOrder:
					p.optind++
					return Option{Val: 1, Arg: w, HasArg: true}, true, nil
				}
				p.skipped = append(p.skipped, w)
				p.optind++
				continue
			}
			p.optind++
			if p.long != nil && w[1] == '-' {
				return p.longOption(w[2:], "--")
			}
			p.nextchar = w[1:]
			break
		}
	}

	c := p.nextchar[0]
	p.nextchar = p.nextchar[1:]
	cs := string([]byte{c})
	name := "-" + cs
	i := strings.IndexByte(p.shorts, c)
	if i < 0 || c == ':' || c == ';' {
		return p.fail(Option{Name: name}, '?', "invalid option -- '", cs, "'")
	}
	spec := p.shorts[i+1:]
	opt = Option{Val: int(c), Name: name}

	if c == 'W' && strings.HasPrefix(spec, ";") && p.long != nil {
		var s string
		switch {
		case p.nextchar != "":
			s = p.nextchar
		case p.optind >= len(p.args):
			return p.fail(opt, p.missingVal(), "option requires an argument -- '", cs, "'")
		default:
			s = p.args[p.optind]
			p.optind++
		}
		p.nextchar = ""
		return p.longOption(s, "-W ")
	}

	switch {
	case strings.HasPrefix(spec, "::"):
		if p.nextchar != "" {
			opt.Arg, opt.HasArg = p.nextchar, true
			p.nextchar = ""
		}
	case strings.HasPrefix(spec, ":"):
		switch {
		case p.nextchar != "":
			opt.Arg = p.nextchar
			p.nextchar = ""
		case p.optind >= len(p.args):
			return p.fail(opt, p.missingVal(), "option requires an argument -- '", cs, "'")
		default:
			opt.Arg = p.args[p.optind]
			p.optind++
		}
		opt.HasArg = true
	}
	return opt, true, nil
}

// longOption handles s, a long option word without its prefix ("--" or
// "-W "); the word itself has already been consumed.
func (p *Parser) longOption(s, prefix string) (Option, bool, error) {
	name, value, hasValue := strings.Cut(s, "=")

	found := -1
	for i, lo := range p.long {
		if lo.Name == name {
			found = i
			break
		}
	}
	if found < 0 {
		var ambig []int
		for i, lo := range p.long {
			if !strings.HasPrefix(lo.Name, name) {
				continue
			}
			if found < 0 {
				found = i
				continue
			}
			if lo.Arg != p.long[found].Arg || lo.Val != p.long[found].Val {
				if ambig == nil {
					ambig = []int{found}
				}
				ambig = append(ambig, i)
			}
		}
		if ambig != nil {
			msg := []string{"option '", prefix, s, "' is ambiguous; possibilities:"}
			for _, i := range ambig {
				msg = append(msg, " '", prefix, p.long[i].Name, "'")
			}
			return p.fail(Option{Name: prefix + s}, '?', msg...)
		}
		if found < 0 {
			return p.fail(Option{Name: prefix + s}, '?', "unrecognized option '", prefix, s, "'")
		}
	}

	lo := p.long[found]
	opt := Option{Val: lo.Val, Name: "--" + lo.Name}
	switch {
	case hasValue:
		if lo.Arg == NoArgument {
			return p.fail(opt, '?', "option '", prefix, lo.Name, "' doesn't allow an argument")
		}
		opt.Arg, opt.HasArg = value, true
	case lo.Arg == RequiredArgument:
		if p.optind >= len(p.args) {
			return p.fail(opt, p.missingVal(), "option '", prefix, lo.Name, "' requires an argument")
		}
		opt.Arg, opt.HasArg = p.args[p.optind], true
		p.optind++
	}
	return opt, true, nil
}
